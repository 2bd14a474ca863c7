"""Two bot processes on one PostgreSQL database, as operators run a sharded bot: `python -m bot`
twice, one connecting shard 0 and the other shard 1 of 2, against the fakes.

Members in servers on both shards share one daily budget (exactly it is spent, never more);
a process killed mid-job leaves its work to the other (the job it was making is reported,
the one waiting runs); a conversation keeps its order through a change of process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from tests.e2e.guard_support import private_text
from tests.e2e.helpers import button_labels, user_texts
from tests.e2e.test_startup import clean_env, spawn_bot
from tests.fakes.fake_discord import FakeDiscord, FakeInteraction
from tests.fakes.fake_gemini import FakeGemini, hang_reply
from tests.postgres import create_database, drop_database

pytestmark = pytest.mark.postgres

Json = dict[str, Any]
PRICE = 0.067  # one image at the default model's default size; input is free in these tests
TAKEOVER_S = 5.0  # [jobs] takeover_after_s, its smallest value


@pytest_asyncio.fixture(loop_scope="module")
async def database(postgres_server: str) -> AsyncIterator[str]:
    url = await create_database(postgres_server)
    yield url
    await drop_database(postgres_server, url)


@dataclass
class Layout:
    """Two servers, one on each shard of 2."""

    discord: FakeDiscord
    gemini: FakeGemini
    guilds: tuple[str, str]

    def channel(self, shard: int) -> str:
        return self.discord.guild_channel(self.guilds[shard])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def layout(discord_fake: FakeDiscord, gemini_fake: FakeGemini) -> Layout:
    guilds = (
        discord_fake.add_guild("Shard zero", shard=(0, 2)),
        discord_fake.add_guild("Shard one", shard=(1, 2)),
    )
    return Layout(discord_fake, gemini_fake, guilds)


class ShardProcess:
    """`python -m bot` for one shard, in its own process group (it and its workers die
    together, as in a container that is killed)."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.kill()
                await self.process.wait()


def write_config(folder: Path, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(text)


async def start_shard(
    layout: Layout, folder: Path, database_url: str, shard: int, **quotas: float
) -> ShardProcess:
    """Start the process of `shard` and wait until it answers in its server."""
    d, g = layout.discord, layout.gemini
    limits = "".join(f"{name} = {value}\n" for name, value in quotas.items())
    config = (
        f'[discord]\napi_base_url = "{d.api_base_url}"\ngateway_url = "{d.gateway_url}"\n'
        f"guild_ids = [{', '.join(layout.guilds)}]\nshard_count = 2\nshard_ids = [{shard}]\n"
        f'[gemini]\nbase_url = "{g.base_url}"\nworker_processes = 0\n'
        '[models.catalog."gemini-3.1-flash-image"]\ninput_usd_per_mtok = 0.0\n'
        f"[jobs]\ntakeover_after_s = {TAKEOVER_S}\nprogress_interval_s = 0.2\n"
        "thought_previews_s = 0\n"  # an image in the message is the result
        f"[quotas]\nconfirm_above_usd = 0.0\n{limits}"
    )
    await asyncio.to_thread(write_config, folder, config)
    log = folder / f"shard{shard}.log"
    env = clean_env(DISCORD_TOKEN=d.token, GEMINI_API_KEY=g.api_key, DATABASE_URL=database_url)
    identified = d.identified_shards.count((shard, 2))
    with log.open("ab") as out:  # its process group: it and its workers die together
        process = await spawn_bot(env=env, cwd=folder, own_group=True, output=out)
    started = ShardProcess(process, log)
    try:
        # Connected (its commands synced first), then ready once it answers in its server.
        await d.wait_for(lambda: d.identified_shards.count((shard, 2)) > identified, 60)
        probe = await d.run_command("usage", channel_id=layout.channel(shard))
        await asyncio.wait_for(probe.wait_response(), 30)
    except (TimeoutError, AssertionError):
        await started.stop()
        pytest.fail(f"shard {shard} did not start:\n{log.read_text()}")
    return started


@pytest_asyncio.fixture(loop_scope="module")
async def shards(
    layout: Layout, database: str, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    """Starts shard processes on one fresh database; all are stopped afterwards."""
    started: list[ShardProcess] = []
    layout.gemini.reset()
    layout.discord.violations.clear()

    async def start(shard: int, **quotas: float) -> ShardProcess:
        folder = tmp_path / f"shard{shard}-{len(started)}"
        process = await start_shard(layout, folder, database, shard, **quotas)
        started.append(process)
        return process

    try:
        yield start
    finally:
        await asyncio.gather(*(process.stop() for process in started))
    for process in started:
        assert "Traceback" not in process.log.read_text(), process.log.read_text()
    assert layout.discord.violations == [], layout.discord.violations
    assert layout.gemini.violations == [], layout.gemini.violations


async def jobs_table(database: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database)
    try:
        return await conn.fetch("SELECT state, guild_id, cost_usd FROM jobs ORDER BY created_at")
    finally:
        await conn.close()


async def count(database: str, query: str) -> int:
    conn = await asyncpg.connect(database)
    try:
        return int(await conn.fetchval(f"SELECT COUNT(*) FROM {query}"))
    finally:
        await conn.close()


async def counted(database: str, query: str, rows: int, timeout: float = 20) -> None:
    """Wait until `SELECT COUNT(*) FROM query` is `rows`."""
    for _ in range(int(timeout / 0.05)):
        if await count(database, query) == rows:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{query}: not {rows} rows after {timeout} s")


def answered(discord: FakeDiscord, interaction: FakeInteraction) -> bool:
    """Its refusal, or its result, is shown."""
    if private_text(interaction):
        return True
    return has_image(discord, interaction)


async def test_members_on_both_shards_spend_exactly_the_daily_budget(
    layout: Layout, shards: Callable[..., Any], database: str
) -> None:
    budget = round(5 * PRICE, 3)
    await asyncio.gather(*(shards(shard, bot_daily_usd=budget) for shard in (0, 1)))
    d = layout.discord

    def imagine(shard: int, n: int) -> Awaitable[FakeInteraction]:
        member = d.add_member(f"m{shard}{n}", guild_id=layout.guilds[shard])
        return d.run_command(
            "imagine",
            {"prompt": f"a lighthouse, take {n}"},
            user=member,
            channel_id=layout.channel(shard),
        )

    # One image in each server, then many requests from both at once.
    requests = [await imagine(shard, 0) for shard in (0, 1)]
    await d.wait_for(lambda: all(has_image(d, i) for i in requests), 20)
    requests += [await imagine(shard, n) for n in range(1, 6) for shard in (0, 1)]
    await d.wait_for(lambda: all(answered(d, i) for i in requests), 60)
    await counted(database, "jobs WHERE state IN ('queued', 'running')", 0)

    jobs = await jobs_table(database)
    delivered = [job for job in jobs if job["state"] == "delivered"]
    assert len(delivered) == len(layout.gemini.requests) == 5
    assert sum(job["cost_usd"] for job in delivered) == pytest.approx(budget, abs=1e-9)
    refused = [private_text(i) for i in requests if private_text(i)]
    assert len(refused) == 7
    assert all(text.startswith("The bot has used $0.34 of its $0.34") for text in refused)


def shown(discord: FakeDiscord, interaction: FakeInteraction) -> Json:
    """The interaction's message as it is now (whichever process edited it last; empty
    when there is none, or it was deleted)."""
    if interaction.original is None:
        return {}
    with contextlib.suppress(KeyError):
        return discord.message(interaction.original["id"])
    return {}


def has_image(discord: FakeDiscord, interaction: FakeInteraction) -> bool:
    return bool(shown(discord, interaction).get("attachments"))


async def test_a_killed_process_leaves_its_jobs_to_the_other(
    layout: Layout, shards: Callable[..., Any], database: str
) -> None:
    d, g = layout.discord, layout.gemini
    zero, _ = await asyncio.gather(shards(0), shards(1))
    g.enqueue(hang_reply(30))  # the first image takes long: its process dies meanwhile
    making = await d.run_command("imagine", {"prompt": "a slow fox"}, channel_id=layout.channel(0))
    await d.wait_for(lambda: len(g.requests) == 1, 10)
    waiting = await d.run_command(
        "imagine", {"prompt": "a patient owl"}, channel_id=layout.channel(0)
    )
    await waiting.wait_response()
    # Accepted: its message says it waits (behind her first one: one at a time per member).
    await d.wait_for(
        lambda: any("Queued" in (e.get("content") or "") for e in waiting.original_edits), 10
    )

    zero.kill()

    # Once its heartbeat is takeover_after_s old, shard 1's process reports the job that was
    # being made (with Retry) and makes the one that was waiting.
    await d.wait_for(lambda: "Retry" in button_labels(shown(d, making)), 4 * TAKEOVER_S)
    assert shown(d, making)["embeds"][0]["title"] == "Interrupted by a restart"
    await d.wait_for(lambda: has_image(d, waiting), 4 * TAKEOVER_S)
    assert [user_texts(r) for r in g.requests] == [["a slow fox"], ["a patient owl"]]
    states = [job["state"] for job in await jobs_table(database)]
    assert states == ["interrupted", "delivered"]


async def test_a_conversation_keeps_its_order_across_processes(
    layout: Layout, shards: Callable[..., Any], database: str
) -> None:
    d, g = layout.discord, layout.gemini
    first, _ = await asyncio.gather(shards(0), shards(1))
    started = await d.run_command("imagine", {"prompt": "a red fox"}, channel_id=layout.channel(0))
    await d.wait_for(lambda: has_image(d, started), 20)
    message_id = shown(d, started)["id"]
    await d.wait_for(lambda: message_id in d.threads, 20)
    thread = d.threads[message_id]
    await counted(database, "conversations", 1)  # by its process, before it stops

    await first.stop()
    await shards(0)  # the server's shard, in a new process
    edits = [await d.post_message(thread["id"], text) for text in ("at night", "in snow")]
    asked = {edit["id"] for edit in edits}

    def replies() -> list[Json]:
        return [
            m
            for m in d.channel_messages(thread["id"])
            if (m.get("message_reference") or {}).get("message_id") in asked
            and m.get("attachments")
        ]

    await d.wait_for(lambda: len(replies()) == len(edits), 30)
    assert [user_texts(r) for r in g.requests] == [
        ["a red fox"],
        ["a red fox", "at night"],
        ["a red fox", "at night", "in snow"],
    ]
