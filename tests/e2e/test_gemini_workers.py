"""Gemini calls in worker processes ([gemini] worker_processes): the same results as in the
bot's own process, cancellation across the process boundary, and a worker that dies."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e.conftest import Harness, settings_for
from tests.e2e.helpers import answered_content, button_labels, custom_id, user_texts
from tests.fakes.fake_gemini import blocked_prompt, hang_reply, image_reply
from tests.support import settle


@pytest.fixture
async def with_workers(harness: Harness, tmp_path: Path) -> Harness:
    await harness.stop_bot()
    settings = settings_for(
        harness.discord, harness.gemini, tmp_path / "w.db", gemini={"worker_processes": 1}
    )
    await harness.start_bot(settings)
    return harness


async def test_results_history_and_blocks_come_through_a_worker(with_workers: Harness) -> None:
    h = with_workers
    interaction = await h.imagine("a harbour at dawn")
    assert interaction.original is not None
    (attachment,) = interaction.original["attachments"]
    first = h.gemini.requests[-1]
    (made,) = [p["inlineData"][1] for p in answered_content(first)["parts"] if "inlineData" in p]
    assert h.discord.attachment_bytes(attachment) == made  # the bytes, untouched

    thread = h.thread_of(interaction)
    message = await h.say(thread["id"], "add fishing boats")
    reply = await h.bot_reply_to(message)
    assert reply["attachments"]
    second = h.gemini.requests[-1]
    assert user_texts(second) == ["a harbour at dawn", "add fishing boats"]
    (previous,) = [data for role, _, data in second.all_images() if role == "model"]
    assert previous == made  # the history crossed to the worker intact

    h.gemini.enqueue(blocked_prompt("SAFETY"))
    blocked = await h.say(thread["id"], "something flagged")
    report = await h.bot_reply_to(blocked)
    assert report["embeds"][0]["title"] == "Your request was blocked"


async def test_cancel_reaches_the_call_in_the_worker(with_workers: Harness) -> None:
    h = with_workers
    h.gemini.enqueue(hang_reply(30))
    interaction = await h.discord.run_command("imagine", {"prompt": "forever"})
    await interaction.wait_response()
    assert interaction.original is not None
    message_id = interaction.original["id"]
    await h.discord.wait_for(lambda: "🎨" in (h.discord.message(message_id)["content"] or ""))
    message = h.discord.message(message_id)
    clicked = await h.discord.click(message_id, custom_id(message, "Cancel"))
    await clicked.wait_response()
    await h.discord.wait_for(lambda: bool(h.discord.message(message_id)["embeds"]))
    await settle(5)
    assert h.discord.message(message_id)["embeds"][0]["title"] == "Cancelled"
    after = await h.imagine("the next one")
    assert after.original is not None
    assert after.original["attachments"]


async def test_a_worker_that_dies_fails_its_call_with_retry_and_is_replaced(
    with_workers: Harness,
) -> None:
    h = with_workers
    h.gemini.enqueue(hang_reply(30))
    interaction = await h.discord.run_command("imagine", {"prompt": "unlucky"})
    await interaction.wait_response()
    await h.discord.wait_for(lambda: len(h.gemini.requests) == 1)
    pool = h.bot._workers
    assert pool is not None
    pool._workers[0].process.kill()  # the worker dies mid-call (no boundary fake can do it)
    await h.wait_final(interaction)
    shown = interaction.original
    assert shown is not None
    assert "broke off" in shown["embeds"][0]["description"]
    assert button_labels(shown) == ["Retry"]
    h.gemini.enqueue(image_reply())
    clicked = await h.discord.click(shown["id"], custom_id(shown, "Retry"))
    await clicked.wait_response()
    await h.discord.wait_for(lambda: bool(h.discord.message(shown["id"])["attachments"]), 15)
    await settle()
    await asyncio.sleep(0)


async def test_thought_previews_come_through_a_worker(harness: Harness, tmp_path: Path) -> None:
    await harness.stop_bot()
    settings = settings_for(
        harness.discord,
        harness.gemini,
        tmp_path / "w.db",
        gemini={"worker_processes": 1},
        jobs={"thought_previews_s": 0.05},
    )
    await harness.start_bot(settings)
    harness.gemini.stream_pause_s = 0.6
    try:
        interaction = await harness.imagine("a harbour at dawn")
    finally:
        harness.gemini.stream_pause_s = 0.0
    drafts = [
        file
        for r in harness.discord.requests
        if r.method == "PATCH"
        for file in r.files
        if file.filename.startswith("draft.")
    ]
    assert len(drafts) == 1
    assert interaction.original is not None
    (attachment,) = interaction.original["attachments"]
    assert harness.discord.attachment_bytes(attachment) != drafts[0].data
