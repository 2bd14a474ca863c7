"""The fault matrix: every safety block and every failure, as the member sees it.

For each fault the fake Gemini returns it; the test checks the message shown (what happened,
the reason as given, what to try), the buttons offered, the job's stored state, and that a
Retry afterwards succeeds with the conversation's history intact.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from bot.jobs.pipeline import MAX_ATTEMPTS
from bot.jobs.records import JobState
from tests.e2e.conftest import Harness, settings_for
from tests.e2e.helpers import (
    button_labels,
    custom_id,
    fields,
    is_card,
    job_id,
    prompt_of,
    thread_history,
    user_texts,
    walk,
)
from tests.fakes.fake_gemini import (
    Reply,
    blocked_prompt,
    corrupt_image_reply,
    empty_reply,
    error_reply,
    finish_reply,
    hang_reply,
    no_parts_reply,
    quota_reply,
    raw_reply,
    safety_rating,
    text_reply,
)
from tests.support import settle

Json = dict[str, Any]


async def job_state(h: Harness, message: Json) -> JobState:
    job = await h.bot.jobs.store.get_job(job_id(message))
    assert job is not None
    return job.state


async def retry(h: Harness, message: Json) -> Json:
    """Press Retry on `message` and wait for it to show the new outcome."""
    before = copy.deepcopy(h.discord.message(message["id"]))
    clicked = await h.discord.click(message["id"], custom_id(message, "Retry"))
    await clicked.wait_response()

    def new_outcome() -> bool:
        now = h.discord.message(message["id"])
        return is_card(now) and now != before

    await h.discord.wait_for(new_outcome)
    await settle()
    return h.discord.message(message["id"])


# -- safety ------------------------------------------------------------------------------

PROMPT_BLOCKS = ["SAFETY", "OTHER", "BLOCKLIST", "PROHIBITED_CONTENT", "IMAGE_SAFETY", "JAILBREAK"]
RESPONSE_BLOCKS = [
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_OTHER",
    "IMAGE_RECITATION",
    "NO_IMAGE",
    "SAFETY",
    "PROHIBITED_CONTENT",
    "RECITATION",
    "BLOCKLIST",
    "SPII",
    "OTHER",
    "A_REASON_FROM_THE_FUTURE",
]


@pytest.mark.parametrize("reason", PROMPT_BLOCKS)
async def test_a_blocked_prompt_says_why(harness: Harness, reason: str) -> None:
    harness.gemini.enqueue(
        blocked_prompt(
            reason,
            message="The prompt was blocked.",
            ratings=[safety_rating("HARM_CATEGORY_DANGEROUS_CONTENT", "HIGH", blocked=True)],
        )
    )
    interaction = await harness.imagine("something questionable")
    shown = interaction.original
    assert shown is not None
    embed = shown["embeds"][0]
    assert embed["title"] == "Your request was blocked"
    reason_field = fields(shown)["Reason given by Gemini"]
    assert f"`{reason}`" in reason_field
    assert "The prompt was blocked." in reason_field
    assert "Dangerous content: high (blocked)" in fields(shown)["Safety ratings"]
    assert fields(shown)["What you can do"]
    assert button_labels(shown) == ["Retry", "Edit prompt"]
    assert await job_state(harness, shown) is JobState.BLOCKED
    assert shown["id"] not in harness.discord.threads  # no thread for a block


@pytest.mark.filterwarnings("ignore:.*is not a valid FinishReason")
@pytest.mark.parametrize("reason", RESPONSE_BLOCKS)
async def test_a_withheld_image_says_why_and_retry_succeeds(harness: Harness, reason: str) -> None:
    harness.gemini.enqueue(finish_reply(reason))
    interaction = await harness.imagine("a harmless kitten")
    shown = interaction.original
    assert shown is not None
    assert shown["embeds"][0]["title"] == "No image this time"
    assert f"`{reason}`" in fields(shown)["Reason given by Gemini"]
    assert button_labels(shown) == ["Retry", "Edit prompt"]
    after = await retry(harness, shown)  # a plain retry often passes a false positive
    assert after["attachments"]
    assert after["id"] in harness.discord.threads  # and the conversation starts


async def test_a_refusal_shows_the_models_words(harness: Harness) -> None:
    harness.gemini.enqueue(text_reply("I can't create images of real people."))
    interaction = await harness.imagine("a famous actor")
    assert interaction.original is not None
    said = fields(interaction.original)["Gemini said"]
    assert said == "> I can't create images of real people."


async def test_edit_prompt_reruns_with_the_new_words(harness: Harness) -> None:
    harness.gemini.enqueue(blocked_prompt("SAFETY"))
    interaction = await harness.imagine("a scary thing")
    shown = interaction.original
    assert shown is not None
    opened = await harness.discord.click(shown["id"], custom_id(shown, "Edit prompt"))
    await opened.wait_response()
    assert opened.callback_type == 9
    (text_input,) = [c for c in walk(opened.modal) if c.get("custom_id") == "text"]
    assert text_input["value"] == "a scary thing"  # prefilled with the old prompt
    submitted = await harness.discord.submit_modal(opened, {"text": "a friendly ghost"})
    await submitted.wait_response()
    await harness.discord.wait_for(lambda: harness.discord.message(shown["id"])["attachments"])
    await settle()
    assert harness.gemini.requests[-1].texts() == ["a friendly ghost"]
    assert prompt_of(harness.discord.message(shown["id"])) == "a friendly ghost"


async def test_a_block_in_a_thread_never_poisons_the_history(harness: Harness) -> None:
    interaction = await harness.imagine("a lighthouse")
    thread = harness.thread_of(interaction)
    harness.gemini.enqueue(finish_reply("IMAGE_SAFETY", text="Hmm."))
    message = await harness.say(thread["id"], "add a shipwreck")
    blocked = await harness.bot_reply_to(message)
    await settle()
    assert blocked["embeds"][0]["title"] == "No image this time"
    await retry(harness, blocked)
    # The blocked turn is not in the history sent with the retry.
    assert user_texts(harness.gemini.requests[-1]) == ["a lighthouse", "add a shipwreck"]
    message = await harness.say(thread["id"], "and a storm")
    await harness.bot_reply_to(message)
    await settle()
    assert user_texts(harness.gemini.requests[-1]) == [
        "a lighthouse",
        "add a shipwreck",
        "and a storm",
    ]


# -- failures ----------------------------------------------------------------------------

FAILURES: list[tuple[str, list[Reply], str, bool]] = [
    ("server error", [error_reply(500)] * 3, "internal problem (HTTP 500)", True),
    ("unavailable", [error_reply(503)] * 3, "internal problem (HTTP 503)", True),
    ("malformed", [raw_reply(200, b"{not json")], "could not read", True),
    ("no candidates", [empty_reply()], "empty answer", True),
    ("no parts", [no_parts_reply()], "no image and no text", True),
    ("corrupt image", [corrupt_image_reply()], "cannot be opened", True),
    ("daily quota", [quota_reply("per_day")], "tomorrow", True),
    ("no billing", [quota_reply("no_billing")], "billing", False),
    ("bad key", [error_reply(403, "Permission denied")], "operator", False),
    ("retired model", [error_reply(404, "models/x is not found")], "not available", False),
    (
        "bad request",
        [error_reply(400, "Unsupported aspect ratio")],
        "Unsupported aspect ratio",
        False,
    ),
]


@pytest.mark.parametrize(
    ("name", "replies", "expected", "retryable"), FAILURES, ids=[f[0] for f in FAILURES]
)
async def test_each_failure_is_explained_with_retry_where_it_helps(
    harness: Harness, name: str, replies: list[Reply], expected: str, retryable: bool
) -> None:
    harness.gemini.enqueue(*replies)
    interaction = await harness.imagine("a teapot")
    shown = interaction.original
    assert shown is not None
    embed = shown["embeds"][0]
    assert embed["title"] == "The image could not be made"
    assert expected in embed["description"]
    assert "Traceback" not in embed["description"]
    assert await job_state(harness, shown) is JobState.FAILED
    if not retryable:
        assert button_labels(shown) == []
        return
    assert button_labels(shown) == ["Retry"]
    after = await retry(harness, shown)
    assert after["attachments"]
    assert await job_state(harness, after) is JobState.DELIVERED


async def test_a_per_minute_quota_puts_the_job_back_in_line_until_it_passes(
    harness: Harness,
) -> None:
    harness.gemini.enqueue(error_reply(429, retry_delay=1))
    interaction = await harness.imagine("a patient teapot")
    shown = interaction.original
    assert shown is not None
    assert shown["attachments"]  # no failure: it waited for the quota and ran again
    assert [r.status for r in harness.gemini.requests] == [429, 200]
    texts = [edit.get("content") or "" for edit in interaction.original_edits]
    assert any(text.startswith("⏳ Queued") for text in texts)  # it said it was waiting


async def test_a_job_that_keeps_hitting_the_quota_says_when_to_try_again(
    harness: Harness,
) -> None:
    harness.gemini.enqueue(*[error_reply(429, retry_delay=1)] * MAX_ATTEMPTS)
    interaction = await harness.imagine("an unlucky teapot")
    await harness.wait_final(interaction, timeout=30)
    shown = interaction.original
    assert shown is not None
    assert "Try again in about 1 second" in shown["embeds"][0]["description"]
    assert button_labels(shown) == ["Retry"]
    assert len(harness.gemini.requests) == MAX_ATTEMPTS


async def test_a_time_out_is_explained(harness: Harness, tmp_path: Any) -> None:
    await harness.stop_bot()
    await harness.start_bot(
        settings_for(harness.discord, harness.gemini, tmp_path / "t.db", gemini={"timeout_s": 0.3})
    )
    harness.gemini.enqueue(hang_reply(1.0))
    interaction = await harness.imagine("a slow snail")
    assert interaction.original is not None
    assert "took too long" in interaction.original["embeds"][0]["description"]
    assert button_labels(interaction.original) == ["Retry"]


async def test_an_unreachable_service_is_explained(harness: Harness, tmp_path: Any) -> None:
    await harness.stop_bot()
    await harness.start_bot(
        settings_for(
            harness.discord,
            harness.gemini,
            tmp_path / "u.db",
            gemini={"base_url": "http://127.0.0.1:9"},
        )
    )
    interaction = await harness.imagine("a lost parcel")
    assert interaction.original is not None
    assert "could not reach Gemini" in interaction.original["embeds"][0]["description"]


async def test_a_failed_refinement_keeps_the_thread_usable(harness: Harness) -> None:
    interaction = await harness.imagine("a castle")
    thread = harness.thread_of(interaction)
    harness.gemini.enqueue(*[error_reply(503)] * 3)
    message = await harness.say(thread["id"], "add a moat")
    failed = await harness.bot_reply_to(message)
    await settle()
    assert "HTTP 503" in failed["embeds"][0]["description"]
    after = await retry(harness, failed)
    assert after["attachments"]
    conversation = await harness.bot.jobs.store.get_conversation(int(thread["id"]))
    assert conversation is not None
    history = await thread_history(harness.bot.jobs.store, thread["id"])
    assert [c.role for c in history] == ["user", "model", "user", "model"]


# -- bugs ----------------------------------------------------------------------------------
# No boundary fake can make our own code fail, so these two patch it (and expect the log).


async def test_an_unexpected_error_gets_an_id_to_quote(
    harness: Harness, expect_logged_errors: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(harness.bot.jobs.intake, "submit", broken)
    expect_logged_errors.expected.append(re.compile(r"unexpected error \w+ in /imagine"))
    interaction = await harness.discord.run_command("imagine", {"prompt": "anything"})
    await harness.wait_final(interaction)
    (answer,) = interaction.followups
    assert answer["flags"] & 64
    match = re.search(r"error id: `([a-z2-9]{8})`", answer["content"])
    assert match
    (record,) = expect_logged_errors.records
    assert match.group(1) in record.getMessage()
    assert "a bug" not in answer["content"]


async def test_a_bug_during_generation_still_answers_on_the_message(
    harness: Harness, expect_logged_errors: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("oops")

    monkeypatch.setattr(harness.bot.jobs.pipeline, "_generate", broken)
    expect_logged_errors.expected.append(re.compile(r"unexpected error in job [a-z2-9]{8}"))
    interaction = await harness.imagine("a kettle")
    shown = interaction.original
    assert shown is not None
    assert "went wrong on my side" in shown["embeds"][0]["description"]
    assert button_labels(shown) == ["Retry"]
    (record,) = expect_logged_errors.records
    assert job_id(shown) in record.getMessage()
    monkeypatch.undo()
    after = await retry(harness, shown)
    assert after["attachments"]


async def test_vertex_finish_message_codes_are_named(harness: Harness, tmp_path: Any) -> None:
    # finishMessage only reaches the SDK's objects in Vertex mode (express mode: an API key).
    await harness.stop_bot()
    settings = settings_for(
        harness.discord, harness.gemini, tmp_path / "v.db", gemini={"api_version": ""}
    )
    await harness.start_bot(settings, vertex=True)
    message = "Unable to show the generated image. Support codes: 63429089"
    harness.gemini.enqueue(finish_reply("IMAGE_SAFETY", message=message))
    interaction = await harness.imagine("a beach day")
    assert harness.gemini.requests[-1].path.startswith("/v1beta1/")
    assert interaction.original is not None
    assert fields(interaction.original)["Category"] == "Sexual content"
    assert message in fields(interaction.original)["Reason given by Gemini"]
