"""The one long-lived google-genai client, built from settings and credentials."""

from __future__ import annotations

from google import genai
from google.genai import types

from bot.config import GeminiSettings
from bot.credentials import GeminiAuth


def http_options(settings: GeminiSettings) -> types.HttpOptions:
    """Base URL, API version, time-out (the SDK wants milliseconds) and the SDK's retries."""
    return types.HttpOptions(
        base_url=settings.base_url or None,
        api_version=settings.api_version or None,
        timeout=int(settings.timeout_s * 1000),
        retry_options=types.HttpRetryOptions(
            attempts=settings.retry_attempts,
            initial_delay=settings.retry_initial_delay_s,
            max_delay=settings.retry_max_delay_s,
        ),
    )


def build_client(settings: GeminiSettings, auth: GeminiAuth) -> genai.Client:
    if auth.vertexai:
        return genai.Client(
            vertexai=True,
            api_key=auth.api_key if not auth.project else None,
            project=auth.project,
            location=auth.location,
            http_options=http_options(settings),
        )
    return genai.Client(api_key=auth.api_key, http_options=http_options(settings))
