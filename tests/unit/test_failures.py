"""Quota answers (429) told apart: per minute, per day, and no quota at all (billing off).

The bodies below have the shape of real Gemini API answers (google.rpc.Help, QuotaFailure and
RetryInfo details, as quoted in public bug reports); the last tests drive the real SDK, with
the bot's own client settings, against the fake.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from google.genai import errors

from bot import failures
from bot.config import GeminiSettings
from bot.credentials import GeminiAuth
from bot.errors import GenerationError
from bot.gemini import build_client
from tests.fakes.fake_gemini import FakeGemini, error_reply, image_reply, quota_reply
from tests.support import settings_against

MODEL = "gemini-3.1-flash-image"
HELP = {
    "@type": "type.googleapis.com/google.rpc.Help",
    "links": [
        {
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
        }
    ],
}
EXCEEDED = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. "
    "To monitor your current usage, head to: https://ai.dev/rate-limit. \n"
)
METRIC = "generativelanguage.googleapis.com/generate_content_free_tier_requests"


def violation(quota_id: str, value: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "quotaMetric": METRIC,
        "quotaId": quota_id,
        "quotaDimensions": {"location": "global", "model": MODEL},
    }
    if value is not None:
        found["quotaValue"] = value
    return found


def quota_error(message: str, *violations: dict[str, Any], delay: str = "26s") -> errors.APIError:
    details = [
        HELP,
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": list(violations)},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
    ]
    body = {
        "error": {
            "code": 429,
            "message": message,
            "status": "RESOURCE_EXHAUSTED",
            "details": details,
        }
    }
    return errors.ClientError(429, body)


PER_MINUTE = quota_error(
    EXCEEDED + "Please retry in 26.4s.",
    violation("GenerateContentInputTokensPerModelPerMinute-FreeTier", "250000"),
)
PER_DAY = quota_error(
    EXCEEDED + "Please retry in 33.1s.",
    violation("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "250"),
    violation("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "10"),
    delay="33s",
)
# A zero int64 is left out of proto3 JSON: the limit 0 shows only in the message.
NO_BILLING = quota_error(
    EXCEEDED
    + f"* Quota exceeded for metric: {METRIC}, limit: 0, model: {MODEL}\n"
    + f"* Quota exceeded for metric: {METRIC}, limit: 0, model: {MODEL}\n"
    + "Please retry in 20.04466179s.",
    violation("GenerateRequestsPerDayPerProjectPerModel-FreeTier"),
    violation("GenerateRequestsPerMinutePerProjectPerModel-FreeTier"),
    delay="20s",
)
BARE = errors.ClientError(
    429,
    {
        "error": {
            "code": 429,
            "message": "Resource has been exhausted (e.g. check quota).",
            "status": "RESOURCE_EXHAUSTED",
        }
    },
)


def test_a_per_minute_quota_says_when_to_retry() -> None:
    error = failures.classify(PER_MINUTE, model=MODEL)

    assert (error.kind, error.retryable, error.retry_after_s) == ("rate_limited", True, 26)
    assert "Try again in about 26 seconds" in error.user_message


def test_a_bare_429_is_a_short_wait() -> None:
    error = failures.classify(BARE, model=MODEL)

    assert (error.kind, error.retry_after_s) == ("rate_limited", None)
    assert "in a minute or two" in error.user_message


def test_a_daily_quota_says_tomorrow_and_warns_the_operator(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.failures"):
        error = failures.classify(PER_DAY, model=MODEL)

    assert (error.kind, error.retryable, error.retry_after_s) == ("daily_quota", True, None)
    assert "tomorrow" in error.user_message
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "GenerateRequestsPerDayPerProjectPerModel-FreeTier" in record.getMessage()
    assert MODEL in record.getMessage()


@pytest.mark.parametrize(
    "zero",
    [
        NO_BILLING,
        quota_error(EXCEEDED, violation("GenerateRequestsPerDayPerProjectPerModel", "0")),
    ],
    ids=["limit in the message", "quotaValue 0"],
)
def test_no_quota_is_for_the_operator_and_not_retryable(
    caplog: pytest.LogCaptureFixture, zero: errors.APIError
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.failures"):
        error = failures.classify(zero, model=MODEL)

    assert (error.kind, error.retryable) == ("no_quota", False)
    assert "operator" in error.user_message
    assert "billing" in error.user_message
    assert "enable billing" in caplog.records[0].getMessage()


def test_the_three_answers_are_distinct() -> None:
    messages = {
        failures.classify(e, model=MODEL).user_message for e in (PER_MINUTE, PER_DAY, NO_BILLING)
    }

    assert len(messages) == 3


def test_read_quota_ignores_what_it_does_not_know() -> None:
    assert failures.read_quota({"error": {"details": ["?", {"@type": "x"}]}}, "") == (
        failures.Quota(quota_ids=(), zero_limit=False, retry_after_s=None)
    )
    assert failures.read_quota(None, "limit: 0.5 tokens").zero_limit is False


# --------------------------------------------------------------------------- through the SDK


@pytest.fixture
def fake(gemini_fake: FakeGemini) -> FakeGemini:
    gemini_fake.reset()
    return gemini_fake


def bot_settings(fake: FakeGemini, tmp_path: Path) -> GeminiSettings:
    """The bot's shipped Gemini settings (3 attempts) pointed at the fake, with short delays."""
    return settings_against(
        api_base_url="http://127.0.0.1:9",
        gateway_url="ws://127.0.0.1:9",
        guild_id="1",
        gemini_base_url=fake.base_url,
        db_path=tmp_path / "unused.db",
    ).gemini


async def classified(fake: FakeGemini, tmp_path: Path) -> GenerationError:
    client = build_client(bot_settings(fake, tmp_path), GeminiAuth(api_key=fake.api_key))
    async with client.aio as aio:
        with pytest.raises(errors.APIError) as caught:
            await aio.models.generate_content(model=MODEL, contents="a cat")
    return failures.classify(caught.value, model=MODEL)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("per_minute", "rate_limited"), ("per_day", "daily_quota"), ("no_billing", "no_quota")],
)
async def test_quota_answers_are_not_retried_and_are_told_apart(
    fake: FakeGemini, tmp_path: Path, kind: str, expected: str
) -> None:
    fake.enqueue(quota_reply(kind, retry_delay=42), image_reply())

    error = await classified(fake, tmp_path)

    assert error.kind == expected
    assert len(fake.requests) == 1  # the SDK did not retry: the quota is still used up
    if expected == "rate_limited":
        assert error.retry_after_s == 42
    assert fake.api_key not in error.user_message


async def test_server_errors_are_still_retried(fake: FakeGemini, tmp_path: Path) -> None:
    fake.enqueue(*[error_reply(503)] * 3)

    error = await classified(fake, tmp_path)

    assert (error.kind, len(fake.requests)) == ("server_error", 3)
