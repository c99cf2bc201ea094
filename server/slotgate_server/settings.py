"""Server settings: every `SLOTGATE_*` environment variable, read once into a frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

ROLES = ("admin", "client")


class SettingsError(ValueError):
    """A setting has a value the server cannot work with."""


@dataclass(frozen=True)
class ApiKey:
    role: str
    key: str = field(repr=False)


@dataclass(frozen=True)
class Settings:
    database_url: str
    api_keys: tuple[ApiKey, ...] = ()
    min_lease_seconds: float = 60.0
    max_lease_seconds: float = 86_400.0
    default_lease_seconds: float = 300.0
    lease_sweep_seconds: float = 5.0
    # Ended leases are kept this long so that a late release or renewal is answered
    # "gone" rather than "unknown".
    lease_history_seconds: float = 86_400.0
    max_retry_after_seconds: float = 30.0
    # How long an answer is kept under its Idempotency-Key; never shorter than the longest
    # lease, so that a repeat of an acquire whose lease still runs always finds it.
    idempotency_seconds: float = 86_400.0
    # How long a waiting request's place in the queue outlives its connection, for a repeat of
    # its Idempotency-Key (the SDK asking again) to resume it.
    queue_place_seconds: float = 5.0
    # Waiting requests are woken by what may let them in (freed slots, a drained decay, their
    # turn in the queue); each looks again this often all the same, in case a wake-up was lost.
    waiter_recheck_seconds: float = 1.0

    @property
    def access_control(self) -> bool:
        return bool(self.api_keys)

    @property
    def store_kind(self) -> str:
        return "postgresql" if self.database_url.startswith("postgresql") else "sqlite"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        keys = parse_api_keys(env.get("SLOTGATE_API_KEYS", ""))
        if keys_file := env.get("SLOTGATE_API_KEYS_FILE"):
            keys += read_api_keys_file(Path(keys_file))
        settings = cls(
            database_url=normalise_database_url(env.get("SLOTGATE_DATABASE_URL") or default_database_url()),
            api_keys=keys,
            min_lease_seconds=_seconds(env, "SLOTGATE_MIN_LEASE_SECONDS", cls.min_lease_seconds),
            max_lease_seconds=_seconds(env, "SLOTGATE_MAX_LEASE_SECONDS", cls.max_lease_seconds),
            default_lease_seconds=_seconds(env, "SLOTGATE_DEFAULT_LEASE_SECONDS", cls.default_lease_seconds),
            lease_sweep_seconds=_seconds(env, "SLOTGATE_LEASE_SWEEP_SECONDS", cls.lease_sweep_seconds),
            lease_history_seconds=_seconds(env, "SLOTGATE_LEASE_HISTORY_SECONDS", cls.lease_history_seconds),
            max_retry_after_seconds=_seconds(env, "SLOTGATE_MAX_RETRY_AFTER_SECONDS", cls.max_retry_after_seconds),
            idempotency_seconds=_seconds(env, "SLOTGATE_IDEMPOTENCY_SECONDS", cls.idempotency_seconds),
            queue_place_seconds=_seconds(env, "SLOTGATE_QUEUE_PLACE_SECONDS", cls.queue_place_seconds),
            waiter_recheck_seconds=_seconds(env, "SLOTGATE_WAITER_RECHECK_SECONDS", cls.waiter_recheck_seconds),
        )
        if not settings.min_lease_seconds <= settings.default_lease_seconds <= settings.max_lease_seconds:
            raise SettingsError(
                "Lease durations must satisfy SLOTGATE_MIN_LEASE_SECONDS <= "
                "SLOTGATE_DEFAULT_LEASE_SECONDS <= SLOTGATE_MAX_LEASE_SECONDS."
            )
        if settings.idempotency_seconds < settings.max_lease_seconds:
            raise SettingsError(
                "SLOTGATE_IDEMPOTENCY_SECONDS must be at least SLOTGATE_MAX_LEASE_SECONDS: a repeated acquire "
                "must find its answer for as long as its lease may run."
            )
        return settings


def default_database_url() -> str:
    data_dir = Path(platformdirs.user_data_dir("slotgate", appauthor=False))
    data_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data_dir / 'slotgate.db'}"


def normalise_database_url(url: str) -> str:
    """Accept the URLs people write and name the driver the server uses."""
    for written, driver in (
        ("sqlite+aiosqlite://", "sqlite://"),
        ("postgresql://", "postgresql+psycopg://"),
        ("postgres://", "postgresql+psycopg://"),
    ):
        if url.startswith(written):
            return driver + url[len(written) :]
    if url.startswith(("sqlite://", "postgresql+psycopg://")):
        return url
    raise SettingsError(
        f"Unsupported database URL {url.split(':', 1)[0]!r}: use sqlite:///PATH or postgresql://USER@HOST/DB."
    )


def parse_api_keys(text: str, *, separator: str = ",") -> tuple[ApiKey, ...]:
    """Parse `role:key` entries, e.g. `admin:s3cret,client:t0ken`."""
    keys = []
    for entry in (part.strip() for part in text.split(separator)):
        if not entry or entry.startswith("#"):
            continue
        role, sep, key = entry.partition(":")
        if not sep or role not in ROLES or not key:
            raise SettingsError(
                "Each API key is written ROLE:KEY with ROLE one of admin, client (the key itself is not shown here)."
            )
        keys.append(ApiKey(role=role, key=key))
    return tuple(keys)


def read_api_keys_file(path: Path) -> tuple[ApiKey, ...]:
    try:
        return parse_api_keys(path.read_text(), separator="\n")
    except OSError as error:
        raise SettingsError(f"Cannot read SLOTGATE_API_KEYS_FILE {str(path)!r}: {error.strerror}.") from None


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, not {raw!r}.") from None
    if not value > 0 or value == float("inf"):
        raise SettingsError(f"{name} must be a positive number of seconds, not {raw!r}.")
    return value
