"""Settings from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from slotgate_server.settings import ApiKey, Settings, SettingsError, normalise_database_url, parse_api_keys


def test_defaults_use_a_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    settings = Settings.from_env({"XDG_DATA_HOME": str(tmp_path)})
    assert settings.store_kind == "sqlite" and settings.database_url.startswith("sqlite:///")
    assert (settings.min_lease_seconds, settings.default_lease_seconds, settings.max_lease_seconds) == (60, 300, 86400)
    assert settings.max_retry_after_seconds == 30 and not settings.access_control


def test_urls_name_the_async_drivers() -> None:
    assert normalise_database_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert normalise_database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_database_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    with pytest.raises(SettingsError, match="mysql"):
        normalise_database_url("mysql://u@h/db")


def test_api_keys_from_the_variable_and_a_file(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text("# operators\nadmin:from-file\n\nclient:c:with:colons\n")
    settings = Settings.from_env(
        {
            "SLOTGATE_DATABASE_URL": "sqlite:///x.db",
            "SLOTGATE_API_KEYS": "admin:a1, client:c1",
            "SLOTGATE_API_KEYS_FILE": str(keys_file),
        }
    )
    assert settings.api_keys == (
        ApiKey("admin", "a1"),
        ApiKey("client", "c1"),
        ApiKey("admin", "from-file"),
        ApiKey("client", "c:with:colons"),
    )
    assert "a1" not in repr(settings)  # keys never show in logs or tracebacks


@pytest.mark.parametrize("bad", ["root:x", "admin:", "justakey", ":x"])
def test_malformed_keys_are_refused_without_echoing_them(bad: str) -> None:
    with pytest.raises(SettingsError) as error:
        parse_api_keys(bad)
    assert bad.split(":")[-1] not in str(error.value) or not bad.split(":")[-1]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SLOTGATE_MIN_LEASE_SECONDS", "soon"),
        ("SLOTGATE_LEASE_SWEEP_SECONDS", "0"),
        ("SLOTGATE_MAX_RETRY_AFTER_SECONDS", "-1"),
    ],
)
def test_bad_durations_are_refused(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({"SLOTGATE_DATABASE_URL": "sqlite:///x.db", variable: value})


def test_lease_bounds_must_be_ordered() -> None:
    with pytest.raises(SettingsError, match="DEFAULT"):
        Settings.from_env({"SLOTGATE_DATABASE_URL": "sqlite:///x.db", "SLOTGATE_MIN_LEASE_SECONDS": "400"})
