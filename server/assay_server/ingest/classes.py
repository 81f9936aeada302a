"""What a version's predictions and labels may be: its task's contract on the output.

- binary classification: one of the two classes. The classes are the reference target's two
  values when they are not 0 and 1 (``"no"`` / ``"yes"``, say); otherwise 0 and 1, and then a
  boolean or ``"0"``/``"1"`` is accepted and stored as 0 or 1;
- multiclass classification: one of the reference target's values (any category when the
  version has no reference target to infer them from);
- either, when the model declared its classes at creation: one of those, whatever the
  reference holds (registration refuses a reference target outside them);
- regression: a finite number (checked by :func:`~.validation.check_number`).

A value is matched to a class by its canonical text (``1``, ``1.0`` and ``"1"`` are one
class, as monitoring compares them) and stored as the class is spelled. Scores of classifiers
must be probabilities: finite numbers from 0 to 1.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from ..registry.declared_classes import class_key
from ..storage import BlobMissing, BlobStore

__all__ = ["BINARY_DEFAULT", "ClassSet", "class_key", "class_set", "union"]

BINARY_DEFAULT = (0, 1)
_MAX_CLASSES_INFERRED = 1000
_Missing = object()


def _plain(value: object) -> object:
    """A value read from Parquet as the JSON value it stands for."""
    item = getattr(value, "item", None)
    if callable(item):
        value = item()
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True)
class ClassSet:
    """The classes a classifier's predictions and labels must be one of."""

    classes: tuple[object, ...]
    source: str  # "declared at model creation", "reference target" or the binary default

    @functools.cached_property
    def _by_key(self) -> dict[str, object]:
        return {key: c for c in self.classes if (key := class_key(c)) is not None}

    def normalise(self, value: object) -> tuple[object, str | None]:
        """The class ``value`` stands for, or the problem."""
        key = class_key(value)
        found = self._by_key.get(key, _Missing) if key is not None else _Missing
        if found is _Missing:
            shown = ", ".join(repr(c) for c in self.classes[:10])
            more = ", …" if len(self.classes) > 10 else ""
            return value, f"Not one of the model's classes ({shown}{more}; {self.source})."
        return found, None

    def describe(self) -> str:
        """The classes, for messages and docs."""
        return ", ".join(repr(c) for c in self.classes)


@functools.lru_cache(maxsize=256)
def _reference_classes(reference: BlobStore, sha256: str, target: str) -> tuple[object, ...] | None:
    """The distinct values of a reference dataset's target column, sorted by their text.

    Reference files are stored by content and never change, so the answer is cached by
    their hash. None when the file or the column is not there, or holds too many values.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        path = reference.local_path(sha256)
        if target not in pq.read_schema(path).names:
            return None
        column = pq.read_table(path, columns=[target])[target]
    except (OSError, BlobMissing):
        return None
    distinct = [_plain(v) for v in pc.unique(column.drop_null()).to_pylist()]
    distinct = [v for v in distinct if class_key(v) is not None]
    if not distinct or len(distinct) > _MAX_CLASSES_INFERRED:
        return None
    unique = {class_key(v): v for v in distinct}
    return tuple(unique[key] for key in sorted(k for k in unique if k is not None))


def class_set(
    task: str,
    feature_schema: dict[str, object],
    reference_sha256: str | None,
    reference: BlobStore,
    declared: Sequence[object] | None = None,
) -> ClassSet | None:
    """The classes of a version's output: those the model declared, else inferred; None for
    regression, and for a multiclass model whose classes cannot be inferred (no reference
    dataset with the target)."""
    if task == "regression":
        return None
    if declared:
        return ClassSet(tuple(declared), "declared at model creation")
    target = feature_schema.get("target")
    inferred = None
    if isinstance(target, dict) and reference_sha256:
        inferred = _reference_classes(reference, reference_sha256, str(target["name"]))
    if task == "binary_classification":
        if inferred is not None and len(inferred) == 2 and not _zero_one(inferred):
            return ClassSet(inferred, "reference target")
        return ClassSet(BINARY_DEFAULT, "binary classes 0 and 1; booleans accepted")
    if inferred is None:
        return None
    return ClassSet(inferred, "reference target")


def union(sets: list[ClassSet | None]) -> ClassSet | None:
    """The classes any of several versions accepts (None when one of them accepts any)."""
    if not sets or any(each is None for each in sets):
        return None
    merged: dict[str | None, object] = {}
    for each in sets:
        assert each is not None  # checked above
        for value in each.classes:
            merged.setdefault(class_key(value), value)
    sources = sorted({each.source for each in sets if each is not None})
    return ClassSet(tuple(merged.values()), "; ".join(sources))


def _zero_one(classes: tuple[object, ...]) -> bool:
    return {class_key(c) for c in classes} <= {"0", "1"}
