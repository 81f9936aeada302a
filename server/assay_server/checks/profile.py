"""The reference profile: what drift and data-quality runs need of a version's reference data.

A version's reference dataset is profiled once, when it is registered, and the profile is stored;
a scheduled run then reads only its window. Per numerical column the profile keeps the sorted
non-missing values (exact K-S, Wasserstein and the binned methods need every one of them) and the
missing count; per categorical column the count of every category and the missing count.

Categorical values are compared as text: `category_label` is the one canonical spelling used on
both sides (reference and window), so `1`, `1.0` and `"1"` are the same category and `True` is
`"True"`. Missing means None, NaN, NA, and also +/-inf, which Evidently drops before testing.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # imported by the functions that use it: the server starts without it
    import pandas as pd

NUMERICAL = "numerical"
CATEGORICAL = "categorical"
KINDS = (NUMERICAL, CATEGORICAL)

_FORMAT = "assay-reference-profile"
_FORMAT_VERSION = 1


def category_label(value: Any) -> str | None:
    """Return the canonical text of one categorical value, or None when it is missing."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if not math.isfinite(number):
            return None
        return str(int(number)) if number.is_integer() else repr(number)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    import pandas as pd

    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


@dataclass(frozen=True)
class CategoryCounts:
    """How often each category occurs in one column, plus how many values are missing."""

    labels: np.ndarray  # sorted unique labels (numpy str dtype)
    counts: np.ndarray  # int64, aligned with labels, every count > 0
    missing: int

    @property
    def present(self) -> int:
        """Number of non-missing values."""
        return int(self.counts.sum())

    @property
    def size(self) -> int:
        """Number of values, missing included."""
        return self.present + self.missing

    @classmethod
    def from_mapping(cls, counts: Mapping[str, int], missing: int) -> CategoryCounts:
        """Build from a label -> count mapping (zero counts are dropped)."""
        kept = sorted((label, int(n)) for label, n in counts.items() if n > 0)
        return cls(
            labels=np.array([label for label, _ in kept], dtype=str),
            counts=np.array([n for _, n in kept], dtype=np.int64),
            missing=int(missing),
        )


def _as_series(values: Any) -> pd.Series:
    import pandas as pd

    if isinstance(values, pd.Series):
        return values
    if isinstance(values, (pd.Categorical, pd.Index, pd.api.extensions.ExtensionArray)):
        return pd.Series(values, copy=False)
    if hasattr(values, "to_pandas"):  # pyarrow Array / ChunkedArray
        return values.to_pandas()
    array = np.asarray(values) if not isinstance(values, np.ndarray) else values
    if array.ndim != 1:
        raise ValueError(f"expected a 1-D column, got shape {array.shape}")
    return pd.Series(array, copy=False)


def _codes(values: Any) -> tuple[np.ndarray, Sequence[Any]]:
    """Integer codes (-1 where missing) and the distinct values they index, hash-based."""
    import pandas as pd

    series = _as_series(values)
    if isinstance(series.dtype, pd.CategoricalDtype):  # the window's text columns: free
        return series.cat.codes.to_numpy(), series.cat.categories
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return codes, uniques


def count_categories(values: Any) -> CategoryCounts:
    """Count the categories of a column given as category, object, string, bool or numeric codes."""
    codes, uniques = _codes(values)
    present = codes >= 0
    missing = int(codes.size - np.count_nonzero(present))
    per_code = np.bincount(codes[present], minlength=len(uniques))
    tally: dict[str, int] = {}
    for label, count in zip((category_label(u) for u in uniques), per_code.tolist(), strict=True):
        if label is None:
            missing += count
        elif count:
            tally[label] = tally.get(label, 0) + count
    return CategoryCounts.from_mapping(tally, missing)


def category_labels(values: Any) -> np.ndarray:
    """Return the canonical label of every value (None where missing), as an object array."""
    codes, uniques = _codes(values)
    lookup = np.array([category_label(u) for u in uniques] + [None], dtype=object)
    return lookup[codes]  # code -1 (missing) picks the trailing None


def numerical_values(values: Any) -> np.ndarray:
    """Return a column as float64, with NaN where a value is missing or not a number."""
    import pandas as pd

    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        return values.astype(np.float64, copy=False)
    series = _as_series(values)
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    try:
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def finite_values(values: Any) -> tuple[np.ndarray, int]:
    """Split a numerical column into its non-missing (finite) values and the missing count."""
    numbers = numerical_values(values)
    finite = np.isfinite(numbers)
    kept = numbers[finite] if not finite.all() else numbers
    return kept, int(numbers.size - kept.size)


@dataclass(frozen=True)
class NumericalProfile:
    """A numerical reference column: sorted finite values, missing count, std, distinct count."""

    sorted_values: np.ndarray  # float64, ascending, read-only
    missing: int
    std: float  # population (ddof=0): the norm of Evidently's Wasserstein distance
    n_distinct: int

    @classmethod
    def from_values(cls, values: Any) -> NumericalProfile:
        """Profile one numerical column."""
        kept, missing = finite_values(values)
        ordered = np.sort(kept)
        ordered.flags.writeable = False
        return cls(
            sorted_values=ordered,
            missing=missing,
            std=float(np.std(kept)) if kept.size else math.nan,
            n_distinct=int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1 if kept.size else 0,
        )

    @property
    def present(self) -> int:
        """Number of non-missing values."""
        return int(self.sorted_values.size)

    @property
    def minimum(self) -> float | None:
        """Smallest value, None when the column has no values."""
        return float(self.sorted_values[0]) if self.present else None

    @property
    def maximum(self) -> float | None:
        """Largest value, None when the column has no values."""
        return float(self.sorted_values[-1]) if self.present else None

    @cached_property
    def distinct(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct values and how often each occurs."""
        return distinct_sorted(self.sorted_values)


def distinct_sorted(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and their counts of an ascending array, in O(n)."""
    if ordered.size == 0:
        return ordered, np.array([], dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    counts = np.diff(np.append(starts, ordered.size)).astype(np.int64)
    return ordered[starts], counts


ColumnProfile = NumericalProfile | CategoryCounts


@dataclass(frozen=True)
class ReferenceProfile:
    """Immutable summary of a reference dataset: everything a drift or quality run reads."""

    rows: int
    kinds: dict[str, str]
    columns: dict[str, ColumnProfile]

    def column(self, name: str) -> ColumnProfile:
        """The profile of one column."""
        return self.columns[name]

    def to_bytes(self) -> bytes:
        """Serialise as .npz: a JSON header plus one float64 array per numerical column."""
        header: dict[str, Any] = {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "rows": self.rows,
            "columns": [],
        }
        arrays: dict[str, np.ndarray] = {}
        for index, (name, kind) in enumerate(self.kinds.items()):
            column = self.columns[name]
            entry: dict[str, Any] = {"name": name, "kind": kind, "missing": column.missing}
            if isinstance(column, NumericalProfile):
                arrays[f"values_{index}"] = column.sorted_values
                entry["std"] = None if math.isnan(column.std) else column.std
                entry["n_distinct"] = column.n_distinct
            else:
                entry["labels"] = column.labels.tolist()
                entry["counts"] = column.counts.tolist()
            header["columns"].append(entry)
        arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub mistypes **kwds
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceProfile:
        """Load a profile written by `to_bytes` (no pickle); ValueError if it is not one."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                header = json.loads(archive["header"].tobytes().decode("utf-8"))
                if header.get("format") != _FORMAT or header.get("version") != _FORMAT_VERSION:
                    raise ValueError("not an Assay reference profile (or an unknown version)")
                kinds: dict[str, str] = {}
                columns: dict[str, ColumnProfile] = {}
                for index, entry in enumerate(header["columns"]):
                    name, kind = entry["name"], entry["kind"]
                    kinds[name] = kind
                    columns[name] = _load_column(archive, index, entry)
        except (AttributeError, OSError, KeyError, TypeError, zipfile.BadZipFile) as error:
            raise ValueError(f"not a readable Assay reference profile: {error}") from error
        return cls(rows=int(header["rows"]), kinds=kinds, columns=columns)


def _load_column(archive: Any, index: int, entry: Mapping[str, Any]) -> ColumnProfile:
    if entry["kind"] == NUMERICAL:
        values = archive[f"values_{index}"].astype(np.float64, copy=False)
        values.flags.writeable = False
        std = entry["std"]
        return NumericalProfile(
            sorted_values=values,
            missing=int(entry["missing"]),
            std=math.nan if std is None else float(std),
            n_distinct=int(entry["n_distinct"]),
        )
    return CategoryCounts(
        labels=np.array(entry["labels"], dtype=str),
        counts=np.array(entry["counts"], dtype=np.int64),
        missing=int(entry["missing"]),
    )


def _column_length(values: Any) -> int:
    return len(values) if hasattr(values, "__len__") else len(np.asarray(values))


def profile_reference(columns: Mapping[str, Any], kinds: Mapping[str, str]) -> ReferenceProfile:
    """Profile the reference columns named in `kinds` (name -> "numerical" | "categorical")."""
    profiles: dict[str, ColumnProfile] = {}
    lengths: set[int] = set()
    for name, kind in kinds.items():
        if kind not in KINDS:
            raise ValueError(f"column {name!r}: kind must be one of {KINDS}, got {kind!r}")
        if name not in columns:
            raise ValueError(f"column {name!r} is not in the reference data")
        values = columns[name]
        lengths.add(_column_length(values))
        if kind == NUMERICAL:
            profiles[name] = NumericalProfile.from_values(values)
        else:
            profiles[name] = count_categories(values)
    if len(lengths) > 1:
        raise ValueError(f"reference columns differ in length: {sorted(lengths)}")
    return ReferenceProfile(
        rows=lengths.pop() if lengths else 0, kinds=dict(kinds), columns=profiles
    )
