"""The classes a classifier is declared with at model creation, and how a value is matched to one.

A value is matched to a class by its canonical text (:func:`class_key`): ``1``, ``1.0`` and
``"1"`` are one class, as monitoring compares them, and a boolean is ``"1"``/``"0"``. Declared
classes are stored as sent (booleans as 0 and 1), so ingest stores each label and prediction
spelled as its class.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from ..errors import ValidationFailed
from ..storable import is_storable_text
from .models import Task

MAX_DECLARED_CLASSES = 1000
MAX_CLASS_TEXT = 200
#: Integers the JSON column and every reader hold exactly.
_MAX_CLASS_INT = 2**53


def class_key(value: object) -> str | None:
    """The canonical text of a class value (booleans are "1"/"0"); None when it is not a
    category value at all (a list, an object, NaN)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def checked_classes(task: str, classes: Sequence[object] | None) -> list[object] | None:
    """The classes to store for a new model, or :class:`ValidationFailed` naming the problem.

    Only classifiers have classes; a binary classifier exactly two, a multiclass one at least
    two. Each is text (storable, at most 200 characters) or a finite number; no two stand for
    the same class.
    """
    if classes is None:
        return None
    problems: list[str] = []
    if task == Task.REGRESSION.value:
        problems.append("A regression model has no classes.")
    elif task == Task.BINARY_CLASSIFICATION.value and len(classes) != 2:
        problems.append(f"A binary classifier has exactly two classes, not {len(classes)}.")
    elif len(classes) < 2:
        problems.append("A multiclass classifier has at least two classes.")
    if len(classes) > MAX_DECLARED_CLASSES:
        problems.append(f"At most {MAX_DECLARED_CLASSES} classes.")
    stored: list[object] = []
    seen: dict[str, object] = {}
    for index, value in enumerate(classes):
        problem = _class_problem(value)
        if problem:
            problems.append(f"Class {index}: {problem}")
            continue
        plain = int(value) if isinstance(value, bool) else value
        key = class_key(plain)
        assert key is not None  # checked by _class_problem
        if key in seen:
            problems.append(f"Class {index}: {value!r} is the same class as {seen[key]!r}.")
            continue
        seen[key] = value
        stored.append(plain)
    if problems:
        raise ValidationFailed("", details={"classes": problems[:20]})
    return stored


def outside_classes(values: Iterable[object], classes: Sequence[object]) -> list[object]:
    """The distinct ``values`` that are none of ``classes`` (missing values are not checked)."""
    allowed = {class_key(c) for c in classes}
    outside: dict[str | None, object] = {}
    for value in values:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        key = class_key(value)
        if key not in allowed:
            outside.setdefault(key if key is not None else repr(value), value)
    return list(outside.values())


def _class_problem(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not value:
            return "empty text is not a class."
        if len(value) > MAX_CLASS_TEXT or not is_storable_text(value):
            return f"text of 1–{MAX_CLASS_TEXT} storable characters (no NUL)."
        return None
    if isinstance(value, int):
        return None if abs(value) <= _MAX_CLASS_INT else "an integer too large to store exactly."
    if isinstance(value, float):
        return None if math.isfinite(value) else "not a finite number."
    return f"{type(value).__name__} is not a class: send text or numbers."
