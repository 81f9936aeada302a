"""The registry's service: models, versions and their files, stages; every change audited.

:class:`RegistryService` is what routes, jobs, the CLI and other packages build. Its parts live
beside it, one concern each:

- :mod:`.queries` — find and list models and versions, locate their files (the base of all);
- :mod:`.model_rules` — create, change, archive and restore models;
- :mod:`.registration` — register versions with their files (:mod:`.uploads` checks and stores
  them), change their documentation;
- :mod:`.stages` — move versions between stages, the one path that does.
"""

from __future__ import annotations

from .model_rules import ModelChanges, ModelRules
from .registration import VersionChanges, VersionRegistration, VersionSpec
from .stages import StageMoves
from .uploads import Upload

__all__ = [
    "ModelChanges",
    "RegistryService",
    "Upload",
    "VersionChanges",
    "VersionSpec",
]


class RegistryService(ModelRules, VersionRegistration, StageMoves):
    """Create and read models and versions, store their files, move their stages.

    :meth:`move_stage` is the one path that moves a version between stages: governance
    decides whether a version may move, then calls it.
    """
