"""``assay-server policies``: apply a directory of policy-as-code YAML files."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import AssayError
from .state import State, existing_store, pass_state


@click.group()
def policies() -> None:
    """Compliance policies (policy-as-code YAML)."""


@policies.command("apply")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@pass_state
def policies_apply(state: State, directory: Path) -> None:
    """Apply every *.yaml file of DIRECTORY: a new or changed policy becomes a new version."""
    from ..governance.policies import read_directory
    from ..governance.service import PolicyService

    files = read_directory(directory)
    if not files:
        raise click.ClickException(f"No *.yaml or *.yml files in {directory}.")
    existing_store(state)

    def apply() -> list[str]:
        with state.database.unit_of_work() as session:
            applied = PolicyService(session, state.context()).apply(files)
            return [f"{a.status:<9} {a.name} v{a.version} ({a.filename})" for a in applied]

    try:
        lines = apply()
    except AssayError as exc:
        for error in exc.details.get("errors", []):
            where = error["file"] + (f", rule {error['rule']}" if error.get("rule") else "")
            for message in error["messages"]:
                click.echo(f"{where}, field {error['field']}: {message}", err=True)
        raise click.ClickException(exc.message) from None
    for line in lines:
        click.echo(line)
