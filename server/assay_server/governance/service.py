"""Benchmarks and policies: log and compare evaluations, apply and version policy files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from ..audit.service import AuditTrail
from ..context import ServiceContext
from ..errors import Conflict, NotFound, ValidationFailed
from ..registry.models import ModelVersion
from ..registry.service import RegistryService
from .models import Benchmark, Policy, PolicyVersion
from .policies import PolicyFile, bundled_policies, validate_policies


@dataclass(frozen=True)
class AppliedPolicy:
    """What applying one file did: ``created``, ``updated`` (a new version) or ``unchanged``."""

    name: str
    version: int
    status: str
    filename: str
    sha256: str


class BenchmarkService:
    """Log benchmarks of versions and rank versions by them."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx
        self.registry = RegistryService(session, ctx)

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
    ) -> dict[str, Any]:
        """Versions × metrics of each version's newest benchmark named ``benchmark``.

        ``sort`` names a metric (``-metric`` for descending); versions without it come last.
        Without ``sort``, the newest version comes first.
        """
        model = self.registry.get_model(model_name)
        rows = self.session.scalars(
            select(Benchmark)
            .join(Benchmark.version)
            .options(joinedload(Benchmark.version))
            .where(ModelVersion.model_id == model.id, Benchmark.name == benchmark)
            .order_by(Benchmark.created_at, Benchmark.id)
        )
        newest: dict[int, Benchmark] = {}
        for bench in rows:
            newest[bench.version.version] = bench  # later rows replace earlier ones
        metrics = sorted({m for b in newest.values() for m in b.metrics})
        entries = [
            {
                "version": number,
                "stage": bench.version.stage,
                "benchmark_id": bench.id,
                "dataset_hash": bench.dataset_hash,
                "created_at": bench.created_at,
                "metrics": bench.metrics,
            }
            for number, bench in newest.items()
        ]
        if sort:
            metric = sort.lstrip("-")
            if metric not in metrics and metric != "version":
                raise ValidationFailed(
                    "", details={"sort": [f"No version has the metric {metric!r}."]}
                )
            descending = sort.startswith("-")

            def key(entry: dict[str, Any]) -> tuple[bool, float]:
                value = entry["version"] if metric == "version" else entry["metrics"].get(metric)
                if value is None:
                    return (True, 0.0)
                return (False, -value if descending else value)

            entries.sort(key=key)
        else:
            entries.sort(key=lambda e: -e["version"])
        return {"model": model.name, "benchmark": benchmark, "metrics": metrics, "rows": entries}


class PolicyService:
    """Apply policy files (a changed file makes a new version) and read them back."""

    def __init__(self, session: Session, ctx: ServiceContext) -> None:
        self.session = session
        self.ctx = ctx

    def apply(self, files: list[PolicyFile]) -> list[AppliedPolicy]:
        """Validate every file, then store each new or changed policy as a new version.

        Nothing is stored when any file has an error: the errors of all files are listed.
        """
        if not files:
            raise ValidationFailed("", details={"files": ["Send at least one policy file."]})
        parsed = validate_policies(files)
        now = self.ctx.clock()
        applied: list[AppliedPolicy] = []
        for item in parsed:
            policy = self.session.scalar(
                select(Policy).where(Policy.name == item.name).with_for_update()
            )
            if policy is None:
                policy = Policy(name=item.name, current_version=0, created_at=now, updated_at=now)
                self.session.add(policy)
                self.session.flush()
            elif policy.current.sha256 == item.file.sha256:
                applied.append(
                    AppliedPolicy(
                        item.name,
                        policy.current_version,
                        "unchanged",
                        item.file.filename,
                        item.file.sha256,
                    )
                )
                continue
            status = "created" if policy.current_version == 0 else "updated"
            policy.current_version += 1
            policy.updated_at = now
            self.session.add(
                PolicyVersion(
                    policy=policy,
                    version=policy.current_version,
                    sha256=item.file.sha256,
                    filename=item.file.filename[:255],
                    source=item.file.source,
                    document=item.document,
                    created_at=now,
                    created_by=self.ctx.actor.name,
                )
            )
            self.session.flush()
            AuditTrail(self.session, self.ctx).append(
                "policy.applied",
                "policy",
                item.name,
                {
                    "version": policy.current_version,
                    "sha256": item.file.sha256,
                    "filename": item.file.filename,
                    "rules": [r["id"] for r in item.document["rules"]],
                },
            )
            applied.append(
                AppliedPolicy(
                    item.name,
                    policy.current_version,
                    status,
                    item.file.filename,
                    item.file.sha256,
                )
            )
        return applied

    def load_bundled_if_empty(self) -> list[AppliedPolicy]:
        """On first start (no policy stored yet), apply the packs shipped with the server."""
        if self.session.scalar(select(func.count()).select_from(Policy)):
            return []
        return self.apply(bundled_policies())

    def list(self) -> list[Policy]:
        """Every policy, by name, with its current version."""
        return list(
            self.session.scalars(
                select(Policy).options(joinedload(Policy.versions)).order_by(Policy.name)
            ).unique()
        )

    def get(self, name: str) -> Policy:
        """One policy by name."""
        policy = self.session.scalar(select(Policy).where(Policy.name == name))
        if policy is None:
            raise NotFound(f"No policy named {name!r}.")
        return policy

    def versions(self, name: str) -> list[PolicyVersion]:
        """Every version of a policy, oldest first."""
        return list(self.get(name).versions)

    def in_force(self) -> list[PolicyVersion]:
        """The current version of every policy."""
        return [policy.current for policy in self.list()]
