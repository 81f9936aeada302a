"""Read-only queries of channels for the admin page: every model's default channels at once."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Channel, ModelDefaultChannel


def default_channel_names(session: Session) -> dict[int, list[str]]:
    """The names of each model's default channels, by model id (models without any are
    absent), in one query of the alerts' own tables."""
    rows = session.execute(
        select(ModelDefaultChannel.model_id, Channel.name)
        .join(Channel, Channel.id == ModelDefaultChannel.channel_id)
        .order_by(ModelDefaultChannel.model_id, Channel.name)
    )
    names: dict[int, list[str]] = defaultdict(list)
    for model_id, name in rows:
        names[model_id].append(name)
    return dict(names)
