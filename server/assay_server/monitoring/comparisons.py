"""Champion against challenger over a window: the comparison report a release is judged by.

:func:`compare_versions` reads both versions' windows and answers a :class:`Comparison`:

- ``mode="shadow"`` — both versions scored the same requests (the challenger logged with
  ``shadow_of``): rows are paired by prediction id, labels apply to both, and the paired tests
  judge them (McNemar for accuracy, the paired bootstrap for F1, ROC AUC and regression
  errors); the report adds the agreement rate of the two versions' answers.
- ``mode="ab"`` — each version served its own share: each version's *served* rows (shadow rows
  left out), two-sample tests (the two-proportion z-test for accuracy, the two-sample
  bootstrap otherwise), and a minimum sample per arm fixed before looking at the difference —
  from the champion's baseline rate, the minimum detectable effect, α and power. Below it the
  verdict is ``insufficient_data`` and the figures are withheld: no peeking.

Nothing is written; the same function feeds the API, the UI, the policy rules and rollouts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from sqlalchemy.orm import Session

from ..checks.comparison import HIGHER_IS_BETTER, Verdict
from ..context import ServiceContext
from ..errors import ValidationFailed
from ..ingest.shadow import traffic_counts
from ..registry.aliases import AliasService
from ..registry.models import ModelVersion
from .comparison_schemas import ComparisonArgs
from .comparison_tests import SampleSize, ab_test, shadow_test

Mode = Literal["shadow", "ab"]
MODES: tuple[Mode, ...] = ("shadow", "ab")
#: The metrics each task may be compared on; the first is the default.
METRICS: dict[str, tuple[str, ...]] = {
    "binary_classification": ("accuracy", "f1", "roc_auc"),
    "multiclass_classification": ("accuracy",),
    "regression": ("mae", "rmse", "mse"),
}
#: The window when none is given: the week before now.
DEFAULT_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class Comparison:
    """Champion against challenger over ``[start, end)``: the verdict, the figures it rests
    on, and whether the minimum sample was reached. Every difference is challenger minus
    champion; ``n`` is the labelled paired rows (shadow) or the smaller arm's labelled rows
    (A/B)."""

    model: str
    champion: int
    challenger: int
    mode: str
    metric: str
    higher_is_better: bool
    start: datetime
    end: datetime
    verdict: Verdict
    reason: str
    n: int
    n_champion: int
    n_challenger: int
    minimum_n: int
    minimum_reached: bool
    sample_size: SampleSize
    #: mcnemar_exact, mcnemar_chi2, paired_bootstrap, two_proportion_ztest, two_sample_bootstrap
    test: str | None = None
    champion_value: float | None = None
    challenger_value: float | None = None
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float = 0.95
    p_value: float | None = None
    statistic: float | None = None
    paired_rows: int | None = None  # shadow: rows both versions scored, labelled or not
    agreement_rate: float | None = None  # shadow: share of paired rows answered alike
    traffic: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The report as JSON values (times in ISO 8601)."""
        data = asdict(self)
        data["verdict"] = self.verdict.value
        data["start"] = self.start.isoformat()
        data["end"] = self.end.isoformat()
        return data


def _utc(moment: datetime) -> datetime:
    """A naive time is UTC (the API's and the SDK's one rule)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def resolve_version(session: Session, ctx: ServiceContext, model_name: str, ref: object) -> Any:
    """A version of the model named by number (``7``, ``"7"``) or by alias (``"champion"``)."""
    aliases = AliasService(session, ctx)
    if isinstance(ref, bool):
        raise ValidationFailed("A version is a number or an alias.")
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        return aliases.get_version(model_name, int(ref))
    if isinstance(ref, str) and ref:
        return aliases.version_by_alias(model_name, ref)
    raise ValidationFailed("A version is a number or an alias.")


def check_metric(task: str, metric: str | None) -> str:
    """The metric to compare on: the task's default when none is given, else one of its
    metrics (:class:`ValidationFailed` otherwise)."""
    allowed = METRICS.get(task, ("accuracy",))
    if metric is None:
        return allowed[0]
    if metric not in allowed:
        message = f"A {task.replace('_', ' ')} model is compared on {', '.join(allowed)}."
        raise ValidationFailed(message, details={"metric": [message]})
    return metric


def compare_versions(
    session: Session,
    ctx: ServiceContext,
    model_name: str,
    champion: int | str,
    challenger: int | str,
    *,
    start: datetime | None,
    end: datetime | None,
    mode: str,
    metric: str | None = None,
    minimum: int | None = None,
    minimum_detectable_effect: float = 0.02,
    alpha: float = 0.05,
    power: float = 0.8,
    baseline_rate: float | None = None,
) -> Comparison:
    """Compare two versions of ``model_name`` over ``[start, end)`` (default: the week up to
    now) in ``mode`` (``"shadow"`` or ``"ab"``) on ``metric`` (the task's default when None).

    ``champion`` and ``challenger`` are version numbers or aliases. ``minimum`` declares the
    minimum sample (labelled paired rows, or rows per arm); without it a shadow comparison
    needs :data:`~.comparison_tests.DEFAULT_SHADOW_MINIMUM` rows and an A/B comparison of
    accuracy computes its minimum per arm from the champion's baseline rate (``baseline_rate``,
    else its newest benchmark's accuracy, else its own rate in the window),
    ``minimum_detectable_effect``, ``alpha`` and ``power``. Raises ``ValidationFailed`` for
    a bad mode, metric, window or pair of versions, ``NotFound`` for an unknown one.
    """
    if mode not in MODES:
        message = "mode is 'shadow' (same rows, paired) or 'ab' (each version's served rows)."
        raise ValidationFailed(message, details={"mode": [message]})
    end = _utc(end) if end is not None else ctx.clock()
    start = _utc(start) if start is not None else end - DEFAULT_WINDOW
    if start >= end:
        message = "The window's start must be before its end."
        raise ValidationFailed(message, details={"start": [message]})
    if minimum is not None and minimum < 1:
        raise ValidationFailed("minimum is at least 1.", details={"minimum": ["at least 1"]})
    old = resolve_version(session, ctx, model_name, champion)
    new = resolve_version(session, ctx, model_name, challenger)
    if old.id == new.id:
        message = f"Champion and challenger are both version {old.version}: compare two versions."
        raise ValidationFailed(message, details={"challenger": [message]})
    return compare_rows(
        session,
        old,
        new,
        start=start,
        end=end,
        mode=mode,
        metric=check_metric(old.model.task, metric),
        minimum=minimum,
        minimum_detectable_effect=minimum_detectable_effect,
        alpha=alpha,
        power=power,
        baseline_rate=baseline_rate,
    )


def compare_rows(
    session: Session,
    champion: ModelVersion,
    challenger: ModelVersion,
    *,
    start: datetime,
    end: datetime,
    mode: str,
    metric: str,
    minimum: int | None = None,
    minimum_detectable_effect: float = 0.02,
    alpha: float = 0.05,
    power: float = 0.8,
    baseline_rate: float | None = None,
) -> Comparison:
    """:func:`compare_versions` once both versions are found and the arguments checked (the
    policy rules call it with versions in hand)."""
    common: dict[str, Any] = {
        "model": champion.model.name,
        "champion": champion.version,
        "challenger": challenger.version,
        "mode": mode,
        "metric": metric,
        "higher_is_better": HIGHER_IS_BETTER[metric],
        "start": start,
        "end": end,
        "traffic": {
            role: asdict(traffic_counts(session, row.id, start, end))
            for role, row in (("champion", champion), ("challenger", challenger))
        },
    }
    if mode == "shadow":
        figures = shadow_test(session, champion, challenger, start, end, metric, minimum, alpha)
    else:
        figures = ab_test(
            session,
            champion,
            challenger,
            start,
            end,
            metric,
            minimum,
            minimum_detectable_effect=minimum_detectable_effect,
            alpha=alpha,
            power=power,
            baseline_rate=baseline_rate,
        )
    finite: dict[str, Any] = {
        key: None if isinstance(value, float) and not math.isfinite(value) else value
        for key, value in figures.items()
    }
    return Comparison(**common, **finite)


def compare_as_asked(
    session: Session, ctx: ServiceContext, model_name: str, args: ComparisonArgs
) -> Comparison:
    """:func:`compare_versions` with what a request asked (``ComparisonArgsSchema``)."""
    return compare_versions(
        session,
        ctx,
        model_name,
        args["champion"],
        args["challenger"],
        start=args["start"],
        end=args["end"],
        mode=args["mode"],
        metric=args["metric"],
        minimum=args["minimum"],
        minimum_detectable_effect=args["mde"],
        alpha=args["alpha"],
        power=args["power"],
    )
