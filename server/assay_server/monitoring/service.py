"""Monitors (create, change, enable, delete), their runs and reports: the rules, no Flask."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, joinedload

from ..audit.service import AuditTrail
from ..checks.drift import validate_methods
from ..context import ServiceContext
from ..errors import Conflict, NotFound, ValidationFailed
from ..registry.models import ModelVersion, RegisteredModel
from ..registry.profiles import monitored_kinds
from ..registry.service import RegistryService
from .models import Monitor, MonitorRun, Report
from .schedules import trigger_for

DEFAULT_WINDOW = {"hours": 24}
DEFAULT_SCHEDULE = {"interval_seconds": 3600}


@dataclass(frozen=True)
class ReportFilters:
    """What a report listing is narrowed by."""

    kind: str | None = None
    status: str | None = None
    monitor_id: int | None = None
    version: int | None = None
    since: datetime | None = None
    until: datetime | None = None


class MonitorService:
    """Monitors of models, and reading their runs and reports."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx
        self.registry = RegistryService(session, ctx)

    def create(self, model_name: str, spec: dict[str, Any]) -> Monitor:
        """Create a monitor (audited); it runs on its schedule from now on."""
        model = self.registry.get_model(model_name)
        if model.archived:
            raise Conflict(f"Model {model_name!r} is archived; restore it first.")
        now = self.ctx.clock()
        monitor = Monitor(
            model=model,
            name=spec.get("name") or self._free_name(model, spec["checks"]),
            checks=list(spec["checks"]),
            version=None,
            stage=spec.get("stage"),
            window=spec.get("window") or dict(DEFAULT_WINDOW),
            schedule=spec.get("schedule", dict(DEFAULT_SCHEDULE)),
            thresholds=spec.get("thresholds") or {},
            sensitive_features=list(spec.get("sensitive_features") or []),
            min_rows=spec.get("min_rows", 100),
            options=spec.get("options") or {},
            channels=list(spec.get("channels") or []),
            enabled=spec.get("enabled", True),
            created_at=now,
            created_by=self.ctx.actor.name,
            updated_at=now,
        )
        if spec.get("version") is not None:
            monitor.version = self.registry.get_version(model_name, spec["version"])
        self._check(monitor)
        self._unique_name(model, monitor.name)
        self.session.add(monitor)
        self.session.flush()
        self._audit("monitor.created", monitor, {"monitor": self.describe(monitor)})
        self._publish("monitor.created", monitor)
        return monitor

    def update(self, model_name: str, monitor_id: int, changes: dict[str, Any]) -> Monitor:
        """Change a monitor's settings or enable/disable it (audited with before/after)."""
        monitor = self.get(model_name, monitor_id)
        before = self.describe(monitor)
        if "version" in changes:
            number = changes.pop("version")
            monitor.version = (
                self.registry.get_version(model_name, number) if number is not None else None
            )
        if "name" in changes and changes["name"] != monitor.name:
            self._unique_name(monitor.model, changes["name"])
        for key, value in changes.items():
            setattr(monitor, key, value)
        self._check(monitor)
        after = self.describe(monitor)
        changed = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
        if changed:
            monitor.updated_at = self.ctx.clock()
            self.session.flush()
            self._audit("monitor.updated", monitor, {"changes": changed})
            self._publish("monitor.updated", monitor)
        return monitor

    def delete(self, model_name: str, monitor_id: int) -> None:
        """Delete a monitor with its runs and reports (audited). ``monitor.deleted`` is
        published first: what refers to them (the alerts they raised) goes with them."""
        monitor = self.get(model_name, monitor_id)
        description = self.describe(monitor)
        audit_id = monitor.audit_id
        self.ctx.events.publish(
            self.session,
            self.ctx,
            "monitor.deleted",
            {"monitor_id": monitor.id, "model": model_name, "audit_id": audit_id},
        )
        runs = select(MonitorRun.id).where(MonitorRun.monitor_id == monitor.id)
        self.session.execute(delete(Report).where(Report.run_id.in_(runs)))
        self.session.execute(delete(MonitorRun).where(MonitorRun.monitor_id == monitor.id))
        self.session.delete(monitor)
        self.session.flush()
        AuditTrail(self.session, self.ctx).append(
            "monitor.deleted", "monitor", audit_id, {"monitor": description}
        )

    def get(self, model_name: str, monitor_id: int) -> Monitor:
        """One monitor of a model, or :class:`NotFound`."""
        monitor = self.session.scalar(
            select(Monitor)
            .join(Monitor.model)
            .options(joinedload(Monitor.model), joinedload(Monitor.version))
            .where(Monitor.id == monitor_id, RegisteredModel.name == model_name)
        )
        if monitor is None:
            self.registry.get_model(model_name)
            raise NotFound(f"Model {model_name!r} has no monitor {monitor_id}.")
        return monitor

    def list(self, model_name: str) -> builtins.list[Monitor]:
        """A model's monitors, oldest first."""
        model = self.registry.get_model(model_name)
        return list(
            self.session.scalars(
                select(Monitor)
                .options(joinedload(Monitor.model), joinedload(Monitor.version))
                .where(Monitor.model_id == model.id)
                .order_by(Monitor.id)
            )
        )

    def runs(
        self, model_name: str, monitor_id: int, *, limit: int = 50
    ) -> builtins.list[MonitorRun]:
        """A monitor's runs, newest first."""
        monitor = self.get(model_name, monitor_id)
        return list(
            self.session.scalars(
                select(MonitorRun)
                .options(joinedload(MonitorRun.version))
                .where(MonitorRun.monitor_id == monitor.id)
                .order_by(MonitorRun.id.desc())
                .limit(limit)
            )
        )

    def get_run(self, run_id: int) -> MonitorRun:
        """One run, or :class:`NotFound`."""
        run = self.session.get(MonitorRun, run_id)
        if run is None:
            raise NotFound(f"No monitor run {run_id}.")
        return run

    def reports(
        self, model_name: str, filters: ReportFilters, *, limit: int = 50, before: int | None = None
    ) -> builtins.list[Report]:
        """A model's reports, newest first, narrowed by ``filters``; page with ``before``."""
        model = self.registry.get_model(model_name)
        query = (
            select(Report)
            .options(joinedload(Report.model), joinedload(Report.version))
            .where(Report.model_id == model.id)
        )
        if filters.kind:
            query = query.where(Report.kind == filters.kind)
        if filters.status:
            query = query.where(Report.status == filters.status)
        if filters.monitor_id is not None:
            query = query.where(Report.monitor_id == filters.monitor_id)
        if filters.version is not None:
            version = self.registry.get_version(model_name, filters.version)
            query = query.where(Report.version_id == version.id)
        if filters.since is not None:
            query = query.where(Report.created_at >= filters.since)
        if filters.until is not None:
            query = query.where(Report.created_at < filters.until)
        if before is not None:
            query = query.where(Report.id < before)
        return list(self.session.scalars(query.order_by(Report.id.desc()).limit(limit)))

    def get_report(self, report_id: int) -> Report:
        """One report, or :class:`NotFound`."""
        report = self.session.get(Report, report_id)
        if report is None:
            raise NotFound(f"No report {report_id}.")
        return report

    @staticmethod
    def describe(monitor: Monitor) -> dict[str, Any]:
        """The monitor's settings, as audited."""
        return {
            "name": monitor.name,
            "checks": list(monitor.checks),
            "version": monitor.version_number,
            "stage": monitor.stage,
            "window": monitor.window,
            "schedule": monitor.schedule,
            "thresholds": monitor.thresholds,
            "sensitive_features": list(monitor.sensitive_features),
            "min_rows": monitor.min_rows,
            "options": monitor.options,
            "channels": list(monitor.channels),
            "enabled": monitor.enabled,
        }

    def _publish(self, name: str, monitor: Monitor) -> None:
        """Publish a monitor's creation or change; a subscriber may refuse it (the alerts
        package refuses channels that do not exist), and the unit of work then rolls back."""
        self.ctx.events.publish(
            self.session,
            self.ctx,
            name,
            {
                "monitor_id": monitor.id,
                "model_id": monitor.model_id,
                "checks": list(monitor.checks),
                "channels": list(monitor.channels),
            },
        )

    def _check(self, monitor: Monitor) -> None:
        problems: dict[str, list[str]] = {}
        if monitor.version is not None and monitor.stage is not None:
            problems["stage"] = ["Give a version or a stage, not both."]
        if "bias" in monitor.checks and not monitor.sensitive_features:
            problems["sensitive_features"] = ["The bias check needs sensitive features."]
        unknown = sorted(set(monitor.thresholds) - set(monitor.checks))
        if unknown:
            problems["thresholds"] = [f"Thresholds for checks the monitor does not run: {unknown}."]
        methods = (monitor.options or {}).get("feature_methods") or {}
        if methods:
            try:
                validate_methods(self._kinds(monitor), methods)
            except ValueError as exc:
                problems["options"] = [str(exc)]
        if monitor.schedule is not None:
            try:
                trigger_for(monitor.schedule, monitor.created_at)
            except ValueError as exc:
                problems["schedule"] = [str(exc)]
        if problems:
            raise ValidationFailed("The monitor is not valid.", details=problems)

    def _kinds(self, monitor: Monitor) -> dict[str, str]:
        """Column kinds of the version the monitor watches (or the newest), if any."""
        version = monitor.version
        if version is None:
            version = self.session.scalars(
                select(ModelVersion)
                .where(ModelVersion.model_id == monitor.model.id)
                .order_by(ModelVersion.version.desc())
                .limit(1)
            ).first()
        return monitored_kinds(version.feature_schema) if version is not None else {}

    def _free_name(self, model: RegisteredModel, checks: builtins.list[str]) -> str:
        base = "-".join(checks)
        taken = set(self.session.scalars(select(Monitor.name).where(Monitor.model_id == model.id)))
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}-{n}"
        return name

    def _unique_name(self, model: RegisteredModel, name: str) -> None:
        exists = self.session.scalar(
            select(Monitor.id).where(Monitor.model_id == model.id, Monitor.name == name)
        )
        if exists is not None:
            raise Conflict(f"Model {model.name!r} already has a monitor named {name!r}.")

    def _audit(self, action: str, monitor: Monitor, payload: dict[str, Any]) -> None:
        AuditTrail(self.session, self.ctx).append(
            action, "monitor", monitor.audit_id, {"monitor_id": monitor.id, **payload}
        )
