"""The files a version arrives with: received into temporary files, checked, then stored.

An artifact is staged and checked (not empty, the sha256 the client stated, bytes that look
like the format it claims) before anything is stored; a reference dataset is read, checked
against the declared schema, and stored as Parquet with its profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypedDict

from ..errors import ValidationFailed
from ..settings import Settings
from ..storage import Blob, BlobStore, Storage, discard, stage_into
from . import reference as ref
from .models import ArtifactFormat
from .profiles import build_profile, store_profile

_FORMAT_BY_SUFFIX = {
    ".skops": ArtifactFormat.SKOPS,
    ".onnx": ArtifactFormat.ONNX,
    ".pkl": ArtifactFormat.PICKLE,
    ".pickle": ArtifactFormat.PICKLE,
    ".joblib": ArtifactFormat.PICKLE,
}
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class Upload:
    """An incoming file: its bytes as a stream, and the name the client gave it."""

    stream: IO[bytes]
    filename: str


@dataclass(frozen=True)
class StagedArtifact:
    """An artifact received and checked, waiting to be stored."""

    blob: Blob
    format: str
    filename: str


class ArtifactColumns(TypedDict):
    """What a version records of its stored artifact."""

    artifact_sha256: str
    artifact_format: str
    artifact_size: int
    artifact_filename: str


class ReferenceColumns(TypedDict):
    """What a version records of its stored reference dataset and its profile."""

    reference_sha256: str
    reference_rows: int
    reference_columns: int
    reference_size: int
    reference_profile_sha256: str


def stage_artifact(
    store: BlobStore,
    upload: Upload,
    *,
    stated_format: str | None,
    stated_sha256: str | None,
    max_bytes: int,
) -> StagedArtifact:
    """Receive the artifact into a temporary file and check it; raise if it is refused."""
    fmt = stated_format or format_from_name(upload.filename)
    blob = store.stage_stream(upload.stream, what="artifact", max_bytes=max_bytes)
    staged = StagedArtifact(
        blob=blob, format=fmt, filename=Path(upload.filename or "artifact").name[:255]
    )
    try:
        if blob.size == 0:
            raise ValidationFailed("", details={"artifact": ["The artifact is empty."]})
        if stated_sha256 and stated_sha256.lower() != blob.sha256:
            raise ValidationFailed(
                "",
                details={
                    "artifact_sha256": [
                        f"The uploaded artifact's sha256 is {blob.sha256}, not {stated_sha256}."
                    ]
                },
            )
        check_format(blob.path, fmt)
    except BaseException:
        discard(blob)
        raise
    return staged


def commit_artifact(store: BlobStore, staged: StagedArtifact) -> ArtifactColumns:
    """Store a staged artifact by its content; what the version records of it."""
    blob = store.commit(staged.blob)
    return {
        "artifact_sha256": blob.sha256,
        "artifact_format": staged.format,
        "artifact_size": blob.size,
        "artifact_filename": staged.filename,
    }


def format_from_name(filename: str) -> str:
    """The artifact format a file name's suffix tells, or :class:`ValidationFailed`."""
    fmt = _FORMAT_BY_SUFFIX.get(Path(filename or "").suffix.lower())
    if fmt is None:
        raise ValidationFailed(
            "",
            details={
                "format": [
                    "Say the artifact's format (skops, onnx or pickle): its file name "
                    f"{filename!r} does not tell."
                ]
            },
        )
    return fmt.value


def check_format(path: Path, fmt: str) -> None:
    """Refuse a file whose first bytes contradict its format (a pickle sent as skops)."""
    with path.open("rb") as handle:
        head = handle.read(4)
    looks_pickled = len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5
    if fmt == ArtifactFormat.SKOPS.value and head != _ZIP_MAGIC:
        raise ValidationFailed(
            "",
            details={
                "format": [
                    "A skops file is a zip archive; this artifact is not one."
                    + (" It looks like a pickle." if looks_pickled else "")
                ]
            },
        )
    if fmt == ArtifactFormat.ONNX.value and (looks_pickled or head == _ZIP_MAGIC):
        raise ValidationFailed("", details={"format": ["This artifact is not an ONNX file."]})


def store_reference(
    upload: Upload,
    schema: ref.FeatureSchema,
    settings: Settings,
    storage: Storage,
) -> tuple[ref.FeatureSchema, ReferenceColumns]:
    """Read and check the reference dataset, then store it (Parquet) and its profile.

    Returns the schema completed from the data (features inferred when none were declared).
    """
    staged = stage_into(
        settings.data_dir / "incoming",
        upload.stream,
        what="reference dataset",
        max_bytes=settings.max_reference_bytes,
    )
    try:
        frame = ref.read_table(staged.path, upload.filename)
    finally:
        discard(staged)
    schema = ref.check_and_complete(frame, schema)
    stored = ref.store_reference(frame, schema, storage.reference)
    profile = build_profile(frame, schema.as_json())
    return schema, {
        "reference_sha256": stored.blob.sha256,
        "reference_rows": stored.rows,
        "reference_columns": stored.columns,
        "reference_size": stored.blob.size,
        "reference_profile_sha256": store_profile(profile, storage),
    }
