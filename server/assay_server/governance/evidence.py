"""What a rule is judged on: the version, its benchmarks, and evidence other packages provide.

Rule kinds whose evidence comes from monitoring (live performance, bias, drift, data quality
reports), from explanations or from alerts ask the providers ``wiring.py`` connected
(``ctx.evidence``). A kind nobody provides answers :class:`~assay_server.evidence.Missing`, so
its rules evaluate to ``missing_evidence`` and the request stays blocked instead of passing on
no evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from sqlalchemy.orm import Session

from ..evidence import EvidenceProviders, EvidenceQuery, Missing, Observation
from ..registry.benchmarks import benchmarks_of
from ..registry.models import Benchmark, ModelVersion

__all__ = ["EvidenceContext", "Missing", "Observation"]


@dataclass(frozen=True)
class EvidenceContext:
    """What a rule reads from: the store, the version judged, the time of judging, and the
    providers of outside evidence."""

    session: Session
    version: ModelVersion
    now: datetime
    providers: EvidenceProviders

    @cached_property
    def benchmarks(self) -> list[Benchmark]:
        """The version's benchmarks, newest first: read once per evaluation."""
        return benchmarks_of(self.session, self.version.id)

    def observe(self, kind: str, params: Mapping[str, object]) -> Observation | Missing:
        """Evidence of ``kind`` about this version, from whichever package provides it."""
        query = EvidenceQuery(
            session=self.session,
            model_id=self.version.model_id,
            model_name=self.version.model.name,
            version_id=self.version.id,
            version_number=self.version.version,
            now=self.now,
        )
        return self.providers.observe(kind, query, params)
