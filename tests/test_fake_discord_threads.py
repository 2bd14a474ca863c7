"""Archived and locked threads in the fake Discord, driven by the real discord.py: the bot has
the README's permissions, so no Manage Threads."""

from __future__ import annotations

import re

import discord
import pytest
from discord import app_commands

from tests.conftest import ErrorCollector
from tests.fakes.discord_rate_limits import DEFAULT_LIMITS
from tests.fakes.fake_discord import MANAGE_THREADS, FakeDiscord
from tests.test_fake_discord import (  # noqa: F401 (the fixtures serve this module too)
    DiscordErrorRecords,
    FakeTestBot,
    bot_fixture,
    discord_errors_fixture,
    fake_fixture,
    new_text_channel,
    no_errors_or_violations_fixture,
)


async def _thread(fake: FakeDiscord, bot: FakeTestBot, name: str) -> discord.Thread:
    """A thread the bot started from its own message in a new channel, with a first message."""
    channel = await new_text_channel(fake, bot, name)
    starter = await channel.send(f"{name} starts here")
    thread = await starter.create_thread(name=name)
    await thread.send("first")
    return thread


def _metadata(fake: FakeDiscord, thread: discord.Thread) -> dict[str, object]:
    metadata: dict[str, object] = fake.threads[str(thread.id)]["thread_metadata"]
    return metadata


async def test_a_message_unarchives_an_archived_thread(fake: FakeDiscord, bot: FakeTestBot) -> None:
    thread = await _thread(fake, bot, "sleepy")
    fake.archive_thread(str(thread.id))
    await fake.wait_for(lambda: bot.get_channel(thread.id) is None)  # discord.py drops it
    await thread.send("wake up")
    assert _metadata(fake, thread)["archived"] is False
    await fake.wait_for(lambda: bot.get_channel(thread.id) is not None)  # THREAD_UPDATE


async def test_a_locked_thread_refuses_the_bots_messages_and_edits(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    thread = await _thread(fake, bot, "locked")
    [first] = fake.channel_messages(str(thread.id))
    fake.lock_thread(str(thread.id))
    with pytest.raises(discord.Forbidden) as refused:
        await thread.send("let me in")
    assert (refused.value.code, refused.value.text) == (50083, "Thread is archived")
    with pytest.raises(discord.Forbidden) as refused:
        await thread.get_partial_message(int(first["id"])).edit(content="changed")
    assert refused.value.code == 50083
    assert _metadata(fake, thread)["archived"] is False

    assert thread.parent_id is not None
    fake.set_bot_permissions(str(thread.parent_id), allow=MANAGE_THREADS)
    await thread.send("a moderator may")
    fake.archive_thread(str(thread.id), locked=True)
    await thread.send("and unarchives it")
    assert _metadata(fake, thread)["archived"] is False


async def test_archived_thread_messages_cannot_be_edited_but_can_be_deleted(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    thread = await _thread(fake, bot, "archived")
    [first] = fake.channel_messages(str(thread.id))
    message = thread.get_partial_message(int(first["id"]))
    fake.archive_thread(str(thread.id))
    with pytest.raises(discord.HTTPException) as refused:
        await message.edit(content="too late")
    assert (refused.value.status, refused.value.code) == (400, 50083)
    await message.delete()
    assert fake.channel_messages(str(thread.id)) == []
    assert _metadata(fake, thread)["archived"] is True

    second = await thread.send("unarchives it")
    fake.archive_thread(str(thread.id), locked=True)
    with pytest.raises(discord.Forbidden):
        await second.delete()  # locked and archived: only moderators delete


async def test_thread_edits_follow_discords_rules(fake: FakeDiscord, bot: FakeTestBot) -> None:
    # Five edits in 15 s empty the channel-edit bucket, and discord.py would then sleep 15 s.
    fake.rate_limits.set("channel-edit", limit=10)
    try:
        thread = await _thread(fake, bot, "edits")
        await thread.edit(name="renamed by its creator")
        with pytest.raises(discord.Forbidden) as forbidden:
            await thread.edit(locked=True)  # needs Manage Threads
        assert forbidden.value.code == 50013
        await thread.edit(archived=True)
        with pytest.raises(discord.HTTPException) as refused:
            await thread.edit(name="while archived")
        assert (refused.value.status, refused.value.code) == (400, 50083)
        fake.archive_thread(str(thread.id), locked=True)
        await thread.edit(archived=False)  # its creator may unarchive a locked thread
    finally:
        fake.rate_limits.set("channel-edit", limit=DEFAULT_LIMITS["channel-edit"].limit)
    metadata = _metadata(fake, thread)
    assert (metadata["archived"], metadata["locked"]) == (False, True)


async def test_joining_an_archived_thread_is_refused(fake: FakeDiscord, bot: FakeTestBot) -> None:
    thread = await _thread(fake, bot, "members")
    fake.archive_thread(str(thread.id))
    with pytest.raises(discord.HTTPException) as refused:
        await thread.add_user(discord.Object(int(fake.bob["id"])))
    assert (refused.value.status, refused.value.code) == (400, 50083)


async def test_an_interaction_answer_in_a_locked_thread_is_refused(
    fake: FakeDiscord,
    bot: FakeTestBot,
    expect_logged_errors: ErrorCollector,
    discord_errors: DiscordErrorRecords,
) -> None:
    thread = await _thread(fake, bot, "locked-command")
    fake.lock_thread(str(thread.id))
    private = await fake.run_command("perms", channel_id=str(thread.id))
    await private.wait_response()  # ephemeral answers reach only the member: allowed
    expect_logged_errors.expected.append(re.compile(r"50083"))
    public = await fake.run_command("panel", channel_id=str(thread.id))
    await fake.wait_for(lambda: discord_errors.records)
    [record] = discord_errors.records
    discord_errors.records.clear()  # expected: discord.py logs what the command raised
    assert record.exc_info is not None
    error = record.exc_info[1]
    assert isinstance(error, app_commands.CommandInvokeError)
    assert isinstance(error.original, discord.Forbidden)
    assert error.original.code == 50083
    assert public.callback_type is None
