"""``assay-server``: run the server, migrate the store, back it up and restore it, manage
tokens, apply policies.

Each command group lives in a module of its own (serving, demo, schema, backups, tokens,
policies) on the shared state of :mod:`.state`; this module is the group they join."""

from __future__ import annotations

import logging

import click

from .. import __version__
from . import backups, demo, policies, schema, serving, tokens


@click.group()
@click.version_option(__version__, prog_name="assay-server")
def main() -> None:
    """Assay server: model registry, audit trail, monitoring and governance."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # one line per job run every few seconds is noise; misfires and errors still show
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)


main.add_command(serving.run)
main.add_command(serving.scheduler)
main.add_command(demo.demo)
main.add_command(schema.db)
main.add_command(backups.backup_command)
main.add_command(backups.restore_command)
main.add_command(tokens.tokens)
main.add_command(policies.policies)
