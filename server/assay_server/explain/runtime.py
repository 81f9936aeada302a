"""What runs inside a worker: the caches of loaded explainers, and one request's handling.

Only :mod:`assay_server.explain.workers` starts this, in a process of its own.
"""

from __future__ import annotations

import io
import json
import os
from collections import OrderedDict

import pandas as pd

from .loading import LoadRefused, LoadSpec, OnnxModel, load_model, read_checked
from .messages import Answer, ExplainMessage, PingMessage
from .tabular import ExplainInputError, TabularExplainer

MAX_ERROR_CHARS = 500


def preload() -> None:
    """Import what every request needs before the worker says it is ready, so the first
    request's timeout is spent explaining, not importing."""
    import lime.lime_tabular  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import sklearn.pipeline  # noqa: F401
    import skops.io  # noqa: F401


class Runtime:
    """A worker's state: a bounded LRU of explainers (each holding its loaded model)."""

    def __init__(self, cache_size: int) -> None:
        self.cache_size = max(1, cache_size)
        self.explainers: OrderedDict[str, TabularExplainer] = OrderedDict()
        self.loads = 0

    def handle(self, request: ExplainMessage | PingMessage) -> Answer:
        """Answer one request with ``{"ok": true, …}`` or ``{"ok": false, "error": …}``."""
        try:
            if request["op"] == "ping":
                return {"ok": True, "pid": os.getpid(), "loads": self.loads}
            if request["op"] == "explain":
                return self._explain(request)
            # the pipe carries JSON: an op no message names can still arrive
            return _error("invalid", f"Unknown operation {request['op']!r}.")
        except LoadRefused as exc:
            return _error(exc.kind, exc.message, exc.details)
        except ExplainInputError as exc:
            return _error("invalid", exc.message, exc.details)
        except MemoryError:
            return _error("memory", "The explanation ran out of the worker's memory limit.")
        except Exception as exc:
            return _error("failed", f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS])

    def _explain(self, request: ExplainMessage) -> Answer:
        explainer, cache_hit = self._explainer(request)
        params = request["params"]
        results = explainer.explain(
            request["rows"],
            num_features=params["num_features"],
            num_samples=params["num_samples"],
            seed=params["seed"],
            label=params.get("label"),
        )
        return {
            "ok": True,
            "results": results,
            "worker": {"pid": os.getpid(), "cache_hit": cache_hit, "loads": self.loads},
        }

    def _explainer(self, request: ExplainMessage) -> tuple[TabularExplainer, bool]:
        key = json.dumps(
            [request["model"], request["reference"], request["mode"], request["features"]],
            sort_keys=True,
        )
        cached = self.explainers.get(key)
        if cached is not None:
            self.explainers.move_to_end(key)
            return cached, True
        spec = LoadSpec.from_json(request["model"])
        model = load_model(spec)
        self.loads += 1
        reference = request["reference"]
        data = read_checked(reference["path"], reference["sha256"])
        frame = pd.read_parquet(io.BytesIO(data))
        target = request.get("target")
        if isinstance(model, OnnxModel) and target in frame.columns:
            # A graph without a ZipMap does not name its classes: the target's values do.
            model.target_values = sorted(pd.unique(frame[target].dropna()).tolist(), key=str)
        explainer = TabularExplainer.build(model, request["mode"], request["features"], frame)
        self.explainers[key] = explainer
        while len(self.explainers) > self.cache_size:
            self.explainers.popitem(last=False)
        return explainer, False


def _error(kind: str, message: str, details: dict[str, object] | None = None) -> Answer:
    return {"ok": False, "error": {"kind": kind, "message": message, "details": details or {}}}
