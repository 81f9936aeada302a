"""Loading a model file, inside an explanation worker only: the web process never calls this.

Loading is running code, so what may load is an explicit decision made before a byte is
deserialised: the artifact's sha256 is checked at every load; skops files load with the
trusted-type list skops itself trusts (scikit-learn's own types) plus what an admin trusted
for that version; ONNX files load through onnxruntime (no custom-op libraries); pickle and
joblib files load only when the server allows pickle *and* an admin opted the version in.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import numpy as np

    from .messages import ModelFile


DataFrame: TypeAlias = Any  # a pandas.DataFrame (pandas ships no type information)


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

    @classmethod
    def from_json(cls, body: ModelFile) -> LoadSpec:
        """The spec from its wire form (a plain dict)."""
        return cls(**body)


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


def load_model(spec: LoadSpec) -> Any:
    """Load the artifact named by ``spec``, or raise :class:`LoadRefused`: whatever the file
    held (an estimator or pipeline, duck-typed by ``predict``), or an :class:`OnnxModel`."""
    if spec.format == "pickle" and not spec.pickle_allowed:
        # Checked before reading: a refused pickle is never opened.
        raise LoadRefused(
            "pickle_refused",
            "Pickle artifacts load only when the server runs with ASSAY_ALLOW_PICKLE=1 "
            "and an admin opted this version in.",
        )
    data = read_checked(spec.path, spec.sha256)
    if spec.format == "skops":
        return _load_skops(data, spec.trusted_types)
    if spec.format == "onnx":
        return OnnxModel(data)
    if spec.format == "pickle":
        import joblib

        return joblib.load(io.BytesIO(data))
    raise LoadRefused("format", f"Artifacts in the {spec.format!r} format cannot be explained.")


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
                "ONNX artifacts need onnxruntime on the server: pip install 'assay[onnx]'.",
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
