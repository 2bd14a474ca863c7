"""The fake Discord outside its one guild: the bot's DMs, a group DM and a server that never
installed the bot, reached through a member's own installation of the app. Commands say where
they are offered (integration_types, contexts); where the bot is absent it has no channel
access (403 Missing Access) and no gateway events, and answers only through the interaction,
with at most 5 follow-ups."""

from __future__ import annotations

from typing import Any

import discord
import pytest

from tests.fakes.fake_discord import USER_APP_PERMISSIONS, FakeDiscord, validate_commands
from tests.test_fake_discord import (  # noqa: F401 (the fixtures serve this module too)
    FakeTestBot,
    bot_fixture,
    discord_errors_fixture,
    fake_fixture,
    no_errors_or_violations_fixture,
)


async def answered(fake: FakeDiscord, channel_id: str, **options: object) -> str:
    interaction = await fake.run_command("where", options or None, channel_id=channel_id)
    await interaction.wait_response()
    assert interaction.original is not None
    assert interaction.original["channel_id"] == channel_id
    return str(interaction.original["content"])


async def test_commands_declare_their_installations_and_contexts(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    synced = {command["name"]: command for command in fake.commands[None]}
    assert (synced["where"]["integration_types"], synced["where"]["contexts"]) == (
        [0, 1],
        [0, 1, 2],
    )
    assert synced["perms"].get("integration_types") is None  # the app's default: servers


@pytest.mark.parametrize(
    ("command", "field"),
    [
        ({"name": "x", "description": "d", "integration_types": [2]}, "0.integration_types"),
        ({"name": "x", "description": "d", "contexts": []}, "0.contexts"),
        ({"name": "x", "description": "d", "contexts": [0, 0]}, "0.contexts"),
        (
            {"name": "x", "description": "d", "name_localizations": {"fr-FR": "y"}},
            "0.name_localizations.fr-FR",
        ),
        (
            {"name": "x", "description": "d", "name_localizations": {"fr": "Deux mots"}},
            "0.name_localizations.fr",
        ),
        (
            {"name": "x", "description": "d", "description_localizations": {"de": ""}},
            "0.description_localizations.de",
        ),
        (
            {
                "name": "x",
                "description": "d",
                "options": [
                    {
                        "type": 3,
                        "name": "a",
                        "description": "d",
                        "choices": [{"name": "c", "value": "c", "name_localizations": {"xx": "c"}}],
                    }
                ],
            },
            "0.options.0.choices.0.name_localizations.xx",
        ),
    ],
)
def test_invalid_reach_and_localizations_are_named(command: dict[str, Any], field: str) -> None:
    assert [error.path for error in validate_commands([command])] == [field]


async def test_a_dm_with_the_bot(fake: FakeDiscord, bot: FakeTestBot) -> None:
    dm = fake.dm_channel(fake.alice)
    text = await answered(fake, dm)
    assert text.startswith("guild=None user_app=False guild_app=False dm=True")
    # The bot may write in its own DMs, and gets the member's messages there; no threads.
    await bot.get_partial_messageable(int(dm)).send("hello")
    posted = await fake.post_message(dm, "hi bot")
    await fake.wait_for(lambda: int(posted["id"]) in bot.received)
    assert isinstance(bot.received[int(posted["id"])][0].channel, discord.DMChannel)
    with pytest.raises(discord.HTTPException) as refused:
        # discord.py itself refuses a DM message's thread: ask Discord directly
        await bot.http.start_thread_with_message(
            dm, posted["id"], name="no", auto_archive_duration=1440
        )
    assert (refused.value.status, refused.value.code) == (400, 50024)
    assert fake.violations == [f"thread creation in channel {dm} of type 1"]
    fake.violations.clear()


async def test_a_server_without_the_bot_needs_the_members_installation(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    with pytest.raises(PermissionError, match="no installation"):
        await fake.run_command("where", channel_id=fake.foreign_channel_id)
    fake.install_for_user(fake.alice)
    try:
        text = await answered(fake, fake.foreign_channel_id)
        assert text.startswith(f"guild={fake.foreign_guild_id} user_app=True guild_app=False")
        assert bot.interactions[-1].app_permissions.value == USER_APP_PERMISSIONS
        # Commands only a server's installation offers stay out of reach.
        with pytest.raises(PermissionError):
            await fake.run_command("perms", channel_id=fake.foreign_channel_id)
        elsewhere = bot.get_partial_messageable(int(fake.foreign_channel_id))
        with pytest.raises(discord.Forbidden) as refused:
            await elsewhere.send("may I?")
        assert refused.value.code == 50001
        # Members talk there; the bot hears nothing.
        posted = await fake.post_message(fake.foreign_channel_id, "who is there?")
        posted_in_group = await fake.post_message(fake.group_dm_id, "and here?")
        await fake.run_command("where", channel_id=fake.channel_id)  # an event after them
        await fake.wait_for(lambda: len(bot.interactions) >= 2)
        assert int(posted["id"]) not in bot.received
        assert int(posted_in_group["id"]) not in bot.received
    finally:
        fake.user_installs.clear()


async def test_a_group_dm_and_the_follow_up_limit(fake: FakeDiscord, bot: FakeTestBot) -> None:
    fake.install_for_user(fake.bob)
    try:
        interaction = await fake.run_command(
            "where", {"followups": 6}, user=fake.bob, channel_id=fake.group_dm_id, locale="fr"
        )
        await interaction.wait_response()
        assert interaction.original is not None
        assert interaction.original["content"].endswith("private=True locale=fr")
        await fake.wait_for(lambda: bot.failures)
        assert len(interaction.followups) == 5
        (failure,) = bot.failures
        assert failure.status == 400
        assert fake.violations == [
            f"{interaction.describe()}: more than 5 follow-ups where only the member's "
            "installation authorized it"
        ]
    finally:
        fake.violations.clear()
        bot.failures.clear()
        fake.user_installs.clear()


async def test_follow_ups_end_with_the_interaction_token(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    fake.install_for_user(fake.alice)
    try:
        await answered(fake, fake.foreign_channel_id)
        interaction = bot.interactions[-1]
        await interaction.followup.send("still in time")
        fake.interaction_token_ttl = 0.0  # the 15 minutes are over
        with pytest.raises(discord.HTTPException) as expired:
            await interaction.followup.send("too late")
        assert (expired.value.status, expired.value.code) == (401, 50027)
        assert len(fake.violations) == 1
        assert "token used after" in fake.violations[0]
    finally:
        fake.interaction_token_ttl = 15 * 60.0
        fake.violations.clear()
        fake.user_installs.clear()
