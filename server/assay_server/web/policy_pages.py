"""Policies: each one's YAML, its versions with diffs, and the requests it judged."""

from __future__ import annotations

from .blueprint import bp  # noqa: F401  (its pages register on bp)
