"""Benchmarks: named evaluations of a version on a dataset, logged from training code; the
evidence for gates, the baseline of performance monitoring, and a leaderboard across versions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..errors import Conflict, NotFound, ValidationFailed
from .models import Benchmark, ModelVersion
from .queries import RegistryQueries


@dataclass(frozen=True)
class LeaderboardRow:
    """One version's newest benchmark of the leaderboard's name."""

    version: int
    stage: str
    benchmark_id: int
    dataset_hash: str | None
    created_at: datetime
    metrics: dict[str, float]


@dataclass(frozen=True)
class Leaderboard:
    """Versions × metrics of one benchmark name: every metric any version has, and the rows."""

    model: str
    benchmark: str
    metrics: list[str]
    rows: list[LeaderboardRow]


def benchmarks_of(session: Session, version_id: int, name: str | None = None) -> list[Benchmark]:
    """A version's benchmarks (of one name, if given), newest first."""
    query = select(Benchmark).where(Benchmark.version_id == version_id)
    if name:
        query = query.where(Benchmark.name == name)
    return list(session.scalars(query.order_by(Benchmark.created_at.desc(), Benchmark.id.desc())))


class BenchmarkService:
    """Log benchmarks of versions and rank versions by them."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx
        self.registry = RegistryQueries(session, ctx)

    def log(
        self,
        model_name: str,
        version: int,
        *,
        name: str,
        metrics: dict[str, float],
        dataset_uri: str | None = None,
        dataset_hash: str | None = None,
        notes: str = "",
    ) -> Benchmark:
        """Record a named evaluation of a version; a version may have many."""
        model = self.registry.get_model(model_name)
        if model.archived:
            raise Conflict(f"Model {model_name!r} is archived; restore it first.")
        row = self.registry.get_version(model_name, version)
        bench = Benchmark(
            version=row,
            name=name,
            dataset_uri=dataset_uri,
            dataset_hash=dataset_hash,
            metrics=dict(metrics),
            notes=notes,
            created_at=self.ctx.clock(),
            created_by=self.ctx.actor.name,
        )
        self.session.add(bench)
        self.session.flush()
        AuditTrail(self.session, self.ctx).append(
            "benchmark.logged",
            "model_version",
            row.audit_id,
            {
                "benchmark_id": bench.id,
                "name": name,
                "metrics": bench.metrics,
                "dataset_uri": dataset_uri,
                "dataset_hash": dataset_hash,
            },
        )
        return bench

    def list(self, model_name: str, version: int, *, name: str | None = None) -> list[Benchmark]:
        """A version's benchmarks, oldest first."""
        row = self.registry.get_version(model_name, version)
        query = select(Benchmark).where(Benchmark.version_id == row.id)
        if name:
            query = query.where(Benchmark.name == name)
        return list(self.session.scalars(query.order_by(Benchmark.created_at, Benchmark.id)))

    def get(self, model_name: str, version: int, benchmark_id: int) -> Benchmark:
        """One benchmark of a version."""
        row = self.registry.get_version(model_name, version)
        bench = self.session.get(Benchmark, benchmark_id)
        if bench is None or bench.version_id != row.id:
            raise NotFound(f"Version {version} of {model_name!r} has no benchmark {benchmark_id}.")
        return bench

    def leaderboard(
        self, model_name: str, *, benchmark: str, sort: str | None = None
    ) -> Leaderboard:
        """Versions × metrics of each version's newest benchmark named ``benchmark``.

        ``sort`` names a metric (``-metric`` for descending); versions without it come last.
        Without ``sort``, the newest version comes first.
        """
        model = self.registry.get_model(model_name)
        logged = self.session.scalars(
            select(Benchmark)
            .join(Benchmark.version)
            .options(joinedload(Benchmark.version))
            .where(ModelVersion.model_id == model.id, Benchmark.name == benchmark)
            .order_by(Benchmark.created_at, Benchmark.id)
        )
        newest: dict[int, Benchmark] = {}
        for bench in logged:
            newest[bench.version.version] = bench  # later rows replace earlier ones
        metrics = sorted({m for b in newest.values() for m in b.metrics})
        rows = [
            LeaderboardRow(
                version=number,
                stage=bench.version.stage,
                benchmark_id=bench.id,
                dataset_hash=bench.dataset_hash,
                created_at=bench.created_at,
                metrics=bench.metrics,
            )
            for number, bench in newest.items()
        ]
        if sort:
            metric = sort.lstrip("-")
            if metric not in metrics and metric != "version":
                raise ValidationFailed(
                    "", details={"sort": [f"No version has the metric {metric!r}."]}
                )
            descending = sort.startswith("-")

            def key(row: LeaderboardRow) -> tuple[bool, float]:
                value = row.version if metric == "version" else row.metrics.get(metric)
                if value is None:
                    return (True, 0.0)
                return (False, -value if descending else value)

            rows.sort(key=key)
        else:
            rows.sort(key=lambda row: -row.version)
        return Leaderboard(model=model.name, benchmark=benchmark, metrics=metrics, rows=rows)
