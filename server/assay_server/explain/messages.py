"""The JSON that passes between the web process and a worker, and the results stored from it.

A worker is sent a :class:`ExplainMessage` (or a ping) and answers with an :class:`Answer`;
both cross the pipe as JSON text, so these are plain dicts, never objects. Importing this
module imports nothing heavy: the worker reads it before its limits are set, and the web
process, which never imports pandas for an explanation, sums a global one here.
"""

from __future__ import annotations

from typing import Literal, TypedDict

#: One row to explain: feature name → value (a number or a category).
Row = dict[str, object]


class FeatureSpec(TypedDict):
    """A feature of the version's schema."""

    name: str
    kind: str  # "numerical" or "categorical"


class LimeParams(TypedDict):
    """LIME's parameters for one explanation (stored with it, part of its cache key)."""

    num_features: int
    num_samples: int
    seed: int
    label: str | None


class GlobalParams(LimeParams):
    """A global explanation's parameters: LIME's, and how many reference rows it explains."""

    sample_size: int


class ModelFile(TypedDict):
    """An artifact, and what the worker may do to load it (``loading.LoadSpec``'s wire form)."""

    path: str
    sha256: str
    format: str
    trusted_types: list[str]
    pickle_allowed: bool
    max_unpacked_bytes: int  # what a zip archive (skops) may unpack to, in all


class JailSpec(TypedDict):
    """How a jailed worker closes its jail (``jail.enter_jail``)."""

    temp_dir: str  # the one directory it may write in
    protected: list[str]  # never readable, whatever the import path holds
    open_files: int
    file_mb: int


class BootMessage(TypedDict):
    """The first message a worker reads: where to import from, its limits, its jail."""

    sys_path: list[str]
    memory_mb: int
    cache_size: int
    jail: JailSpec | None  # None: a shared worker, for trusted formats only


class DataFile(TypedDict):
    """The reference dataset (Parquet), checked against its sha256 before it is read."""

    path: str
    sha256: str


class ExplainMessage(TypedDict):
    """Explain ``rows`` of one version with LIME, within ``cpu_seconds``."""

    op: Literal["explain"]
    cpu_seconds: float
    model: ModelFile
    reference: DataFile
    mode: str  # "classification" or "regression", as LIME names them
    features: list[FeatureSpec]
    target: str | None
    params: LimeParams
    rows: list[Row]


class PingMessage(TypedDict):
    """Ask a worker whether it is alive and how many models it loaded."""

    op: Literal["ping"]


class Weight(TypedDict):
    """One feature's LIME weight in one row's explanation."""

    feature: str
    condition: str  # LIME's description of the row's value, e.g. "debt > 0.67"
    weight: float


class RowExplanation(TypedDict):
    """One row explained: the model's prediction and the weights, strongest first."""

    prediction: dict[str, object]  # label, probability, probabilities; or value
    explained_label: object
    intercept: float
    score: float
    weights: list[Weight]


class FeatureImportance(TypedDict):
    """A feature's mean absolute weight over the rows of a global explanation."""

    feature: str
    mean_abs_weight: float
    rows_in_top: int


class Failure(TypedDict):
    """Why a worker could not explain: ``kind`` is what the web process answers by."""

    kind: str
    message: str
    details: dict[str, object]


class WorkerInfo(TypedDict):
    """Which worker answered, and whether it had the model loaded already."""

    pid: int
    cache_hit: bool
    loads: int


class Answer(TypedDict, total=False):
    """A worker's answer: ``ok`` with ``results``, or not ``ok`` with an ``error``."""

    ok: bool
    results: list[RowExplanation]
    error: Failure
    worker: WorkerInfo
    pid: int  # a ping's
    loads: int  # a ping's


class LocalResult(TypedDict):
    """What a local explanation stores as its result."""

    task: str
    explanations: list[RowExplanation]


class GlobalResult(TypedDict):
    """What a global explanation stores as its result."""

    task: str
    features: list[FeatureImportance]
    rows: int


def aggregate_global(explanations: list[RowExplanation]) -> list[FeatureImportance]:
    """Mean absolute LIME weight per feature over many rows, strongest first."""
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    for item in explanations:
        for weight in item["weights"]:
            totals[weight["feature"]] = totals.get(weight["feature"], 0.0) + abs(weight["weight"])
            counts[weight["feature"]] = counts.get(weight["feature"], 0) + 1
    rows = max(len(explanations), 1)
    ranked: list[FeatureImportance] = [
        {"feature": name, "mean_abs_weight": total / rows, "rows_in_top": counts[name]}
        for name, total in totals.items()
    ]
    ranked.sort(key=lambda item: item["mean_abs_weight"], reverse=True)
    return ranked
