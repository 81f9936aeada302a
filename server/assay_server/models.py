"""Every table, imported in one place so metadata is complete for alembic and tests."""

from __future__ import annotations


def import_all_models() -> None:
    """Import each domain's models module (they register themselves on ``Base.metadata``)."""
    from .alerts import models as _alerts  # noqa: F401
    from .audit import models as _audit  # noqa: F401
    from .auth import models as _auth  # noqa: F401
    from .explain import models as _explain  # noqa: F401
    from .governance import models as _governance  # noqa: F401
    from .governance import rollouts_models as _rollouts  # noqa: F401
    from .idempotency import IdempotencyKey as _idempotency_keys  # noqa: F401
    from .ingest import models as _ingest  # noqa: F401
    from .monitoring import models as _monitoring  # noqa: F401
    from .registry import models as _registry  # noqa: F401
