"""Monitoring in the SDK: monitors, running them, and their reports.

:class:`MonitoringMethods` is mixed into :class:`assay.Client`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from assay.governance import _model_path
from assay.types import parse_datetime

if TYPE_CHECKING:
    from assay._http import Transport

__all__ = ["Monitor", "MonitorRun", "MonitoringMethods", "Report"]

_FINISHED = frozenset({"succeeded", "failed", "skipped"})


@dataclass(frozen=True)
class Monitor:
    """Which checks run for a model, on which version, over which window, how often."""

    id: int
    model: str
    name: str
    checks: list[str]
    version: int | None
    stage: str | None
    window: dict[str, Any]
    schedule: dict[str, Any] | None
    thresholds: dict[str, Any]
    sensitive_features: list[str]
    min_rows: int
    options: dict[str, Any]
    channels: list[str]
    enabled: bool
    created_by: str
    created_at: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Monitor:
        """Build from the server's JSON."""
        return cls(
            id=int(data["id"]),
            model=data["model"],
            name=data["name"],
            checks=list(data["checks"]),
            version=data.get("version"),
            stage=data.get("stage"),
            window=dict(data.get("window") or {}),
            schedule=data.get("schedule"),
            thresholds=dict(data.get("thresholds") or {}),
            sensitive_features=list(data.get("sensitive_features") or []),
            min_rows=int(data.get("min_rows") or 0),
            options=dict(data.get("options") or {}),
            channels=list(data.get("channels") or []),
            enabled=bool(data.get("enabled")),
            created_by=data.get("created_by") or "",
            created_at=parse_datetime(data.get("created_at")),
        )


@dataclass(frozen=True)
class MonitorRun:
    """One run of a monitor: its status, window, rows and the verdict of each check."""

    id: int
    monitor_id: int
    trigger: str
    status: str
    scheduled_for: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    version: int | None
    window_start: datetime | None
    window_end: datetime | None
    rows_total: int | None
    rows_used: int | None
    sampled: bool
    statuses: dict[str, str]

    @property
    def finished(self) -> bool:
        """True once the run succeeded, failed or was skipped."""
        return self.status in _FINISHED

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MonitorRun:
        """Build from the server's JSON."""
        return cls(
            id=int(data["id"]),
            monitor_id=int(data["monitor_id"]),
            trigger=data.get("trigger") or "",
            status=data["status"],
            scheduled_for=parse_datetime(data.get("scheduled_for")),
            started_at=parse_datetime(data.get("started_at")),
            finished_at=parse_datetime(data.get("finished_at")),
            error=data.get("error"),
            version=data.get("version"),
            window_start=parse_datetime(data.get("window_start")),
            window_end=parse_datetime(data.get("window_end")),
            rows_total=data.get("rows_total"),
            rows_used=data.get("rows_used"),
            sampled=bool(data.get("sampled")),
            statuses=dict(data.get("statuses") or {}),
        )


@dataclass(frozen=True)
class Report:
    """One check's result over one window.

    ``summary`` holds the headline figures (e.g. ``share_drifted``), ``detail`` the
    per-column or per-group rows (empty in listings), ``findings`` what failed and why.
    """

    id: int
    run_id: int
    monitor_id: int
    model: str
    version: int
    kind: str
    status: str
    window_start: datetime | None
    window_end: datetime | None
    rows_total: int
    rows_used: int
    sampled: bool
    summary: dict[str, Any]
    findings: list[dict[str, Any]]
    created_at: datetime | None
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Report:
        """Build from the server's JSON."""
        return cls(
            id=int(data["id"]),
            run_id=int(data["run_id"]),
            monitor_id=int(data["monitor_id"]),
            model=data["model"],
            version=int(data["version"]),
            kind=data["kind"],
            status=data["status"],
            window_start=parse_datetime(data.get("window_start")),
            window_end=parse_datetime(data.get("window_end")),
            rows_total=int(data.get("rows_total") or 0),
            rows_used=int(data.get("rows_used") or 0),
            sampled=bool(data.get("sampled")),
            summary=dict(data.get("summary") or {}),
            findings=list(data.get("findings") or []),
            created_at=parse_datetime(data.get("created_at")),
            detail=dict(data.get("detail") or {}),
        )


class MonitoringMethods:
    """Monitors, runs and reports (mixed into Client)."""

    _transport: Transport

    def create_monitor(
        self,
        model: Any,
        checks: Sequence[str],
        version: int | None = None,
        stage: str | None = None,
        window: Mapping[str, Any] | None = None,
        schedule: Mapping[str, Any] | None = None,
        thresholds: Mapping[str, Any] | None = None,
        sensitive_features: Sequence[str] | None = None,
        channels: Sequence[str] | None = None,
        *,
        name: str | None = None,
        min_rows: int | None = None,
        options: Mapping[str, Any] | None = None,
        enabled: bool = True,
    ) -> Monitor:
        """Create a monitor of ``model`` (contributor).

        Args:
            checks: any of ``drift``, ``data_quality``, ``bias``, ``performance``,
                ``estimated_performance``.
            version: watch this version; or ``stage`` (``staging``/``production``): whichever
                version is in it when the run starts. Neither: the newest version.
            window: ``{"hours": 24}`` (default) or ``{"predictions": 10000}``.
            schedule: ``{"interval_seconds": 3600}`` (default) or ``{"cron": "0 * * * *"}``
                (UTC). Runs happen in the server's scheduler; ``run_monitor`` runs now.
            thresholds: per check, e.g. ``{"drift": {"warning": 0.3, "alert": 0.5}}``.
            sensitive_features: attributes the bias check compares groups of.
            channels: notification channels by name.
            options: ``feature_methods``, ``feature_thresholds``, ``drift_share``,
                ``favourable_label``, ``positive_label``, ``min_group_count``, ``benchmark``.
        """
        body: dict[str, Any] = {"checks": list(checks), "enabled": enabled}
        optional = {
            "name": name,
            "version": version,
            "stage": stage,
            "window": dict(window) if window else None,
            "thresholds": dict(thresholds) if thresholds else None,
            "sensitive_features": list(sensitive_features) if sensitive_features else None,
            "channels": list(channels) if channels else None,
            "min_rows": min_rows,
            "options": dict(options) if options else None,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        if schedule is not None:
            body["schedule"] = dict(schedule)
        path = _model_path(model) + "/monitors"
        return Monitor.from_json(self._transport.json("POST", path, json=body))

    def list_monitors(self, model: Any) -> list[Monitor]:
        """A model's monitors, oldest first."""
        data = self._transport.json("GET", _model_path(model) + "/monitors")
        return [Monitor.from_json(m) for m in data]

    def get_monitor(self, model: Any, monitor_id: int) -> Monitor:
        """One monitor."""
        path = f"{_model_path(model)}/monitors/{int(monitor_id)}"
        return Monitor.from_json(self._transport.json("GET", path))

    def update_monitor(self, model: Any, monitor_id: int, **changes: Any) -> Monitor:
        """Change a monitor's settings, e.g. ``enabled=False`` (contributor)."""
        path = f"{_model_path(model)}/monitors/{int(monitor_id)}"
        return Monitor.from_json(self._transport.json("PATCH", path, json=changes))

    def delete_monitor(self, model: Any, monitor_id: int) -> None:
        """Delete a monitor with its runs and reports (contributor)."""
        self._transport.json("DELETE", f"{_model_path(model)}/monitors/{int(monitor_id)}")

    def run_monitor(
        self, model: Any, monitor_id: int, wait: bool = True, timeout: float = 600.0
    ) -> MonitorRun:
        """Run a monitor now (contributor).

        With ``wait`` the server runs it in the request and the finished run is returned;
        otherwise the run is queued for the scheduler process and this waits for nothing:
        poll with :meth:`get_monitor_run`.
        """
        path = f"{_model_path(model)}/monitors/{int(monitor_id)}/run"
        params = {"wait": "true" if wait else "false"}
        run = MonitorRun.from_json(self._transport.json("POST", path, params=params))
        deadline = time.monotonic() + timeout
        while wait and not run.finished and time.monotonic() < deadline:
            time.sleep(0.5)
            run = self.get_monitor_run(run.id)
        return run

    def get_monitor_run(self, run_id: int) -> MonitorRun:
        """One run, as it stands."""
        return MonitorRun.from_json(self._transport.json("GET", f"/monitor-runs/{int(run_id)}"))

    def list_monitor_runs(self, model: Any, monitor_id: int, limit: int = 50) -> list[MonitorRun]:
        """A monitor's runs, newest first."""
        path = f"{_model_path(model)}/monitors/{int(monitor_id)}/runs"
        data = self._transport.json("GET", path, params={"limit": limit})
        return [MonitorRun.from_json(r) for r in data]

    def list_reports(
        self,
        model: Any,
        *,
        kind: str | None = None,
        status: str | None = None,
        monitor_id: int | None = None,
        version: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
    ) -> list[Report]:
        """A model's reports, newest first, without their detail (see :meth:`get_report`)."""
        params: dict[str, Any] = {"limit": limit}
        for key, value in (
            ("kind", kind),
            ("status", status),
            ("monitor_id", monitor_id),
            ("version", version),
        ):
            if value is not None:
                params[key] = value
        for key, when in (("since", since), ("until", until)):
            if when is not None:
                if when.tzinfo is None:
                    raise ValueError("pass an aware datetime (with a timezone)")
                params[key] = when.isoformat()
        data = self._transport.json("GET", _model_path(model) + "/reports", params=params)
        return [Report.from_json(r) for r in data]

    def get_report(self, report_id: int) -> Report:
        """One report with its full detail (per-column drift rows, per-group bias rows…)."""
        return Report.from_json(self._transport.json("GET", f"/reports/{int(report_id)}"))

    def report_html(self, report_id: int) -> str:
        """Evidently's HTML report for the report's window (built on first request)."""
        response = self._transport.request("GET", f"/reports/{int(report_id)}/html")
        return response.text
