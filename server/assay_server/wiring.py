"""The composition root: the one place that connects packages which must not import each other.

The app factory, the scheduler, the CLI and the test fixtures all call :func:`wire`, and build
every :class:`~assay_server.context.ServiceContext` with :meth:`Wiring.context`, so a report
raises an alert, an alert notifies its channels, and a policy rule finds its evidence the same
way everywhere. Nothing here is mutable once built, and no package keeps a registry of hooks.

Connected here:

- a stored run's reports → alerts (``monitor.run_succeeded`` → ``alerts.raising``);
- a monitor without data, a failed run → alerts (``monitor.run_succeeded`` /
  ``monitor.run_failed`` → ``alerts.silent_failures``);
- a monitor's channels → checked to exist (``monitor.created``/``updated`` → ``alerts``);
- a deleted monitor → the alerts it raised go with it (``monitor.deleted`` → ``alerts.raising``);
- alert changes → the outbox (``alert.*`` → ``alerts.outbox``);
- a version registered, a stage changed, a promotion's steps, a failed run → the channels
  subscribed to them (``alerts.subscriptions``);
- a version registered in answer to an alert → the alert checked to be of its model before
  a file of the version is stored (``version.registering`` → ``alerts.retraining``);
- a critical alert on a rollout's candidate → the rollout halts (``alert.fired`` /
  ``alert.escalated`` → ``governance.rollouts_jobs``);
- a model's new owner → refused while a promotion of it is open (``model.updated`` →
  ``governance.ownership``);
- evidence providers → policy rules (monitoring's reports and comparisons, explanations,
  open alerts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from .alerts import evidence as alert_evidence
from .alerts import silent_failures
from .alerts.monitor_channels import check_monitor_channels
from .alerts.outbox import on_alert_event
from .alerts.raising import on_monitor_deleted, on_run_succeeded
from .alerts.retraining import check_version_trigger
from .alerts.subscriptions import PUBLISHED_LIFECYCLE_EVENTS, on_lifecycle_event
from .context import ServiceContext
from .db import utcnow
from .events import EVENT_NAMES, EventBus, Subscriber
from .evidence import EvidenceProviders
from .explain import evidence as explain_evidence
from .governance.governed_aliases import refuse_direct_move_of_governed_alias
from .governance.ownership import refuse_owner_change_while_open
from .governance.rollouts_jobs import halt_on_critical_alert
from .monitoring import comparison_evidence
from .monitoring import evidence as monitoring_evidence
from .roles import Actor
from .settings import Settings
from .storage import open_storage

ALERT_CHANGES = sorted(name for name in EVENT_NAMES if name.startswith("alert."))


@dataclass(frozen=True)
class Wiring:
    """The event bus and the evidence providers, connected once."""

    events: EventBus
    evidence: EvidenceProviders

    def context(
        self,
        actor: Actor,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        request_id: str | None = None,
    ) -> ServiceContext:
        """What a service is built with, for ``actor``."""
        return ServiceContext(
            actor=actor,
            settings=settings,
            events=self.events,
            evidence=self.evidence,
            storage=open_storage(settings),
            request_id=request_id,
            clock=clock,
        )


def wire() -> Wiring:
    """Connect the subscribers and the evidence providers."""
    subscriptions: dict[str, list[Subscriber]] = {
        "monitor.created": [check_monitor_channels],
        "monitor.updated": [check_monitor_channels],
        "monitor.deleted": [on_monitor_deleted],
        "monitor.run_succeeded": [on_run_succeeded, silent_failures.on_run_succeeded],
        "monitor.run_failed": [silent_failures.on_run_failed],
        "model.updated": [refuse_owner_change_while_open],
        "alias.changed": [refuse_direct_move_of_governed_alias],
        "version.registering": [check_version_trigger],
        **{name: [on_alert_event] for name in ALERT_CHANGES},
    }
    for name in ("alert.fired", "alert.escalated"):  # a critical alert halts a rollout
        subscriptions[name].append(halt_on_critical_alert)
    for name in PUBLISHED_LIFECYCLE_EVENTS:
        subscriptions.setdefault(name, []).append(on_lifecycle_event)
    events = EventBus(subscriptions)
    evidence = EvidenceProviders(
        {
            "drift_share": monitoring_evidence.drift_share,
            "bias_metric": monitoring_evidence.bias_metric,
            "performance_metric": monitoring_evidence.performance_metric,
            "data_quality": monitoring_evidence.data_quality,
            "report": monitoring_evidence.latest_report,
            "report_history": monitoring_evidence.report_history,
            "explanation_available": explain_evidence.explanation_available,
            "max_open_alerts": alert_evidence.open_alert_count,
            "challenger_comparison": comparison_evidence.challenger_comparison,
            "shadow_predictions": comparison_evidence.shadow_predictions,
        }
    )
    return Wiring(events=events, evidence=evidence)
