"""The fake Discord shards like Discord: IDENTIFY with [shard_id, num_shards], each guild's
events on shard (guild_id >> 22) % num_shards only, the recommended count on /gateway/bot.

Driven by the real discord.py AutoShardedBot: two bots splitting two shards (as two
processes would), and one bot asking Discord how many shards to connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
import pytest
import pytest_asyncio
import yarl
from discord.ext import commands

from tests.fakes.fake_discord import FakeDiscord

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class ShardBot(commands.AutoShardedBot):
    """Records the guilds, messages and interactions its shards receive."""

    def __init__(self, **options: Any) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(command_prefix="!", intents=intents, guild_ready_timeout=0.05, **options)
        self.messages: list[discord.Message] = []
        self.interactions: list[discord.Interaction] = []

    async def setup_hook(self) -> None:
        @self.tree.command(description="Answer with the shard")
        async def where(interaction: discord.Interaction) -> None:
            await interaction.response.send_message(f"shard {interaction.guild.shard_id}")  # type: ignore[union-attr]

        await self.tree.sync()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """No 5 s between two shards' IDENTIFYs (Discord's limit for most bots; the fake's
        sessions start at once)."""

    async def on_message(self, message: discord.Message) -> None:
        if not message.author.bot:
            self.messages.append(message)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.interactions.append(interaction)


@contextlib.asynccontextmanager
async def running(fake: FakeDiscord, **options: Any) -> AsyncIterator[ShardBot]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(discord.http.Route, "BASE", fake.api_base_url)
        patch.setattr(
            discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url)
        )
        bot = ShardBot(**options)
        runner = asyncio.create_task(bot.start(fake.token))
        try:
            await asyncio.wait_for(bot.wait_until_ready(), 5)
            yield bot
        finally:
            await bot.close()
            await runner


@pytest_asyncio.fixture(loop_scope="module")
async def fake() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    await fake.start()
    yield fake
    await fake.stop()
    assert fake.violations == []


async def test_each_shard_gets_its_own_guilds_events(fake: FakeDiscord) -> None:
    first = fake.add_guild("Shard zero", shard=(0, 2))
    second = fake.add_guild("Shard one", shard=(1, 2))
    assert [(int(g) >> 22) % 2 for g in (first, second)] == [0, 1]
    async with (
        running(fake, shard_count=2, shard_ids=[0]) as zero,
        running(fake, shard_count=2, shard_ids=[1]) as one,
    ):
        assert sorted(fake.identified_shards, key=str) == [(0, 2), (1, 2)]
        on_zero = {g.id for g in zero.guilds}
        on_one = {g.id for g in one.guilds}
        assert int(first) in on_zero
        assert int(second) in on_one
        assert not on_zero & on_one
        assert on_zero | on_one == {int(g) for g in (fake.guild_id, first, second)}

        await fake.post_message(fake.guild_channel(first), "hello zero")
        command = await fake.run_command("where", channel_id=fake.guild_channel(second))
        await command.wait_response()
        await fake.wait_for(lambda: zero.messages)
        await asyncio.sleep(0.05)  # anything misrouted would have arrived by now
        assert [m.content for m in zero.messages] == ["hello zero"]
        assert one.messages == []
        assert [i.guild_id for i in one.interactions] == [int(second)]
        assert zero.interactions == []
        assert command.original is not None
        assert command.original["content"] == "shard 1"

        # A guild the bot joins later appears on its shard only.
        third = fake.add_guild("Joined later", shard=(1, 2))
        await fake.wait_for(lambda: one.get_guild(int(third)) is not None)
        assert zero.get_guild(int(third)) is None


async def test_auto_sharding_connects_the_recommended_number(fake: FakeDiscord) -> None:
    fake.recommended_shards = 2
    guild = fake.add_guild("Shard one", shard=(1, 2))
    async with running(fake) as bot:
        assert bot.shard_count == 2
        assert sorted(fake.identified_shards, key=str) == [(0, 2), (1, 2)]
        assert bot.get_guild(int(guild)) is not None
        assert bot.get_guild(int(guild)).shard_id == 1  # type: ignore[union-attr]
    assert any(r.path == "/gateway/bot" for r in fake.requests)


@pytest.mark.parametrize("shard", [[2, 2], [0], [-1, 2], ["0", "2"]])
async def test_an_invalid_shard_is_refused_with_4010(fake: FakeDiscord, shard: Any) -> None:
    identify = {"token": fake.token, "intents": 1, "properties": {}, "shard": shard}
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{fake.gateway_url}?v=10&encoding=json") as ws,
    ):
        await ws.receive_json()  # HELLO
        await ws.send_str(json.dumps({"op": 2, "d": identify}))
        await ws.receive()
    assert ws.close_code == 4010
    assert fake.violations == [f"IDENTIFY with shard {shard!r} (want [shard_id, num_shards])"]
    fake.violations.clear()
