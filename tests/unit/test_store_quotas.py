"""The store's side of the guard rails: reservations checked and written in the transaction
that queues a job (also across two connections, as two bot processes would), usage summed by
state, pauses that hold the queue, bans and limits set by admins. Both stores (SQLite, and
PostgreSQL when TEST_DATABASE_URL names a server)."""

from __future__ import annotations

import asyncio

import pytest

from bot.config import EXAMPLE_CONFIG, load_settings
from bot.jobs.guard import Guard
from bot.jobs.quotas import Admission, Limit, Limits, Override, Window
from bot.jobs.records import JobState
from bot.media import Media
from bot.store import JobChanges, Outcome, QuotaExceededError, Store
from tests.stores import Backend, job

pytestmark = pytest.mark.asyncio(loop_scope="function")

GUILD = 7
DAY = Window(300 * 3600.0, 324 * 3600.0)
NOW = DAY.start + 3600


def admission(
    limits: Limits,
    *,
    user_id: int = 42,
    guild_id: int | None = GUILD,
    usd: float = 0.1,
    now: float = NOW,
) -> Admission:
    return Admission(user_id, guild_id, usd, 1, limits, DAY, now)


async def deliver(store: Store, job_id: str, cost: float, images: int = 1) -> None:
    claimed = await store.claim_next(max_running=100, max_per_user=100)
    assert claimed is not None
    assert claimed.id == job_id
    outputs = [Media(f"{job_id}-{n}".encode(), "image/png") for n in range(images)]
    await store.finish(job_id, Outcome(JobState.DELIVERED, outputs=outputs, cost_usd=cost))


async def test_a_job_past_a_limit_is_not_recorded(store: Store) -> None:
    limits = Limits(member_daily_images=1)
    first = await store.add_job(job(), admission=admission(limits))
    assert (first.reserved_usd, first.reserved_images, first.charged_at) == (0.1, 1, NOW)
    refused = job()
    with pytest.raises(QuotaExceededError) as caught:
        await store.add_job(refused, admission=admission(limits))
    assert caught.value.hit.limit is Limit.MEMBER_IMAGES
    assert (caught.value.hit.used, caught.value.hit.allowed) == (1, 1)
    assert await store.get_job(refused.id) is None
    assert [place.job.id for place in await store.queue()] == [first.id]


async def test_simultaneous_jobs_on_two_connections_never_pass_a_limit(
    store: Store, backend: Backend
) -> None:
    one, two = store, await backend.open()
    try:
        limits = Limits(member_daily_images=2)

        async def attempt(store: Store) -> bool:
            try:
                await store.add_job(job(), admission=admission(limits))
            except QuotaExceededError:
                return False
            return True

        results = await asyncio.gather(*(attempt((one, two)[n % 2]) for n in range(10)))
        assert sum(results) == 2
        assert len(await one.queue()) == 2
    finally:
        await two.close()


async def test_usage_counts_reservations_then_actual_costs_and_nothing_for_failures(
    store: Store,
) -> None:
    limits = Limits(bot_daily_usd=100)
    delivered = await store.add_job(job(), admission=admission(limits, usd=0.2))
    blocked = await store.add_job(job(), admission=admission(limits, usd=0.2))
    waiting = await store.add_job(job(), admission=admission(limits, usd=0.2))
    usage = await store.usage(42, GUILD, DAY)
    assert (usage.member_images, usage.member_waiting, usage.member_last_at) == (3, 3, NOW)
    assert usage.member_usd == usage.guild_usd == usage.bot_usd == pytest.approx(0.6)
    await deliver(store, delivered.id, cost=0.07, images=2)
    claimed = await store.claim_next(max_running=100, max_per_user=100)
    assert claimed is not None
    assert claimed.id == blocked.id
    await store.finish(blocked.id, Outcome(JobState.BLOCKED))
    usage = await store.usage(42, GUILD, DAY)
    assert usage.member_images == 2 + 1  # two delivered images, one reserved
    assert usage.bot_usd == pytest.approx(0.07 + 0.2)
    assert usage.member_waiting == 1
    cancelled = await store.transition(waiting.id, [JobState.QUEUED], JobState.CANCELLED)
    assert cancelled is not None
    assert (await store.usage(42, GUILD, DAY)).bot_usd == pytest.approx(0.07)


async def test_a_retry_reserves_again_under_the_limits(store: Store) -> None:
    limits = Limits(member_daily_usd=0.25)
    first = await store.add_job(job(), admission=admission(limits, usd=0.2))
    claimed = await store.claim_next(max_running=100, max_per_user=100)
    assert claimed is not None
    await store.finish(first.id, Outcome(JobState.FAILED, error_kind="x"))
    other = await store.add_job(job(), admission=admission(limits, usd=0.1))
    with pytest.raises(QuotaExceededError):
        await store.transition(
            first.id, [JobState.FAILED], JobState.QUEUED, admission=admission(limits, usd=0.2)
        )
    unchanged = await store.get_job(first.id)
    assert unchanged is not None
    assert unchanged.state is JobState.FAILED
    await store.transition(other.id, [JobState.QUEUED], JobState.CANCELLED)
    later = admission(limits, usd=0.2, now=NOW + 60)
    retried = await store.transition(first.id, [JobState.FAILED], JobState.QUEUED, admission=later)
    assert retried is not None
    assert (retried.state, retried.charged_at, retried.reserved_usd) == (
        JobState.QUEUED,
        NOW + 60,
        0.2,
    )


async def test_server_and_bot_caps_count_every_member_and_only_their_day(
    store: Store,
) -> None:
    await store.add_job(job(user_id=1), admission=admission(Limits(bot_daily_usd=1), user_id=1))
    yesterday = Admission(2, GUILD, 0.5, 1, Limits(bot_daily_usd=9), Window(0, DAY.start), 10)
    await store.add_job(job(user_id=2), admission=yesterday)
    guild_cap = Limits(guild_daily_usd=0.15)
    with pytest.raises(QuotaExceededError) as caught:
        await store.add_job(job(user_id=2), admission=admission(guild_cap, user_id=2))
    assert caught.value.hit.limit is Limit.GUILD_USD
    assert caught.value.hit.used == pytest.approx(0.1)
    elsewhere = admission(Limits(bot_daily_usd=0.15), user_id=3, guild_id=8)
    with pytest.raises(QuotaExceededError) as caught:
        await store.add_job(job(user_id=3, guild_id=8), admission=elsewhere)
    assert caught.value.hit.limit is Limit.BOT_USD
    await store.add_job(job(user_id=3, guild_id=8), admission=admission(guild_cap, guild_id=8))


async def test_waiting_jobs_and_the_cooldown_are_per_member(store: Store) -> None:
    limits = Limits(member_max_waiting=1, cooldown_s=30)
    await store.add_job(job(), admission=admission(limits))
    with pytest.raises(QuotaExceededError) as caught:
        await store.add_job(job(), admission=admission(limits, now=NOW + 60))
    assert caught.value.hit.limit is Limit.WAITING
    await store.add_job(job(user_id=43), admission=admission(limits, user_id=43, now=NOW + 1))
    claimed = await store.claim_next(max_running=100, max_per_user=100)
    assert claimed is not None
    await store.finish(claimed.id, Outcome(JobState.FAILED, error_kind="x"))
    with pytest.raises(QuotaExceededError) as caught:
        await store.add_job(job(), admission=admission(limits, now=NOW + 10))
    assert caught.value.hit.limit is Limit.COOLDOWN
    assert caught.value.hit.resets_at == NOW + 30
    await store.add_job(job(), admission=admission(limits, now=NOW + 30))


async def test_a_paused_server_keeps_its_jobs_in_line_until_it_resumes(store: Store) -> None:
    paused = await store.add_job(job())
    elsewhere = await store.add_job(job(guild_id=8))
    await store.pause(GUILD, "Back at six.", by_user=1, now=NOW)
    places = {place.job.id: place.paused for place in await store.queue()}
    assert places == {paused.id: "Back at six.", elsewhere.id: None}
    claimed = await store.claim_next(max_running=100, max_per_user=100)
    assert claimed is not None
    assert claimed.id == elsewhere.id
    assert await store.claim_next(max_running=100, max_per_user=100) is None
    assert (await store.standing(GUILD, 42)).paused == "Back at six."
    assert await store.resume(GUILD)
    assert not await store.resume(GUILD)
    claimed = await store.claim_next(max_running=100, max_per_user=100)
    assert claimed is not None
    assert claimed.id == paused.id


async def test_bans_are_per_server(store: Store) -> None:
    assert await store.ban(GUILD, 42, by_user=1, reason="spam", now=NOW)
    assert not await store.ban(GUILD, 42, by_user=1, reason="again", now=NOW)
    assert (await store.standing(GUILD, 42)).banned
    assert not (await store.standing(8, 42)).banned
    assert await store.unban(GUILD, 42)
    assert not await store.unban(GUILD, 42)
    assert not (await store.standing(GUILD, 42)).banned


async def test_limits_set_by_admins_are_replaced_and_cleared(store: Store) -> None:
    five = Override("member", 42, Limit.MEMBER_IMAGES, 5)
    await store.set_quota_override(GUILD, five, by_user=1, now=NOW)
    role = Override("role", 3, Limit.COOLDOWN, 10)
    await store.set_quota_override(GUILD, role, by_user=1, now=NOW + 1)
    nine = Override("member", 42, Limit.MEMBER_IMAGES, 9)
    await store.set_quota_override(GUILD, nine, by_user=1, now=NOW + 2)
    assert await store.quota_overrides(GUILD) == [role, nine]
    assert await store.quota_overrides(8) == []
    assert await store.clear_quota_override(GUILD, five)  # the value does not matter
    assert not await store.clear_quota_override(GUILD, five)
    assert await store.quota_overrides(GUILD) == [role]


async def test_the_server_report_sums_per_member_and_model(store: Store) -> None:
    limits = Limits(bot_daily_usd=100)
    first = await store.add_job(job(user_id=1), admission=admission(limits, user_id=1))
    await deliver(store, first.id, cost=0.05, images=2)
    await store.add_job(job(user_id=2), admission=admission(limits, user_id=2, usd=0.3))
    ended = await store.add_job(job(user_id=2), admission=admission(limits, user_id=2))
    await store.transition(ended.id, [JobState.QUEUED], JobState.CANCELLED, JobChanges())
    lines = await store.usage_lines(GUILD, DAY)
    assert [(line.user_id, line.jobs, line.images, line.usd) for line in lines] == [
        (2, 1, 1, 0.3),
        (1, 1, 2, 0.05),
    ]
    assert {line.model for line in lines} == {"m"}
    assert len(await store.charged_jobs(GUILD, DAY)) == 3  # the cancelled one too
    assert await store.charged_jobs(GUILD, Window(0, DAY.start)) == []


async def test_hourly_totals_follow_deliveries_and_leave_with_retention(
    store: Store,
) -> None:
    limits = Limits(bot_daily_usd=100)
    done = await store.add_job(job(), admission=admission(limits))
    await deliver(store, done.id, cost=0.05)
    other = await store.add_job(job(guild_id=8), admission=admission(limits, guild_id=8))
    await deliver(store, other.id, cost=0.02)
    usage = await store.usage(42, GUILD, DAY)
    assert usage.guild_usd == pytest.approx(0.05)
    assert usage.bot_usd == pytest.approx(0.07)  # both servers
    await store.delete_older_than(DAY.end)
    assert (await store.usage(42, GUILD, DAY)).bot_usd == 0.0


async def test_outside_servers_a_member_has_the_settings_limits_and_no_servers(
    store: Store,
) -> None:
    settings = load_settings(EXAMPLE_CONFIG)
    settings = settings.model_copy(
        update={
            "quotas": settings.quotas.model_copy(
                update={"member_daily_images": 3, "guild_daily_usd": 0.5, "bot_daily_usd": 5.0}
            )
        }
    )
    guard = Guard(store=store, settings=settings, clock=lambda: NOW)
    more = Override("member", 42, Limit.MEMBER_IMAGES, 10)
    await store.set_quota_override(GUILD, more, by_user=1, now=NOW)
    inside = await guard.limits(42, GUILD, [])
    assert (inside.member_daily_images, inside.guild_daily_usd) == (10, 0.5)
    outside = await guard.limits(42, None, [])  # a DM, or a server only the member installed
    assert (outside.member_daily_images, outside.guild_daily_usd) == (3, 0.0)
    assert outside.bot_daily_usd == 5.0
    # Their jobs out there count together, apart from any server's.
    await store.add_job(job(guild_id=None), [], admission(outside, guild_id=None))
    usage = await store.usage(42, None, DAY)
    assert (usage.member_images, usage.guild_usd) == (1, 0.0)
    assert (await store.usage(42, GUILD, DAY)).member_images == 0
