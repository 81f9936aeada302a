"""Governance in the SDK: benchmarks, policies, promotion requests, the gate, stage history.

:class:`GovernanceMethods` is mixed into :class:`assay.Client`; :func:`evaluate` computes the
standard scikit-learn metrics of an estimator on the client (scikit-learn is imported only
when it is called).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from assay.types import parse_datetime

if TYPE_CHECKING:
    from assay._http import Transport

__all__ = [
    "AppliedPolicy",
    "Benchmark",
    "Decision",
    "GateStatus",
    "GovernanceMethods",
    "Leaderboard",
    "LeaderboardRow",
    "Policy",
    "PolicyVersion",
    "PromotionRequest",
    "Rollback",
    "RuleResult",
    "StageHistoryEntry",
    "evaluate",
]

PathLike = str | os.PathLike[str]


def _when(value: Any) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError("a required timestamp is missing from the server's answer")
    return parsed


@dataclass(frozen=True)
class Benchmark:
    """A named evaluation of a version on a named dataset."""

    id: int
    model: str
    version: int
    name: str
    metrics: dict[str, float]
    dataset_uri: str | None
    dataset_hash: str | None
    notes: str
    created_by: str
    created_at: datetime

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Benchmark:
        """Build from the server's JSON."""
        return cls(
            id=int(data["id"]),
            model=data["model"],
            version=int(data["version"]),
            name=data["name"],
            metrics=dict(data.get("metrics") or {}),
            dataset_uri=data.get("dataset_uri"),
            dataset_hash=data.get("dataset_hash"),
            notes=data.get("notes") or "",
            created_by=data.get("created_by") or "",
            created_at=_when(data["created_at"]),
        )


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
    """Versions × metrics of one benchmark name, in the order asked for."""

    model: str
    benchmark: str
    metrics: tuple[str, ...]
    rows: tuple[LeaderboardRow, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Leaderboard:
        """Build from the server's JSON."""
        return cls(
            model=data["model"],
            benchmark=data["benchmark"],
            metrics=tuple(data.get("metrics") or ()),
            rows=tuple(
                LeaderboardRow(
                    version=int(r["version"]),
                    stage=r["stage"],
                    benchmark_id=int(r["benchmark_id"]),
                    dataset_hash=r.get("dataset_hash"),
                    created_at=_when(r["created_at"]),
                    metrics=dict(r.get("metrics") or {}),
                )
                for r in data.get("rows") or ()
            ),
        )


@dataclass(frozen=True)
class AppliedPolicy:
    """What applying one policy file did: ``created``, ``updated`` or ``unchanged``."""

    name: str
    version: int
    status: str
    filename: str
    sha256: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AppliedPolicy:
        """Build from the server's JSON."""
        return cls(
            name=data["name"],
            version=int(data["version"]),
            status=data["status"],
            filename=data["filename"],
            sha256=data["sha256"],
        )


@dataclass(frozen=True)
class PolicyVersion:
    """One applied version of a policy: the YAML text and the validated document."""

    name: str
    version: int
    sha256: str
    filename: str
    source: str
    document: dict[str, Any]
    created_by: str
    created_at: datetime

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PolicyVersion:
        """Build from the server's JSON."""
        return cls(
            name=data["name"],
            version=int(data["version"]),
            sha256=data["sha256"],
            filename=data["filename"],
            source=data["source"],
            document=dict(data.get("document") or {}),
            created_by=data.get("created_by") or "",
            created_at=_when(data["created_at"]),
        )


@dataclass(frozen=True)
class Policy:
    """A policy and the version in force."""

    name: str
    description: str
    current_version: int
    current: PolicyVersion

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Policy:
        """Build from the server's JSON."""
        return cls(
            name=data["name"],
            description=data.get("description") or "",
            current_version=int(data["current_version"]),
            current=PolicyVersion.from_json(data["current"]),
        )


@dataclass(frozen=True)
class RuleResult:
    """One rule's verdict: ``pass``, ``fail`` or ``missing_evidence``, and what it read."""

    policy: str
    id: str
    check: str
    status: str
    observed: Any
    threshold: Any
    message: str
    evidence: dict[str, Any] | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RuleResult:
        """Build from the server's JSON."""
        return cls(
            policy=data.get("policy") or "",
            id=data["id"],
            check=data["check"],
            status=data["status"],
            observed=data.get("observed"),
            threshold=data.get("threshold"),
            message=data.get("message") or "",
            evidence=data.get("evidence"),
        )

    def describe(self) -> str:
        """One line for people: policy/rule, status, observed against threshold."""
        return (
            f"{self.policy}/{self.id} [{self.check}] {self.status}: observed "
            f"{self.observed!r}, threshold {self.threshold} — {self.message}"
        )


@dataclass(frozen=True)
class Decision:
    """One approver's approval or rejection."""

    approver: str
    decision: str
    comment: str
    created_at: datetime


@dataclass(frozen=True)
class PromotionRequest:
    """A request to move a version to a stage: status, evaluation, decisions."""

    id: int
    model: str
    version: int
    stage: str
    reason: str
    status: str
    required_approvals: int
    approvals: int
    requested_by: str
    created_at: datetime
    updated_at: datetime
    decided_at: datetime | None
    failing_rules: tuple[RuleResult, ...]
    evaluation: dict[str, Any]
    decisions: tuple[Decision, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PromotionRequest:
        """Build from the server's JSON."""
        return cls(
            id=int(data["id"]),
            model=data["model"],
            version=int(data["version"]),
            stage=data["stage"],
            reason=data.get("reason") or "",
            status=data["status"],
            required_approvals=int(data["required_approvals"]),
            approvals=int(data["approvals"]),
            requested_by=data["requested_by"],
            created_at=_when(data["created_at"]),
            updated_at=_when(data["updated_at"]),
            decided_at=parse_datetime(data.get("decided_at")),
            failing_rules=tuple(RuleResult.from_json(r) for r in data.get("failing_rules") or ()),
            evaluation=dict(data.get("evaluation") or {}),
            decisions=tuple(
                Decision(
                    d["approver"], d["decision"], d.get("comment") or "", _when(d["created_at"])
                )
                for d in data.get("decisions") or ()
            ),
        )


@dataclass(frozen=True)
class GateStatus:
    """The gate's answer: ``passed`` once the version holds the stage; else why not."""

    model: str
    version: int
    stage: str
    current_stage: str
    passed: bool
    status: str
    promotion_id: int | None
    approvals: int
    required_approvals: int
    failing_rules: tuple[RuleResult, ...]
    evaluation: dict[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GateStatus:
        """Build from the server's JSON."""
        return cls(
            model=data["model"],
            version=int(data["version"]),
            stage=data["stage"],
            current_stage=data["current_stage"],
            passed=bool(data["passed"]),
            status=data["status"],
            promotion_id=data.get("promotion_id"),
            approvals=int(data.get("approvals") or 0),
            required_approvals=int(data.get("required_approvals") or 0),
            failing_rules=tuple(RuleResult.from_json(r) for r in data.get("failing_rules") or ()),
            evaluation=dict(data.get("evaluation") or {}),
        )


@dataclass(frozen=True)
class StageHistoryEntry:
    """A version's stay in a stage; ``left_at`` is None while it is still there."""

    version: int
    stage: str
    entered_at: datetime
    left_at: datetime | None
    entered_by: str
    comment: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StageHistoryEntry:
        """Build from the server's JSON."""
        return cls(
            version=int(data["version"]),
            stage=data["stage"],
            entered_at=_when(data["entered_at"]),
            left_at=parse_datetime(data.get("left_at")),
            entered_by=data.get("entered_by") or "",
            comment=data.get("comment"),
        )


@dataclass(frozen=True)
class Rollback:
    """What a rollback did, and how the policies judge the restored version."""

    model: str
    stage: str
    from_versions: tuple[int, ...]
    to_version: int
    reason: str
    evaluation: dict[str, Any]


def _name(model: Any) -> str:
    return str(getattr(model, "name", model))


def _model_path(model: Any) -> str:
    return "/models/" + quote(_name(model), safe="")


def _version_path(model: Any, version: Any) -> str:
    return f"{_model_path(model)}/versions/{int(getattr(version, 'version', version))}"


def _iso(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        raise ValueError("pass an aware datetime (with a timezone), e.g. datetime.now(UTC)")
    return value.isoformat()


def policy_files(paths: PathLike | Sequence[PathLike]) -> list[dict[str, str]]:
    """The ``*.yaml`` / ``*.yml`` files of a directory (or the files named) as upload items."""
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    files: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            files.extend(sorted([*item.glob("*.yaml"), *item.glob("*.yml")]))
        else:
            files.append(item)
    if not files:
        raise ValueError(f"no policy files (*.yaml, *.yml) in {', '.join(map(str, items))}")
    return [{"filename": f.name, "content": f.read_text(encoding="utf-8")} for f in files]


class GovernanceMethods:
    """Benchmarks, policies, promotions, the gate and stage history (mixed into Client)."""

    _transport: Transport

    # benchmarks -------------------------------------------------------------------------

    def log_benchmark(
        self,
        model: Any,
        version: Any,
        name: str,
        metrics: Mapping[str, float],
        dataset_uri: str | None = None,
        dataset_hash: str | None = None,
        notes: str = "",
    ) -> Benchmark:
        """Record a named evaluation of a version (contributor); a version may have many.

        Args:
            name: the benchmark's name, e.g. ``holdout``; policies and the leaderboard use it.
            metrics: metric name → number, e.g. the output of :func:`assay.evaluate`.
            dataset_hash: the evaluation data's hash (an independent validation needs one).
        """
        body = {
            "name": name,
            "metrics": {k: float(v) for k, v in metrics.items()},
            "dataset_uri": dataset_uri,
            "dataset_hash": dataset_hash,
            "notes": notes,
        }
        path = _version_path(model, version) + "/benchmarks"
        return Benchmark.from_json(self._transport.json("POST", path, json=body))

    def list_benchmarks(self, model: Any, version: Any, name: str | None = None) -> list[Benchmark]:
        """A version's benchmarks, oldest first (only those called ``name`` if given)."""
        path = _version_path(model, version) + "/benchmarks"
        params = {"name": name} if name else None
        return [Benchmark.from_json(b) for b in self._transport.json("GET", path, params=params)]

    def leaderboard(self, model: Any, benchmark: str, sort: str | None = None) -> Leaderboard:
        """Versions × metrics of ``benchmark``; ``sort="-accuracy"`` ranks best first."""
        params = {"benchmark": benchmark, **({"sort": sort} if sort else {})}
        body = self._transport.json("GET", _model_path(model) + "/leaderboard", params=params)
        return Leaderboard.from_json(body)

    # policies ---------------------------------------------------------------------------

    def apply_policies(self, paths: PathLike | Sequence[PathLike]) -> list[AppliedPolicy]:
        """Apply policy files (admin): a directory's YAML files, or the files named.

        A new or changed policy becomes a new version; nothing is stored if any file is
        wrong (ValidationError, whose ``details["errors"]`` names file, rule and field).
        """
        body = self._transport.json("POST", "/policies", json={"files": policy_files(paths)})
        return [AppliedPolicy.from_json(a) for a in body["applied"]]

    def list_policies(self) -> list[Policy]:
        """The policies in force, by name."""
        return [Policy.from_json(p) for p in self._transport.json("GET", "/policies")]

    def policy_versions(self, name: str) -> list[PolicyVersion]:
        """Every version of a policy, oldest first."""
        path = f"/policies/{quote(name, safe='')}/versions"
        return [PolicyVersion.from_json(v) for v in self._transport.json("GET", path)]

    # promotions -------------------------------------------------------------------------

    def request_promotion(
        self, model: Any, version: Any, stage: str, reason: str = ""
    ) -> PromotionRequest:
        """Ask to move a version to ``staging`` or ``production`` (contributor).

        The policies are evaluated at once: the request is ``blocked`` (a rule fails or lacks
        evidence), ``pending_approval``, or already ``approved`` if no approval is needed.
        """
        path = _version_path(model, version) + "/promotions"
        body = self._transport.json("POST", path, json={"stage": stage, "reason": reason})
        return PromotionRequest.from_json(body)

    def get_promotion(self, promotion_id: int) -> PromotionRequest:
        """One promotion request."""
        return PromotionRequest.from_json(
            self._transport.json("GET", f"/promotions/{int(promotion_id)}")
        )

    def list_promotions(self, **filters: Any) -> list[PromotionRequest]:
        """Promotion requests, newest first; filter by model, version, stage, status."""
        if "model" in filters:
            filters["model"] = _name(filters["model"])
        walk = self._walk_pages("/promotions", filters)  # type: ignore[attr-defined]
        return [PromotionRequest.from_json(item) for item in walk]

    def approve(self, promotion_id: int, comment: str = "") -> PromotionRequest:
        """Approve (approver). Neither the requester nor the version's registrant may.

        Raises PermissionDenied (separation of duties) or Conflict (blocked, decided, or
        the policies no longer pass).
        """
        path = f"/promotions/{int(promotion_id)}/approve"
        return PromotionRequest.from_json(
            self._transport.json("POST", path, json={"comment": comment})
        )

    def reject(self, promotion_id: int, comment: str) -> PromotionRequest:
        """Reject a request, saying why (approver); a rejected request is final."""
        path = f"/promotions/{int(promotion_id)}/reject"
        return PromotionRequest.from_json(
            self._transport.json("POST", path, json={"comment": comment})
        )

    def evaluate_promotion(self, promotion_id: int) -> PromotionRequest:
        """Re-evaluate an open request now, e.g. once the missing evidence was logged."""
        path = f"/promotions/{int(promotion_id)}/evaluate"
        return PromotionRequest.from_json(self._transport.json("POST", path))

    def cancel_promotion(self, promotion_id: int, comment: str = "") -> PromotionRequest:
        """Withdraw an open request (its requester, or an admin)."""
        path = f"/promotions/{int(promotion_id)}/cancel"
        return PromotionRequest.from_json(
            self._transport.json("POST", path, json={"comment": comment})
        )

    def gate(self, model: Any, version: Any, stage: str) -> GateStatus:
        """May ``version`` go to ``stage``? What ``assay gate check`` asks."""
        path = _version_path(model, version) + "/gate"
        return GateStatus.from_json(self._transport.json("GET", path, params={"stage": stage}))

    # stage history ----------------------------------------------------------------------

    def stage_history(
        self, model: Any, at: datetime | str | None = None, stage: str | None = None
    ) -> list[StageHistoryEntry]:
        """Which version held which stage, from when to when; ``at`` = only what held then."""
        params = {"at": _iso(at) if at is not None else None, "stage": stage}
        params = {k: v for k, v in params.items() if v is not None}
        body = self._transport.json("GET", _model_path(model) + "/stage-history", params=params)
        return [StageHistoryEntry.from_json(e) for e in body]

    def rollback(self, model: Any, stage: str, to_version: int, reason: str) -> Rollback:
        """Move ``stage`` back to a version that held it before (approver; reason required)."""
        body = self._transport.json(
            "POST",
            _model_path(model) + "/rollback",
            json={"stage": stage, "to_version": int(to_version), "reason": reason},
        )
        return Rollback(
            model=body["model"],
            stage=body["stage"],
            from_versions=tuple(body["from_versions"]),
            to_version=int(body["to_version"]),
            reason=body["reason"],
            evaluation=dict(body["evaluation"]),
        )

    def compliance_report(
        self, model: Any, version: Any, *, format: str = "html", path: PathLike | None = None
    ) -> Any:
        """The version's compliance report: HTML text, or the JSON bundle (``format="json"``).

        With ``path`` the report is written there and the path returned.
        """
        url = _version_path(model, version) + "/compliance-report"
        response = self._transport.request("GET", url, params={"format": format})
        if path is not None:
            Path(path).write_bytes(response.content)
            return Path(path)
        return response.json() if format == "json" else response.text


def evaluate(estimator: Any, X: Any, y: Any, task: str | None = None) -> dict[str, float]:
    """Standard scikit-learn metrics of a fitted ``estimator`` on ``X`` / ``y``.

    ``task`` is ``binary_classification``, ``multiclass_classification`` or ``regression``
    (guessed from the estimator and ``y`` when omitted). Classification gives accuracy,
    balanced accuracy, precision, recall, F1 (and ROC AUC and log loss when the estimator
    has ``predict_proba``); regression gives RMSE, MAE, R² and explained variance.
    Pass the result to :meth:`Client.log_benchmark`.
    """
    import numpy as np
    from sklearn import metrics as m
    from sklearn.base import is_regressor

    y_true = np.asarray(y)
    if task is None:
        if is_regressor(estimator):
            task = "regression"
        else:
            task = (
                "binary_classification"
                if len(np.unique(y_true)) <= 2
                else "multiclass_classification"
            )
    predicted = estimator.predict(X)
    if task == "regression":
        return {
            "rmse": float(np.sqrt(m.mean_squared_error(y_true, predicted))),
            "mae": float(m.mean_absolute_error(y_true, predicted)),
            "r2": float(m.r2_score(y_true, predicted)),
            "explained_variance": float(m.explained_variance_score(y_true, predicted)),
        }
    if task not in ("binary_classification", "multiclass_classification"):
        raise ValueError(
            "task must be binary_classification, multiclass_classification or regression"
        )
    binary = task == "binary_classification"
    average = "binary" if binary else "macro"
    labels = getattr(estimator, "classes_", None)
    pos_label = labels[-1] if binary and labels is not None else 1
    extra = {"pos_label": pos_label} if binary else {}
    result = {
        "accuracy": float(m.accuracy_score(y_true, predicted)),
        "balanced_accuracy": float(m.balanced_accuracy_score(y_true, predicted)),
        "precision": float(
            m.precision_score(y_true, predicted, average=average, zero_division=0, **extra)
        ),
        "recall": float(
            m.recall_score(y_true, predicted, average=average, zero_division=0, **extra)
        ),
        "f1": float(m.f1_score(y_true, predicted, average=average, zero_division=0, **extra)),
    }
    if hasattr(estimator, "predict_proba"):
        proba = estimator.predict_proba(X)
        if binary:
            result["roc_auc"] = float(m.roc_auc_score(y_true, proba[:, -1]))
        else:
            result["roc_auc_ovr"] = float(
                m.roc_auc_score(y_true, proba, multi_class="ovr", labels=labels)
            )
        result["log_loss"] = float(m.log_loss(y_true, proba, labels=labels))
    return result
