"""Admin pages: tokens and channels."""

from __future__ import annotations

from .blueprint import bp  # noqa: F401  (its pages register on bp)
