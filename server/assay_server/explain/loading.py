"""Loading a model file, inside an explanation worker only: the web process never calls this.

Loading is running code, so what may load is an explicit decision made before a byte is
deserialised: the artifact's sha256 is checked at every load; skops files load with the
trusted-type list skops itself trusts (scikit-learn's own types) plus what an admin trusted
for that version, once their zip archive is known not to unpack to more than the server
allows; ONNX files load through onnxruntime (no custom-op libraries); pickle and joblib files
load only when the server allows pickle *and* an admin opted the version in, and only in a
jailed worker (:data:`SHARED_WORKER_FORMATS` are the formats a shared worker loads).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import numpy as np

    from .messages import ModelFile


DataFrame: TypeAlias = Any  # a pandas.DataFrame (pandas ships no type information)

#: Formats whose loading runs no code nobody trusted: the shared, long-lived workers load
#: them. Any other (pickle) loads only in a jailed worker that serves one request.
SHARED_WORKER_FORMATS = frozenset({"skops", "onnx"})
MEBIBYTE = 1024 * 1024
DEFAULT_MAX_UNPACKED_BYTES = 1024 * MEBIBYTE
#: An entry (or a whole archive) that unpacks this many times larger than it is stored is a
#: zip bomb: deflate reaches about 1,000 on zeros, while skops stores arrays uncompressed by
#: default (ratio 1) and compressed ones measure 2-10.
MAX_COMPRESSION_RATIO = 100
#: Below this size an archive's ratio does not matter: unpacking it costs nothing.
RATIO_CHECKED_ABOVE = 16 * MEBIBYTE


class LoadRefused(Exception):
    """The artifact may not be loaded; ``kind`` says why, ``details`` name what."""

    def __init__(self, kind: str, message: str, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.details = details or {}


@dataclass(frozen=True)
class LoadSpec:
    """Everything a worker needs to decide whether, and how, to load one artifact."""

    path: str
    sha256: str
    format: str
    trusted_types: list[str] = field(default_factory=list)
    pickle_allowed: bool = False
    max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES

    @classmethod
    def from_json(cls, body: ModelFile) -> LoadSpec:
        """The spec from its wire form (a plain dict)."""
        return cls(**body)

    @property
    def trusted_format(self) -> bool:
        """True when a shared worker may load it; else only a jailed one."""
        return self.format in SHARED_WORKER_FORMATS


def read_checked(path: str | Path, sha256: str) -> bytes:
    """The file's bytes, after checking they still hash to ``sha256``."""
    data = Path(path).read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise LoadRefused(
            "integrity",
            f"The stored artifact's sha256 is {actual}, not the registered {sha256}: "
            "it was changed after registration and will not be loaded.",
            {"artifact_sha256": [f"expected {sha256}, found {actual}"]},
        )
    return data


def read_artifact(spec: LoadSpec) -> bytes:
    """The artifact's bytes, checked against its sha256; a pickle nobody allowed is refused
    (:class:`LoadRefused`) before it is opened."""
    if spec.format == "pickle" and not spec.pickle_allowed:
        raise LoadRefused(
            "pickle_refused",
            "Pickle artifacts load only when the server runs with ASSAY_ALLOW_PICKLE=1 "
            "and an admin opted this version in.",
        )
    return read_checked(spec.path, spec.sha256)


def load_model(spec: LoadSpec, data: bytes) -> Any:
    """Deserialise the artifact ``data`` (from :func:`read_artifact`), or raise
    :class:`LoadRefused`: whatever the file held (an estimator or pipeline, duck-typed by
    ``predict``), or an :class:`OnnxModel`."""
    if spec.format == "skops":
        check_archive(data, spec.max_unpacked_bytes)
        return _load_skops(data, spec.trusted_types)
    if spec.format == "onnx":
        return OnnxModel(data)
    if spec.format == "pickle" and spec.pickle_allowed:
        import joblib

        return joblib.load(io.BytesIO(data))
    raise LoadRefused("format", f"Artifacts in the {spec.format!r} format cannot be explained.")


def check_archive(data: bytes, max_unpacked_bytes: int) -> None:
    """Refuse (:class:`LoadRefused`, ``archive_too_large``) a zip archive that would unpack to
    more than ``max_unpacked_bytes``, or that unpacks more than :data:`MAX_COMPRESSION_RATIO`
    times larger than it is stored: read from its directory, before anything is unpacked.
    The declared sizes can be trusted: Python's zipfile stops reading an entry at its declared
    size (and fails on its checksum), so an archive that lies about them unpacks no further."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise LoadRefused("format", "The skops artifact is not a readable zip archive.") from None
    unpacked = sum(entry.file_size for entry in entries)
    stored = sum(entry.compress_size for entry in entries)
    limit = f"{max_unpacked_bytes / MEBIBYTE:,.0f} MiB"
    if unpacked > max_unpacked_bytes:
        raise LoadRefused(
            "archive_too_large",
            f"The skops archive unpacks to {unpacked / MEBIBYTE:,.0f} MiB, more than the {limit} "
            "the server unpacks (ASSAY_EXPLAIN_MAX_UNPACKED_MB); it was not loaded.",
            {"unpacked_bytes": unpacked, "max_unpacked_bytes": max_unpacked_bytes},
        )
    for name, size, packed in [("", unpacked, stored)] + [
        (entry.filename, entry.file_size, entry.compress_size) for entry in entries
    ]:
        if size > RATIO_CHECKED_ABOVE and size > MAX_COMPRESSION_RATIO * max(packed, 1):
            what = f"Its entry {name[:100]!r}" if name else "The skops archive"
            raise LoadRefused(
                "archive_too_large",
                f"{what} unpacks {size / max(packed, 1):,.0f} times larger than it is stored "
                f"(at most {MAX_COMPRESSION_RATIO} is accepted): a zip bomb is refused "
                "without being unpacked. Save the model uncompressed (skops' default).",
                {"unpacked_bytes": size, "stored_bytes": packed, "entry": name[:100]},
            )


def untrusted_skops_types(data: bytes, trusted: list[str]) -> list[str]:
    """The types in a skops file that neither skops nor the admin trusts, sorted."""
    import skops.io

    return sorted(set(skops.io.get_untrusted_types(data=data)) - set(trusted))


def _load_skops(data: bytes, trusted: list[str]) -> Any:
    import skops.io

    refused = untrusted_skops_types(data, trusted)
    if refused:
        raise LoadRefused(
            "untrusted_types",
            "The artifact holds types nobody trusted: "
            + ", ".join(refused)
            + ". An admin may trust them for this version (POST …/trusted-types).",
            {"untrusted_types": refused},
        )
    present = set(skops.io.get_untrusted_types(data=data))
    return skops.io.loads(data, trusted=sorted(present & set(trusted)))


class OnnxModel:
    """An ONNX graph behind scikit-learn's ``predict`` / ``predict_proba``.

    Features go in as one float tensor (the shape skl2onnx writes for numeric models) or as
    one tensor per column when the graph declares an input per feature.
    """

    def __init__(self, data: bytes, target_values: list[object] | None = None) -> None:
        try:
            import onnxruntime
        except ImportError:
            raise LoadRefused(
                "onnx_unavailable",
                "ONNX artifacts need onnxruntime on the server: "
                "pip install 'assay-ml-server[onnx]'.",
            ) from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            data, options, providers=["CPUExecutionProvider"]
        )
        self.inputs = self.session.get_inputs()
        self.output_names = [output.name for output in self.session.get_outputs()]
        self.target_values = list(target_values or [])
        self.classes_: np.ndarray | None = None

    def _feed(self, frame: DataFrame) -> dict[str, np.ndarray]:
        import numpy as np

        if len(self.inputs) == 1:
            return {self.inputs[0].name: frame.to_numpy(dtype=np.float32)}
        feed = {}
        for item in self.inputs:
            column = frame[item.name].to_numpy()
            if "string" in item.type:
                feed[item.name] = column.astype(str).astype(object).reshape(-1, 1)
            else:
                feed[item.name] = column.astype(np.float32).reshape(-1, 1)
        return feed

    def _run(self, frame: DataFrame) -> list[Any]:  # onnxruntime ships no types
        return self.session.run(None, self._feed(frame))

    def predict(self, frame: DataFrame) -> np.ndarray:
        """The first output: labels, or values for a regressor."""
        import numpy as np

        return np.asarray(self._run(frame)[0]).reshape(len(frame), -1)[:, 0]

    def predict_proba(self, frame: DataFrame) -> np.ndarray:
        """The probability output, as an array (a ZipMap's dicts are unpacked)."""
        import numpy as np

        outputs = self._run(frame)
        if len(outputs) < 2:
            raise AttributeError("predict_proba")
        probabilities = outputs[1]
        if isinstance(probabilities, list) and probabilities and isinstance(probabilities[0], dict):
            keys = list(probabilities[0].keys())
            self.classes_ = np.asarray(keys)
            return np.asarray([[row[key] for key in keys] for row in probabilities])
        array = np.asarray(probabilities, dtype=float)
        if self.classes_ is None:
            n = array.shape[1]
            values = self.target_values
            self.classes_ = np.asarray(values if len(values) == n else list(range(n)))
        return array

    def has_probabilities(self) -> bool:
        """True when the graph has a probability output."""
        return len(self.output_names) >= 2
