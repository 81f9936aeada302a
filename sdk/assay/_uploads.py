"""Encoding what ``register_version`` uploads: lineage, feature specs, artifact, reference data.

pandas, pyarrow and skops are imported only here, inside the functions that need them.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from assay.errors import ValidationError
from assay.types import FeatureSpec, Lineage

Features = Sequence[str] | Mapping[str, str] | Sequence[Mapping[str, str]] | Sequence[FeatureSpec]

_FORMAT_SUFFIX = {"skops": ".skops", "onnx": ".onnx", "pickle": ".pkl"}


def merged_lineage(
    lineage: Mapping[str, object] | Lineage | None,
    params: Mapping[str, object] | None,
    metrics: Mapping[str, object] | None,
) -> dict[str, object]:
    """The lineage to send: ``lineage`` with ``params`` and ``metrics`` merged into it."""
    merged: dict[str, object]
    if isinstance(lineage, Lineage):
        merged = {k: v for k, v in dataclasses.asdict(lineage).items() if v not in (None, {})}
    else:
        merged = dict(lineage or {})
    for key, extra in (("params", params), ("metrics", metrics)):
        if extra:
            earlier = merged.get(key)
            merged[key] = {**(earlier if isinstance(earlier, Mapping) else {}), **extra}
    return merged


def feature_specs(features: Features, reference_data: object) -> list[dict[str, str]]:
    """The ``{name, kind}`` specs of ``features``, kinds read from a DataFrame if needed."""
    if isinstance(features, Mapping):
        return [{"name": str(name), "kind": str(kind)} for name, kind in features.items()]
    if isinstance(features, str):
        raise TypeError("features must be a list of names, a dict name -> kind, or specs")
    specs: list[dict[str, str]] = []
    names: list[str] = []
    for feature in features:
        if isinstance(feature, FeatureSpec):
            specs.append({"name": feature.name, "kind": feature.kind})
        elif isinstance(feature, Mapping):
            specs.append({"name": str(feature["name"]), "kind": str(feature["kind"])})
        else:
            names.append(str(feature))
    if names and specs:
        raise TypeError("features mixes bare names with {name, kind} specs: use one or the other")
    if not names:
        return specs
    frame = _as_dataframe(reference_data)
    if frame is None:
        raise ValueError(
            "features given as names need their kinds: pass a dict name -> kind, or a pandas "
            "DataFrame as reference_data to read them from, or omit features to let the "
            "server infer them from the reference data"
        )
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise ValueError(f"features not in reference_data: {', '.join(missing)}")
    return [{"name": name, "kind": _kind_of(frame[name])} for name in names]


def _kind_of(column: Any) -> str:
    from pandas.api import types as pandas_types

    dtype = column.dtype
    numeric = pandas_types.is_numeric_dtype(dtype) and not pandas_types.is_bool_dtype(dtype)
    return "numerical" if numeric else "categorical"


def _as_dataframe(value: object) -> Any:
    # A DataFrame can only exist if pandas is already imported: no need to import it here.
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, pandas.DataFrame):
        return value
    return None


def artifact_part(artifact: object, format: str | None) -> tuple[str, bytes, str | None]:
    """Return the file name, content and (for an estimator) format of an artifact.

    A file is read whole, so that a retried upload can send all of it again.
    """
    if isinstance(artifact, (str, os.PathLike)):
        path = Path(artifact)
        return path.name, path.read_bytes(), None
    if isinstance(artifact, (bytes, bytearray, memoryview)):
        return "model" + _FORMAT_SUFFIX.get(format or "", ".bin"), bytes(artifact), None
    read = getattr(artifact, "read", None)
    if callable(read):
        content = read()
        if not isinstance(content, bytes):
            raise TypeError("an artifact file must be opened in binary mode ('rb')")
        name = Path(str(getattr(artifact, "name", ""))).name
        return name or "model" + _FORMAT_SUFFIX.get(format or "", ".bin"), content, None
    if hasattr(artifact, "fit") and hasattr(artifact, "get_params"):
        if format not in (None, "skops"):
            raise ValueError(f"an estimator is saved with skops, not as {format!r}")
        return "model.skops", _skops_dumps(artifact), "skops"
    raise TypeError(
        "artifact must be a path, bytes, a binary file or a scikit-learn estimator, "
        f"not {type(artifact).__name__}"
    )


def _skops_dumps(estimator: object) -> bytes:
    try:
        import skops.io
    except ImportError:
        raise ImportError(
            "registering a scikit-learn estimator needs skops: pip install skops "
            "(or pass the path or bytes of a saved model instead)"
        ) from None
    dumped: bytes = skops.io.dumps(estimator)
    return dumped


#: Columns of reference data that are never features (docs/monitoring.md): the model's score
#: and prediction, besides the declared target and prediction columns.
RESERVED_COLUMNS = ("score", "prediction")


def check_estimator_features(
    estimator: object,
    features: list[dict[str, str]] | None,
    reference_data: object,
    reserved: Sequence[str | None],
) -> None:
    """Refuse (:class:`ValidationError`) an estimator fitted on other features than the
    version will have: the declared ones, else the reference data's columns but the target,
    prediction and score. An estimator that names no features (``feature_names_in_``) is
    checked by their count (``n_features_in_``), when it tells it."""
    if features is not None:
        names = [spec["name"] for spec in features]
    else:
        frame = _as_dataframe(reference_data)
        if frame is None:
            return  # the server infers the features from a file: nothing to compare here
        skipped = {*RESERVED_COLUMNS, *(name for name in reserved if name)}
        names = [str(column) for column in frame.columns if str(column) not in skipped]
    fitted = getattr(estimator, "feature_names_in_", None)
    if fitted is not None:
        fitted_names = [str(name) for name in fitted]
        only_version = [name for name in names if name not in fitted_names]
        only_model = [name for name in fitted_names if name not in names]
        if only_version or only_model:
            raise ValidationError(
                "Invalid input: features",
                code="validation_error",
                details={
                    "features": [
                        "the estimator was fitted on other features than the version's: "
                        f"only in the version {only_version[:20]}, only in the estimator "
                        f"{only_model[:20]}; declare features=, or pass reference data with "
                        "the columns the estimator was fitted on"
                    ]
                },
            )
        return
    count = getattr(estimator, "n_features_in_", None)
    if isinstance(count, int) and count != len(names):
        raise ValidationError(
            "Invalid input: features",
            code="validation_error",
            details={
                "features": [f"the estimator takes {count} features; the version has {len(names)}"]
            },
        )


def reference_part(reference_data: object) -> tuple[str, bytes, str]:
    """Return the file name, content and media type of the reference dataset."""
    frame = _as_dataframe(reference_data)
    if frame is not None:
        try:
            import pyarrow  # noqa: F401 - pandas needs it to write Parquet
        except ImportError:
            csv = frame.to_csv(index=False).encode("utf-8")
            return "reference.csv", csv, "text/csv"
        buffer = io.BytesIO()
        try:
            frame.to_parquet(buffer, index=False)
        except Exception as exc:
            if not type(exc).__module__.startswith("pyarrow"):
                raise
            raise _unconvertible_reference(exc) from None
        return "reference.parquet", buffer.getvalue(), "application/vnd.apache.parquet"
    if isinstance(reference_data, (str, os.PathLike)):
        path = Path(reference_data)
        if path.suffix.lower() not in (".csv", ".parquet"):
            raise ValueError(f"reference_data must be a .csv or .parquet file, not {path.name}")
        media = "text/csv" if path.suffix.lower() == ".csv" else "application/vnd.apache.parquet"
        return path.name, path.read_bytes(), media
    raise TypeError(
        "reference_data must be a pandas DataFrame or the path of a CSV or Parquet file, "
        f"not {type(reference_data).__name__}"
    )


def _unconvertible_reference(error: Exception) -> ValidationError:
    """pyarrow's refusal to convert a column (mixed types, say a string in a numeric
    column) as a :class:`ValidationError` naming the column."""
    said = [str(part) for part in error.args] or [type(error).__name__]
    column = re.search(r"column (\S+?)(?: with type|\)|$)", " ".join(said))
    field = f"reference_data.{column.group(1)}" if column else "reference_data"
    reason = (
        f"{said[0]}; make each column hold one type (numbers, or strings), "
        "with None for a missing value"
    )
    return ValidationError(
        f"Invalid input: {field}", code="validation_error", details={field: [reason]}
    )
