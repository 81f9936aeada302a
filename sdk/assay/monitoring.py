"""Monitoring in the SDK: monitors, running them, and their reports.

:class:`MonitoringMethods` is mixed into :class:`assay.Client`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from assay._dates import iso_utc
from assay._http import ServerCalls
from assay._json import FreeForm, JSONObject, json_objects
from assay._paths import ModelRef, model_path
from assay._retries import retry_after_seconds

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
    window: FreeForm
    schedule: FreeForm | None
    thresholds: FreeForm
    sensitive_features: list[str]
    min_rows: int
    options: FreeForm
    channels: list[str]
    enabled: bool
    created_by: str
    created_at: datetime | None

    @classmethod
    def from_json(cls, data: object) -> Monitor:
        """Build from the server's JSON."""
        read = JSONObject(data, "a monitor")
        return cls(
            id=read.integer("id"),
            model=read.text("model"),
            name=read.text("name"),
            checks=read.strings("checks"),
            version=read.optional_integer("version"),
            stage=read.optional_text("stage"),
            window=read.free_form("window"),
            schedule=read.optional_free_form("schedule"),
            thresholds=read.free_form("thresholds"),
            sensitive_features=read.strings("sensitive_features"),
            min_rows=read.count("min_rows"),
            options=read.free_form("options"),
            channels=read.strings("channels"),
            enabled=read.flag("enabled"),
            created_by=read.text_or_empty("created_by"),
            created_at=read.optional_moment("created_at"),
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
    def from_json(cls, data: object) -> MonitorRun:
        """Build from the server's JSON."""
        read = JSONObject(data, "a monitor run")
        return cls(
            id=read.integer("id"),
            monitor_id=read.integer("monitor_id"),
            trigger=read.text_or_empty("trigger"),
            status=read.text("status"),
            scheduled_for=read.optional_moment("scheduled_for"),
            started_at=read.optional_moment("started_at"),
            finished_at=read.optional_moment("finished_at"),
            error=read.optional_text("error"),
            version=read.optional_integer("version"),
            window_start=read.optional_moment("window_start"),
            window_end=read.optional_moment("window_end"),
            rows_total=read.optional_integer("rows_total"),
            rows_used=read.optional_integer("rows_used"),
            sampled=read.flag("sampled"),
            statuses=read.labels("statuses"),
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
    summary: FreeForm
    findings: list[FreeForm]
    created_at: datetime | None
    detail: FreeForm = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: object) -> Report:
        """Build from the server's JSON."""
        read = JSONObject(data, "a report")
        return cls(
            id=read.integer("id"),
            run_id=read.integer("run_id"),
            monitor_id=read.integer("monitor_id"),
            model=read.text("model"),
            version=read.integer("version"),
            kind=read.text("kind"),
            status=read.text("status"),
            window_start=read.optional_moment("window_start"),
            window_end=read.optional_moment("window_end"),
            rows_total=read.count("rows_total"),
            rows_used=read.count("rows_used"),
            sampled=read.flag("sampled"),
            summary=read.free_form("summary"),
            findings=read.free_forms("findings"),
            created_at=read.optional_moment("created_at"),
            detail=read.free_form("detail"),
        )


#: The default schedule of a new monitor: every hour from its creation.
HOURLY: Mapping[str, object] = MappingProxyType({"interval_seconds": 3600})


class MonitoringMethods(ServerCalls):
    """Monitors, runs and reports (mixed into Client)."""

    def create_monitor(
        self,
        model: ModelRef,
        checks: Sequence[str],
        version: int | None = None,
        stage: str | None = None,
        window: Mapping[str, object] | None = None,
        schedule: Mapping[str, object] | None = HOURLY,
        thresholds: Mapping[str, object] | None = None,
        sensitive_features: Sequence[str] | None = None,
        channels: Sequence[str] | None = None,
        *,
        name: str | None = None,
        min_rows: int | None = None,
        options: Mapping[str, object] | None = None,
        enabled: bool = True,
    ) -> Monitor:
        """Create a monitor of ``model`` (contributor).

        Args:
            checks: any of ``drift``, ``data_quality``, ``bias``, ``performance``,
                ``estimated_performance``.
            version: watch this version; or ``stage`` (``staging``/``production``): whichever
                version is in it when the run starts. Neither: the newest version.
            window: ``{"hours": 24}`` (default) or ``{"predictions": 10000}``.
            schedule: ``{"interval_seconds": 3600}`` (the default, :data:`HOURLY`) or
                ``{"cron": "0 * * * *"}`` (UTC): runs happen in the server's scheduler.
                ``None``: manual runs only (``run_monitor``, which also runs a scheduled
                monitor now).
            thresholds: per check, e.g. ``{"drift": {"warning": 0.3, "alert": 0.5}}``.
            sensitive_features: attributes the bias check compares groups of.
            channels: notification channels by name.
            options: ``feature_methods``, ``feature_thresholds``, ``drift_share``,
                ``favourable_label``, ``positive_label``, ``min_group_count``, ``benchmark``.
        """
        body: dict[str, object] = {"checks": list(checks), "enabled": enabled}
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
        body["schedule"] = None if schedule is None else dict(schedule)
        path = model_path(model) + "/monitors"
        return Monitor.from_json(self._transport.json("POST", path, json=body))

    def list_monitors(self, model: ModelRef) -> list[Monitor]:
        """A model's monitors, oldest first."""
        data = self._transport.json("GET", model_path(model) + "/monitors")
        return [Monitor.from_json(m) for m in json_objects(data, "monitors")]

    def get_monitor(self, model: ModelRef, monitor_id: int) -> Monitor:
        """One monitor."""
        path = f"{model_path(model)}/monitors/{int(monitor_id)}"
        return Monitor.from_json(self._transport.json("GET", path))

    def update_monitor(self, model: ModelRef, monitor_id: int, **changes: object) -> Monitor:
        """Change a monitor's settings, e.g. ``enabled=False`` (contributor)."""
        path = f"{model_path(model)}/monitors/{int(monitor_id)}"
        return Monitor.from_json(self._transport.json("PATCH", path, json=changes))

    def delete_monitor(self, model: ModelRef, monitor_id: int) -> None:
        """Delete a monitor with its runs and reports (contributor)."""
        self._transport.json("DELETE", f"{model_path(model)}/monitors/{int(monitor_id)}")

    def run_monitor(
        self, model: ModelRef, monitor_id: int, wait: bool = True, timeout: float = 600.0
    ) -> MonitorRun:
        """Run a monitor now (contributor).

        With ``wait`` the server runs it in the request and the finished run is returned;
        otherwise the run is queued for the scheduler process and this waits for nothing:
        poll with :meth:`get_monitor_run`.
        """
        path = f"{model_path(model)}/monitors/{int(monitor_id)}/run"
        params = {"wait": "true" if wait else "false"}
        run = MonitorRun.from_json(self._transport.json("POST", path, params=params))
        deadline = time.monotonic() + timeout
        while wait and not run.finished and time.monotonic() < deadline:
            self._transport.sleep(self.poll_interval)
            run = self.get_monitor_run(run.id)
        return run

    def get_monitor_run(self, run_id: int) -> MonitorRun:
        """One run, as it stands."""
        return MonitorRun.from_json(self._transport.json("GET", f"/monitor-runs/{int(run_id)}"))

    def list_monitor_runs(
        self, model: ModelRef, monitor_id: int, limit: int = 50
    ) -> list[MonitorRun]:
        """A monitor's runs, newest first."""
        path = f"{model_path(model)}/monitors/{int(monitor_id)}/runs"
        data = self._transport.json("GET", path, params={"limit": limit})
        return [MonitorRun.from_json(r) for r in json_objects(data, "monitor runs")]

    def list_reports(
        self,
        model: ModelRef,
        *,
        kind: str | None = None,
        status: str | None = None,
        monitor_id: int | None = None,
        version: int | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = 50,
    ) -> list[Report]:
        """A model's reports, newest first, without their detail (see :meth:`get_report`).

        ``since`` and ``until`` take datetimes or ISO 8601 strings; without a timezone they
        are UTC.
        """
        params = {
            "limit": limit,
            "kind": kind,
            "status": status,
            "monitor_id": monitor_id,
            "version": version,
            "since": None if since is None else iso_utc(since),
            "until": None if until is None else iso_utc(until),
        }
        data = self._transport.json("GET", model_path(model) + "/reports", params=params)
        return [Report.from_json(r) for r in json_objects(data, "reports")]

    def get_report(self, report_id: int) -> Report:
        """One report with its full detail (per-column drift rows, per-group bias rows…)."""
        return Report.from_json(self._transport.json("GET", f"/reports/{int(report_id)}"))

    def report_html(self, report_id: int, timeout: float = 300.0) -> str:
        """Evidently's page of a drift, data-quality or performance report.

        The server builds it in the background after the run; while it is being prepared it
        answers 202, and this asks again after its ``Retry-After`` until ``timeout`` seconds
        have passed (then :class:`TimeoutError`). A bias or estimated-performance report has
        no Evidently page (:class:`~assay.NotFound`).
        """
        deadline = time.monotonic() + timeout
        while True:
            response = self._transport.request("GET", f"/reports/{int(report_id)}/html")
            if response.status_code != 202:
                return response.text
            wait = retry_after_seconds(response.headers.get("Retry-After")) or 1.0
            if time.monotonic() + wait > deadline:
                raise TimeoutError(
                    f"Evidently's page of report {report_id} was not ready within {timeout} s"
                )
            time.sleep(wait)
