"""The approvals inbox: promotion requests waiting for the signed-in approver, and decided ones."""

from __future__ import annotations

from .blueprint import bp  # noqa: F401  (its pages register on bp)
