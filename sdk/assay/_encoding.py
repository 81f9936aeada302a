"""Request bodies as JSON, refused on the client when JSON cannot carry a value.

``requests`` raises its own ``InvalidJSONError`` for a NaN (which the SDK used to report as
a connection error); here a value that cannot be encoded — NaN, ±infinity, an object JSON
does not know — is a :class:`~assay.errors.ValidationError` before any request is sent,
naming the field (``rows[3].age``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from assay.errors import ValidationError

__all__ = ["encode_json"]

_PLAIN = (str, int, bool, type(None))


def encode_json(body: Any) -> bytes:
    """``body`` as compact UTF-8 JSON, or :class:`ValidationError` naming the first value
    that JSON cannot carry."""
    try:
        return json.dumps(body, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (ValueError, TypeError, RecursionError):
        field, reason = _first_unencodable(body, "") or ("", "it cannot be encoded as JSON")
    raise ValidationError(
        f"Invalid input: {field or 'the request body'} (nothing was sent)",
        code="validation_error",
        details={field or "_body": [reason]},
    ) from None


def _first_unencodable(value: Any, path: str) -> tuple[str, str] | None:
    """The path and reason of the first value ``json.dumps(allow_nan=False)`` refuses."""
    if isinstance(value, float):
        if math.isfinite(value):
            return None
        return path, f"{value!r} is not a number JSON can carry (send None for a missing value)"
    if isinstance(value, _PLAIN):
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, (*_PLAIN, float)):
                return path, f"the key {key!r} is a {type(key).__name__}, not a string"
            found = _first_unencodable(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _first_unencodable(item, f"{path}[{index}]")
            if found:
                return found
        return None
    kind = f"{type(value).__module__}.{type(value).__qualname__}".removeprefix("builtins.")
    return path, f"a value of type {kind} is not JSON (send a number, string, list or dict)"
