"""`slotgate gcl`: manage global concurrency limits."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from slotgate import _protocol, errors
from slotgate.cli import render
from slotgate.client import SlotgateClient


class Output(StrEnum):
    table = "table"
    json = "json"


class ReportedErrors(TyperGroup):
    """Every SDK error of every command becomes one line and exit code 1."""

    def invoke(self, ctx: Any) -> Any:  # typer's own click Context; not part of its public names
        try:
            return super().invoke(ctx)
        except errors.SlotgateError as error:
            Console(stderr=True).print(f"[red]Error:[/red] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=ReportedErrors,
    no_args_is_help=True,
    help="Manage global concurrency limits (gcl): named slots shared by every process and host.",
)

Name = Annotated[str, typer.Argument(metavar="NAME", help="The limit's name.")]
LimitOption = Annotated[int, typer.Option("--limit", min=0, help="Number of slots.")]
DecayOption = Annotated[
    float | None, typer.Option("--slot-decay-per-second", min=0.0, help="Slots that drain per second (rate limiting).")
]
OutputOption = Annotated[Output, typer.Option("--output", "-o", help="table, or json for scripts.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


@app.callback()
def connect(
    ctx: typer.Context,
    api_url: Annotated[
        str | None, typer.Option(envvar="SLOTGATE_API_URL", help="The server (default http://127.0.0.1:7433).")
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="SLOTGATE_API_KEY", help="An API key, if the server needs one.")
    ] = None,
) -> None:
    ctx.obj = SlotgateClient(api_url, api_key)


def _client(ctx: typer.Context) -> SlotgateClient:
    client: SlotgateClient = ctx.obj
    return client


def _print(renderable: Any) -> None:
    Console(soft_wrap=True).print(renderable)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _now() -> datetime:
    return datetime.now(UTC)


@app.command()
def create(
    ctx: typer.Context,
    name: Name,
    limit: LimitOption,
    slot_decay_per_second: DecayOption = None,
    disable: Annotated[bool, typer.Option("--disable", help="Create it inactive (it never blocks).")] = False,
) -> None:
    """Create a limit."""
    created = _client(ctx).call(
        _protocol.create(name, limit=limit, slot_decay_per_second=slot_decay_per_second or 0.0, active=not disable)
    )
    typer.echo(f"Created limit {created.name!r} with {created.limit} slots.")


@app.command("ls")
def list_limits(
    ctx: typer.Context,
    output: OutputOption = Output.table,
    name_prefix: Annotated[str | None, typer.Option(help="Only names starting with this.")] = None,
) -> None:
    """List every limit with its live usage."""
    limits = list(_client(ctx).limits(name_prefix=name_prefix))
    if output is Output.json:
        _print_json([render.as_json(limit) for limit in limits])
    else:
        _print(render.limits_table(limits, now=_now()))


@app.command()
def inspect(ctx: typer.Context, name: Name, output: OutputOption = Output.table) -> None:
    """Show one limit."""
    limit = _client(ctx).call(_protocol.read(name))
    if output is Output.json:
        _print_json(render.as_json(limit))
    else:
        _print(render.limit_details(limit, now=_now()))


@app.command()
def leases(ctx: typer.Context, name: Name, output: OutputOption = Output.table) -> None:
    """Who holds the slots of a limit, and until when."""
    held = list(_client(ctx).leases_of(name))
    if output is Output.json:
        _print_json([render.as_json(lease) for lease in held])
    else:
        _print(render.leases_table(name, held, now=_now()))


@app.command()
def update(
    ctx: typer.Context,
    name: Name,
    limit: Annotated[int | None, typer.Option("--limit", min=0, help="Number of slots.")] = None,
    slot_decay_per_second: DecayOption = None,
    enable: Annotated[bool, typer.Option("--enable", help="Make it active.")] = False,
    disable: Annotated[bool, typer.Option("--disable", help="Make it inactive (it never blocks).")] = False,
) -> None:
    """Change a limit; runtime state (held slots, leases) is kept."""
    if enable and disable:
        raise typer.BadParameter("use --enable or --disable, not both", param_hint="--enable/--disable")
    active = True if enable else False if disable else None
    if limit is None and slot_decay_per_second is None and active is None:
        raise typer.BadParameter("give at least one of --limit, --slot-decay-per-second, --enable, --disable")
    updated = _client(ctx).call(
        _protocol.update(name, limit=limit, slot_decay_per_second=slot_decay_per_second, active=active)
    )
    typer.echo(f"Updated limit {updated.name!r}.")


def _set_active(ctx: typer.Context, name: str, *, active: bool) -> None:
    _client(ctx).call(_protocol.update(name, active=active))
    typer.echo(f"{'Enabled' if active else 'Disabled'} limit {name!r}.")


@app.command()
def enable(ctx: typer.Context, name: Name) -> None:
    """Make a limit active: it blocks when its slots are full."""
    _set_active(ctx, name, active=True)


@app.command()
def disable(ctx: typer.Context, name: Name) -> None:
    """Make a limit inactive: it never blocks and occupies nothing."""
    _set_active(ctx, name, active=False)


@app.command()
def delete(ctx: typer.Context, name: Name, yes: YesOption = False) -> None:
    """Delete a limit (asks first on a terminal)."""
    if not yes:
        if not sys.stdin.isatty():
            raise typer.BadParameter("not a terminal to confirm on: pass --yes to delete without asking")
        typer.confirm(f"Delete limit {name!r}?", abort=True)
    _client(ctx).call(_protocol.delete(name))
    typer.echo(f"Deleted limit {name!r}.")
