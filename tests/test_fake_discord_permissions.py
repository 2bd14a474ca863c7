"""The bot's permissions in the fake Discord: what the README's invite grants on its managed role
plus what @everyone has in a new server, and Discord's answers when something is missing."""

from __future__ import annotations

import discord
import pytest

from tests.fakes.fake_discord import (
    BOT_PERMISSIONS,
    EMBED_LINKS,
    EVERYONE_PERMISSIONS,
    READ_MESSAGE_HISTORY,
    VIEW_CHANNEL,
    FakeDiscord,
)
from tests.test_fake_discord import (  # noqa: F401 (the fixtures serve this module too)
    FakeTestBot,
    bot_fixture,
    discord_errors_fixture,
    fake_fixture,
    new_text_channel,
    no_errors_or_violations_fixture,
)


async def test_the_bot_holds_the_readme_permissions_and_everyones(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    guild = bot.get_guild(int(fake.guild_id))
    assert guild is not None
    assert guild.default_role.permissions.value == 1_071_698_660_929
    assert guild.me.guild_permissions.value == EVERYONE_PERMISSIONS | BOT_PERMISSIONS
    channel = await new_text_channel(fake, bot, "plain")
    permissions = channel.permissions_for(guild.me)
    assert permissions.send_messages_in_threads
    assert permissions.create_public_threads
    assert not permissions.manage_threads
    assert not permissions.manage_messages


async def test_deleting_a_members_message_needs_manage_messages(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    channel = await new_text_channel(fake, bot, "moderation")
    posted = await fake.post_message(str(channel.id), "not yours to delete")
    with pytest.raises(discord.Forbidden) as refused:
        await channel.get_partial_message(int(posted["id"])).delete()
    assert refused.value.code == 50013
    assert fake.message(posted["id"])


async def test_without_view_channel_the_bot_is_shut_out(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    channel = await new_text_channel(fake, bot, "private")
    fake.set_everyone_permissions(EVERYONE_PERMISSIONS & ~VIEW_CHANNEL)
    try:
        await fake.wait_for(lambda: not channel.guild.default_role.permissions.view_channel)
        with pytest.raises(discord.Forbidden) as refused:
            await channel.send("anyone there?")
    finally:
        fake.set_everyone_permissions(EVERYONE_PERMISSIONS)
    assert refused.value.code == 50001  # Missing Access: the README does not grant View Channel


async def test_without_embed_links_embeds_are_dropped(fake: FakeDiscord, bot: FakeTestBot) -> None:
    channel = await new_text_channel(fake, bot, "no-embeds")
    fake.set_bot_permissions(str(channel.id), deny=EMBED_LINKS)
    sent = await channel.send("text stays", embed=discord.Embed(title="dropped"))
    stored = fake.message(str(sent.id))
    assert (stored["content"], stored["embeds"]) == ("text stays", [])
    with pytest.raises(discord.Forbidden) as refused:
        await channel.send(embed=discord.Embed(title="nothing else to show"))
    assert refused.value.code == 50013


async def test_a_reply_needs_read_message_history(fake: FakeDiscord, bot: FakeTestBot) -> None:
    channel = await new_text_channel(fake, bot, "no-history")
    fake.set_bot_permissions(str(channel.id), deny=READ_MESSAGE_HISTORY)
    posted = await fake.post_message(str(channel.id), "answer me")
    with pytest.raises(discord.Forbidden) as refused:
        await channel.get_partial_message(int(posted["id"])).reply("I cannot")
    assert refused.value.code == 160002
    await channel.send("a plain message still goes")
