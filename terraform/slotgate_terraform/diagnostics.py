"""Every message the provider shows to a Terraform user, in one place: failed API calls with
the server's own detail and what to do next, invalid configuration, provider settings."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from tf.utils import Diagnostics

from slotgate import errors
from slotgate_terraform.validation import Problem

ENDPOINT_HINT = "Check the provider's endpoint (or SLOTGATE_API_URL) and that the Slotgate server is running there."
API_KEY_HINT = "Set the provider's api_key (or SLOTGATE_API_KEY) to an admin key of the Slotgate server."


def _hint(action: str, name: str, error: errors.SlotgateError) -> str:
    if isinstance(error, errors.ServerUnreachable):
        return ENDPOINT_HINT
    if isinstance(error, errors.Unauthorized | errors.Forbidden):
        return API_KEY_HINT
    if isinstance(error, errors.Conflict) and action == "create":
        return f"To manage the existing limit with Terraform, import it: terraform import ADDRESS {name}"
    return ""


def api_failure(diags: Diagnostics, action: str, name: str, error: errors.SlotgateError) -> None:
    """A failed call, with the server's detail (or why there was no answer) and a next step."""
    hint = _hint(action, name, error)
    detail = f"{error}\n\n{hint}" if hint else str(error)
    diags.add_error(f"Could not {action} Slotgate limit {name!r}", detail)


@contextmanager
def reporting(diags: Diagnostics, action: str, name: str) -> Iterator[None]:
    """Turns an SDK error inside the block into an error diagnostic (the block is cut short)."""
    try:
        yield
    except errors.SlotgateError as error:
        api_failure(diags, action, name, error)


def invalid_values(diags: Diagnostics, problems: Iterable[Problem]) -> None:
    for problem in problems:
        diags.add_error(f"Invalid {problem.attribute}", problem.message, path=[problem.attribute])


def invalid_endpoint(diags: Diagnostics, problem: str) -> None:
    diags.add_error("Invalid endpoint", problem, path=["endpoint"])


def invalid_import_id(diags: Diagnostics, problem: str) -> None:
    diags.add_error("Invalid import ID", f"Import a limit by its name. {problem}")
