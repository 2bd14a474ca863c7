"""Turn whatever the Gemini call raised into a GenerationError a member can read.

No Discord. The SDK has already retried what its retry options allow (time-outs, 5xx,
connection errors; 429 only on Vertex AI, see bot.gemini) by the time an exception reaches
here. Quota answers (429) get one of three kinds: "rate_limited" (a per-minute quota: try
again in the time RetryInfo gives), "daily_quota" (try again tomorrow; a WARNING tells the
operator which quota) and "no_quota" (a limit of 0: billing is off, only the operator can fix
it, so no Retry).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import aiohttp
from google.genai import errors as genai_errors
from pydantic import ValidationError

from bot.errors import GenerationError

_OPERATOR = "The bot's operator needs to fix this; there is nothing you can do from Discord."
# What the SDK raises when a 200 answer is not the JSON it expects.
_UNREADABLE = (genai_errors.UnknownApiResponseError, json.JSONDecodeError, ValidationError)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)s")
# "... limit: 0, model: ..." in the message of a 429 for a quota the project does not have.
_ZERO_LIMIT = re.compile(r"\blimit: 0(?![\d.])")

log = logging.getLogger(__name__)


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
        return _quota_error(read_quota(exc.details, exc.message or ""), model=model)
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


# --------------------------------------------------------------------------- quota (429)


@dataclass(frozen=True)
class Quota:
    """What a 429 body says about the quota that ran out."""

    quota_ids: tuple[str, ...]  # QuotaFailure violations, e.g. "...PerDayPerProjectPerModel..."
    zero_limit: bool  # a limit of 0: the project may not use the model at all (no billing)
    retry_after_s: float | None  # RetryInfo.retryDelay

    @property
    def per_day(self) -> bool:
        return any("PerDay" in quota_id for quota_id in self.quota_ids)

    def names(self) -> str:
        return ", ".join(self.quota_ids) or "unnamed quota"


def read_quota(details: object, message: str) -> Quota:
    """The QuotaFailure and RetryInfo details of a 429 error body (``APIError.details``, the
    whole JSON answer), and whether a limit is 0: as a QuotaFailure quotaValue of "0", or,
    since proto3 JSON leaves zero values out, as "limit: 0" in the message."""
    entries = _detail_entries(details)
    violations = [
        violation
        for entry in entries
        if str(entry.get("@type", "")).endswith("google.rpc.QuotaFailure")
        for violation in entry.get("violations") or []
        if isinstance(violation, dict)
    ]
    delays = [
        _seconds(entry.get("retryDelay"))
        for entry in entries
        if str(entry.get("@type", "")).endswith("google.rpc.RetryInfo")
    ]
    zero = any(str(v.get("quotaValue")) == "0" for v in violations) or bool(
        _ZERO_LIMIT.search(message)
    )
    return Quota(
        quota_ids=tuple(str(v["quotaId"]) for v in violations if v.get("quotaId")),
        zero_limit=zero,
        retry_after_s=next((d for d in delays if d is not None), None),
    )


def _quota_error(quota: Quota, *, model: str) -> GenerationError:
    if quota.zero_limit:
        log.warning(
            "Gemini allows no requests to %s for this API key's project (limit 0: %s). Image "
            "models have no free tier: enable billing for the project in Google AI Studio.",
            model,
            quota.names(),
        )
        return GenerationError(
            "The bot cannot make images at the moment: its Gemini account has no quota for "
            "image models, because billing is not set up. The bot's operator needs to enable "
            "billing for the bot's Google project; there is nothing you can do from Discord.",
            kind="no_quota",
            retryable=False,
        )
    if quota.per_day:
        log.warning(
            "Gemini's daily quota for %s is used up (%s); requests are refused until it resets.",
            model,
            quota.names(),
        )
        return GenerationError(
            "The bot has used up today's Gemini allowance, so no more images can be made "
            "today. Please try again tomorrow.",
            kind="daily_quota",
        )
    wait = quota.retry_after_s
    seconds = round(wait) if wait else 0
    unit = "second" if seconds == 1 else "seconds"
    when = f"in about {seconds} {unit}" if wait else "in a minute or two"
    return GenerationError(
        f"Gemini is busy right now (the bot has sent too many requests this minute). Try again "
        f"{when}.",
        kind="rate_limited",
        retry_after_s=wait,
    )


def _detail_entries(details: object) -> list[dict[str, Any]]:
    """The ``error.details`` list of an error body (or the list itself)."""
    if isinstance(details, dict):
        error = details.get("error", details)
        details = error.get("details") if isinstance(error, dict) else None
    if not isinstance(details, list):
        return []
    return [entry for entry in details if isinstance(entry, dict)]


def _seconds(duration: object) -> float | None:
    """A google.protobuf.Duration in JSON ("17s", "0.5s"), in seconds."""
    match = _DURATION.fullmatch(duration) if isinstance(duration, str) else None
    return float(match.group(1)) if match else None
