"""Governance in the SDK: benchmarks, policies and promotions, as one group of client calls.

Each part lives in its own module — :mod:`assay.benchmarks` (with :func:`evaluate`),
:mod:`assay.policies`, :mod:`assay.promotions` — and their names are importable from here too.
"""

from __future__ import annotations

from assay.benchmarks import Benchmark, BenchmarkMethods, Leaderboard, LeaderboardRow, evaluate
from assay.policies import AppliedPolicy, Policy, PolicyMethods, PolicyVersion, policy_files
from assay.promotions import (
    Decision,
    GateStatus,
    PromotionMethods,
    PromotionRequest,
    Rollback,
    RuleResult,
    StageHistoryEntry,
)

__all__ = [
    "AppliedPolicy",
    "Benchmark",
    "Decision",
    "GateStatus",
    "GovernanceMethods",
    "Leaderboard",
    "LeaderboardRow",
    "Policy",
    "PolicyVersion",
    "PromotionRequest",
    "Rollback",
    "RuleResult",
    "StageHistoryEntry",
    "evaluate",
    "policy_files",
]


class GovernanceMethods(BenchmarkMethods, PolicyMethods, PromotionMethods):
    """Benchmarks, policies, promotions, the gate and stage history (mixed into Client)."""
