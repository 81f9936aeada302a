"""Rows to explain: checked against the version's features, and hashed with LIME's parameters
into the key a stored answer is found by."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping

from ..errors import ValidationFailed
from .messages import FeatureSpec, Row


def check_rows(rows: list[Row], features: list[FeatureSpec]) -> None:
    """Every row names exactly the version's features, with values of the right kind."""
    if not features:
        raise ValidationFailed("", details={"features": ["This version declares no features."]})
    kinds = {f["name"]: f["kind"] for f in features}
    problems: dict[str, list[str]] = {}
    for index, row in enumerate(rows):
        messages = []
        missing = sorted(set(kinds) - set(row))
        unknown = sorted(set(row) - set(kinds))
        if missing:
            messages.append(f"missing features: {', '.join(missing)}")
        if unknown:
            messages.append(f"unknown features: {', '.join(unknown)}")
        for name, value in row.items():
            kind = kinds.get(name)
            if kind == "numerical" and not _is_number(value):
                messages.append(f"{name} must be a number")
            if kind == "categorical" and not isinstance(value, (str, int, float, bool)):
                messages.append(f"{name} must be a category (a string or a number)")
        if messages:
            problems[f"rows.{index}"] = messages
    if problems:
        raise ValidationFailed("", details=problems)


def input_hash(rows: list[Row], params: Mapping[str, object]) -> str:
    """The cache key of an explanation: the rows and parameters, canonically hashed."""
    canonical = json.dumps({"rows": rows, "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _is_number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )
