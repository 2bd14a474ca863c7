"""The job pipeline as members stress it: chatter, double clicks, odd files, restarts.

Each of these was a defect reproduced end to end (see the job-pipeline issue); each test
failed on the code before the pipeline was rebuilt.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from typing import Any

from tests.e2e.conftest import Harness, png
from tests.e2e.helpers import (
    answered_content,
    custom_id,
    model_contents,
    user_texts,
)
from tests.fakes.fake_gemini import blocked_prompt, hang_reply, image_reply
from tests.support import settle

Json = dict[str, Any]


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    ihdr = b"IHDR" + header
    chunk = struct.pack(">I", len(header)) + ihdr + struct.pack(">I", zlib.crc32(ihdr))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    return b"\x89PNG\r\n\x1a\n" + chunk + end


async def conversation(h: Harness, prompt: str = "a quiet harbour") -> tuple[Json, Json]:
    interaction = await h.imagine(prompt)
    assert interaction.original is not None
    return interaction.original, h.thread_of(interaction)


async def test_chatter_in_the_thread_does_not_break_the_order_of_edits(harness: Harness) -> None:
    _, thread = await conversation(harness)
    harness.gemini.enqueue(image_reply(delay=0.5), image_reply())
    purple = await harness.say(thread["id"], "make the sky purple")
    await asyncio.sleep(0.05)
    await harness.say(thread["id"], "wow", user=harness.discord.bob)
    boat = await harness.say(thread["id"], "add a small red boat")
    await harness.bot_reply_to(purple)
    await harness.bot_reply_to(boat)
    await settle()
    first, second = harness.gemini.requests[-2:]
    assert user_texts(first)[-1] == "make the sky purple"
    assert user_texts(second) == ["a quiet harbour", "make the sky purple", "add a small red boat"]
    assert model_contents(second)[-1] == answered_content(first)  # the purple sky is kept


async def test_a_double_clicked_retry_runs_once(harness: Harness) -> None:
    harness.gemini.enqueue(blocked_prompt("OTHER"))
    interaction = await harness.imagine("a lighthouse")
    shown = interaction.original
    assert shown is not None
    before = len(harness.gemini.requests)
    harness.gemini.enqueue(image_reply(delay=0.3))
    retry = custom_id(shown, "Retry")
    first = await harness.discord.click(shown["id"], retry)
    second = await harness.discord.click(shown["id"], retry)
    await first.wait_response()
    await second.wait_response()
    await harness.discord.wait_for(
        lambda: bool(harness.discord.message(shown["id"])["attachments"])
    )
    await settle()
    assert len(harness.gemini.requests) == before + 1
    answers = [m["content"] for m in (*second.followups, second.original or {}) if m]
    assert any("already" in answer.lower() for answer in answers), answers


async def test_a_decompression_bomb_in_a_thread_is_refused_by_name(harness: Harness) -> None:
    _, thread = await conversation(harness)
    before = len(harness.gemini.requests)
    bomb = png_claiming(20000, 20000)
    assert len(bomb) < 100
    message = await harness.say(
        thread["id"], "use this", attachments=[("huge.png", bomb, "image/png")]
    )

    def answer() -> Json | None:
        for m in harness.discord.channel_messages(thread["id"]):
            reference = m.get("message_reference") or {}
            if reference.get("message_id") == message["id"] and "huge.png" in m["content"]:
                return m
        return None

    await harness.discord.wait_for(answer)
    await settle()
    found = answer()
    assert found is not None
    assert "⚠️" in found["content"]
    assert len(harness.gemini.requests) == before


async def test_upscale_of_an_edited_photo_sends_only_the_result(harness: Harness) -> None:
    photo = png((64, 48), "blue")
    interaction = await harness.discord.run_command(
        "imagine",
        {"prompt": "make it sunny", "image": "a"},
        attachments={"a": ("a.png", photo, "image/png")},
    )
    await harness.wait_final(interaction)
    shown = interaction.original
    assert shown is not None
    (result,) = [
        part["inlineData"][1]
        for part in answered_content(harness.gemini.requests[-1])["parts"]
        if "inlineData" in part
    ]
    thread = harness.thread_of(interaction)
    before = len(harness.discord.channel_messages(thread["id"]))
    await harness.discord.click(shown["id"], custom_id(shown, "Upscale"))
    await harness.discord.wait_for(
        lambda: any(
            m.get("attachments") for m in harness.discord.channel_messages(thread["id"])[before:]
        )
    )
    await settle()
    request = harness.gemini.requests[-1]
    assert [data for _, data in request.images()] == [result]


async def test_a_refine_button_waits_for_the_thread_edit_in_progress(harness: Harness) -> None:
    shown, thread = await conversation(harness)
    harness.gemini.enqueue(image_reply(delay=0.5), image_reply())
    purple = await harness.say(thread["id"], "make the sky purple")
    await asyncio.sleep(0.1)  # the edit is running
    opened = await harness.discord.click(shown["id"], custom_id(shown, "Refine"))
    await opened.wait_response()
    submitted = await harness.discord.submit_modal(opened, {"text": "add a lighthouse"})
    await submitted.wait_response()
    await harness.bot_reply_to(purple)
    await harness.discord.wait_for(lambda: len(harness.gemini.requests) >= 3)
    await settle()
    first, second = harness.gemini.requests[-2:]
    assert user_texts(first)[-1] == "make the sky purple"
    assert user_texts(second)[-2:] == ["make the sky purple", "add a lighthouse"]
    assert model_contents(second)[-1] == answered_content(first)


async def test_waiting_thread_messages_survive_a_restart(harness: Harness) -> None:
    _, thread = await conversation(harness)
    harness.gemini.enqueue(hang_reply(30))
    first = await harness.say(thread["id"], "make it foggy")
    await harness.discord.wait_for(lambda: len(harness.gemini.requests) >= 2)
    second = await harness.say(thread["id"], "add gulls")
    third = await harness.say(thread["id"], "and a sunset")
    await asyncio.sleep(0.2)
    await harness.kill_bot()
    await harness.start_bot()
    reply_two = await harness.bot_reply_to(second, timeout=15)
    reply_three = await harness.bot_reply_to(third, timeout=15)
    await settle()
    texts = [user_texts(r)[-1] for r in harness.gemini.requests[-2:]]
    assert texts == ["add gulls", "and a sunset"]
    assert reply_two["attachments"]
    assert reply_three["attachments"]
    interrupted = await harness.bot_reply_to(first)
    assert "Interrupted" in interrupted["embeds"][0]["title"]
