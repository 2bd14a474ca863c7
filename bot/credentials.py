"""Secrets, read from the environment only and never printed.

`repr()` of these objects hides every secret, so they are safe in logs and tracebacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.database_url import is_postgres_url
from bot.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class GeminiAuth:
    """Either an API key (Gemini Developer API) or Vertex AI (project + location)."""

    api_key: str | None = field(default=None, repr=False)
    vertexai: bool = False
    project: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class Credentials:
    discord_token: str = field(repr=False)
    gemini: GeminiAuth
    database_url: str | None = field(default=None, repr=False)  # may carry a password


def gemini_auth_from_env(env: Mapping[str, str]) -> GeminiAuth:
    """Gemini credentials as the SDK reads them (GOOGLE_API_KEY wins over GEMINI_API_KEY)."""
    api_key = env.get("GOOGLE_API_KEY") or env.get("GEMINI_API_KEY") or None
    if env.get("GOOGLE_GENAI_USE_VERTEXAI", "").strip().lower() in _TRUE:
        project = env.get("GOOGLE_CLOUD_PROJECT") or None
        location = env.get("GOOGLE_CLOUD_LOCATION") or None
        if not api_key and not (project and location):
            raise ConfigError(
                "GOOGLE_GENAI_USE_VERTEXAI is set, but GOOGLE_CLOUD_PROJECT and "
                "GOOGLE_CLOUD_LOCATION are not. Set both (and log in with "
                "`gcloud auth application-default login`), or unset GOOGLE_GENAI_USE_VERTEXAI "
                "and set GEMINI_API_KEY instead."
            )
        return GeminiAuth(api_key=api_key, vertexai=True, project=project, location=location)
    if not api_key:
        raise ConfigError(
            "GEMINI_API_KEY is not set. Create a key at https://aistudio.google.com/apikey and "
            "run `export GEMINI_API_KEY=...` before starting the bot (or use Vertex AI: see "
            "the README)."
        )
    return GeminiAuth(api_key=api_key)


def database_url_from_env(env: Mapping[str, str]) -> str | None:
    """DATABASE_URL: the PostgreSQL database, password included (wins over [storage] url)."""
    url = env.get("DATABASE_URL", "").strip()
    if url and not is_postgres_url(url):
        raise ConfigError(
            "DATABASE_URL is set but is not a postgresql:// URL. Set it to the PostgreSQL "
            "database the bot should use (postgresql://user:password@host:5432/database), or "
            "unset it to use the [storage] settings."
        )
    return url or None


def credentials_from_env(env: Mapping[str, str]) -> Credentials:
    """All secrets the bot needs; ConfigError names the first one missing and how to set it."""
    token = env.get("DISCORD_TOKEN", "").strip()
    if not token:
        raise ConfigError(
            "DISCORD_TOKEN is not set. Create a bot in the Discord developer portal "
            "(https://discord.com/developers/applications), copy its token from the Bot page "
            "and run `export DISCORD_TOKEN=...` before starting the bot. The README's Quick "
            "start walks through it."
        )
    return Credentials(
        discord_token=token,
        gemini=gemini_auth_from_env(env),
        database_url=database_url_from_env(env),
    )
