"""PostgreSQL URLs: which store they select, and never showing their password."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import check
from bot.config import EXAMPLE_CONFIG, load_settings
from bot.database_url import has_password, is_postgres_url, redacted
from bot.store import describe_store
from bot.store.factory import database_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://bot:s3cret@db:5432/bot", "postgresql://bot@db:5432/bot"),
        ("postgres://bot@db/bot?sslmode=require", "postgres://bot@db/bot?sslmode=require"),
        ("postgresql:///bot?host=/run/pg&password=s3cret", "postgresql:///bot?host=/run/pg"),
        ("postgresql://u:s3cret@h1:5432,h2:5433/bot", "postgresql://u@h1:5432,h2:5433/bot"),
    ],
)
def test_urls_are_shown_without_their_password(url: str, shown: str) -> None:
    assert is_postgres_url(url)
    assert has_password(url) == ("s3cret" in url)
    assert redacted(url) == shown


@pytest.mark.parametrize("url", ["", "data/bot.sqlite3", "mysql://db/bot", "postgresql:bot"])
def test_other_strings_are_not_postgresql_urls(url: str) -> None:
    assert not is_postgres_url(url)


def test_database_url_wins_over_the_file_and_sqlite_is_the_default() -> None:
    storage = load_settings(EXAMPLE_CONFIG).storage
    assert database_url(storage, None) is None
    assert describe_store(storage, None) == f"SQLite at {Path('data/bot.sqlite3')}"
    in_file = storage.model_copy(update={"url": "postgresql://bot@file/bot"})
    assert database_url(in_file, None) == "postgresql://bot@file/bot"
    assert database_url(in_file, "postgresql://bot:pw@env/bot") == "postgresql://bot:pw@env/bot"
    assert describe_store(in_file, "postgresql://bot:pw@env/bot") == (
        "PostgreSQL at postgresql://bot@env/bot (from DATABASE_URL)"
    )


def test_check_names_the_database_without_its_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot:pw-SECRET@db.example:5432/bot")
    assert check(load_settings(EXAMPLE_CONFIG)) == 0
    out, err = capsys.readouterr()
    assert "Database: PostgreSQL at postgresql://bot@db.example:5432/bot (from DATABASE_URL)" in out
    assert "SECRET" not in out + err


def test_check_reports_a_database_url_that_is_not_postgresql_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///data/bot.sqlite3")
    assert check(load_settings(EXAMPLE_CONFIG)) == 1
    _, err = capsys.readouterr()
    assert err.count("DATABASE_URL is set but is not a postgresql:// URL") == 1
