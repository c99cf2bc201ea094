"""`slotgate`: the command's entry point and its command groups."""

from __future__ import annotations

import typer

from slotgate.cli import gcl, server, terraform

app = typer.Typer(no_args_is_help=True, help="Slotgate: global concurrency limits and rate limits.")
app.add_typer(server.app, name="server")
app.add_typer(gcl.app, name="gcl")
app.add_typer(terraform.app, name="terraform")


def main() -> None:
    app()
