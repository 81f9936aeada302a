"""What a worker is asked to explain, and what its answer becomes: results, or the API's errors.

The web process never loads a model: it sends a worker a plain-JSON request naming the files
to load and how (:class:`WorkRequest`), and turns a worker's failure into a domain error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import AssayError, Unavailable, ValidationFailed
from .loading import SHARED_WORKER_FORMATS
from .messages import (
    DataFile,
    ExplainMessage,
    Failure,
    FeatureSpec,
    LimeParams,
    ModelFile,
    Row,
    RowExplanation,
)
from .workers import WorkerError, WorkerPool

_Item = TypeVar("_Item")


class ExplanationTimeout(AssayError):
    """A worker did not answer within the per-request timeout (it was replaced)."""

    code, status = "explanation_timeout", 504


class ExplanationFailed(AssayError):
    """A worker died while explaining (it was replaced)."""

    code, status = "explanation_failed", 502


@dataclass(frozen=True)
class LoadableVersion:
    """A version as a worker loads it: its artifact (and what may load it), its reference
    data, LIME's mode, its features and target."""

    model: ModelFile
    reference: DataFile
    mode: str
    features: list[FeatureSpec]
    target: str | None


@dataclass(frozen=True)
class WorkRequest:
    """What a worker needs to explain rows of a version: the version, LIME's parameters and
    the CPU seconds each batch of rows may use."""

    version: LoadableVersion
    params: LimeParams
    cpu_seconds: float

    @property
    def affinity(self) -> str:
        """Which worker to prefer: the one that most likely has this artifact loaded."""
        return self.version.model["sha256"]

    @property
    def untrusted(self) -> bool:
        """True when loading the artifact may run untrusted code (a pickle): each batch of
        rows is then explained in a jailed worker of its own."""
        return self.version.model["format"] not in SHARED_WORKER_FORMATS

    def message(self, rows: list[Row]) -> ExplainMessage:
        """The message asking a worker to explain ``rows``."""
        version = self.version
        return {
            "op": "explain",
            "cpu_seconds": self.cpu_seconds,
            "model": version.model,
            "reference": version.reference,
            "mode": version.mode,
            "features": version.features,
            "target": version.target,
            "params": self.params,
            "rows": rows,
        }


def run_in_pool(
    pool: Callable[[], WorkerPool], work: WorkRequest, rows: list[Row], timeout: float
) -> list[RowExplanation]:
    """Explain ``rows`` in a worker of ``pool()`` (started on first use); worker failures,
    starting one included, become the API's errors."""
    try:
        answer = pool().run(
            work.message(rows), timeout=timeout, affinity=work.affinity, untrusted=work.untrusted
        )
    except WorkerError as exc:
        if exc.kind == "timeout":
            raise ExplanationTimeout(exc.message) from None
        if exc.kind == "busy":
            raise Unavailable(exc.message) from None
        raise ExplanationFailed(exc.message) from None
    if not answer.get("ok"):
        raise _error_of(answer.get("error"))
    return answer["results"]


def _error_of(failure: Failure | None) -> AssayError:
    """The API's error for a worker's failure: the model failed (502), or cannot be explained
    as asked (422); ``details.kind`` says which case."""
    failed: Failure = failure or {"kind": "failed", "message": "", "details": {}}
    kind = failed.get("kind", "failed")
    details: dict[str, object] = dict(failed.get("details") or {})
    details.setdefault("kind", kind)
    if kind == "jail_unavailable":  # this host cannot confine the model: not the caller's fault
        return Unavailable(failed.get("message") or "No jail for the model here.", details=details)
    if kind in {"failed", "memory"}:
        return ExplanationFailed(
            failed.get("message") or "The explanation failed.", details=details
        )
    return ValidationFailed(
        failed.get("message") or "The model cannot be explained.", details=details
    )


def chunks(rows: list[_Item], size: int) -> list[list[_Item]]:
    """``rows`` in consecutive batches of at most ``size``."""
    size = max(1, size)
    return [rows[i : i + size] for i in range(0, len(rows), size)]
