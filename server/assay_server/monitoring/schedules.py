"""Schedules: a monitor's interval or cron expression as an APScheduler trigger, and its slots.

A slot is a fire time of the trigger. Every scheduler process computes the same slots for the
same monitor (an interval counts from the monitor's creation, a cron expression is in UTC),
so a slot names one due run whichever process found it due.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

MIN_INTERVAL_SECONDS = 1
MAX_INTERVAL_SECONDS = 366 * 24 * 3600


def trigger_for(schedule: dict[str, Any], anchor: datetime) -> Any:
    """The APScheduler trigger of ``schedule``; ValueError says what is wrong with it."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if "interval_seconds" in schedule:
        seconds = schedule["interval_seconds"]
        if not MIN_INTERVAL_SECONDS <= seconds <= MAX_INTERVAL_SECONDS:
            raise ValueError(
                f"interval_seconds must be from {MIN_INTERVAL_SECONDS} to {MAX_INTERVAL_SECONDS}."
            )
        start = anchor.astimezone(timezone.utc).replace(microsecond=0)
        return IntervalTrigger(seconds=seconds, start_date=start, timezone=timezone.utc)
    if "cron" in schedule:
        try:
            return CronTrigger.from_crontab(schedule["cron"], timezone=timezone.utc)
        except ValueError as exc:
            raise ValueError(
                f"Not a cron expression (minute hour day month weekday): {exc}"
            ) from None
    raise ValueError("Give interval_seconds or cron.")


def latest_slot(trigger: Any, now: datetime, grace: timedelta) -> datetime | None:
    """The newest fire time of ``trigger`` in ``(now - grace, now]``, or None."""
    earliest = now - grace
    slot = None
    candidate = trigger.get_next_fire_time(None, earliest)
    while candidate is not None and candidate <= now:
        slot = candidate
        candidate = trigger.get_next_fire_time(candidate, candidate + timedelta(microseconds=1))
    return slot
