"""Aliases: named pointers of a model to one of its versions (``champion``, ``challenger``),
set, moved and removed with their history, audited, published as ``alias.changed``.

``model_aliases`` holds where each alias points now (one row per model and alias);
``alias_history`` holds every stay of an alias on a version, from when to when, so "which
version was ``champion`` at time T" is one query. Who may move an alias is decided here for
roles (contributors) and by the subscribers of ``alias.changed`` for policies: governance
refuses a direct move of an alias a policy governs, and the change rolls back with it; an
approved promotion request moves such an alias through :meth:`AliasService.move_governed`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from ..errors import NotFound, ValidationFailed
from .models import AliasHistory, ModelAlias, ModelVersion, RegisteredModel
from .queries import RegistryQueries

#: An alias is a lowercase slug: a letter, then up to 62 letters, digits, ``_`` or ``-``.
ALIAS_PATTERN = r"^[a-z][a-z0-9_-]{0,62}\Z"
ALIAS_RULE = "An alias is a lowercase slug: a letter, then up to 62 of a-z, 0-9, '_', '-'."
_ALIAS = re.compile(ALIAS_PATTERN)


@dataclass(frozen=True)
class AliasHolding:
    """An alias and the version it names (now, or at the instant asked about), since when,
    set by whom."""

    alias: str
    version: int
    since: datetime
    set_by: str


def check_alias(alias: str) -> str:
    """``alias`` when it is a valid slug, else :class:`ValidationFailed` naming the field."""
    if not _ALIAS.match(alias):
        raise ValidationFailed(ALIAS_RULE, details={"alias": [ALIAS_RULE]})
    return alias


class AliasService(RegistryQueries):
    """Set, move, remove and read a model's aliases; every change audited and published."""

    def set_alias(
        self, model_name: str, alias: str, version: int, *, comment: str | None = None
    ) -> AliasHolding:
        """Point ``alias`` at ``version`` (set it, or move it from the version it names);
        pointing it where it already points changes nothing. An alias a policy governs is
        refused here (by governance's ``alias.changed`` subscriber): it moves only through
        :meth:`move_governed`."""
        check_alias(alias)
        model = self._live_model(model_name)
        row = self.get_version(model_name, version)
        return self._point(model, alias, row, comment, promotion_id=None)

    def move_governed(
        self, row: ModelVersion, alias: str, comment: str | None, *, promotion_id: int
    ) -> AliasHolding:
        """The one path that moves a governed alias: point ``alias`` at ``row`` for the
        approved promotion request ``promotion_id``, which the audit event and the
        ``alias.changed`` event carry (so governance lets the change through).

        Who may move it is decided by the caller (governance), as for
        :meth:`~assay_server.registry.stages.StageMoves.move_stage`.
        """
        check_alias(alias)
        model = self._live_model(row.model.name)
        return self._point(model, alias, row, comment, promotion_id=promotion_id)

    def holding(self, model_name: str, alias: str) -> AliasHolding | None:
        """Where ``alias`` of the model points now, or None."""
        current = self._current(self.get_model(model_name), alias)
        return _holding(current) if current is not None else None

    def _point(
        self,
        model: RegisteredModel,
        alias: str,
        row: ModelVersion,
        comment: str | None,
        *,
        promotion_id: int | None,
    ) -> AliasHolding:
        current = self._current(model, alias)
        if current is not None and current.version_id == row.id:
            return _holding(current)
        now = self.ctx.clock()
        actor = self.ctx.actor.name
        previous = current.version.version if current is not None else None
        if current is None:
            current = ModelAlias(model_id=model.id, alias=alias)
            self.session.add(current)
        current.version = row
        current.set_at = now
        current.set_by = actor
        self._close_stay(model, alias, at=now)
        self.session.add(
            AliasHistory(
                model_id=model.id,
                alias=alias,
                version_id=row.id,
                entered_at=now,
                entered_by=actor,
                comment=comment,
            )
        )
        self.session.flush()
        governed = {} if promotion_id is None else {"promotion_id": promotion_id}
        self.audit.append(
            "alias.set",
            "model",
            model.name,
            {
                "alias": alias,
                "version": row.version,
                "from": previous,
                "comment": comment,
                **governed,
            },
        )
        change = "set" if previous is None else "moved"
        self._publish(model, alias, change, row.version, previous, comment, governed)
        return _holding(current)

    def remove_alias(self, model_name: str, alias: str, *, comment: str | None = None) -> None:
        """Remove ``alias`` from the model (:class:`NotFound` when it names no version)."""
        check_alias(alias)
        model = self._live_model(model_name)
        current = self._current(model, alias)
        if current is None:
            raise NotFound(f"Model {model_name!r} has no alias {alias!r}.")
        previous = current.version.version
        self._close_stay(model, alias, at=self.ctx.clock())
        self.session.delete(current)
        self.session.flush()
        self.audit.append(
            "alias.removed",
            "model",
            model.name,
            {"alias": alias, "version": previous, "comment": comment},
        )
        self._publish(model, alias, "removed", None, previous, comment, {})

    def list_aliases(self, model_name: str, *, at: datetime | None = None) -> list[AliasHolding]:
        """The model's aliases, by name: where each points now or, with ``at``, where each
        pointed at that instant."""
        model = self.get_model(model_name)
        if at is None:
            rows = self.session.scalars(
                select(ModelAlias)
                .options(joinedload(ModelAlias.version))
                .where(ModelAlias.model_id == model.id)
                .order_by(ModelAlias.alias)
            )
            return [_holding(row) for row in rows]
        stays = self.session.scalars(
            select(AliasHistory)
            .options(joinedload(AliasHistory.version))
            .where(
                AliasHistory.model_id == model.id,
                AliasHistory.entered_at <= at,
                AliasHistory.left_at.is_(None) | (AliasHistory.left_at > at),
            )
            .order_by(AliasHistory.alias, AliasHistory.entered_at.desc(), AliasHistory.id.desc())
        )
        holdings: dict[str, AliasHolding] = {}
        for stay in stays:  # one stay per alias holds at an instant; the newest wins a tie
            holdings.setdefault(
                stay.alias,
                AliasHolding(stay.alias, stay.version.version, stay.entered_at, stay.entered_by),
            )
        return list(holdings.values())

    def alias_history(self, model_name: str, *, alias: str | None = None) -> list[AliasHistory]:
        """Every stay of the model's aliases on a version (of ``alias`` only, if given),
        oldest first."""
        model = self.get_model(model_name)
        query = (
            select(AliasHistory)
            .options(joinedload(AliasHistory.version))
            .where(AliasHistory.model_id == model.id)
        )
        if alias is not None:
            query = query.where(AliasHistory.alias == alias)
        return list(self.session.scalars(query.order_by(AliasHistory.entered_at, AliasHistory.id)))

    def version_by_alias(self, model_name: str, alias: str) -> ModelVersion:
        """The version ``alias`` names now, or :class:`NotFound`."""
        model = self.get_model(model_name)
        current = self._current(model, alias)
        if current is None:
            raise NotFound(f"Model {model_name!r} has no alias {alias!r}.")
        return self.get_version(model_name, current.version.version)

    def _current(self, model: RegisteredModel, alias: str) -> ModelAlias | None:
        return self.session.scalar(
            select(ModelAlias)
            .options(joinedload(ModelAlias.version))
            .where(ModelAlias.model_id == model.id, ModelAlias.alias == alias)
        )

    def _close_stay(self, model: RegisteredModel, alias: str, *, at: datetime) -> None:
        self.session.execute(
            update(AliasHistory)
            .where(
                AliasHistory.model_id == model.id,
                AliasHistory.alias == alias,
                AliasHistory.left_at.is_(None),
            )
            .values(left_at=at, left_by=self.ctx.actor.name)
        )

    def _publish(
        self,
        model: RegisteredModel,
        alias: str,
        change: str,
        version: int | None,
        previous: int | None,
        comment: str | None,
        governed: dict[str, int],
    ) -> None:
        self.ctx.events.publish(
            self.session,
            self.ctx,
            "alias.changed",
            {
                "model": model.name,
                "model_id": model.id,
                "alias": alias,
                "change": change,
                "version": version,
                "from": previous,
                "changed_by": self.ctx.actor.name,
                "comment": comment,
                **governed,
            },
        )


def _holding(row: ModelAlias) -> AliasHolding:
    return AliasHolding(row.alias, row.version.version, row.set_at, row.set_by)


def alias_version(session: Session, model_id: int, alias: str) -> ModelVersion | None:
    """The version ``alias`` names now, or None (for readers without a service context:
    policy evidence, comparisons)."""
    return session.scalar(
        select(ModelVersion)
        .join(ModelAlias, ModelAlias.version_id == ModelVersion.id)
        .where(ModelAlias.model_id == model_id, ModelAlias.alias == alias)
    )
