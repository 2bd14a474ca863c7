"""The one long-lived google-genai client, built from settings and credentials."""

from __future__ import annotations

import aiohttp
from google import genai
from google.genai import types

from bot.config import GeminiSettings
from bot.credentials import GeminiAuth

# google-genai 3.x talks to the Gemini API (API-key mode) on `v1` by default, but Google
# documents image generation (responseModalities, imageConfig) on `v1beta`, and `v1` refuses
# those fields with 400 "Unknown name". Vertex AI keeps the SDK's own default (`v1beta1`).
API_KEY_API_VERSION = "v1beta"

# What the SDK retries in API-key mode: time-outs and server errors, not 429. The Gemini API
# answers 429 only for an exhausted quota, with the wait it wants in RetryInfo (tens of
# seconds, or until tomorrow, or never when the limit is 0); the SDK cannot read that and
# would back off 1-20 s, burning requests in a window that is still closed. bot.failures
# tells the member how long to wait instead. On Vertex AI, 429 also means "shared capacity
# is busy, back off and retry", so there the SDK's default codes (429 included) stay.
API_KEY_RETRIED_STATUS = (408, 500, 502, 503, 504)


def api_version(settings: GeminiSettings, auth: GeminiAuth) -> str | None:
    """`[gemini] api_version`, or when it is empty: v1beta with an API key, and None (the
    SDK's default, v1beta1) on Vertex AI."""
    if settings.api_version:
        return settings.api_version
    return None if auth.vertexai else API_KEY_API_VERSION


def http_options(
    settings: GeminiSettings, auth: GeminiAuth, session: aiohttp.ClientSession | None = None
) -> types.HttpOptions:
    """Base URL, API version, time-out (the SDK wants milliseconds) and the SDK's retries;
    `session`: the aiohttp session to use instead of the SDK's own."""
    return types.HttpOptions(
        aiohttp_client=session,
        base_url=settings.base_url or None,
        api_version=api_version(settings, auth),
        timeout=int(settings.timeout_s * 1000),
        retry_options=types.HttpRetryOptions(
            attempts=settings.retry_attempts,
            initial_delay=settings.retry_initial_delay_s,
            max_delay=settings.retry_max_delay_s,
            http_status_codes=None if auth.vertexai else list(API_KEY_RETRIED_STATUS),
        ),
    )


def build_client(
    settings: GeminiSettings, auth: GeminiAuth, session: aiohttp.ClientSession | None = None
) -> genai.Client:
    """`session` (API-key mode only: Vertex AI signs requests in a session of its own): the
    aiohttp session for the SDK's requests; the caller closes it after the client."""
    options = http_options(settings, auth, None if auth.vertexai else session)
    if auth.vertexai:
        return genai.Client(
            vertexai=True,
            api_key=auth.api_key if not auth.project else None,
            project=auth.project,
            location=auth.location,
            http_options=options,
        )
    return genai.Client(api_key=auth.api_key, http_options=options)
