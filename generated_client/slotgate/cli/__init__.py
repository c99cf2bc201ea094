"""The `slotgate` command."""

from slotgate.cli.main import app, main

__all__ = ["app", "main"]
