"""``/metrics`` in Prometheus text format, read from the store at each scrape.

Every figure is an SQL aggregate kept by the package that owns it (alerts, monitoring, ingest),
so any API process answers for the whole deployment (scheduler processes included) and nothing
is lost across restarts. A scrape authenticates like any API call: a viewer token (Prometheus
``authorization: {credentials: asy_…}``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import Blueprint, Response
from sqlalchemy.orm import Session

from .access import requires
from .alerts.figures import alert_counts, delivery_counts
from .alerts.models import ALERT_STATUSES, DELIVERY_STATUSES, SEVERITIES
from .ingest.figures import ingest_counts, label_totals
from .ingest.pending import pending_label_counts
from .monitoring.figures import run_figures
from .request_scope import db_session, service_context
from .roles import Role
from .settings import Settings

bp = Blueprint("metrics", __name__)


class StoreCollector:
    """A prometheus-client collector over one session."""

    def __init__(self, session: Session, settings: Settings, now: datetime) -> None:
        self.session = session
        self.settings = settings
        self.now = now

    def collect(self) -> Iterator[Any]:
        """The metric families."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        alerts = GaugeMetricFamily(
            "assay_alerts",
            "Alerts by model, status and severity.",
            labels=["model", "status", "severity"],
        )
        seen = alert_counts(self.session)
        for model in sorted({key[0] for key in seen}):
            for status in ALERT_STATUSES:
                for severity in SEVERITIES:
                    count = seen.get((model, status, severity), 0)
                    alerts.add_metric([model, status, severity], count)
        yield alerts

        deliveries = GaugeMetricFamily(
            "assay_deliveries",
            "Notification deliveries by channel and status.",
            labels=["channel", "status"],
        )
        counted = delivery_counts(self.session)
        for channel in sorted({key[0] for key in counted}):
            for status in DELIVERY_STATUSES:
                deliveries.add_metric([channel, status], counted.get((channel, status), 0))
        yield deliveries

        runs = CounterMetricFamily(
            "assay_monitor_runs", "Monitor runs by status.", labels=["status"]
        )
        seconds = CounterMetricFamily(
            "assay_monitor_run_seconds",
            "Total duration of finished monitor runs.",
            labels=["status"],
        )
        for status, count, total in run_figures(self.session):
            runs.add_metric([status], count)
            seconds.add_metric([status], total)
        yield runs
        yield seconds

        predictions = CounterMetricFamily(
            "assay_predictions_ingested",
            "Predictions stored, rejected and repeated at ingest, by model.",
            labels=["model", "outcome"],
        )
        for model, accepted, rejected, duplicates in ingest_counts(self.session):
            predictions.add_metric([model, "accepted"], accepted)
            predictions.add_metric([model, "rejected"], rejected)
            predictions.add_metric([model, "duplicate"], duplicates)
        yield predictions

        labels = CounterMetricFamily(
            "assay_labels_ingested",
            "Labels stored and rejected (not a class of the version, not a value of its "
            "task) at ingest, by model.",
            labels=["model", "outcome"],
        )
        for model, received, rejected in label_totals(self.session):
            labels.add_metric([model, "accepted"], received - rejected)
            labels.add_metric([model, "rejected"], rejected)
        yield labels

        pending = GaugeMetricFamily(
            "assay_pending_labels",
            "Labels waiting for their predictions (within ASSAY_PENDING_LABEL_DAYS), by model.",
            labels=["model"],
        )
        for model, count in sorted(
            pending_label_counts(self.session, self.settings, self.now).items()
        ):
            pending.add_metric([model], count)
        yield pending


@bp.route("/metrics")
@requires(Role.VIEWER)
def metrics() -> Response:
    """Prometheus exposition of alerts, deliveries, monitor runs, ingested predictions and
    labels, and labels waiting for their predictions."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    registry = CollectorRegistry(auto_describe=False)
    ctx = service_context()
    registry.register(StoreCollector(db_session(), ctx.settings, ctx.clock()))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
