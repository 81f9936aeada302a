"""Typed reads of the server's JSON answers, for the ``from_json`` of every result dataclass.

``json`` decodes to untyped values; :class:`JSONObject` turns one decoded object into the
types a dataclass declares, and names the field when the answer is not what the SDK expects
(a server of another version, a proxy's error page) instead of failing later on a ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from assay._dates import parse_datetime
from assay.errors import ServerError

__all__ = ["FreeForm", "JSONObject", "json_objects"]

#: A JSON object whose keys the SDK does not fix (a report's summary, a model card).
FreeForm = dict[str, Any]


class JSONObject:
    """One JSON object of an answer, read field by field into declared types."""

    _data: Mapping[str, object]
    _what: str

    def __init__(self, data: object, what: str = "the server's answer") -> None:
        if isinstance(data, JSONObject):
            what = data._what
            data = data._data
        if not isinstance(data, Mapping):
            raise ServerError(f"{what} is not a JSON object: {type(data).__name__}")
        self._data = data
        self._what = what

    def __contains__(self, key: str) -> bool:
        return self._data.get(key) is not None

    def raw(self, key: str) -> object:
        """The field as decoded (None when absent)."""
        return self._data.get(key)

    def text(self, key: str) -> str:
        """A string the answer always has."""
        return str(self._required(key))

    def optional_text(self, key: str) -> str | None:
        """A string, or None when absent or null."""
        value = self._data.get(key)
        return None if value is None else str(value)

    def text_or_empty(self, key: str) -> str:
        """A string, ``""`` when absent or null."""
        return self.optional_text(key) or ""

    def integer(self, key: str) -> int:
        """An integer the answer always has."""
        return self._int(key, self._required(key))

    def optional_integer(self, key: str) -> int | None:
        """An integer, or None when absent or null."""
        value = self._data.get(key)
        return None if value is None else self._int(key, value)

    def count(self, key: str) -> int:
        """An integer, 0 when absent or null."""
        return self.optional_integer(key) or 0

    def number(self, key: str, default: float | None = None) -> float:
        """A number (``default`` when absent or null, if one is given)."""
        value = self._data.get(key)
        if value is None and default is not None:
            return default
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise self._wrong(key, "a number", value)

    def flag(self, key: str) -> bool:
        """A boolean, False when absent or null."""
        return bool(self._data.get(key))

    def moment(self, key: str) -> datetime:
        """A timestamp the answer always has, as an aware datetime."""
        parsed = self.optional_moment(key)
        if parsed is None:
            raise self._wrong(key, "a timestamp", None)
        return parsed

    def optional_moment(self, key: str) -> datetime | None:
        """A timestamp as an aware datetime, or None when absent or null."""
        value = self._data.get(key)
        if value is None or isinstance(value, (str, datetime)):
            try:
                return parse_datetime(value)
            except ValueError:
                pass
        raise self._wrong(key, "an ISO 8601 timestamp", value)

    def free_form(self, key: str) -> FreeForm:
        """A JSON object of any keys, ``{}`` when absent or null."""
        value = self._data.get(key)
        if value is None:
            return {}
        if isinstance(value, Mapping):
            return dict(value)
        raise self._wrong(key, "a JSON object", value)

    def optional_free_form(self, key: str) -> FreeForm | None:
        """A JSON object of any keys, or None when absent or null."""
        return None if self._data.get(key) is None else self.free_form(key)

    def numbers(self, key: str) -> dict[str, float]:
        """A JSON object of numbers (metrics), ``{}`` when absent or null."""
        numbers = self.free_form(key).items()
        return {name: float(value) for name, value in numbers if value is not None}

    def labels(self, key: str) -> dict[str, str]:
        """A JSON object of strings, ``{}`` when absent or null."""
        return {name: str(value) for name, value in self.free_form(key).items()}

    def strings(self, key: str) -> list[str]:
        """A list of strings, ``[]`` when absent or null."""
        return [str(each) for each in self._list(key)]

    def integers(self, key: str) -> list[int]:
        """A list of integers, ``[]`` when absent or null."""
        return [self._int(key, each) for each in self._list(key)]

    def free_forms(self, key: str) -> list[FreeForm]:
        """A list of JSON objects of any keys, ``[]`` when absent or null."""
        return [JSONObject(each, f"{self._what}: {key}").as_dict() for each in self._list(key)]

    def nested_list(self, key: str) -> list[JSONObject]:
        """A list of JSON objects to read in turn, ``[]`` when absent or null."""
        return [JSONObject(each, f"{self._what}: {key}") for each in self._list(key)]

    def nested(self, key: str) -> JSONObject:
        """A JSON object the answer always has, to read in turn."""
        return JSONObject(self._required(key), f"{self._what}: {key}")

    def optional_nested(self, key: str) -> JSONObject | None:
        """A JSON object to read in turn, or None when absent, null or empty."""
        value = self._data.get(key)
        return JSONObject(value, f"{self._what}: {key}") if value else None

    def as_dict(self) -> FreeForm:
        """The whole object, as decoded."""
        return dict(self._data)

    def _list(self, key: str) -> list[object]:
        value = self._data.get(key)
        if value is None:
            return []
        if isinstance(value, (list, tuple)):
            return list(value)
        raise self._wrong(key, "a list", value)

    def _required(self, key: str) -> object:
        value = self._data.get(key)
        if value is None:
            raise self._wrong(key, "a value", None)
        return value

    def _int(self, key: str, value: object) -> int:
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                return int(value)
            except ValueError:
                pass
        raise self._wrong(key, "an integer", value)

    def _wrong(self, key: str, expected: str, value: object) -> ServerError:
        found = "nothing" if value is None else repr(value)[:60]
        return ServerError(f"{self._what}: {key!r} should be {expected}, found {found}")


def json_objects(value: object, what: str = "the server's answer") -> list[JSONObject]:
    """A decoded JSON list of objects, each to read in turn."""
    if not isinstance(value, list):
        raise ServerError(f"{what} is not a JSON list: {type(value).__name__}")
    return [JSONObject(each, what) for each in value]
