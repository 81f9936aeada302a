"""Evidence for policy rules, as the packages that produce it answer: the shared vocabulary.

Governance asks for evidence of a kind (``drift_share``, ``explanation_available``, …) about
one model version; the package that owns it (monitoring, explain, alerts) answers with an
:class:`Observation` or says why there is none (:class:`Missing`). Which package answers which
kind is decided in ``wiring.py``; a kind nobody answers is missing, so its rules block.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy.orm import Session

#: The kinds of evidence other packages provide: rule kinds, plus ``report`` for the compliance
#: report's "latest drift / bias / performance report" section.
EVIDENCE_KINDS = (
    "performance_metric",
    "bias_metric",
    "drift_share",
    "data_quality",
    "explanation_available",
    "max_open_alerts",
    "challenger_comparison",
    "shadow_predictions",
    "report",
    "report_history",
)


@dataclass(frozen=True)
class EvidenceQuery:
    """What evidence is asked about: a model version, read in ``session`` at time ``now``."""

    session: Session
    model_id: int
    model_name: str
    version_id: int
    version_number: int
    now: datetime


@dataclass(frozen=True)
class Observation:
    """Evidence found: the observed ``value`` and where it came from."""

    value: Any
    source: str = ""
    link: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Missing:
    """No evidence, and why."""

    reason: str


#: ``(query, rule parameters) -> Observation | Missing``; the parameters are the rule as
#: written in the policy (``metric``, ``sensitive_feature``, ``severity`` …).
EvidenceProvider = Callable[[EvidenceQuery, Mapping[str, Any]], "Observation | Missing"]


class EvidenceProviders:
    """Who answers each kind of evidence; fixed once built (``wiring.py``)."""

    def __init__(self, providers: Mapping[str, EvidenceProvider] | None = None) -> None:
        unknown = set(providers or {}) - set(EVIDENCE_KINDS)
        if unknown:
            raise ValueError(f"unknown evidence kinds: {', '.join(sorted(unknown))}")
        self._providers = MappingProxyType(dict(providers or {}))

    def kinds(self) -> frozenset[str]:
        """The kinds somebody answers."""
        return frozenset(self._providers)

    def observe(
        self, kind: str, query: EvidenceQuery, params: Mapping[str, Any]
    ) -> Observation | Missing:
        """Ask the provider of ``kind``; without one, the evidence is missing."""
        if kind not in EVIDENCE_KINDS:
            raise ValueError(f"unknown evidence kind {kind!r}")
        provider = self._providers.get(kind)
        if provider is None:
            return Missing(f"Nothing on this server provides {kind.replace('_', ' ')} evidence.")
        return provider(query, params)


#: No provider at all: every rule that needs outside evidence is missing it.
NO_PROVIDERS = EvidenceProviders()
