"""Champion against challenger in the SDK: the comparison report of two versions over a
window, in shadow (the same requests, paired by prediction id) or A/B (each version's own
served requests), and a version's served and shadow traffic.

:class:`ComparisonMethods` is mixed into :class:`assay.Client`. Log a challenger in shadow
with ``client.prediction_logger(model, challenger, shadow_of=champion)`` and the same
prediction ids as the champion's; labels sent once apply to both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from assay._dates import iso_utc
from assay._http import ServerCalls
from assay._json import JSONObject
from assay._paths import ModelRef, VersionRef, model_path, version_path
from assay.types import ModelVersion

__all__ = ["Comparison", "ComparisonMethods", "SampleSize", "Traffic"]

#: The verdicts a comparison answers.
VERDICTS = ("challenger_better", "no_difference", "challenger_worse", "insufficient_data")


@dataclass(frozen=True)
class SampleSize:
    """How the minimum sample was set: ``declared``, a ``default``, or ``power`` — computed
    before the A/B test from the champion's baseline rate, the minimum detectable effect,
    α and power."""

    basis: str
    baseline_rate: float | None = None
    baseline_source: str | None = None
    minimum_detectable_effect: float | None = None
    alpha: float | None = None
    power: float | None = None

    @classmethod
    def from_json(cls, data: object) -> SampleSize:
        """Build from the server's JSON."""
        read = JSONObject(data, "a sample size")
        return cls(
            basis=read.text("basis"),
            baseline_rate=_optional_number(read, "baseline_rate"),
            baseline_source=read.optional_text("baseline_source"),
            minimum_detectable_effect=_optional_number(read, "minimum_detectable_effect"),
            alpha=_optional_number(read, "alpha"),
            power=_optional_number(read, "power"),
        )


@dataclass(frozen=True)
class Traffic:
    """A version's stored predictions in a window: ``served`` (its own traffic) and
    ``shadow`` (logged in the shadow of another version)."""

    served: int
    shadow: int

    @classmethod
    def from_json(cls, data: object) -> Traffic:
        """Build from the server's JSON."""
        read = JSONObject(data, "traffic counts")
        return cls(served=read.count("served"), shadow=read.count("shadow"))


@dataclass(frozen=True)
class Comparison:
    """Champion against challenger over ``[start, end)``.

    ``verdict`` is ``challenger_better``, ``no_difference``, ``challenger_worse`` or
    ``insufficient_data`` (fewer than ``minimum_n`` rows: labelled paired rows in shadow, the
    smaller arm's labelled served rows in A/B). Every difference is challenger minus champion;
    ``test`` names the statistical test, ``ci_low``/``ci_high`` its 95% interval. An A/B
    comparison below its minimum withholds its figures (they are None): no peeking.
    """

    model: str
    champion: int
    challenger: int
    mode: str
    metric: str
    higher_is_better: bool
    start: datetime
    end: datetime
    verdict: str
    reason: str
    n: int
    n_champion: int
    n_challenger: int
    minimum_n: int
    minimum_reached: bool
    sample_size: SampleSize
    test: str | None = None
    champion_value: float | None = None
    challenger_value: float | None = None
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float = 0.95
    p_value: float | None = None
    statistic: float | None = None
    paired_rows: int | None = None
    agreement_rate: float | None = None
    traffic: dict[str, Traffic] = field(default_factory=dict)

    @property
    def decided(self) -> bool:
        """Whether the comparison reached its minimum and gave a verdict on the figures."""
        return self.verdict != "insufficient_data"

    @classmethod
    def from_json(cls, data: object) -> Comparison:
        """Build from the server's JSON."""
        read = JSONObject(data, "a comparison")
        traffic = read.free_form("traffic")
        return cls(
            model=read.text("model"),
            champion=read.integer("champion"),
            challenger=read.integer("challenger"),
            mode=read.text("mode"),
            metric=read.text("metric"),
            higher_is_better=read.flag("higher_is_better"),
            start=read.moment("start"),
            end=read.moment("end"),
            verdict=read.text("verdict"),
            reason=read.text_or_empty("reason"),
            n=read.count("n"),
            n_champion=read.count("n_champion"),
            n_challenger=read.count("n_challenger"),
            minimum_n=read.count("minimum_n"),
            minimum_reached=read.flag("minimum_reached"),
            sample_size=SampleSize.from_json(read.raw("sample_size")),
            test=read.optional_text("test"),
            champion_value=_optional_number(read, "champion_value"),
            challenger_value=_optional_number(read, "challenger_value"),
            difference=_optional_number(read, "difference"),
            ci_low=_optional_number(read, "ci_low"),
            ci_high=_optional_number(read, "ci_high"),
            confidence=read.number("confidence", 0.95),
            p_value=_optional_number(read, "p_value"),
            statistic=_optional_number(read, "statistic"),
            paired_rows=read.optional_integer("paired_rows"),
            agreement_rate=_optional_number(read, "agreement_rate"),
            traffic={role: Traffic.from_json(counts) for role, counts in traffic.items()},
        )


def _optional_number(read: JSONObject, key: str) -> float | None:
    return None if key not in read else read.number(key)


def _ref(version: VersionRef | str) -> str:
    if isinstance(version, ModelVersion):
        return str(version.version)
    return str(version)


class ComparisonMethods(ServerCalls):
    """Compare a champion with a challenger; count served and shadow traffic (mixed into
    Client)."""

    def compare_versions(
        self,
        model: ModelRef,
        *,
        champion: VersionRef | str,
        challenger: VersionRef | str,
        mode: str = "shadow",
        metric: str | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        minimum: int | None = None,
        mde: float | None = None,
    ) -> Comparison:
        """Compare ``challenger`` with ``champion`` over ``[start, end)`` (viewer).

        Args:
            champion: a version number, a ModelVersion, or an alias (``"champion"``).
            challenger: likewise (``"challenger"``).
            mode: ``"shadow"`` — the rows both versions scored (the challenger logged with
                ``shadow_of``), paired by prediction id: McNemar for accuracy, the paired
                bootstrap for ``f1``, ``roc_auc`` and regression errors; or ``"ab"`` — each
                version's own served rows: the two-proportion z-test for accuracy, the
                two-sample bootstrap otherwise.
            metric: ``accuracy``, ``f1``, ``roc_auc`` (binary), ``mae``, ``rmse``, ``mse``
                (regression); default accuracy for classifiers, mae for regressors.
            start: the window's start (a datetime or ISO 8601; naive means UTC); default a
                week before ``end``.
            end: the window's end, excluded; default now.
            minimum: the minimum sample (labelled paired rows, or rows per arm); default 100
                paired rows in shadow; in A/B, computed from the champion's baseline rate,
                ``mde``, α 0.05 and power 0.8 for accuracy, 1,000 per arm otherwise.
            mde: the A/B test's minimum detectable effect on the rate (default 0.02).

        Raises:
            NotFound: no such model, version or alias.
            ValidationError: a bad mode, metric or window, or the same version twice.
        """
        params = {
            "champion": _ref(champion),
            "challenger": _ref(challenger),
            "mode": mode,
            "metric": metric,
            "start": None if start is None else iso_utc(start),
            "end": None if end is None else iso_utc(end),
            "minimum": minimum,
            "mde": mde,
        }
        body = self._transport.json("GET", model_path(model) + "/comparison", params=params)
        return Comparison.from_json(body)

    def version_traffic(
        self,
        model: ModelRef,
        version: VersionRef,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> Traffic:
        """How many of a version's predictions in ``[since, until)`` were served, and how
        many were logged in the shadow of another version (viewer)."""
        params = {
            "since": None if since is None else iso_utc(since),
            "until": None if until is None else iso_utc(until),
        }
        path = version_path(model, version) + "/traffic"
        return Traffic.from_json(self._transport.json("GET", path, params=params))
