"""A clean shutdown, as the bot's signal handler starts it (`request_shutdown`): new work is
refused with a short answer, the images in progress finish within the grace period, and what
cannot finish goes back in line, in its place, to run after the restart. The real signal to
the real process is in test_startup.py."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.credentials import Credentials, GeminiAuth
from bot.discord_ui.app import ImagineBot
from bot.jobs.intake import RESTARTING
from bot.jobs.records import JobState
from bot.workflows.loader import load_workflows, workflows_directory
from cogs.edit_menu import EDIT_MENU_NAME
from tests.e2e.conftest import Harness, png
from tests.e2e.helpers import custom_id, job_id, user_texts
from tests.fakes.fake_gemini import hang_reply, image_reply
from tests.support import settle


def reply_to(harness: Harness, message: dict[str, Any]) -> str | None:
    """The text of the bot's reply to a member's message, once there is one."""
    for candidate in harness.discord.channel_messages(message["channel_id"]):
        if (candidate.get("message_reference") or {}).get("message_id") == message["id"]:
            return str(candidate["content"])
    return None


async def test_while_stopping_new_work_is_refused_and_the_running_image_is_delivered(
    harness: Harness,
) -> None:
    first = await harness.imagine("a harbour at dawn")
    assert first.original is not None
    thread = harness.thread_of(first)
    harness.gemini.enqueue(image_reply(delay=0.6))
    slow = await harness.discord.run_command("imagine", {"prompt": "a slow one"})
    bot = harness.bot
    await harness.discord.wait_for(lambda: bot.jobs.dispatcher.running == 1)

    bot.request_shutdown()
    refused = await harness.discord.run_command("imagine", {"prompt": "one more"})
    await refused.wait_response()
    assert refused.ephemeral  # answered privately at once, no public "thinking…"
    assert refused.original is not None
    assert refused.original["content"] == RESTARTING
    described = await harness.discord.run_command(
        "describe", {"image": "i"}, attachments={"i": ("cat.png", png(), "image/png")}
    )
    await described.wait_response()
    assert described.ephemeral
    assert described.original is not None
    assert described.original["content"] == RESTARTING
    menu = await harness.discord.run_message_command(EDIT_MENU_NAME, first.original["id"])
    await menu.wait_response()
    assert menu.modal is None  # refused before the member types anything
    assert menu.ephemeral
    assert menu.original is not None
    assert menu.original["content"] == RESTARTING
    message = await harness.say(thread["id"], "make it night-time")
    await harness.discord.wait_for(lambda: reply_to(harness, message) is not None)
    assert reply_to(harness, message) == f"⚠️ {RESTARTING}"
    pressed = await harness.discord.click(first.original["id"], custom_id(first.original, "Reroll"))
    await pressed.wait_response()
    assert pressed.ephemeral
    assert pressed.original is not None
    assert pressed.original["content"] == RESTARTING

    await bot.wait_shut_down()
    assert bot.is_closed()
    assert slow.original is not None
    assert slow.original["attachments"]  # finished and posted within the grace period
    assert len(harness.gemini.requests) == 2  # nothing refused reached Gemini


async def test_what_outlasts_the_grace_period_runs_after_the_restart_in_its_order(
    harness: Harness,
) -> None:
    jobs = harness.settings.jobs.model_copy(update={"shutdown_grace_s": 0.2})
    settings = harness.settings.model_copy(update={"jobs": jobs})
    await harness.stop_bot()
    await harness.start_bot(settings)
    first = await harness.imagine("a lighthouse")
    thread = harness.thread_of(first)
    harness.gemini.enqueue(hang_reply(30))
    edit_a = await harness.say(thread["id"], "add a storm")
    await harness.discord.wait_for(lambda: harness.bot.jobs.dispatcher.running == 1)
    edit_b = await harness.say(thread["id"], "add a ship")  # waits behind the first edit
    await harness.discord.wait_for(lambda: reply_to(harness, edit_b) is not None)  # in line
    store = harness.bot.jobs.store
    (waiting,) = [place.job for place in await store.queue()]
    (job_a,) = await store.jobs_in([JobState.RUNNING])
    assert waiting.seq is not None
    assert job_a.seq is not None
    assert job_a.seq < waiting.seq

    harness.bot.request_shutdown()
    await harness.bot.wait_shut_down()  # within the grace period plus the closing

    await harness.start_bot(settings)
    reply_a = await harness.bot_reply_to(edit_a)
    reply_b = await harness.bot_reply_to(edit_b)
    await settle()
    store = harness.bot.jobs.store
    after_a = await store.get_job(job_a.id)
    after_b = await store.get_job(waiting.id)
    assert after_a is not None
    assert after_b is not None
    assert (after_a.state, after_b.state) == (JobState.DELIVERED, JobState.DELIVERED)
    assert after_a.seq == job_a.seq  # back in its own place, ahead of the second edit
    assert job_id(reply_a) == job_a.id
    assert job_id(reply_b) == after_b.id
    # After the restart the storm ran first; the ship was drawn on top of it.
    *_, hung, storm, ship = harness.gemini.requests
    assert user_texts(hung)[-1] == user_texts(storm)[-1] == "add a storm"
    assert user_texts(ship)[-2:] == ["add a storm", "add a ship"]


async def test_a_signal_while_starting_stops_cleanly_once_started(harness: Harness) -> None:
    await harness.stop_bot()
    credentials = Credentials(harness.discord.token, GeminiAuth(api_key=harness.gemini.api_key))
    settings = harness.settings
    bot = ImagineBot(settings, credentials, load_workflows(workflows_directory(settings), settings))
    started = asyncio.create_task(bot.start(harness.discord.token))
    bot.request_shutdown()  # before setup_hook has even begun
    await asyncio.wait_for(started, 10)  # no error: the start completed, then it stopped
    await bot.wait_shut_down()
    assert bot.is_closed()
    # setup_hook ran to its end, and the shutdown closed what it opened.
    assert await bot.jobs.store.write_problem() == (
        "the database cannot be written: no active connection"
    )
