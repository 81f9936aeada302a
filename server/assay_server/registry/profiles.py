"""Reference profiles: computed once from a version's reference dataset, read by every run.

A profile holds what the drift and quality checks need of the reference (sorted values,
category counts, ranges), so a scheduled run reads only its window. It is made when the
reference dataset is registered; a version registered before profiles existed gets one on its
first run. Profiles are content-addressed blobs beside the reference datasets (in the blob
storage: ``storage/``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..checks.profile import ReferenceProfile, profile_reference
from ..settings import Settings
from ..storage import BlobMissing, Storage, open_storage
from .models import ModelVersion

if TYPE_CHECKING:
    import pandas as pd


def monitored_kinds(schema: Mapping[str, Any], columns: list[str] | None = None) -> dict[str, str]:
    """Column -> kind for the features and the prediction column the schema declares."""
    kinds = {f["name"]: f["kind"] for f in schema.get("features") or []}
    prediction = schema.get("prediction")
    if prediction and (columns is None or prediction["name"] in columns):
        kinds[prediction["name"]] = prediction["kind"]
    if columns is not None:
        kinds = {name: kind for name, kind in kinds.items() if name in columns}
    return kinds


def build_profile(frame: pd.DataFrame, schema: Mapping[str, Any]) -> ReferenceProfile:
    """Profile the monitored columns of a reference DataFrame."""
    kinds = monitored_kinds(schema, [str(c) for c in frame.columns])
    return profile_reference({name: frame[name] for name in kinds}, kinds)


def store_profile(profile: ReferenceProfile, storage: Storage) -> str:
    """Keep ``profile`` by content; return its sha256."""
    return storage.profiles.put_bytes(profile.to_bytes()).sha256


def reference_frame(
    version: ModelVersion, settings: Settings, columns: list[str] | None = None
) -> pd.DataFrame:
    """The version's reference dataset as a DataFrame (only ``columns`` when given)."""
    import pandas as pd

    # pyarrow reads a local file: the stored one, or a cached copy of the S3 object
    path = open_storage(settings).reference.local_path(version.reference_sha256 or "")
    if columns is not None:
        import pyarrow.parquet as pq

        present = set(pq.read_schema(path).names)
        columns = [c for c in columns if c in present]
    return pd.read_parquet(path, columns=columns)


def load_profile(version: ModelVersion, settings: Settings) -> ReferenceProfile | None:
    """The version's profile, computing and recording it if the version predates profiles.

    None when the version has no reference dataset.
    """
    if version.reference_sha256 is None:
        return None
    storage = open_storage(settings)
    sha = version.reference_profile_sha256
    if sha is not None:
        try:
            return ReferenceProfile.from_bytes(storage.profiles.read_bytes(sha))
        except BlobMissing:
            pass  # rebuilt from the reference below
    profile = build_profile(reference_frame(version, settings), version.feature_schema)
    version.reference_profile_sha256 = store_profile(profile, storage)
    return profile
