"""Explanations from the SDK: ``client.explain``, ``explain_many``, ``global_explanation``.

The server computes LIME explanations in isolated worker processes; these calls send rows,
wait for jobs when the server queues them (``202``), and return small typed results.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from assay._http import Transport
from assay.errors import APITimeoutError, error_from_response
from assay.types import Model, ModelVersion

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

    prediction: dict[str, Any]
    weights: list[FeatureWeight]
    explained_label: Any
    intercept: float
    score: float
    explanation_id: int
    model: str
    version: int

    @classmethod
    def from_json(cls, item: Mapping[str, Any], envelope: Mapping[str, Any]) -> Explanation:
        """One item of an explanation's ``result.explanations``."""
        return cls(
            prediction=dict(item["prediction"]),
            weights=[
                FeatureWeight(w["feature"], w["condition"], float(w["weight"]))
                for w in item["weights"]
            ],
            explained_label=item.get("explained_label"),
            intercept=float(item.get("intercept", 0.0)),
            score=float(item.get("score", 0.0)),
            explanation_id=int(envelope["id"]),
            model=str(envelope["model"]),
            version=int(envelope["version"]),
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
    def from_json(cls, body: Mapping[str, Any]) -> GlobalExplanation:
        """A finished global explanation as the server returns it."""
        result = body["result"]
        return cls(
            features=[(f["feature"], float(f["mean_abs_weight"])) for f in result["features"]],
            rows=int(result["rows"]),
            source=str(body["source"]),
            explanation_id=int(body["id"]),
            model=str(body["model"]),
            version=int(body["version"]),
        )


class ExplanationMethods:
    """The explanation calls of :class:`assay.Client` (mixed into it)."""

    _transport: Transport
    #: Seconds between two polls of a queued explanation.
    poll_interval: float = 0.5

    def explain(
        self,
        model: str | Model,
        version: int | ModelVersion,
        features: Mapping[str, Any],
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
        model: str | Model,
        version: int | ModelVersion,
        rows: Sequence[Mapping[str, Any]],
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
        body: dict[str, Any] = {
            "rows": [dict(row) for row in rows],
            "num_features": num_features,
            "num_samples": num_samples,
            "seed": seed,
        }
        if label is not None:
            body["label"] = str(label)
        answer = self._transport.json(
            "POST", _version_path(model, version) + "/explanations", json=body
        )
        answer = self._wait(answer, timeout)
        return [Explanation.from_json(item, answer) for item in answer["result"]["explanations"]]

    def global_explanation(
        self,
        model: str | Model,
        version: int | ModelVersion,
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
        path = _version_path(model, version) + "/global-explanation"
        if not compute:
            return GlobalExplanation.from_json(self._transport.json("GET", path))
        body = {"sample_size": sample_size, "num_samples": num_samples, "seed": seed}
        answer = self._wait(self._transport.json("POST", path, json=body), timeout)
        return GlobalExplanation.from_json(answer)

    def _wait(self, answer: dict[str, Any], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while answer["status"] in ("queued", "running"):
            if time.monotonic() > deadline:
                raise APITimeoutError(
                    f"explanation {answer['id']} was still {answer['status']} after {timeout:g} s"
                )
            self._transport.sleep(self.poll_interval)
            answer = self._transport.json("GET", f"/explanations/{int(answer['id'])}")
        if answer["status"] == "failed":
            # The job's error carries the code the same failure gets when answered at once.
            error = answer.get("error") or {}
            status = _STATUS_BY_CODE.get(str(error.get("code")), 500)
            raise error_from_response(status, {"error": error})
        return answer


def _version_path(model: str | Model, version: int | ModelVersion) -> str:
    name = model.name if isinstance(model, Model) else str(model)
    number = version.version if isinstance(version, ModelVersion) else int(version)
    return f"/models/{quote(name, safe='')}/versions/{number}"
