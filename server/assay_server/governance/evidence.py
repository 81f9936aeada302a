"""Where rules find evidence that other parts of Assay produce: the provider seam.

Rule kinds whose evidence comes from monitoring (live performance, bias, drift, data quality
reports), from explanations or from alerts ask a provider registered here under the rule
kind's name. Until the part of Assay that produces the evidence registers its provider, the
default answers :class:`Missing` with a reason, so those rules evaluate to
``missing_evidence`` and the request stays blocked instead of passing on no evidence.

A provider is a function ``(EvidenceContext, params) -> Observation | Missing``; ``params`` is
the rule as written in the policy (``metric``, ``sensitive_feature``, ``severity`` …).
The monitoring package registers its providers when it is imported, e.g.::

    from assay_server.governance.evidence import register_provider
    register_provider("drift_share", latest_drift_share)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..registry.models import ModelVersion
from .models import Benchmark


@dataclass(frozen=True)
class EvidenceContext:
    """What a provider reads from: the store, the version judged, and the time of judging."""

    session: Session
    version: ModelVersion
    now: datetime

    @cached_property
    def benchmarks(self) -> list[Benchmark]:
        """The version's benchmarks, newest first: read once per evaluation."""
        return list(
            self.session.scalars(
                select(Benchmark)
                .where(Benchmark.version_id == self.version.id)
                .order_by(Benchmark.created_at.desc(), Benchmark.id.desc())
            )
        )


@dataclass(frozen=True)
class Observation:
    """Evidence found: the observed ``value`` and where it came from."""

    value: Any
    source: str = ""
    link: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Missing:
    """No evidence, and why."""

    reason: str


Provider = Callable[[EvidenceContext, dict[str, Any]], "Observation | Missing"]

#: The kinds of evidence other packages provide (rule kinds, plus ``report`` for the
#: compliance report's "latest drift / bias / performance report" section).
MONITORING_KINDS = (
    "performance_metric",
    "bias_metric",
    "drift_share",
    "data_quality",
    "explanation_available",
    "max_open_alerts",
    "report",
)

_NOT_YET = {
    "performance_metric": "No live performance report exists: monitoring is not available "
    "on this server yet.",
    "bias_metric": "No bias report exists: monitoring is not available on this server yet.",
    "drift_share": "No drift report exists: monitoring is not available on this server yet.",
    "data_quality": "No data-quality report exists: monitoring is not available on this "
    "server yet.",
    "explanation_available": "Explanations are not available on this server yet.",
    "max_open_alerts": "Alert counts are not available: alerting is not installed on this "
    "server yet.",
    "report": "No monitoring reports: monitoring is not available on this server yet.",
}

_PROVIDERS: dict[str, Provider] = {}


def register_provider(kind: str, provider: Provider) -> Provider | None:
    """Install ``provider`` for evidence ``kind``; return the one it replaces (or None)."""
    if kind not in MONITORING_KINDS:
        raise ValueError(f"unknown evidence kind {kind!r}; one of {', '.join(MONITORING_KINDS)}")
    previous = _PROVIDERS.get(kind)
    _PROVIDERS[kind] = provider
    return previous


def unregister_provider(kind: str) -> None:
    """Remove the provider of ``kind``: its rules go back to ``missing_evidence``."""
    _PROVIDERS.pop(kind, None)


def observe(kind: str, ctx: EvidenceContext, params: dict[str, Any]) -> Observation | Missing:
    """Ask the provider of ``kind``; without one, the evidence is missing."""
    provider = _PROVIDERS.get(kind)
    if provider is None:
        return Missing(_NOT_YET[kind])
    return provider(ctx, params)
