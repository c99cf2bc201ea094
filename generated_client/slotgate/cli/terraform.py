"""`slotgate terraform`: install the Terraform provider for offline `terraform init`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="Manage Slotgate limits with Terraform.")

MirrorOption = Annotated[
    Path | None,
    typer.Option(
        "--mirror",
        metavar="DIR",
        file_okay=False,
        help="A provider mirror directory of your own (default: Terraform's implied local mirror).",
    ),
]


@app.callback()
def terraform() -> None:
    """Manage Slotgate limits with Terraform."""


@app.command()
def install(mirror: MirrorOption = None) -> None:
    """Place the provider where `terraform init` finds it without network access."""
    if importlib.util.find_spec("tf") is None:
        typer.echo("The provider needs the terraform extra: pip install 'slotgate[terraform]'.", err=True)
        raise typer.Exit(1)
    from slotgate_terraform import install as installer

    try:
        installed = installer.install(mirror)
    except (installer.InstallError, OSError) as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Installed Slotgate's Terraform provider {installed.version} at {installed.launcher}")
    typer.echo(f"(it runs the Python recorded in {installed.python_record})")
    if mirror is not None:
        typer.echo("\nPoint Terraform at this mirror in your CLI configuration (~/.terraformrc):\n")
        typer.echo(installer.mirror_cli_config(mirror), nl=False)
    typer.echo("\nUse it in your configuration:\n")
    typer.echo(installer.required_providers_block(installed.version), nl=False)
