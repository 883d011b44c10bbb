"""KITCHEN_* settings: defaults, environment over .env, and refusal of unusable values."""

from __future__ import annotations

from pathlib import Path

import pytest

from kitchen.settings import Settings, SettingsError


def test_defaults_run_on_an_absolute_sqlite_file(tmp_path: Path) -> None:
    settings = Settings.from_env(env={}, dotenv_path=tmp_path / "missing.env")
    path = settings.database_url.removeprefix("sqlite+aiosqlite:///")
    assert Path(path).is_absolute()
    assert path.endswith("var/kitchen.sqlite3")
    assert (settings.host, settings.port, settings.timezone) == ("127.0.0.1", 8000, "Europe/Helsinki")


def test_environment_wins_over_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("KITCHEN_PORT=9000\nKITCHEN_TIMEZONE=Europe/Stockholm\n")
    settings = Settings.from_env(env={"KITCHEN_PORT": "9100"}, dotenv_path=dotenv)
    assert settings.port == 9100
    assert settings.timezone == "Europe/Stockholm"


@pytest.mark.parametrize(
    "env",
    [
        {"KITCHEN_TIMEZONE": "Mars/Olympus"},
        {"KITCHEN_PORT": "eighty"},
        {"KITCHEN_MAX_BODY_BYTES": "10"},
        {"KITCHEN_LISTEN_DATABASE_URL": "sqlite:///kitchen.db"},
    ],
)
def test_unusable_values_are_refused_by_name(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match=next(iter(env))):
        Settings.from_env(env=env, dotenv_path=tmp_path / "missing.env")
