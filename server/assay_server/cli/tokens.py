"""``assay-server tokens``: create, revoke and list API tokens."""

from __future__ import annotations

import click

from ..auth.service import TokenService
from ..roles import ROLE_NAMES
from .state import State, existing_store, fail_cleanly, pass_state


@click.group()
def tokens() -> None:
    """API tokens."""


@tokens.command("create")
@click.option("--role", required=True, type=click.Choice(ROLE_NAMES))
@click.option("--name", required=True, help="Who or what will use it, e.g. ci-pipeline.")
@click.option(
    "--expires-days",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Lifetime in days (default: no expiry).",
)
@pass_state
def tokens_create(state: State, role: str, name: str, expires_days: float | None) -> None:
    """Create a token and print it (shown this once)."""
    from marshmallow import ValidationError

    from ..auth.schemas import TOKEN_NAME

    try:
        TOKEN_NAME(name)
    except ValidationError as exc:
        raise click.BadParameter(" ".join(exc.messages), param_hint="--name") from None
    existing_store(state)

    def create() -> str:
        with state.database.unit_of_work() as session:
            issued = TokenService(session, state.context()).create(
                name, role, expires_days=expires_days
            )
            return issued.secret

    click.echo(fail_cleanly(create))


@tokens.command("revoke")
@click.argument("token")
@pass_state
def tokens_revoke(state: State, token: str) -> None:
    """Revoke a token by id or name."""
    existing_store(state)

    def revoke() -> str:
        with state.database.unit_of_work() as session:
            service = TokenService(session, state.context())
            row = service.revoke(service.find(token).id)
            return f"Revoked token {row.id} ({row.name}, {row.role})."

    click.echo(fail_cleanly(revoke))


@tokens.command("list")
@pass_state
def tokens_list(state: State) -> None:
    """List tokens (never their secrets)."""
    existing_store(state)

    def listing() -> list[str]:
        with state.database.unit_of_work(write=False) as session:
            now = state.context().clock()
            return [
                f"{t.id:>4}  {t.name:<24} {t.role:<12} {t.display_prefix}…{t.last_four}  "
                f"{'revoked' if t.revoked_at else ('active' if t.is_active(now) else 'expired')}"
                for t in TokenService(session, state.context()).list()
            ]

    for line in fail_cleanly(listing):
        click.echo(line)
