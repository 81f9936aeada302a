"""Model aliases in the SDK: named pointers (``champion``, ``challenger``) to versions.

:class:`AliasMethods` is mixed into :class:`assay.Client`, ahead of the registry's calls: it
adds ``alias=`` to :meth:`~AliasMethods.get_version`, so serving code can load whatever
version is ``champion`` now without knowing its number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from assay._dates import iso_utc
from assay._json import JSONObject, json_objects
from assay._paths import ModelRef, VersionRef, model_path, segment
from assay.registry import RegistryMethods
from assay.types import ModelVersion

__all__ = ["Alias", "AliasMethods", "AliasStay"]


@dataclass(frozen=True)
class Alias:
    """An alias and the version it names (now, or at the instant asked about), since when,
    set by whom."""

    alias: str
    version: int
    since: datetime
    set_by: str

    @classmethod
    def from_json(cls, data: object) -> Alias:
        """Build from the server's JSON."""
        read = JSONObject(data, "an alias")
        return cls(
            alias=read.text("alias"),
            version=read.integer("version"),
            since=read.moment("since"),
            set_by=read.text_or_empty("set_by"),
        )


@dataclass(frozen=True)
class AliasStay:
    """An alias's stay on one version; ``left_at`` is None while it still names it."""

    alias: str
    version: int
    entered_at: datetime
    entered_by: str
    left_at: datetime | None
    left_by: str | None
    comment: str | None

    @classmethod
    def from_json(cls, data: object) -> AliasStay:
        """Build from the server's JSON."""
        read = JSONObject(data, "an alias history entry")
        return cls(
            alias=read.text("alias"),
            version=read.integer("version"),
            entered_at=read.moment("entered_at"),
            entered_by=read.text_or_empty("entered_by"),
            left_at=read.optional_moment("left_at"),
            left_by=read.optional_text("left_by"),
            comment=read.optional_text("comment"),
        )


def _alias_path(model: ModelRef, alias: str) -> str:
    return f"{model_path(model)}/aliases/{segment(alias)}"


class AliasMethods(RegistryMethods):
    """Set, move, remove and read a model's aliases (mixed into Client)."""

    def set_alias(
        self, model: ModelRef, alias: str, version: VersionRef, *, comment: str | None = None
    ) -> Alias:
        """Point ``alias`` at ``version`` of ``model``: set it, or move it from the version it
        names (contributor; audited, and delivered to channels subscribed to
        ``alias.changed``).

        Args:
            alias: a lowercase slug (a letter, then up to 62 of ``a-z 0-9 _ -``).
            comment: why, kept in the alias's history and the audit trail.

        Raises:
            NotFound: no such model or version.
            Conflict: the model is archived, or a policy governs the alias (it then moves
                only through a promotion: ``request_promotion(model, version,
                alias=alias)``).
            ValidationError: the alias is not a slug.
        """
        number = version.version if isinstance(version, ModelVersion) else int(version)
        body = {"version": number, "comment": comment}
        return Alias.from_json(self._transport.json("PUT", _alias_path(model, alias), json=body))

    def delete_alias(self, model: ModelRef, alias: str, *, comment: str | None = None) -> None:
        """Remove ``alias`` from ``model`` (contributor; audited). Raises NotFound when the
        alias names no version, Conflict when a policy governs it."""
        params = {"comment": comment} if comment is not None else None
        self._transport.request("DELETE", _alias_path(model, alias), params=params)

    def list_aliases(self, model: ModelRef, at: datetime | str | None = None) -> list[Alias]:
        """The model's aliases and the versions they name, by alias; with ``at`` (a datetime
        or ISO 8601 string, UTC without a timezone), where each pointed at that instant."""
        params = {"at": None if at is None else iso_utc(at)}
        body = self._transport.json("GET", model_path(model) + "/aliases", params=params)
        return [Alias.from_json(item) for item in json_objects(body, "aliases")]

    def alias_history(self, model: ModelRef, alias: str | None = None) -> list[AliasStay]:
        """Every stay of the model's aliases on a version (of ``alias`` only, if given),
        oldest first."""
        path = model_path(model) + "/alias-history"
        body = self._transport.json("GET", path, params={"alias": alias})
        return [AliasStay.from_json(item) for item in json_objects(body, "alias history")]

    def get_version(
        self, model: ModelRef, version: VersionRef | None = None, *, alias: str | None = None
    ) -> ModelVersion:
        """Return one version of a model, by number or by alias (``alias="champion"``).

        Raises:
            NotFound: no such model or version, or the alias names no version.
            ValueError: both or neither of ``version`` and ``alias`` given.
        """
        if alias is not None:
            if version is not None:
                raise ValueError("give a version or an alias, not both")
            path = f"{model_path(model)}/versions/by-alias/{segment(alias)}"
            return ModelVersion.from_json(self._transport.json("GET", path))
        if version is None:
            raise ValueError("give a version or an alias")
        return super().get_version(model, version)
