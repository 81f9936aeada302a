"""``assay-server backup`` and ``assay-server restore``: the store, its blobs and the audit
signing key, to a directory and back."""

from __future__ import annotations

from pathlib import Path

import click

from .state import State, fail_cleanly, pass_state


@click.command("backup")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A new (or empty) directory to write the backup to.",
)
@click.option(
    "--without-signing-key",
    is_flag=True,
    help="Leave the audit signing key out (its owners back it up apart); a restore then "
    "needs the same key in place first.",
)
@pass_state
def backup_command(state: State, out: Path, without_signing_key: bool) -> None:
    """Back up the store, the blobs it references and the audit signing key to OUT.

    The backup holds the audit signing key and the store's secrets: keep it where only the
    key's holders can read it.
    """
    from ..backup import back_up

    manifest = fail_cleanly(
        lambda: back_up(state.database, state.context(), out, signing_key=not without_signing_key)
    )
    store, audit = manifest["database"], manifest["audit"]
    blobs = [entry for entries in manifest["blobs"].values() for entry in entries]
    size = sum(entry["size"] for entry in blobs) + store["size"]
    click.echo(
        f"Backed up the {_KIND_NAMES[store['kind']]} store (revision {store['alembic_revision']}"
        f", {sum(store['rows'].values()):,} rows in {len(store['rows'])} tables), "
        f"{len(blobs)} blobs{'' if without_signing_key else ' and the audit signing key'} "
        f"to {out} ({size / 1e6:,.1f} MB)."
    )
    click.echo(
        f"Audit chain head: seq {audit['head']['seq']}; checkpoint signed at seq "
        f"{audit['checkpoint']['seq']} by key {audit['checkpoint']['key_id'][:16]}."
    )
    if manifest["missing_rebuilt_on_demand"]:
        click.echo(
            f"Not found, rebuilt by the server when asked for: "
            f"{', '.join(manifest['missing_rebuilt_on_demand'])}."
        )
    if without_signing_key:
        click.echo("It holds the store's secrets (hashed tokens, channel secrets): protect it.")
    else:
        click.echo("It holds the audit signing key: protect it as you protect that key.")


_KIND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


@click.command("restore")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@pass_state
def restore_command(state: State, source: Path) -> None:
    """Restore the backup in SOURCE into an empty data directory and an empty database.

    Every file is checked against its digest first; a store of an older revision is
    migrated up; the restored audit trail is checked against the backup's checkpoint.
    """
    from ..backup import restore

    restored = fail_cleanly(lambda: restore(state.context(), source))
    store = restored.manifest["database"]
    click.echo(
        f"Restored the {_KIND_NAMES[store['kind']]} store of {restored.manifest['created_at']} "
        f"({sum(store['rows'].values()):,} rows in {len(store['rows'])} tables) and "
        f"{restored.blobs} blobs ({restored.blob_bytes / 1e6:,.1f} MB), every digest checked."
    )
    if restored.migrated_from is not None:
        click.echo(f"Migrated the store up from revision {restored.migrated_from}.")
    if not restored.audit.ok:
        raise click.ClickException(
            f"Restored, but the audit trail does not verify: {restored.audit.message}"
        )
    click.echo(f"Audit trail: {restored.audit.message}.")
