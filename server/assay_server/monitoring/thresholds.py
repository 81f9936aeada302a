"""Thresholds: what a monitor's warning and alert levels mean for each check, and defaults.

Each check reduces its result to one figure and compares it with the monitor's levels:

- ``drift``: the share of drifted columns (``warning`` 0.3; ``alert`` at the dataset-drift
  share, 0.5 unless ``options.drift_share`` says otherwise).
- ``data_quality``: the worst of missing share (beyond the reference's own), out-of-range share,
  new-category share, the share of predictions rejected at ingest and the share of labels
  rejected at the labels endpoint (``warning`` 0.05, ``alert`` 0.2).
- ``bias``: a disparity metric of the worst sensitive feature; differences are worse when
  higher (``warning`` 0.1, ``alert`` 0.2), ratios when lower (``warning`` 0.8, ``alert`` 0.6).
- ``performance`` / ``estimated_performance``: the drop of a metric from the baseline,
  ``relative`` (default, ``warning`` 0.05, ``alert`` 0.1) or ``absolute``.
"""

from __future__ import annotations

from typing import Any

BIAS_METRICS = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
)

DEFAULTS: dict[str, dict[str, Any]] = {
    "drift": {"warning": 0.3, "alert": None},
    "data_quality": {"warning": 0.05, "alert": 0.2},
    "bias": {"metric": "demographic_parity_difference", "warning": None, "alert": None},
    "performance": {"metric": None, "mode": "relative", "warning": 0.05, "alert": 0.1},
    "estimated_performance": {
        "metric": "accuracy",
        "mode": "relative",
        "warning": 0.05,
        "alert": 0.1,
    },
}

_BIAS_LEVELS = {"difference": (0.1, 0.2), "ratio": (0.8, 0.6)}


def resolved(check: str, given: dict[str, Any] | None, options: dict[str, Any]) -> dict[str, Any]:
    """The levels a check uses: the monitor's, completed with the defaults."""
    levels = {**DEFAULTS[check], **{k: v for k, v in (given or {}).items() if v is not None}}
    if check == "drift" and levels["alert"] is None:
        levels["alert"] = options.get("drift_share", 0.5)
    if check == "bias":
        warning, alert = _BIAS_LEVELS[
            "ratio" if levels["metric"].endswith("ratio") else "difference"
        ]
        levels["warning"] = warning if levels["warning"] is None else levels["warning"]
        levels["alert"] = alert if levels["alert"] is None else levels["alert"]
    return levels


def lower_is_worse(check: str, levels: dict[str, Any]) -> bool:
    """True when falling below the levels is the failure (bias ratios)."""
    return check == "bias" and str(levels["metric"]).endswith("ratio")


def verdict(value: float | None, levels: dict[str, Any], *, lower_worse: bool = False) -> str:
    """``ok``, ``warning`` or ``alert`` for ``value`` against ``levels``."""
    if value is None:
        return "ok"
    if lower_worse:
        if value <= levels["alert"]:
            return "alert"
        return "warning" if value <= levels["warning"] else "ok"
    if value >= levels["alert"]:
        return "alert"
    return "warning" if value >= levels["warning"] else "ok"
