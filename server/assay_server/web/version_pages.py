"""A model version's page: lineage, schema, reference data, policy evaluation, promotions,
explanations."""

from __future__ import annotations

from .blueprint import bp  # noqa: F401  (its pages register on bp)
