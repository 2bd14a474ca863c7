"""Rate limits of the fake Discord: the limiter on a manual clock, then the real discord.py
against them (it waits when a bucket runs dry, and retries 429s)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
from typing import Any

import aiohttp
import pytest

from tests.fakes.discord_rate_limits import (
    DEFAULT_LIMITS,
    RateLimitedError,
    RateLimiter,
    RateLimitEvent,
)
from tests.fakes.fake_discord import RELAXED_BY_DEFAULT, FakeDiscord
from tests.test_fake_discord import (  # noqa: F401 (the fixtures serve this module too)
    FakeTestBot,
    bot_fixture,
    channel_posts,
    discord_errors_fixture,
    fake_fixture,
    new_text_channel,
    no_errors_or_violations_fixture,
)

WALL = 1_700_000_000.0
MESSAGE_WRITE_BUCKET = hashlib.md5(b"message-write", usedforsecurity=False).hexdigest()


class ManualClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _limiter() -> tuple[RateLimiter, ManualClock]:
    clock = ManualClock()
    return RateLimiter(clock=clock, wall_clock=lambda: WALL + clock.now - 100.0), clock


def _admitter(limiter: RateLimiter, limit_name: str | None, major: str | None = "1") -> Any:
    return functools.partial(
        limiter.admit,
        "POST",
        f"/channels/{major}/messages",
        limit_name=limit_name,
        major=major,
        global_exempt=False,
    )


def test_a_bucket_counts_down_refuses_and_resets_after_its_window() -> None:
    limiter, clock = _limiter()
    send = _admitter(limiter, "message-create")
    first = send()
    assert first == {
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "4",
        "X-RateLimit-Reset": f"{WALL + 5:.3f}",
        "X-RateLimit-Reset-After": "5.000",
        "X-RateLimit-Bucket": MESSAGE_WRITE_BUCKET,
    }
    assert [send()["X-RateLimit-Remaining"] for _ in range(4)] == ["3", "2", "1", "0"]
    assert [event.limit for event in limiter.drained] == ["message-create"]

    clock.now += 2
    with pytest.raises(RateLimitedError) as refused:
        send()
    assert refused.value.body == {
        "message": "You are being rate limited.",
        "retry_after": 3.0,
        "global": False,
    }
    assert refused.value.headers == {
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{WALL + 5:.3f}",
        "X-RateLimit-Reset-After": "3.000",
        "X-RateLimit-Bucket": MESSAGE_WRITE_BUCKET,
        "Retry-After": "3",
        "X-RateLimit-Scope": "user",
        "Via": "1.1 google",
    }
    assert limiter.hits == [
        RateLimitEvent(
            102.0, "POST", "/channels/1/messages", "message-create", MESSAGE_WRITE_BUCKET, "user", 3
        )
    ]

    clock.now += 3
    assert send()["X-RateLimit-Remaining"] == "4"


def test_buckets_count_per_major_parameter_and_per_limit() -> None:
    limiter, _ = _limiter()
    for _ in range(5):
        _admitter(limiter, "message-create", "1")()
    assert _admitter(limiter, "message-create", "2")()["X-RateLimit-Remaining"] == "4"
    # Edits answer with the create bucket's hash but have their own count.
    edit = _admitter(limiter, "message-edit", "1")()
    assert edit["X-RateLimit-Bucket"] == MESSAGE_WRITE_BUCKET
    assert edit["X-RateLimit-Remaining"] == "4"
    # Thread creation has no major parameter: one count for the whole bot.
    assert _admitter(limiter, "thread-create", None)()["X-RateLimit-Remaining"] == "49"
    assert _admitter(limiter, "thread-create", None)()["X-RateLimit-Remaining"] == "48"


def test_the_global_limit_spares_interaction_endpoints() -> None:
    limiter, clock = _limiter()
    limiter.global_per_second = 3
    for limit_name in (None, "typing", "message-get"):
        _admitter(limiter, limit_name)()
    with pytest.raises(RateLimitedError) as refused:
        _admitter(limiter, "message-create")()
    assert refused.value.body == {
        "message": "You are being rate limited.",
        "retry_after": 1.0,
        "global": True,
    }
    assert refused.value.headers == {
        "Retry-After": "1",
        "X-RateLimit-Scope": "global",
        "X-RateLimit-Global": "true",
        "Via": "1.1 google",
    }
    assert [(hit.limit, hit.scope) for hit in limiter.hits] == [("global", "global")]
    followup = limiter.admit(
        "POST", "/webhooks/1/t", limit_name="interaction-webhook", major="1/t", global_exempt=True
    )
    assert followup["X-RateLimit-Limit"] == "5"
    clock.now += 1
    assert _admitter(limiter, "message-create")()["X-RateLimit-Remaining"] == "4"


def test_relaxed_limits_are_counted_but_not_enforced() -> None:
    limiter, _ = _limiter()
    limiter.relaxed = {"command-overwrite"}
    sync = _admitter(limiter, "command-overwrite", "guild")
    assert [sync() for _ in range(3)] == [{}, {}, {}]
    assert [event.wait for event in limiter.overruns] == [60.0, 60.0]
    assert limiter.hits == limiter.drained == []


def test_set_changes_one_limit_and_starts_its_windows_afresh() -> None:
    limiter, _ = _limiter()
    send = _admitter(limiter, "message-create")
    send()
    limiter.set("message-create", limit=2, per=0.5)
    assert send()["X-RateLimit-Remaining"] == "1"
    assert send()["X-RateLimit-Reset-After"] == "0.500"
    assert DEFAULT_LIMITS["message-create"].limit == 5


# ---------------------------------------------------------------------------------------------
# The real discord.py against the limits


@pytest.fixture(autouse=True)
def _fresh_limits(fake: FakeDiscord) -> None:
    """Each test starts with fresh default limits and no recorded events."""
    fake.rate_limits = RateLimiter(relaxed=set(RELAXED_BY_DEFAULT))


async def test_discord_py_waits_when_a_bucket_runs_dry(fake: FakeDiscord, bot: FakeTestBot) -> None:
    fake.rate_limits.set("message-create", limit=2, per=0.5)
    channel = await new_text_channel(fake, bot, "paced")
    for number in range(3):
        await channel.send(f"paced {number}")
    posts = channel_posts(fake, channel)
    assert [post.status for post in posts] == [200, 200, 200]
    assert fake.rate_limited == []  # it waited instead of being refused
    assert [event.limit for event in fake.rate_limits.drained] == ["message-create"]
    assert posts[2].received_at - posts[0].received_at >= 0.49


async def test_discord_py_waits_out_a_429_and_retries(fake: FakeDiscord, bot: FakeTestBot) -> None:
    fake.rate_limits.set("message-create", limit=1, per=0.4)
    channel = await new_text_channel(fake, bot, "refused")
    # Another client empties the bucket; discord.py does not know it yet and is refused.
    headers = {"Authorization": f"Bot {fake.token}"}
    url = f"{fake.api_base_url}/channels/{channel.id}/messages"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json={"content": "first"}, headers=headers) as answer,
    ):
        assert answer.headers["X-RateLimit-Remaining"] == "0"
    message = await channel.send("second")
    posts = channel_posts(fake, channel)
    assert [post.status for post in posts] == [200, 429, 200]
    [hit] = fake.rate_limited
    assert (hit.limit, hit.scope, hit.bucket) == ("message-create", "user", MESSAGE_WRITE_BUCKET)
    assert posts[2].received_at - posts[1].received_at >= hit.wait - 0.01
    assert fake.message(str(message.id))["content"] == "second"


async def test_discord_py_retries_an_injected_429(fake: FakeDiscord, bot: FakeTestBot) -> None:
    channel = await new_text_channel(fake, bot, "injected")
    fake.fail_next("POST", rf"/channels/{channel.id}/messages$", status=429, retry_after=0.2)
    await channel.send("despite a 429")
    posts = channel_posts(fake, channel)
    assert [post.status for post in posts] == [429, 200]
    assert posts[1].received_at - posts[0].received_at >= 0.2
    assert [(hit.limit, hit.scope) for hit in fake.rate_limited] == [("injected", "user")]


async def test_a_global_429_pauses_discord_py_and_every_request_gets_through(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    channels = [await new_text_channel(fake, bot, f"global-{n}") for n in range(4)]
    fake.rate_limits.global_per_second = 2
    await asyncio.sleep(1.0)  # a fresh one-second window
    await asyncio.gather(*(channel.send("at once") for channel in channels))
    assert all(post.status == 200 for c in channels for post in channel_posts(fake, c)[-1:])
    assert fake.rate_limited
    assert {(hit.limit, hit.scope) for hit in fake.rate_limited} == {("global", "global")}


async def test_interaction_endpoints_are_exempt_from_the_global_limit(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    fake.rate_limits.global_per_second = 1
    interactions = [await fake.run_command("perms") for _ in range(4)]
    await asyncio.gather(*(interaction.wait_response() for interaction in interactions))
    assert fake.rate_limited == []


async def test_threads_count_per_bot_so_a_burst_across_channels_meets_a_429(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    fake.rate_limits.set("thread-create", limit=1, per=0.3)
    first, second = [await new_text_channel(fake, bot, f"threads-{n}") for n in range(2)]
    starters = [await first.send("thread me"), await second.send("thread me too")]
    threads = await asyncio.gather(*(m.create_thread(name="burst") for m in starters))
    assert {str(thread.id) for thread in threads} <= set(fake.threads)
    # discord.py keys the bucket per channel; Discord counts thread creation per bot.
    assert [(hit.limit, hit.scope) for hit in fake.rate_limited] == [("thread-create", "user")]


async def test_limited_routes_answer_with_the_headers_and_others_without(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    channel = await new_text_channel(fake, bot, "headers")
    interaction = await fake.run_command("perms")
    await interaction.wait_response()
    headers = {"Authorization": f"Bot {fake.token}"}
    base = fake.api_base_url
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(f"{base}/users/@me") as me:
            assert me.status == 200
            assert me.headers["Via"] == "1.1 google"
            assert not [name for name in me.headers if name.lower().startswith("x-ratelimit")]
        async with session.get(f"{base}/channels/{channel.id}/messages/1") as missing:
            assert missing.status == 404  # errors count and carry the headers too
            assert missing.headers["X-RateLimit-Limit"] == "5"
        followup = f"{base}/webhooks/{fake.application_id}/{interaction.token}?wait=true"
        async with session.post(followup, json={"content": "more"}) as posted:
            assert posted.status == 200
            assert posted.headers["X-RateLimit-Limit"] == "5"
            assert posted.headers["X-RateLimit-Reset-After"] == "2.000"
