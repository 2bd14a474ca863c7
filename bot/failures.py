"""Turn whatever the Gemini call raised into a GenerationError a member can read.

Pure: no Discord. The SDK has already retried what its retry options allow (408, 429, 5xx,
connection errors) by the time an exception reaches here.
"""

from __future__ import annotations

import json
import re

import aiohttp
from google.genai import errors as genai_errors
from pydantic import ValidationError

from bot.errors import GenerationError

_OPERATOR = "The bot's operator needs to fix this; there is nothing you can do from Discord."
# What the SDK raises when a 200 answer is not the JSON it expects.
_UNREADABLE = (genai_errors.UnknownApiResponseError, json.JSONDecodeError, ValidationError)
_RETRY_DELAY = re.compile(r"(\d+(?:\.\d+)?)s")


def classify(exc: BaseException, *, model: str) -> GenerationError:
    """A readable GenerationError for an exception raised while calling Gemini."""
    if isinstance(exc, GenerationError):
        return exc
    if isinstance(exc, genai_errors.APIError):
        return _from_api_error(exc, model=model)
    if isinstance(exc, TimeoutError):
        return GenerationError(
            "Gemini took too long to answer, so the request was abandoned. "
            "This is usually temporary: press Retry.",
            kind="timeout",
        )
    if isinstance(exc, aiohttp.ClientError | OSError):
        return GenerationError(
            "The bot could not reach Gemini (a network problem). Press Retry in a moment.",
            kind="unreachable",
        )
    if isinstance(exc, _UNREADABLE):
        return GenerationError(
            "Gemini sent back an answer the bot could not read. This is usually temporary: "
            "press Retry.",
            kind="bad_response",
        )
    raise exc


def _from_api_error(exc: genai_errors.APIError, *, model: str) -> GenerationError:
    code = exc.code
    if code == 429:
        wait = retry_after_seconds(exc.details)
        when = f"in about {round(wait)} seconds" if wait else "in a minute or two"
        return GenerationError(
            f"Gemini is busy right now (too many requests, even after retrying). Try again {when}.",
            kind="rate_limited",
            retry_after_s=wait,
        )
    if code in (401, 403):
        return GenerationError(
            f"Gemini refused the bot's credentials (HTTP {code}). {_OPERATOR}",
            kind="auth",
            retryable=False,
        )
    if code == 404:
        return GenerationError(
            f"The model `{model}` is not available: it may have been retired or renamed. "
            "The bot's operator should choose another model in config.toml ([models] default).",
            kind="model_not_found",
            retryable=False,
        )
    if code is not None and code >= 500:
        return GenerationError(
            f"Gemini had an internal problem (HTTP {code}) and did not make the image. "
            "This is usually temporary: press Retry.",
            kind="server_error",
        )
    detail = (exc.message or "").strip()[:300]
    return GenerationError(
        f"Gemini rejected the request (HTTP {code}): {detail or 'no details given'}.",
        kind="rejected",
        retryable=False,
    )


def retry_after_seconds(details: object) -> float | None:
    """The RetryInfo delay ("17s") from a 429 error body, if the service sent one."""
    text = json.dumps(details) if not isinstance(details, str) else details
    if '"retryDelay"' not in text:
        return None
    after = text.split('"retryDelay"', 1)[1]
    match = _RETRY_DELAY.search(after)
    return float(match.group(1)) if match else None
