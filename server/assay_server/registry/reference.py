"""Reference datasets: read CSV or Parquet, check or infer the feature schema, store Parquet.

pandas and pyarrow are imported here only, when a reference dataset arrives.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from ..errors import ValidationFailed
from ..storage import BlobStore, StoredBlob
from .declared_classes import outside_classes
from .models import FeatureKind, Task
from .onnx_inputs import GraphInput, check_graph_inputs

if TYPE_CHECKING:
    import pandas as pd

#: Reference columns that are never features: the model's score (estimated performance
#: calibrates on it) and its prediction, besides the declared target and prediction columns.
RESERVED_COLUMNS = ("score", "prediction")  # SCORE_COLUMN is the first
MAX_COLUMNS = 2000


class StoredSchema(TypedDict):
    """A version's feature schema as stored (``feature_schema``): each column a ``name`` and
    a ``kind`` (:class:`~.models.FeatureKind`)."""

    features: list[dict[str, str]]
    target: dict[str, str] | None
    prediction: dict[str, str] | None


@dataclass(frozen=True)
class FeatureSchema:
    """Features with their kinds, and the target and prediction columns with theirs.

    What the reference data is also checked against, not stored with the schema: the
    model's declared classes (the target and prediction columns hold only those) and the
    inputs of its ONNX graph (the features must be what it takes).
    """

    features: list[dict[str, str]]
    target: dict[str, str] | None
    prediction: dict[str, str] | None
    classes: list[object] | None = None
    graph_inputs: list[GraphInput] | None = None

    def as_json(self) -> StoredSchema:
        """The stored form."""
        return {"features": self.features, "target": self.target, "prediction": self.prediction}


@dataclass(frozen=True)
class StoredReference:
    """A reference dataset stored as Parquet, with its shape."""

    blob: StoredBlob
    rows: int
    columns: int


def output_kind(task: str) -> str:
    """Targets and predictions of a classifier are categories; of a regressor, numbers."""
    if task == Task.REGRESSION.value:
        return FeatureKind.NUMERICAL.value
    return FeatureKind.CATEGORICAL.value


def declared_schema(
    task: str,
    features: list[dict[str, str]] | None,
    target: str | None,
    prediction: str | None,
    classes: list[object] | None = None,
) -> FeatureSchema:
    """The schema as declared, before any reference data is seen."""
    kind = output_kind(task)
    return FeatureSchema(
        features=list(features or []),
        target={"name": target, "kind": kind} if target else None,
        prediction={"name": prediction, "kind": kind} if prediction else None,
        classes=classes,
    )


def check_graph(schema: FeatureSchema) -> None:
    """Refuse features the model's ONNX graph does not take (when its inputs are known)."""
    if schema.graph_inputs:
        check_graph_inputs(schema.graph_inputs, [f["name"] for f in schema.features])


def _outside_classes(frame: pd.DataFrame, schema: FeatureSchema) -> dict[str, list[str]]:
    """The target and prediction columns' values that are none of the declared classes."""
    if schema.classes is None:
        return {}
    problems: dict[str, list[str]] = {}
    for field_name, column in (("target", schema.target), ("prediction", schema.prediction)):
        if column is None or column["name"] not in frame.columns:
            continue
        values = [_plain(v) for v in frame[column["name"]].drop_duplicates().tolist()]
        outside = outside_classes(values, schema.classes)
        if outside:
            shown = ", ".join(repr(v) for v in outside[:20])
            more = f" and {len(outside) - 20} more" if len(outside) > 20 else ""
            declared = ", ".join(repr(c) for c in schema.classes[:20])
            problems[field_name] = [
                f"Column {column['name']!r} holds values that are not the model's declared "
                f"classes ({declared}): {shown}{more}."
            ]
    return problems


def _plain(value: object) -> object:
    """A pandas/numpy value as the Python value it stands for."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def read_table(path: Path, filename: str) -> pd.DataFrame:
    """Parse an uploaded CSV or Parquet file into a DataFrame, or explain why not."""
    import pandas as pd

    suffix = Path(filename or "").suffix.lower()
    with path.open("rb") as handle:
        magic = handle.read(4)
    is_parquet = magic == b"PAR1" or suffix in {".parquet", ".pq"}
    try:
        if is_parquet:
            return pd.read_parquet(path)
        header = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
        frame = pd.read_csv(path, low_memory=False)
    except Exception as exc:  # pandas raises many types for malformed files
        kind = "Parquet" if is_parquet else "CSV"
        raise ValidationFailed(
            f"The reference dataset could not be read as {kind}.",
            details={"reference_data": [f"Not a readable {kind} file: {type(exc).__name__}."]},
        ) from None
    # pandas renames a repeated CSV column ("a", "a.1"); refuse it instead of inventing one.
    names = [str(name) for name in header.iloc[0]]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValidationFailed(
            "The reference dataset does not match the schema.",
            details={"reference_data": [f"Column names repeat: {', '.join(repeated[:20])}."]},
        )
    return frame


def _is_numeric(series: pd.Series) -> bool:
    from pandas.api import types

    return bool(types.is_numeric_dtype(series) and not types.is_bool_dtype(series))


def check_and_complete(frame: pd.DataFrame, schema: FeatureSchema) -> FeatureSchema:
    """Check ``frame`` against the declared schema, inferring features when none are declared."""
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    problems: dict[str, list[str]] = {}
    if len(columns) > MAX_COLUMNS:
        problems["reference_data"] = [f"More than {MAX_COLUMNS} columns."]
    if len(set(columns)) != len(columns):
        problems["reference_data"] = ["Column names repeat."]
    if len(frame) == 0:
        problems["reference_data"] = ["The reference dataset has no rows."]
    if schema.target and schema.target["name"] not in columns:
        problems["target"] = [f"Column {schema.target['name']!r} is not in the reference data."]
    reserved = {*RESERVED_COLUMNS, *(s["name"] for s in (schema.target, schema.prediction) if s)}
    declared_reserved = [f["name"] for f in schema.features if f["name"] in reserved]
    if declared_reserved:
        problems["features"] = [
            f"Reserved, never features: {', '.join(declared_reserved[:20])} (the target, the "
            "prediction and the score columns; see docs/monitoring.md)."
        ]
    features = schema.features or [
        {
            "name": name,
            "kind": (
                FeatureKind.NUMERICAL if _is_numeric(frame[name]) else FeatureKind.CATEGORICAL
            ).value,
        }
        for name in columns
        if name not in reserved
    ]
    missing = [f["name"] for f in features if f["name"] not in columns]
    if missing:
        problems.setdefault("features", []).append(
            f"Not in the reference data: {', '.join(missing[:20])}."
        )
    wrong_kind = [
        f["name"]
        for f in features
        if f["name"] in columns
        and f["kind"] == FeatureKind.NUMERICAL.value
        and not _is_numeric(frame[f["name"]])
    ]
    if wrong_kind:
        problems.setdefault("features", []).append(
            f"Declared numerical but holding non-numbers: {', '.join(wrong_kind[:20])}."
        )
    if (
        schema.target
        and schema.target["name"] in columns
        and schema.target["kind"] == FeatureKind.NUMERICAL.value
        and not _is_numeric(frame[schema.target["name"]])
    ):
        problems.setdefault("target", []).append("A regression target must hold numbers.")
    if not features:
        problems.setdefault("features", []).append("The reference data has no feature columns.")
    for field_name, messages in _outside_classes(frame, schema).items():
        problems.setdefault(field_name, []).extend(messages)
    if problems:
        raise ValidationFailed("The reference dataset does not match the schema.", details=problems)
    completed = dataclasses.replace(schema, features=features)
    check_graph(completed)
    return completed


#: A numeric column of this name (the classifier's score for the positive class) is kept
#: with the schema's columns: estimated performance calibrates on it.
SCORE_COLUMN = "score"


def store_reference(
    frame: pd.DataFrame, schema: FeatureSchema, store: BlobStore
) -> StoredReference:
    """Keep the schema's columns (and a numeric ``score``) as Parquet, content-addressed."""
    keep = [f["name"] for f in schema.features]
    for extra in (schema.target, schema.prediction):
        if extra and extra["name"] in frame.columns and extra["name"] not in keep:
            keep.append(extra["name"])
    if SCORE_COLUMN in frame.columns and SCORE_COLUMN not in keep and _is_numeric(frame["score"]):
        keep.append(SCORE_COLUMN)
    subset = frame[keep]
    # written to a file, then stored as a stream: the Parquet bytes are never all in memory
    with tempfile.TemporaryFile() as parquet:
        subset.to_parquet(parquet, index=False)
        parquet.seek(0)
        blob = store.put_stream(parquet, max_bytes=sys.maxsize, what="reference dataset")
    return StoredReference(blob=blob, rows=len(subset), columns=len(keep))
