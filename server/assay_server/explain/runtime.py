"""What runs inside a worker: the caches of loaded explainers, and one request's handling.

Only :mod:`assay_server.explain.workers` starts this, in a process of its own. A worker reads
every file it needs (the artifact and the reference data, checked against their sha256)
before it deserialises the artifact; a jailed worker closes its jail in between
(:mod:`.jail`), and only a jailed worker loads a format that may run untrusted code.

What a failing model raised is never returned: its message may hold the rows' values, paths
of the server, or whatever an untrusted model chose to put there. The answer names the
exception's type; a shared worker prints the traceback to its standard error (the server's
log), a jailed worker's output goes nowhere.
"""

from __future__ import annotations

import io
import json
import os
import traceback
from collections import OrderedDict
from collections.abc import Callable

import pandas as pd

from .jail import JailUnavailable
from .loading import LoadRefused, LoadSpec, OnnxModel, load_model, read_artifact, read_checked
from .messages import Answer, ExplainMessage, PingMessage
from .tabular import ExplainInputError, TabularExplainer

MAX_NAME_CHARS = 100


def preload() -> None:
    """Import what every request needs: the launcher does, once, so that the workers it forks
    start with them imported and a request's timeout is spent explaining, not importing
    (skops alone lists every type scikit-learn has: 3.9 s of CPU)."""
    import lime.lime_tabular  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import sklearn.pipeline  # noqa: F401
    import skops.io  # noqa: F401


class Runtime:
    """A worker's state: a bounded LRU of explainers (each holding its loaded model).

    ``enter_jail`` (a jailed worker's) is called once the files are read and before the
    artifact is deserialised; a runtime without it loads trusted formats only.
    """

    def __init__(self, cache_size: int, enter_jail: Callable[[], None] | None = None) -> None:
        self.cache_size = max(1, cache_size)
        self.explainers: OrderedDict[str, TabularExplainer] = OrderedDict()
        self.loads = 0
        self.enter_jail = enter_jail

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
        except JailUnavailable as exc:
            return _error("jail_unavailable", exc.message)
        except ExplainInputError as exc:
            return _error("invalid", exc.message, exc.details)
        except MemoryError:
            return _error("memory", "The explanation ran out of the worker's memory limit.")
        except Exception as exc:
            traceback.print_exc()  # for the operator; the answer names the type alone
            name = type(exc).__name__[:MAX_NAME_CHARS]
            return _error(
                "failed",
                f"The model raised {name} while it was loaded or explained.",
                {"exception": name},
            )

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
        if not spec.trusted_format and self.enter_jail is None:
            raise LoadRefused(
                "jail_required", f"A {spec.format} artifact loads only in a jailed worker."
            )
        artifact = read_artifact(spec)
        reference = request["reference"]
        frame = pd.read_parquet(io.BytesIO(read_checked(reference["path"], reference["sha256"])))
        if self.enter_jail is not None:
            self.enter_jail()  # from here on, nothing of the store is readable
        model = load_model(spec, artifact)
        self.loads += 1
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
