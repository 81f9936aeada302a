"""The SDK's one rule for dates: a timestamp without a timezone means UTC.

Whatever the SDK sends goes through here — ``since``/``until`` filters, ``at``, a silence's
``until``, a logged prediction's ``timestamp`` — and whatever it reads back becomes an aware
datetime. A naive ``datetime`` or an ISO 8601 string without an offset is read as UTC, never as
the machine's local time: serving code and training jobs run in containers whose local zone
is UTC more often than not, and the server stores UTC. A datetime that carries its zone is
converted, so ``datetime(2026, 1, 1, 9, tzinfo=ZoneInfo("Europe/Paris"))`` is sent as 08:00Z.
"""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["as_utc", "epoch_seconds", "iso_utc", "parse_datetime", "required_datetime"]


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def parse_datetime(value: str | datetime | None) -> datetime | None:
    """An ISO 8601 timestamp (``Z``, an offset, or none: UTC) as an aware datetime.

    None and ``""`` give None; a datetime is returned aware (naive ones as UTC). Raises
    ValueError for text that is not an ISO 8601 timestamp.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def required_datetime(value: object) -> datetime:
    """Like :func:`parse_datetime`, for a timestamp the server always sends."""
    parsed = parse_datetime(value) if isinstance(value, (str, datetime)) else None
    if parsed is None:
        raise ValueError(f"a required timestamp is missing from the server's answer: {value!r}")
    return parsed


def iso_utc(value: datetime | str) -> str:
    """``value`` as the server's filters take it: ISO 8601 in UTC, ending in ``Z``.

    A string is parsed first, so that a string without an offset is UTC too.
    """
    moment = parse_datetime(value)
    if moment is None:
        raise ValueError("an empty string is not a timestamp")
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def epoch_seconds(value: float | datetime) -> float:
    """Epoch seconds of a datetime (naive means UTC); a number is returned as it is."""
    if isinstance(value, datetime):
        return as_utc(value).timestamp()
    return value
