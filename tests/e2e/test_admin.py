"""Access, blocked terms, /admin and the moderation log through the real bot: refusals are
private (a reply in a thread), record nothing and send nothing to Gemini; each /admin
subcommand does what it says; copies reach the moderators, and a moderation channel the bot
cannot post in never stops an image."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from bot.jobs.access import BLOCKED_TERM, NOT_ENABLED
from bot.jobs.guard import BANNED
from bot.jobs.records import JobState
from tests.e2e.conftest import REPO, Harness
from tests.e2e.guard_support import Json, ask, command, private_text, restart, shown_publicly
from tests.e2e.helpers import custom_id, job_id
from tests.fakes.fake_discord import SEND_MESSAGES, FakeInteraction
from tests.fakes.fake_gemini import blocked_prompt, image_reply
from tests.support import settle


async def busy_and_waiting(h: Harness) -> tuple[FakeInteraction, FakeInteraction]:
    """Bob's request being made (slowly) and Alice's waiting behind it (one slot)."""
    await restart(h, jobs={"max_concurrent": 1})
    d = h.discord
    h.gemini.enqueue(image_reply(delay=0.5))
    busy = await d.run_command("imagine", {"prompt": "slow"}, user=d.bob)
    await d.wait_for(lambda: "Generating" in shown_text(busy))
    waiting = await d.run_command("imagine", {"prompt": "waits"})
    await d.wait_for(lambda: "Queued" in shown_text(waiting))
    return busy, waiting


def shown_text(interaction: FakeInteraction) -> str:
    return interaction.original["content"] if interaction.original else ""


def replies_to(h: Harness, message: Json) -> list[Json]:
    return [
        m
        for m in h.discord.channel_messages(message["channel_id"])
        if (m.get("message_reference") or {}).get("message_id") == message["id"]
    ]


async def nothing_recorded(h: Harness) -> bool:
    return await h.bot.jobs.store.jobs_in(list(JobState)) == []


# Access -------------------------------------------------------------------------------------


async def test_outside_the_allowed_channels_commands_refuse_and_threads_are_ignored(
    harness: Harness,
) -> None:
    d = harness.discord
    made = await harness.imagine("a harbour")
    thread = harness.thread_of(made)
    art = d.add_text_channel("art")
    await restart(harness, access={"channel_ids": [int(art)]})
    before = len(harness.gemini.requests)

    refused = await command(harness, "imagine", {"prompt": "a ship"})
    assert private_text(refused) == NOT_ENABLED
    assert not shown_publicly(refused, harness)
    ignored = await harness.say(thread["id"], "make it night")
    await settle()
    assert replies_to(harness, ignored) == []
    assert len(harness.gemini.requests) == before

    assert made.original is not None
    menu = await d.run_message_command("Edit with Gemini", made.original["id"])
    await menu.wait_response()
    assert private_text(menu) == NOT_ENABLED  # refused before the form opens
    assert menu.modal is None
    reroll = await d.click(made.original["id"], custom_id(made.original, "Reroll"))
    await reroll.wait_response()
    await settle()
    assert private_text(reroll) == NOT_ENABLED
    assert len(harness.gemini.requests) == before

    allowed = await harness.discord.run_command("imagine", {"prompt": "a ship"}, channel_id=art)
    await harness.wait_final(allowed)
    assert allowed.original is not None
    assert allowed.original["attachments"]

    await restart(harness, access={"channel_ids": [int(d.channel_id)]})
    followed = await harness.say(thread["id"], "make it night")  # a thread follows its channel
    assert (await harness.bot_reply_to(followed))["attachments"]


async def test_only_members_with_an_allowed_role_can_use_the_bot(harness: Harness) -> None:
    d = harness.discord
    artists = d.add_role("Artists")
    await d.wait_for(lambda: harness.bot.guilds[0].get_role(int(artists)) is not None)
    anyone = {"who_can_refine": "anyone"}  # so others' presses reach the access check
    await restart(harness, access={"role_ids": [int(artists)]}, conversations=anyone)
    refused = await command(harness, "imagine", {"prompt": "a ship"})
    assert private_text(refused) == NOT_ENABLED
    assert await nothing_recorded(harness)
    d.give_role(d.alice, artists)
    allowed = await harness.imagine("a ship")
    assert allowed.original is not None
    assert allowed.original["attachments"]
    reroll = await d.click(
        allowed.original["id"], custom_id(allowed.original, "Reroll"), user=d.bob
    )
    await reroll.wait_response()
    await settle()
    assert private_text(reroll) == NOT_ENABLED  # buttons too
    assert len(harness.gemini.requests) == 1


async def test_in_a_server_that_is_not_allowed_nothing_works(harness: Harness) -> None:
    await restart(harness, access={"guild_ids": [123]})
    d = harness.discord
    for name, user in (("imagine", d.alice), ("usage", d.alice), ("admin queue", d.owner)):
        options: dict[str, object] | None = {"prompt": "a ship"} if name == "imagine" else None
        answered = await command(harness, name, options, user=user)
        assert private_text(answered) == NOT_ENABLED, name
    assert harness.gemini.requests == []


async def test_a_blocked_term_is_refused_before_any_call(harness: Harness) -> None:
    made = await harness.imagine("a harbour")
    await restart(harness, access={"blocked_terms": ["gore", "blood bath"]})
    before = len(harness.gemini.requests)
    refused = await command(harness, "imagine", {"prompt": "a GORE scene"})
    assert private_text(refused) == BLOCKED_TERM
    assert "gore" not in private_text(refused).lower()  # no term is named
    message = await harness.say(harness.thread_of(made)["id"], "add a blood  bath")
    await settle()
    (reply,) = replies_to(harness, message)
    assert reply["content"] == f"⚠️ {BLOCKED_TERM}"
    shown = made.original
    assert shown is not None
    opened = await harness.discord.click(shown["id"], custom_id(shown, "Refine"))
    await opened.wait_response()
    refine = await harness.discord.submit_modal(opened, {"text": "more gore"})
    await refine.wait_response()
    await settle()
    assert private_text(refine) == BLOCKED_TERM
    assert len(harness.gemini.requests) == before


# /admin -------------------------------------------------------------------------------------


async def test_admin_is_only_for_members_who_manage_the_server(harness: Harness) -> None:
    with pytest.raises(PermissionError, match="cannot use /admin"):
        await harness.discord.run_command("admin queue", user=harness.discord.moderator)
    answered = await command(harness, "admin queue", user=harness.discord.owner)
    assert "**Waiting (0)**" in private_text(answered)


async def test_admin_quota_sets_lists_and_clears_limits(harness: Harness) -> None:
    d = harness.discord
    artists = d.add_role("Artists")
    await d.wait_for(lambda: harness.bot.guilds[0].get_role(int(artists)) is not None)
    limit = {"limit": "member_daily_images"}
    set_alice = await command(
        harness, "admin quota", {**limit, "member": d.alice, "value": 1}, user=d.owner
    )
    assert private_text(set_alice) == f"Set: images per day for <@{d.alice['id']}> is now 1."
    await harness.imagine("one")
    refused = await command(harness, "imagine", {"prompt": "two"})
    assert "You have used 1 of your 1 images today" in private_text(refused)

    listed = private_text(await command(harness, "admin quota", user=d.owner))
    assert f"<@{d.alice['id']}>: images per day 1" in listed
    assert "images per day: no limit" in listed  # the settings' default

    both = await command(
        harness, "admin quota", {**limit, "member": d.alice, "role": artists}, user=d.owner
    )
    assert private_text(both) == "Give a limit and either a member or a role (not both)."
    cleared = await command(harness, "admin quota", {**limit, "member": d.alice}, user=d.owner)
    assert private_text(cleared).startswith("Cleared:")
    await harness.imagine("two")
    assert len(harness.gemini.requests) == 2

    await command(harness, "admin quota", {**limit, "role": artists, "value": 5}, user=d.owner)
    await restart(harness, quotas={"member_daily_images": 2})
    await harness.imagine("three", user=d.bob)
    await harness.imagine("four", user=d.bob)
    assert "of your 2 images" in private_text(
        await command(harness, "imagine", {"prompt": "x"}, user=d.bob)
    )
    d.give_role(d.bob, artists)  # the role's 5 beat the default's 2
    allowed = await harness.imagine("five", user=d.bob)
    assert allowed.original is not None
    assert allowed.original["attachments"]


async def test_pause_holds_waiting_jobs_and_resume_starts_them(harness: Harness) -> None:
    d = harness.discord
    busy, waiting = await busy_and_waiting(harness)
    paused = await command(harness, "admin pause", {"message": "Back after six."}, user=d.owner)
    assert "1 waiting request(s) keep their place" in private_text(paused)
    assert waiting.original is not None
    message_id = waiting.original["id"]
    await d.wait_for(
        lambda: "paused in this server: Back after six." in d.message(message_id)["content"]
    )
    assert busy.original is not None
    assert d.message(busy.original["id"])["attachments"]  # the one being made finished
    assert len(harness.gemini.requests) == 1
    refused = await command(harness, "imagine", {"prompt": "new"}, user=d.bob)
    assert private_text(refused) == "⏸️ The bot is paused in this server: Back after six."

    resumed = await command(harness, "admin resume", user=d.owner)
    assert private_text(resumed).startswith("Resumed")
    await d.wait_for(lambda: bool(d.message(message_id)["attachments"]))
    await settle()
    assert len(harness.gemini.requests) == 2


async def test_ban_cancels_waiting_requests_and_refuses_new_ones(harness: Harness) -> None:
    d = harness.discord
    made = await harness.imagine("a harbour")
    _, waiting = await busy_and_waiting(harness)
    banned = await command(
        harness, "admin ban", {"member": d.alice, "reason": "spam"}, user=d.owner
    )
    assert private_text(banned) == (
        f"<@{d.alice['id']}> can no longer use the bot in this server; 1 of their request(s) "
        "were cancelled."
    )
    assert waiting.original is not None
    assert d.message(waiting.original["id"])["embeds"][0]["title"] == "Cancelled"
    refused = await command(harness, "imagine", {"prompt": "again"})
    assert private_text(refused) == BANNED
    message = await harness.say(harness.thread_of(made)["id"], "make it night")
    await settle()
    (reply,) = replies_to(harness, message)
    assert reply["content"] == f"⚠️ {BANNED}"

    await command(harness, "admin unban", {"member": d.alice}, user=d.owner)
    allowed = await harness.imagine("welcome back")
    assert allowed.original is not None
    assert allowed.original["attachments"]


async def test_admin_queue_lists_jobs_and_admin_cancel_stops_any(harness: Harness) -> None:
    d = harness.discord
    _, waiting = await busy_and_waiting(harness)
    jobs = await harness.bot.jobs.store.jobs_in([JobState.QUEUED, JobState.RUNNING])
    running_id, waiting_id = (
        next(j.id for j in jobs if j.state is state)
        for state in (JobState.RUNNING, JobState.QUEUED)
    )

    listed = private_text(await ask(harness, "admin queue", user=d.owner))
    assert "**Being made (1)**" in listed
    assert f"`{running_id}` <@{d.bob['id']}> imagine" in listed
    assert f"1. `{waiting_id}` <@{d.alice['id']}> imagine" in listed

    unknown = await ask(harness, "admin cancel", {"job": "zzzzzzzz"}, user=d.owner)
    assert private_text(unknown) == "There is no job `zzzzzzzz` in this server."
    cancelled = await ask(harness, "admin cancel", {"job": waiting_id}, user=d.owner)
    assert private_text(cancelled) == f"Cancelled `{waiting_id}`; its message says so."
    assert waiting.original is not None
    card = d.message(waiting.original["id"])["embeds"][0]
    assert card["title"] == "Cancelled"
    assert f"<@{d.owner['id']}>" in card["description"]
    await settle()
    assert len(harness.gemini.requests) == 1
    assert job_id(d.message(waiting.original["id"])) == waiting_id


async def test_admin_reload_swaps_the_workflows_or_reports_their_problems(
    harness: Harness, tmp_path: Path
) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    shutil.copy(REPO / "workflows" / "imagine.json", folder / "imagine.json")
    await restart(harness, workflows={"directory": folder})
    d = harness.discord
    sketch = (folder / "imagine.json").read_text().replace('"imagine"', '"sketch"')
    (folder / "sketch.json").write_text(sketch)

    reloaded = await command(harness, "admin reload", user=d.owner)
    assert private_text(reloaded) == "Reloaded: /imagine, /sketch."
    made = await d.run_command("sketch", {"prompt": "a cat"})
    await harness.wait_final(made)
    assert made.original is not None
    assert made.original["attachments"]

    (folder / "sketch.json").write_text('{"id": "sketch", "name": oops}')
    broken = await command(harness, "admin reload", user=d.owner)
    assert "have problems, so nothing changed" in private_text(broken)
    assert "sketch.json: line 1" in private_text(broken)
    still = await d.run_command("sketch", {"prompt": "a dog"})  # the commands work as before
    await harness.wait_final(still)
    assert still.original is not None

    (folder / "sketch.json").unlink()
    await command(harness, "admin reload", user=d.owner)
    with pytest.raises(AssertionError, match=r"'sketch' .* is not synced"):
        await d.run_command("sketch", {"prompt": "gone"})


# Moderation log -----------------------------------------------------------------------------


async def test_the_moderators_get_copies_of_results_and_blocks(harness: Harness) -> None:
    d = harness.discord
    log_channel = d.add_text_channel("mod-log")
    await restart(
        harness,
        moderation={"log_channel_id": int(log_channel)},
        access={"blocked_terms": ["gore"]},
    )
    made = await harness.imagine("a lighthouse")
    harness.gemini.enqueue(blocked_prompt("OTHER"))
    await harness.imagine("a storm")
    await command(harness, "imagine", {"prompt": "gore"})

    result, block, refused = d.channel_messages(log_channel)
    assert made.original is not None
    embed = result["embeds"][0]
    assert (embed["title"], embed["description"]) == ("Result", "a lighthouse")
    copied = {f["name"]: f["value"] for f in embed["fields"]}
    assert copied["Member"] == f"<@{d.alice['id']}> ({d.alice['id']})"
    assert copied["Job"].startswith(f"`{job_id(made.original)}`")
    assert copied["Cost"].startswith("about $0.06")
    assert d.attachment_bytes(result["attachments"][0]) == d.attachment_bytes(
        made.original["attachments"][0]
    )
    assert block["embeds"][0]["title"] == "Blocked by Gemini"
    assert refused["embeds"][0]["title"] == "Prompt refused: blocked term"
    assert refused["embeds"][0]["description"] == "gore"


async def test_a_moderation_channel_the_bot_cannot_post_in_never_stops_an_image(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    d = harness.discord
    log_channel = d.add_text_channel("mod-log")
    d.set_bot_permissions(log_channel, deny=SEND_MESSAGES)
    await restart(harness, moderation={"log_channel_id": int(log_channel)})
    with caplog.at_level(logging.WARNING, logger="bot.discord_ui.moderation"):
        first = await harness.imagine("a lighthouse")
        second = await harness.imagine("a harbour")
    for made in (first, second):
        assert made.original is not None
        assert made.original["attachments"]
    assert d.channel_messages(log_channel) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # said once, not for every image
    assert "missing permissions" in warnings[0]
