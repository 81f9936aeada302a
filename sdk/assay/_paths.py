"""Every URL path the SDK calls that carries a name, built in one place.

A name is quoted whole (``safe=""``), so that a ``/`` or a ``?`` in a model's name stays part
of the name instead of reaching another route.
"""

from __future__ import annotations

from urllib.parse import quote

from assay.types import Model, ModelVersion

__all__ = [
    "ModelRef",
    "VersionRef",
    "labels_path",
    "model_name",
    "model_path",
    "policy_path",
    "predictions_path",
    "segment",
    "spool_directory_name",
    "version_number",
    "version_path",
]

#: A model, by name or as returned by the client.
ModelRef = str | Model
#: A version of a model, by number or as returned by the client.
VersionRef = int | ModelVersion


def segment(name: str) -> str:
    """``name`` quoted as one path segment."""
    return quote(name, safe="")


def model_name(model: ModelRef) -> str:
    """The name of a model given by name or as a :class:`Model`."""
    return model.name if isinstance(model, Model) else str(model)


def version_number(version: VersionRef) -> int:
    """The number of a version given by number or as a :class:`ModelVersion`."""
    return version.version if isinstance(version, ModelVersion) else int(version)


def model_path(model: ModelRef) -> str:
    """``/models/<name>``."""
    return "/models/" + segment(model_name(model))


def version_path(model: ModelRef, version: VersionRef) -> str:
    """``/models/<name>/versions/<number>``."""
    return f"{model_path(model)}/versions/{version_number(version)}"


def predictions_path(model: ModelRef, version: VersionRef, shadow_of: int | None = None) -> str:
    """Where a version's prediction batches are posted (``?shadow_of=N`` when they are logged
    in the shadow of version N)."""
    path = version_path(model, version) + "/predictions"
    return path if shadow_of is None else f"{path}?shadow_of={int(shadow_of)}"


def labels_path(model: ModelRef) -> str:
    """Where a model's ground truth is posted (labels join predictions of any version)."""
    return model_path(model) + "/labels"


def policy_path(name: str) -> str:
    """``/policies/<name>``."""
    return "/policies/" + segment(name)


def spool_directory_name(model: ModelRef, version: VersionRef, shadow_of: int | None = None) -> str:
    """The directory a model version's spool gets inside the spool root: ``<name>-<number>``
    (``<name>-<number>-shadow-of-<champion>`` for a shadow logger, whose batches go to another
    URL)."""
    name = f"{segment(model_name(model))}-{version_number(version)}"
    return name if shadow_of is None else f"{name}-shadow-of-{int(shadow_of)}"
