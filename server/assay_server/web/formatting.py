"""How figures, times and settings read on a page: the Jinja filters of the UI (pure functions)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

MISSING = "—"


def figure(value: Any) -> str:
    """A number or a value as a person reads it: 4 significant digits, yes/no, lists joined."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return MISSING
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{key}: {figure(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(figure(item) for item in value) or MISSING
    return str(value)


def share(value: float | None) -> str:
    """A share from 0 to 1 as a percentage."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{value * 100:.1f}%"


def when(moment: datetime | None) -> str:
    """A stored (UTC) time to the second."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else MISSING


def span(start: datetime | None, end: datetime | None) -> str:
    """A report's window."""
    if start is None and end is None:
        return MISSING
    return f"{when(start)} → {when(end)}"


def duration(seconds: float) -> str:
    """A whole number of days, hours, minutes or seconds, in the largest unit that fits."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def schedule(spec: Mapping[str, Any] | None) -> str:
    """A monitor's schedule: an interval, a cron expression, or manual runs only."""
    if not spec:
        return "manual runs only"
    if "interval_seconds" in spec:
        return f"every {duration(spec['interval_seconds'])}"
    if "cron" in spec:
        return f"cron {spec['cron']} (UTC)"
    return figure(dict(spec))


def label(name: str | None) -> str:
    """A snake_case name (a check, a status) as words."""
    return name.replace("_", " ") if name else MISSING


TEMPLATE_FILTERS: dict[str, Callable[..., str]] = {
    "figure": figure,
    "share": share,
    "when": when,
    "span": span,
    "schedule": schedule,
    "label": label,
}
