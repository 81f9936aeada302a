"""The audit log: filtered, paged, with the chain's status."""

from __future__ import annotations

from .blueprint import bp  # noqa: F401  (its pages register on bp)
