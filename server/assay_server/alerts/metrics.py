"""``/metrics`` in Prometheus text format, read from the store at each scrape.

Every figure comes from the database, so any API process answers for the whole deployment
(scheduler processes included) and nothing is lost across restarts. A scrape authenticates
like any API call: a viewer token (Prometheus ``authorization: {credentials: asy_…}``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response
from sqlalchemy import func, select

from ..auth.access import requires
from ..auth.roles import Role
from ..ingest.models import PredictionBatch
from ..monitoring.models import MonitorRun
from ..registry.models import RegisteredModel
from ..request_scope import db_session
from .models import (
    ALERT_STATUSES,
    DELIVERY_STATUSES,
    SEVERITIES,
    Alert,
    Channel,
    Delivery,
)

bp = Blueprint("metrics", __name__)


class StoreCollector:
    """A prometheus-client collector over one session."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def collect(self) -> Iterator[Any]:
        """The metric families."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        alerts = GaugeMetricFamily(
            "assay_alerts",
            "Alerts by model, status and severity.",
            labels=["model", "status", "severity"],
        )
        seen = {
            (model, status, severity): count
            for model, status, severity, count in self.session.execute(
                select(RegisteredModel.name, Alert.status, Alert.severity, func.count(Alert.id))
                .join(RegisteredModel, RegisteredModel.id == Alert.model_id)
                .group_by(RegisteredModel.name, Alert.status, Alert.severity)
            )
        }
        for model in {key[0] for key in seen}:
            for status in ALERT_STATUSES:
                for severity in SEVERITIES:
                    alerts.add_metric(
                        [model, status, severity], seen.get((model, status, severity), 0)
                    )
        yield alerts

        deliveries = GaugeMetricFamily(
            "assay_deliveries",
            "Notification deliveries by channel and status.",
            labels=["channel", "status"],
        )
        counted = dict(
            ((channel, status), count)
            for channel, status, count in self.session.execute(
                select(Channel.name, Delivery.status, func.count(Delivery.id))
                .join(Channel, Channel.id == Delivery.channel_id)
                .group_by(Channel.name, Delivery.status)
            )
        )
        for channel in {key[0] for key in counted}:
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
        for status, count, total in self._run_figures():
            runs.add_metric([status], count)
            seconds.add_metric([status], total)
        yield runs
        yield seconds

        predictions = CounterMetricFamily(
            "assay_predictions_ingested",
            "Predictions stored, rejected and repeated at ingest, by model.",
            labels=["model", "outcome"],
        )
        for model, accepted, rejected, duplicates in self.session.execute(
            select(
                RegisteredModel.name,
                func.coalesce(func.sum(PredictionBatch.accepted), 0),
                func.coalesce(func.sum(PredictionBatch.rejected), 0),
                func.coalesce(func.sum(PredictionBatch.duplicates), 0),
            )
            .select_from(PredictionBatch)
            .join(_versions(), _versions().c.id == PredictionBatch.version_id)
            .join(RegisteredModel, RegisteredModel.id == _versions().c.model_id)
            .group_by(RegisteredModel.name)
        ):
            predictions.add_metric([model, "accepted"], int(accepted))
            predictions.add_metric([model, "rejected"], int(rejected))
            predictions.add_metric([model, "duplicate"], int(duplicates))
        yield predictions

    def _run_figures(self) -> list[tuple[str, int, float]]:
        rows = self.session.execute(
            select(MonitorRun.status, MonitorRun.started_at, MonitorRun.finished_at)
        )
        figures: dict[str, list[float]] = {}
        for status, started, finished in rows:
            entry = figures.setdefault(status, [0, 0.0])
            entry[0] += 1
            if started is not None and finished is not None:
                entry[1] += (finished - started).total_seconds()
        return [(status, int(count), total) for status, (count, total) in sorted(figures.items())]


def _versions() -> Any:
    from ..registry.models import ModelVersion

    return ModelVersion.__table__


@bp.route("/metrics")
@requires(Role.VIEWER)
def metrics() -> Response:
    """Prometheus exposition of alerts, deliveries, monitor runs and ingested predictions."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(db_session()))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
