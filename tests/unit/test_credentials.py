"""Secrets come from the environment, and their absence is explained."""

from __future__ import annotations

import pytest

from bot.credentials import credentials_from_env
from bot.errors import ConfigError


def test_token_and_key_are_read_and_hidden_from_repr() -> None:
    creds = credentials_from_env({"DISCORD_TOKEN": "tok-123", "GEMINI_API_KEY": "key-456"})
    assert creds.discord_token == "tok-123"
    assert creds.gemini.api_key == "key-456"
    assert "tok-123" not in repr(creds)
    assert "key-456" not in repr(creds)


def test_database_url_comes_from_the_environment_and_is_hidden_from_repr() -> None:
    url = "postgresql://bot:pw-789@db:5432/bot"
    creds = credentials_from_env({"DISCORD_TOKEN": "t", "GEMINI_API_KEY": "k", "DATABASE_URL": url})
    assert creds.database_url == url
    assert "pw-789" not in repr(creds)
    assert credentials_from_env({"DISCORD_TOKEN": "t", "GEMINI_API_KEY": "k"}).database_url is None


def test_a_database_url_that_is_not_postgresql_is_refused_without_repeating_it() -> None:
    env = {"DISCORD_TOKEN": "t", "GEMINI_API_KEY": "k", "DATABASE_URL": "mysql://u:pw-1@db/x"}
    with pytest.raises(ConfigError, match="not a postgresql:// URL") as caught:
        credentials_from_env(env)
    assert "pw-1" not in caught.value.user_message


def test_google_api_key_wins_like_in_the_sdk() -> None:
    creds = credentials_from_env(
        {"DISCORD_TOKEN": "t", "GEMINI_API_KEY": "gem", "GOOGLE_API_KEY": "goo"}
    )
    assert creds.gemini.api_key == "goo"


def test_missing_discord_token_says_where_to_get_one() -> None:
    with pytest.raises(ConfigError, match="DISCORD_TOKEN is not set") as caught:
        credentials_from_env({"GEMINI_API_KEY": "k"})
    assert "developer portal" in caught.value.user_message


def test_missing_gemini_key_says_where_to_get_one() -> None:
    with pytest.raises(ConfigError, match="GEMINI_API_KEY is not set") as caught:
        credentials_from_env({"DISCORD_TOKEN": "t"})
    assert "aistudio.google.com" in caught.value.user_message


def test_vertex_mode_needs_project_and_location() -> None:
    env = {"DISCORD_TOKEN": "t", "GOOGLE_GENAI_USE_VERTEXAI": "true"}
    with pytest.raises(ConfigError, match="GOOGLE_CLOUD_PROJECT"):
        credentials_from_env(env)
    creds = credentials_from_env(
        {**env, "GOOGLE_CLOUD_PROJECT": "p", "GOOGLE_CLOUD_LOCATION": "us-central1"}
    )
    assert creds.gemini.vertexai
    assert (creds.gemini.project, creds.gemini.location) == ("p", "us-central1")
