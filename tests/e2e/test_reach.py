"""The bot where it is not installed: a member's own installation of the app lets them use
/imagine in DMs, group DMs and servers that never added the bot. There the bot answers only
through the interaction (no thread, no channel access); the conversation goes on with the
buttons and the Refine form; the member's limits apply, no server's."""

from __future__ import annotations

import datetime
import logging
from typing import Any

import pytest

from bot.jobs.records import JobState
from tests.e2e.conftest import Harness, settings_for
from tests.e2e.guard_support import Json, private_text
from tests.e2e.helpers import button_labels, card_text, custom_id, job_id, user_texts
from tests.fakes.fake_discord import FakeDiscord, FakeInteraction
from tests.fakes.fake_gemini import hang_reply
from tests.support import settle

FLASH_1K = 0.067  # one /imagine (the example's default model and size), before input tokens


async def everywhere(h: Harness, **sections: dict[str, Any]) -> None:
    """The bot with global commands (Discord offers guild commands in their guild only)."""
    await h.stop_bot()
    path = h.settings.storage.path
    await h.start_bot(
        settings_for(h.discord, h.gemini, path, discord={"guild_ids": []}, **sections)
    )


async def imagine_in(h: Harness, channel_id: str, prompt: str = "a paper boat") -> FakeInteraction:
    interaction = await h.discord.run_command("imagine", {"prompt": prompt}, channel_id=channel_id)
    await h.wait_final(interaction)
    return interaction


def channel_calls(discord: FakeDiscord, channel_id: str) -> list[str]:
    """The bot's REST calls on a channel (not through an interaction)."""
    return [
        f"{r.method} {r.path} -> {r.status}"
        for r in discord.requests
        if r.path.startswith(f"/channels/{channel_id}")
    ]


async def made_where_absent(h: Harness, **sections: dict[str, Any]) -> Json:
    """A result of alice's /imagine, through her own installation, in a server without the
    bot (global commands); `sections` override settings."""
    await everywhere(h, **sections)
    h.discord.install_for_user(h.discord.alice)
    made = await imagine_in(h, h.discord.foreign_channel_id)
    assert made.original is not None
    return made.original


def refined_result(interaction: FakeInteraction) -> Json:
    """The new message a press answered with (its own response, not the pressed message)."""
    assert interaction.callback_type == 5, interaction.callback_type
    assert interaction.original is not None
    return interaction.original


def by_name(discord: FakeDiscord) -> dict[str, Json]:
    return {command["name"]: command for command in discord.commands[None]}


async def test_commands_say_where_they_are_offered(harness: Harness) -> None:
    await everywhere(harness)
    commands = by_name(harness.discord)
    for name in ("imagine", "edit", "logo", "usage"):
        assert commands[name]["integration_types"] == [0, 1], name
        assert commands[name]["contexts"] == [0, 1, 2], name
    # These need the bot in the server: the server's installation, in servers only.
    for name in ("admin", "Edit with Gemini"):
        assert commands[name]["integration_types"] == [0], name
        assert commands[name]["contexts"] == [0], name


async def test_imagine_in_a_dm_with_the_bot(harness: Harness) -> None:
    await everywhere(harness)
    threads = len(harness.discord.threads)
    interaction = await imagine_in(harness, harness.discord.dm_channel(harness.discord.alice))
    shown = interaction.original
    assert shown is not None
    assert shown["attachments"]
    assert "press Refine" in card_text(shown)
    assert "Refine" in button_labels(shown)
    assert len(harness.discord.threads) == threads  # no thread in a DM
    job = await harness.bot.jobs.store.get_job(job_id(shown))
    assert job is not None
    assert job.guild_id is None
    assert job.state is JobState.DELIVERED


async def test_the_members_installation_reaches_a_server_without_the_bot(
    harness: Harness,
) -> None:
    await everywhere(harness)
    discord = harness.discord
    with pytest.raises(PermissionError, match="no installation"):
        await discord.run_command(
            "imagine", {"prompt": "a paper boat"}, channel_id=discord.foreign_channel_id
        )
    discord.install_for_user(discord.alice)
    threads = len(discord.threads)
    interaction = await imagine_in(harness, discord.foreign_channel_id)
    assert interaction.original is not None
    assert interaction.original["attachments"]
    assert "press Refine" in card_text(interaction.original)
    assert len(discord.threads) == threads
    # Everything went through the interaction: the bot never tried the channel itself.
    assert channel_calls(discord, discord.foreign_channel_id) == []
    job = await harness.bot.jobs.store.get_job(job_id(interaction.original))
    assert job is not None
    assert job.guild_id is None


async def test_imagine_in_a_group_dm_needs_the_members_installation(harness: Harness) -> None:
    await everywhere(harness)
    discord = harness.discord
    with pytest.raises(PermissionError):
        await discord.run_command("imagine", {"prompt": "a kite"}, channel_id=discord.group_dm_id)
    discord.install_for_user(discord.alice)
    interaction = await imagine_in(harness, discord.group_dm_id, "a kite")
    assert interaction.original is not None
    assert interaction.original["attachments"]
    assert channel_calls(discord, discord.group_dm_id) == []


async def test_refine_by_form_where_the_bot_is_absent(harness: Harness) -> None:
    discord = harness.discord
    shown = await made_where_absent(harness)
    for n, change in enumerate(["make the boat red", "add a sail"], start=2):
        opened = await discord.click(shown["id"], custom_id(shown, "Refine"))
        await opened.wait_response()
        assert opened.callback_type == 9  # the form
        submitted = await discord.submit_modal(opened, {"text": change})
        await harness.wait_final(submitted)
        shown = refined_result(submitted)
        assert shown["attachments"]
        assert "Refine" in button_labels(shown)
        # The history is the jobs': each change sees the ones before it.
        texts = user_texts(harness.gemini.requests[-1])
        assert texts == ["a paper boat", "make the boat red", "add a sail"][:n]
    assert channel_calls(discord, discord.foreign_channel_id) == []


async def test_reroll_and_delete_where_the_bot_is_absent(harness: Harness) -> None:
    discord = harness.discord
    first = await made_where_absent(harness)
    pressed = await discord.click(first["id"], custom_id(first, "Reroll"))
    await harness.wait_final(pressed)
    rerolled = refined_result(pressed)
    assert rerolled["attachments"]
    assert rerolled["id"] != first["id"]
    deleted = await discord.click(rerolled["id"], custom_id(rerolled, "Delete"))
    await deleted.wait_response()
    await settle()
    assert "Deleted" in private_text(deleted)
    assert rerolled["id"] not in {m["id"] for m in discord.channel_messages(rerolled["channel_id"])}
    assert channel_calls(discord, discord.foreign_channel_id) == []


async def test_member_limits_apply_outside_servers_and_server_limits_do_not(
    harness: Harness,
) -> None:
    # A server cap below one image, and one image a day per member.
    await everywhere(harness, quotas={"guild_daily_usd": FLASH_1K / 2, "member_daily_images": 1})
    discord = harness.discord
    discord.install_for_user(discord.alice)
    refused = await imagine_in(harness, discord.channel_id)
    assert "this server has only" in private_text(refused)
    made = await imagine_in(harness, discord.foreign_channel_id)
    assert made.original is not None
    assert made.original["attachments"]
    # The member's one image outside the bot's servers is used, in a DM as anywhere else.
    again = await imagine_in(harness, discord.dm_channel(discord.alice))
    assert private_text(again).startswith("You have used 1 of your 1 images today")
    assert len(harness.gemini.requests) == 1
    # /usage where the bot is absent: the member's day there, without a server's.
    usage = await discord.run_command("usage", channel_id=discord.foreign_channel_id)
    await discord.wait_for(lambda: private_text(usage))
    assert "Images: 1 of 1" in private_text(usage)
    assert "server" not in private_text(usage)


async def test_a_result_after_the_interaction_expired_is_kept_not_retried(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await everywhere(harness)
    discord = harness.discord
    discord.install_for_user(discord.alice)
    harness.bot.jobs.display.token_life = datetime.timedelta(seconds=0.3)
    harness.gemini.enqueue(hang_reply(0.6))
    interaction = await discord.run_command(
        "imagine", {"prompt": "a slow boat"}, channel_id=discord.foreign_channel_id
    )
    await interaction.wait_response()
    with caplog.at_level(logging.WARNING, logger="bot.jobs.pipeline"):
        await discord.wait_for(lambda: len(harness.gemini.requests) == 1)
        await settle()
    (job,) = [j for j in await harness.bot.jobs.store.jobs_in([JobState.DELIVERED])]
    assert job.shown_at is not None  # not posted again after a restart
    assert "cannot be shown" in caplog.text
    assert [c.split(" -> ")[1] for c in channel_calls(discord, discord.foreign_channel_id)] == [
        "403"
    ]


async def test_a_refused_refine_leaves_no_empty_message_behind(harness: Harness) -> None:
    discord = harness.discord
    shown = await made_where_absent(harness, quotas={"member_daily_images": 1})
    opened = await discord.click(shown["id"], custom_id(shown, "Refine"))
    await opened.wait_response()
    submitted = await discord.submit_modal(opened, {"text": "make the boat red"})
    await discord.wait_for(lambda: private_text(submitted))
    await settle()
    assert private_text(submitted).startswith("You have used 1 of your 1 images today")
    # The public "thinking…" that answered the form is gone: only the private answer is left.
    assert submitted.callback_type == 5
    assert submitted.original is not None
    assert submitted.original["id"] not in {
        m["id"] for m in discord.channel_messages(discord.foreign_channel_id)
    }
    assert len(harness.gemini.requests) == 1
