"""The job pipeline as members stress it: chatter, double clicks, odd files, restarts.

Each of these was a defect reproduced end to end (see the job-pipeline issue); each test
failed on the code before the pipeline was rebuilt.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sqlite3
import struct
import zlib
from pathlib import Path
from typing import Any

from bot.jobs.records import JobState
from tests.e2e.conftest import REPO, Harness, is_final, png, settings_for
from tests.e2e.helpers import (
    answered_content,
    custom_id,
    job_id,
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
    await harness.discord.click(shown["id"], custom_id(shown, "Upscale (redraw) to 2K · $0.10"))
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


async def posted(h: Harness, *prompts: str) -> list[Json]:
    """Run /imagine for each prompt and wait for its result, recorded as shown, not for the
    rest (its thread)."""
    interactions = [await h.discord.run_command("imagine", {"prompt": p}) for p in prompts]
    await h.discord.wait_for(lambda: all(is_final(i) for i in interactions))
    results = [i.original for i in interactions if i.original is not None]
    store = h.bots[-1].jobs.store
    for _ in range(500):  # the store hears of a result just after Discord shows it
        jobs = [await store.get_job(job_id(result)) for result in results]
        if all(job is not None and job.shown_at is not None for job in jobs):
            return results
        await asyncio.sleep(0.01)
    raise AssertionError("the results were not recorded as shown")


async def test_results_do_not_wait_for_threads_discord_paces(harness: Harness) -> None:
    threads_before = len(harness.discord.threads)
    # Discord lets a bot create about 50 threads per 5 minutes; here 1 per 3 s.
    harness.discord.rate_limits.set("thread-create", limit=1, per=3)
    results = await posted(harness, "a blue kite", "a green kite")
    assert len(harness.discord.threads) - threads_before < 2  # the results did not wait
    assert len(results) == 2
    assert all(result["attachments"] for result in results)
    await harness.discord.wait_for(
        lambda: all(r["id"] in harness.discord.threads for r in results), timeout=15
    )
    await settle()
    harness.gemini.enqueue(image_reply())
    edit = await harness.say(harness.discord.threads[results[-1]["id"]]["id"], "make it orange")
    reply = await harness.bot_reply_to(edit)
    assert reply["attachments"]
    assert user_texts(harness.gemini.requests[-1]) == ["a green kite", "make it orange"]


async def test_an_edit_in_a_thread_discord_opened_but_not_yet_answered_for(
    harness: Harness,
) -> None:
    # The call that uses up Discord's allowance returns only when it is back (discord.py
    # waits first); the thread is there at once and a member writes in it.
    harness.discord.rate_limits.set("thread-create", limit=1, per=4)
    (result,) = await posted(harness, "a tin robot")
    await harness.discord.wait_for(lambda: result["id"] in harness.discord.threads)
    harness.gemini.enqueue(image_reply())
    edit = await harness.say(harness.discord.threads[result["id"]]["id"], "give it a hat")
    reply = await harness.bot_reply_to(edit)
    assert reply["attachments"]
    assert user_texts(harness.gemini.requests[-1]) == ["a tin robot", "give it a hat"]
    await settle()  # the opener's late answer changes nothing
    harness.gemini.enqueue(image_reply())
    again = await harness.say(harness.discord.threads[result["id"]]["id"], "and a cane")
    assert (await harness.bot_reply_to(again))["attachments"]
    assert user_texts(harness.gemini.requests[-1])[-2:] == ["give it a hat", "and a cane"]


async def test_a_thread_still_owed_at_a_restart_opens_after_it(harness: Harness) -> None:
    harness.discord.rate_limits.set("thread-create", limit=1, per=300)
    first, owed = await posted(harness, "a paper boat", "a paper plane")
    assert owed["attachments"]
    await harness.discord.wait_for(lambda: first["id"] in harness.discord.threads)
    assert owed["id"] not in harness.discord.threads  # Discord allows no second one yet
    store = harness.bots[-1].jobs.store
    # discord.py has not answered for the first thread yet (it waits for the allowance).
    assert len(await store.threads_owed()) == 2
    await harness.kill_bot()
    harness.discord.rate_limits.reset()  # Discord's allowance is back
    await harness.start_bot()
    await harness.discord.wait_for(lambda: owed["id"] in harness.discord.threads)
    await settle()
    harness.gemini.enqueue(image_reply())
    edit = await harness.say(harness.discord.threads[owed["id"]]["id"], "fold it smaller")
    reply = await harness.bot_reply_to(edit)
    assert reply["attachments"]
    assert user_texts(harness.gemini.requests[-1]) == ["a paper plane", "fold it smaller"]
    assert await harness.bots[-1].jobs.store.threads_owed() == []  # both recorded


async def test_a_thread_a_member_started_first_becomes_the_conversation(
    harness: Harness,
) -> None:
    harness.discord.rate_limits.set("thread-create", limit=1, per=3)
    first, second = await posted(harness, "a glass fish", "a glass bird")
    await harness.discord.wait_for(lambda: first["id"] in harness.discord.threads)
    # While the bot waits for Discord's allowance, a member opens a thread on the result.
    started = harness.discord.member_starts_thread(
        second["id"], "my bird", author=harness.discord.bob
    )
    await settle()  # the bot takes the member's thread for the conversation
    assert [t["owner_id"] for t in harness.discord.threads.values()].count(
        harness.discord.bob["id"]
    ) == 1
    harness.gemini.enqueue(image_reply())
    edit = await harness.say(started["id"], "give it blue wings")
    reply = await harness.bot_reply_to(edit)
    assert reply["attachments"]
    assert user_texts(harness.gemini.requests[-1]) == ["a glass bird", "give it blue wings"]


def progress_shown(h: Harness, message_id: str, prefix: str) -> bool:
    message = h.discord.message(message_id)
    return (message.get("content") or "").startswith(prefix) and bool(message.get("components"))


async def test_cancel_while_queued_never_generates(harness: Harness) -> None:
    harness.gemini.enqueue(image_reply(delay=0.5))
    first = await harness.discord.run_command("imagine", {"prompt": "a slow one"})
    await first.wait_response()
    second = await harness.discord.run_command("imagine", {"prompt": "never mind"})
    await second.wait_response()
    assert second.original is not None
    waiting = second.original["id"]
    # One job per member at a time: the second waits, with a Cancel button.
    await harness.discord.wait_for(lambda: progress_shown(harness, waiting, "⏳ Queued"))
    message = harness.discord.message(waiting)
    clicked = await harness.discord.click(waiting, custom_id(message, "Cancel"))
    await clicked.wait_response()
    await harness.wait_final(first)
    await harness.discord.wait_for(lambda: bool(harness.discord.message(waiting).get("embeds")))
    await settle()
    cancelled = harness.discord.message(waiting)
    assert cancelled["embeds"][0]["title"] == "Cancelled"
    assert [r.texts() for r in harness.gemini.requests] == [["a slow one"]]
    job = await harness.bot.jobs.store.get_job(job_id(cancelled))
    assert job is not None
    assert job.state is JobState.CANCELLED


async def test_cancel_while_running_stops_waiting_for_gemini(harness: Harness) -> None:
    harness.gemini.enqueue(hang_reply(30))
    interaction = await harness.discord.run_command("imagine", {"prompt": "forever"})
    await interaction.wait_response()
    assert interaction.original is not None
    message_id = interaction.original["id"]
    await harness.discord.wait_for(lambda: progress_shown(harness, message_id, "🎨"))
    message = harness.discord.message(message_id)
    clicked = await harness.discord.click(message_id, custom_id(message, "Cancel"))
    await clicked.wait_response()
    await harness.discord.wait_for(lambda: bool(harness.discord.message(message_id)["embeds"]))
    await settle(5)  # the job's task ended: it did not wait 30 s for Gemini
    assert harness.discord.message(message_id)["embeds"][0]["title"] == "Cancelled"
    after = await harness.imagine("the next one")  # the slot is free again
    assert after.original is not None
    assert after.original["attachments"]


async def test_others_cannot_cancel(harness: Harness) -> None:
    harness.gemini.enqueue(image_reply(delay=0.4))
    interaction = await harness.discord.run_command("imagine", {"prompt": "mine"})
    await interaction.wait_response()
    assert interaction.original is not None
    message_id = interaction.original["id"]
    await harness.discord.wait_for(lambda: progress_shown(harness, message_id, "🎨"))
    message = harness.discord.message(message_id)
    refused = await harness.discord.click(
        message_id, custom_id(message, "Cancel"), user=harness.discord.bob
    )
    await refused.wait_response()
    assert refused.ephemeral
    await harness.wait_final(interaction)
    assert harness.discord.message(message_id)["attachments"]


async def test_a_double_clicked_generate_on_a_briefing_runs_once(
    harness: Harness, tmp_path: Path
) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    shutil.copy(REPO / "workflows" / "examples" / "seed-example.json", folder)
    await harness.stop_bot()
    await harness.start_bot(
        settings_for(
            harness.discord, harness.gemini, tmp_path / "b.db", workflows={"directory": folder}
        )
    )
    interaction = await harness.discord.run_command(
        "example-image-workflow", {"user_prompt": "a city of glass and light"}
    )
    await harness.wait_final(interaction)
    assert interaction.original is not None
    shown = interaction.original
    before = len(harness.gemini.requests)
    harness.gemini.enqueue(image_reply(delay=0.3))
    generate = custom_id(shown, "Generate")
    first = await harness.discord.click(shown["id"], generate)
    second = await harness.discord.click(shown["id"], generate)
    await first.wait_response()
    await second.wait_response()
    await harness.discord.wait_for(
        lambda: bool(harness.discord.message(shown["id"])["attachments"])
    )
    await settle()
    assert len(harness.gemini.requests) == before + 1
    answers = [m["content"] for m in (*second.followups, second.original or {}) if m]
    assert any("already" in answer.lower() for answer in answers), answers


async def test_edit_prompt_sent_while_the_retry_runs_is_refused(harness: Harness) -> None:
    harness.gemini.enqueue(blocked_prompt("OTHER"))
    interaction = await harness.imagine("a blocked idea")
    shown = interaction.original
    assert shown is not None
    opened = await harness.discord.click(shown["id"], custom_id(shown, "Edit prompt"))
    await opened.wait_response()
    harness.gemini.enqueue(image_reply(delay=0.4))
    retried = await harness.discord.click(shown["id"], custom_id(shown, "Retry"))
    await retried.wait_response()
    await harness.discord.wait_for(lambda: progress_shown(harness, shown["id"], "🎨"))
    submitted = await harness.discord.submit_modal(opened, {"text": "a different idea"})
    await submitted.wait_response()
    await harness.discord.wait_for(
        lambda: bool(harness.discord.message(shown["id"])["attachments"])
    )
    await settle()
    answers = [m["content"] for m in (*submitted.followups, submitted.original or {}) if m]
    assert any("already running" in answer for answer in answers), answers
    assert [r.texts() for r in harness.gemini.requests[-2:]] == [["a blocked idea"]] * 2


class FailingCommit:
    """The bot's database connection, except that the next COMMIT fails (a full disk)."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.fail = True

    async def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT" and self.fail:
            self.fail = False
            raise sqlite3.OperationalError("database or disk is full")
        return await self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


async def test_a_failed_commit_is_explained_and_the_next_job_works(
    harness: Harness, expect_logged_errors: Any
) -> None:
    expect_logged_errors.expected.append(re.compile("cannot write to the database"))
    store = harness.bot.jobs.store
    real = store._db  # type: ignore[attr-defined]
    store._db = FailingCommit(real)  # type: ignore[attr-defined]
    try:  # with a photo: the job and its upload are written in one transaction
        refused = await harness.discord.run_command(
            "imagine",
            {"prompt": "a lost request", "image": "p"},
            attachments={"p": ("photo.png", png((40, 40)), "image/png")},
        )
        await harness.wait_final(refused)
    finally:
        store._db = real  # type: ignore[attr-defined]
    (answer,) = refused.followups
    assert answer["flags"] & 64
    assert "storage is full" in answer["content"]
    assert harness.gemini.requests == []  # nothing was sent, nothing billed
    after = await harness.imagine("a kept request")
    assert after.original is not None
    assert after.original["attachments"]


async def test_a_burst_over_the_quota_converges_and_every_job_is_delivered(
    harness: Harness,
) -> None:
    # The shipped default: max_concurrent = "auto", starting at 32.
    harness.gemini.limit_requests(8, window_s=1.0)
    await harness.imagine_together(30, "a kite", model_delay_s=0.1)
    # The first wave overshoots (30 asked, 8 allowed); then the bot keeps under the quota
    # instead of hammering it: far fewer refusals than one per attempt.
    refusals = harness.gemini.quota_refusals
    assert 0 < refusals <= 45, refusals
    made = [r for r in harness.gemini.requests if r.status == 200]
    assert len(made) == 30
