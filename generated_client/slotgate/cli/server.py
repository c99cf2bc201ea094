"""`slotgate server`: run the Slotgate server."""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="Run the Slotgate server.")

DEFAULT_PORT = 7433


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def start(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = DEFAULT_PORT,
    database_url: Annotated[
        str | None,
        typer.Option(
            envvar="SLOTGATE_DATABASE_URL",
            help="sqlite:///PATH or postgresql://USER@HOST/DB (default: a SQLite file in your data directory).",
        ),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Server processes (PostgreSQL only).")] = 1,
    insecure: Annotated[bool, typer.Option("--insecure", help="Allow a non-loopback host without API keys.")] = False,
) -> None:
    """Start the server (SQLite by default); migrations are applied at start."""
    try:
        from slotgate_server.metrics import shared_between_workers
        from slotgate_server.settings import Settings, SettingsError
    except ImportError:
        typer.echo("The server is not installed: pip install 'slotgate[server]'.", err=True)
        raise typer.Exit(1) from None
    import uvicorn

    if database_url:
        os.environ["SLOTGATE_DATABASE_URL"] = database_url
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(2) from None
    if not settings.access_control and not is_loopback(host) and not insecure:
        typer.echo(
            f"Refusing to listen on {host} without API keys: set SLOTGATE_API_KEYS (or SLOTGATE_API_KEYS_FILE), "
            "or pass --insecure to serve an open API on the network.",
            err=True,
        )
        raise typer.Exit(2)
    if workers > 1 and settings.store_kind == "sqlite":
        typer.echo("Several workers need PostgreSQL: SQLite serves one process.", err=True)
        raise typer.Exit(2)
    access = "on" if settings.access_control else "off (open API)"
    typer.echo(
        f"Slotgate listening on http://{host}:{port} | store: {settings.store_kind} "
        f"({redacted(settings.database_url)}) | access control: {access} | workers: {workers}"
    )
    os.environ["SLOTGATE_DATABASE_URL"] = settings.database_url
    with shared_between_workers(workers):
        uvicorn.run(
            "slotgate_server.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
        )


def redacted(url: str) -> str:
    """The database URL without a password."""
    scheme, sep, rest = url.partition("://")
    credentials, at, location = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{location}"
