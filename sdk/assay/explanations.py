"""Explanations from the SDK: ``client.explain``, ``explain_many``, ``global_explanation``.

The server computes LIME explanations in isolated worker processes; these calls send rows,
wait for jobs when the server queues them (``202``), and return small typed results.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assay._http import ServerCalls
from assay._json import FreeForm, JSONObject
from assay._paths import ModelRef, VersionRef, version_path
from assay.errors import APITimeoutError, error_from_response

__all__ = ["Explanation", "ExplanationMethods", "FeatureWeight", "GlobalExplanation"]

_STATUS_BY_CODE = {"validation_error": 422, "explanation_failed": 502, "explanation_timeout": 504}


@dataclass(frozen=True)
class FeatureWeight:
    """One feature's LIME weight: the feature, LIME's condition (``age > 40``), the weight."""

    feature: str
    condition: str
    weight: float


@dataclass(frozen=True)
class Explanation:
    """The explanation of one row.

    ``prediction`` holds ``label``, ``probability`` and ``probabilities`` for a classifier,
    ``value`` for a regressor; ``weights`` are ordered by absolute weight, strongest first.
    """

    prediction: FreeForm
    weights: list[FeatureWeight]
    explained_label: object
    intercept: float
    score: float
    explanation_id: int
    model: str
    version: int

    @classmethod
    def from_json(cls, item: object, envelope: object) -> Explanation:
        """One item of an explanation's ``result.explanations``."""
        read = JSONObject(item, "an explanation")
        job = JSONObject(envelope, "an explanation job")
        return cls(
            prediction=read.free_form("prediction"),
            weights=[
                FeatureWeight(w.text("feature"), w.text("condition"), w.number("weight"))
                for w in read.nested_list("weights")
            ],
            explained_label=read.raw("explained_label"),
            intercept=read.number("intercept", default=0.0),
            score=read.number("score", default=0.0),
            explanation_id=job.integer("id"),
            model=job.text("model"),
            version=job.integer("version"),
        )

    def as_list(self) -> list[tuple[str, float]]:
        """``(condition, weight)`` pairs, strongest first, as LIME's ``as_list`` gives them."""
        return [(w.condition, w.weight) for w in self.weights]

    def top(self, n: int = 5) -> list[FeatureWeight]:
        """The ``n`` strongest weights."""
        return self.weights[:n]

    def to_dataframe(self) -> Any:
        """The weights as a pandas DataFrame (feature, condition, weight); needs pandas."""
        import pandas as pd

        return pd.DataFrame(
            [
                {"feature": w.feature, "condition": w.condition, "weight": w.weight}
                for w in self.weights
            ],
            columns=["feature", "condition", "weight"],
        )


@dataclass(frozen=True)
class GlobalExplanation:
    """Mean absolute LIME weight per feature over a sample of rows, strongest first."""

    features: list[tuple[str, float]]
    rows: int
    source: str
    explanation_id: int
    model: str
    version: int

    @classmethod
    def from_json(cls, body: object) -> GlobalExplanation:
        """A finished global explanation as the server returns it."""
        job = JSONObject(body, "a global explanation")
        result = job.nested("result")
        return cls(
            features=[
                (f.text("feature"), f.number("mean_abs_weight"))
                for f in result.nested_list("features")
            ],
            rows=result.integer("rows"),
            source=job.text("source"),
            explanation_id=job.integer("id"),
            model=job.text("model"),
            version=job.integer("version"),
        )


class ExplanationMethods(ServerCalls):
    """The explanation calls of :class:`assay.Client` (mixed into it); queued jobs are polled
    every ``poll_interval`` seconds."""

    def explain(
        self,
        model: ModelRef,
        version: VersionRef,
        features: Mapping[str, object],
        num_features: int = 10,
        seed: int = 0,
        *,
        num_samples: int = 5000,
        label: str | None = None,
    ) -> Explanation:
        """Explain one row of ``features`` (a dict ``feature -> value``) with LIME.

        Args:
            num_features: how many weights to return (the strongest).
            seed: LIME's random seed; the same seed gives the same weights.
            num_samples: how many perturbed rows LIME samples around the row.
            label: for a classifier, the class to explain (default: the predicted one).

        Raises:
            ValidationError: the row does not match the version's features, or the model
                may not be loaded (an untrusted type, a pickle not opted in).
            ServerError: the explanation timed out (504) or its worker died (502).
        """
        return self.explain_many(
            model,
            version,
            [features],
            num_features=num_features,
            seed=seed,
            num_samples=num_samples,
            label=label,
        )[0]

    def explain_many(
        self,
        model: ModelRef,
        version: VersionRef,
        rows: Sequence[Mapping[str, object]],
        num_features: int = 10,
        seed: int = 0,
        *,
        num_samples: int = 5000,
        label: str | None = None,
        timeout: float = 600.0,
    ) -> list[Explanation]:
        """Explain several rows; a batch the server queues as a job is polled until done.

        Args:
            timeout: seconds to wait for a queued job before raising ``APITimeoutError``.
        """
        body: dict[str, object] = {
            "rows": [dict(row) for row in rows],
            "num_features": num_features,
            "num_samples": num_samples,
            "seed": seed,
        }
        if label is not None:
            body["label"] = str(label)
        answer = self._transport.json(
            "POST", version_path(model, version) + "/explanations", json=body
        )
        job = self._wait(JSONObject(answer, "an explanation job"), timeout)
        items = job.nested("result").nested_list("explanations")
        return [Explanation.from_json(item, job) for item in items]

    def global_explanation(
        self,
        model: ModelRef,
        version: VersionRef,
        *,
        compute: bool = True,
        sample_size: int = 200,
        num_samples: int = 1000,
        seed: int = 0,
        timeout: float = 600.0,
    ) -> GlobalExplanation:
        """The version's global explanation: mean absolute LIME weights over a sample.

        With ``compute`` (the default) a new one is computed over a sample of the reference
        set and waited for; without it, the newest stored one is returned (``NotFound`` if
        there is none).
        """
        path = version_path(model, version) + "/global-explanation"
        if not compute:
            return GlobalExplanation.from_json(self._transport.json("GET", path))
        body = {"sample_size": sample_size, "num_samples": num_samples, "seed": seed}
        answer = self._transport.json("POST", path, json=body)
        return GlobalExplanation.from_json(self._wait(JSONObject(answer), timeout))

    def _wait(self, job: JSONObject, timeout: float) -> JSONObject:
        """Poll a queued or running job until it is done; raise if it failed."""
        deadline = time.monotonic() + timeout
        while job.text("status") in ("queued", "running"):
            if time.monotonic() > deadline:
                raise APITimeoutError(
                    f"explanation {job.integer('id')} was still {job.text('status')} "
                    f"after {timeout:g} s"
                )
            self._transport.sleep(self.poll_interval)
            answer = self._transport.json("GET", f"/explanations/{job.integer('id')}")
            job = JSONObject(answer, "an explanation job")
        if job.text("status") == "failed":
            # The job's error carries the code the same failure gets when answered at once.
            error = job.free_form("error")
            status = _STATUS_BY_CODE.get(str(error.get("code")), 500)
            raise error_from_response(status, {"error": error})
        return job
