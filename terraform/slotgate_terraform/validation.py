"""The contract's rules for a limit's configuration (openapi.yaml: LimitName, SlotCount,
DecayRate), checked in `validate()` so that `terraform plan` refuses a bad value before any
call to the server. Each rule returns what is wrong in words, or nothing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
from tf.types import Unknown

MAX_NAME_LENGTH = 255
MAX_SLOTS = 1_000_000_000
MAX_DECAY_PER_SECOND = 1_000_000_000
MIN_POSITIVE_DECAY_PER_SECOND = 1e-9
FORBIDDEN_NAME_CHARACTERS = "/%&<>"
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Problem:
    attribute: str
    message: str


def is_known(value: Any) -> bool:
    """Values that come from elsewhere are unknown at validation and checked at apply."""
    return value is not None and value is not Unknown


def name_problem(name: Any) -> str | None:
    if not isinstance(name, str):
        return f"A limit's name must be text; got {name!r}."
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        return f"A limit's name must be 1 to {MAX_NAME_LENGTH} characters long; {name!r} has {len(name)}."
    forbidden = sorted({character for character in name if character in FORBIDDEN_NAME_CHARACTERS})
    if forbidden:
        return f"A limit's name must not contain / % & > or <; {name!r} contains {' '.join(forbidden)}."
    if _CONTROL_CHARACTER.search(name):
        return f"A limit's name must not contain control characters such as a newline or a tab; {name!r} does."
    if not name.strip("."):
        return f"A limit's name must not be only dots ('.' and '..' cannot be part of a URL's path); got {name!r}."
    return None


def slots_problem(limit: Any) -> str | None:
    if isinstance(limit, bool) or not isinstance(limit, int | float):
        return f"limit must be a whole number of slots; got {limit!r}."
    if isinstance(limit, float) and not limit.is_integer():
        return f"limit must be a whole number of slots; got {limit:g}."
    if limit < 0:
        return f"limit must be 0 or more slots; got {limit:g}."
    if limit > MAX_SLOTS:
        return f"limit must be at most {MAX_SLOTS:,} slots; got {limit:g}."
    return None


def decay_problem(decay: Any) -> str | None:
    if isinstance(decay, bool) or not isinstance(decay, int | float):
        return f"slot_decay_per_second must be a number of slots per second; got {decay!r}."
    if decay < 0 or 0 < decay < MIN_POSITIVE_DECAY_PER_SECOND:
        return f"slot_decay_per_second must be 0 (no decay) or at least 0.000000001; got {decay:g}."
    if decay > MAX_DECAY_PER_SECOND:
        return f"slot_decay_per_second must be at most {MAX_DECAY_PER_SECOND:,} slots per second; got {decay:g}."
    return None


def endpoint_problem(endpoint: str) -> str | None:
    try:
        url = httpx.URL(endpoint)
    except httpx.InvalidURL as error:
        return f"The provider's endpoint is not a URL ({error}); got {endpoint!r}."
    if url.scheme not in ("http", "https") or not url.host:
        example = "http://127.0.0.1:7433"
        return f"The provider's endpoint must be an http:// or https:// URL such as {example}; got {endpoint!r}."
    return None


_RULES = {"name": name_problem, "limit": slots_problem, "slot_decay_per_second": decay_problem}


def limit_problems(config: dict[str, Any]) -> list[Problem]:
    """What is wrong with a limit's configured (and known) values."""
    problems = []
    for attribute, rule in _RULES.items():
        value = config.get(attribute)
        message = rule(value) if is_known(value) else None
        if message:
            problems.append(Problem(attribute, message))
    return problems
