"""Refinement in threads, photo editing, and a history that survives restarts."""

from __future__ import annotations

import asyncio
import io
from typing import Any

from PIL import Image

from tests.e2e.conftest import Harness, png, settings_for
from tests.e2e.helpers import answered_content, model_contents, prompt_of, user_texts, walk
from tests.fakes.fake_gemini import image_reply
from tests.support import settle

Json = dict[str, Any]


async def start_conversation(h: Harness, prompt: str = "a red fox in a meadow") -> Json:
    interaction = await h.imagine(prompt)
    return h.thread_of(interaction)


async def refine(h: Harness, thread: Json, text: str, **kwargs: Any) -> Json:
    message = await h.say(thread["id"], text, **kwargs)
    reply = await h.bot_reply_to(message)
    await settle()
    return reply


async def test_two_refinements_send_back_the_history_unchanged(harness: Harness) -> None:
    thread = await start_conversation(harness)
    first = harness.gemini.requests[-1]
    reply = await refine(harness, thread, "make it winter")
    second = harness.gemini.requests[-1]
    await refine(harness, thread, "add a wooden cabin")
    third = harness.gemini.requests[-1]

    assert user_texts(second) == ["a red fox in a meadow", "make it winter"]
    # The model's first answer (image, text, thought signatures) comes back exactly.
    assert model_contents(second) == [answered_content(first)]
    assert all("thoughtSignature" in part for part in model_contents(second)[0]["parts"])
    assert user_texts(third) == ["a red fox in a meadow", "make it winter", "add a wooden cabin"]
    assert model_contents(third) == [answered_content(first), answered_content(second)]

    assert prompt_of(reply) == "make it winter"
    assert reply["attachments"][0]["filename"].endswith((".png", ".jpg"))  # as the model made it
    assert reply["message_reference"]["message_id"]  # a reply to the member's message


async def test_a_refinement_works_after_a_restart(harness: Harness) -> None:
    thread = await start_conversation(harness)
    first = harness.gemini.requests[-1]
    await harness.stop_bot()
    await harness.start_bot()  # a new process on the same database

    await refine(harness, thread, "now at night")
    after = harness.gemini.requests[-1]
    assert user_texts(after) == ["a red fox in a meadow", "now at night"]
    assert model_contents(after) == [answered_content(first)]


async def test_quick_replies_are_answered_in_order(harness: Harness) -> None:
    thread = await start_conversation(harness)
    harness.gemini.enqueue(image_reply(delay=0.3), image_reply())
    first = await harness.say(thread["id"], "make it blue")
    second = await harness.say(thread["id"], "now add stars")
    await harness.bot_reply_to(first)
    await harness.bot_reply_to(second)
    await settle()
    requests = harness.gemini.requests[-2:]
    assert user_texts(requests[0])[-1] == "make it blue"
    # The second edit saw the first one's result: the history did not fork.
    assert user_texts(requests[1]) == ["a red fox in a meadow", "make it blue", "now add stars"]
    assert model_contents(requests[1])[-1] == answered_content(requests[0])


async def test_others_in_the_thread_are_ignored_by_default(harness: Harness) -> None:
    thread = await start_conversation(harness)
    before = len(harness.gemini.requests)
    await harness.say(thread["id"], "make it purple", user=harness.discord.bob)
    await asyncio.sleep(0.2)
    await settle()
    assert len(harness.gemini.requests) == before
    bot_id = harness.discord.bot_user["id"]
    replies = [
        m for m in harness.discord.channel_messages(thread["id"]) if m["author"]["id"] == bot_id
    ]
    assert replies == []


async def test_anyone_may_refine_when_configured(harness: Harness, tmp_path: Any) -> None:
    await harness.stop_bot()
    settings = settings_for(
        harness.discord,
        harness.gemini,
        tmp_path / "anyone.db",
        conversations={"who_can_refine": "anyone"},
    )
    await harness.start_bot(settings)
    thread = await start_conversation(harness)
    reply = await refine(harness, thread, "make it purple", user=harness.discord.bob)
    assert prompt_of(reply) == "make it purple"


async def test_a_photo_attached_to_a_reply_joins_that_turn(harness: Harness) -> None:
    thread = await start_conversation(harness)
    photo = png((40, 30), "green")
    await refine(
        harness, thread, "put this hat on the fox", attachments=[("hat.png", photo, "image/png")]
    )
    request = harness.gemini.requests[-1]
    (uploaded,) = request.images()  # the last user turn carries the upload
    assert uploaded[0] == "image/png"
    assert Image.open(io.BytesIO(uploaded[1])).size == (40, 30)
    assert len(model_contents(request)) == 1  # and the previous image is in the history


async def test_a_bad_attachment_on_a_reply_is_explained_and_nothing_is_sent(
    harness: Harness,
) -> None:
    thread = await start_conversation(harness)
    before = len(harness.gemini.requests)
    jobs_before = await count_jobs(harness)
    message = await harness.say(
        thread["id"], "use this", attachments=[("notes.txt", b"just text", "text/plain")]
    )

    def answer() -> Json | None:
        for m in harness.discord.channel_messages(thread["id"]):
            reference = m.get("message_reference") or {}
            if reference.get("message_id") == message["id"] and m["content"].startswith("⚠️"):
                return m
        return None

    await harness.discord.wait_for(answer)
    await settle()
    found = answer()
    assert found is not None
    assert "`notes.txt` is not an image" in found["content"]
    assert len(harness.gemini.requests) == before
    assert await count_jobs(harness) == jobs_before


async def test_imagine_with_photos_edits_them(harness: Harness) -> None:
    first, second = png((64, 48), "blue"), png((20, 20), "yellow")
    interaction = await harness.discord.run_command(
        "imagine",
        {"prompt": "combine these", "image": "a", "image2": "b"},
        attachments={"a": ("a.png", first, "image/png"), "b": ("b.png", second, "image/png")},
    )
    await harness.wait_final(interaction)
    request = harness.gemini.requests[-1]
    sizes = [Image.open(io.BytesIO(data)).size for _, data in request.images()]
    assert sizes == [(64, 48), (20, 20)]
    assert request.texts() == ["combine these"]
    assert harness.thread_of(interaction)


async def test_a_bad_upload_on_imagine_is_answered_privately(harness: Harness) -> None:
    before = len(harness.gemini.requests)
    jobs_before = await count_jobs(harness)
    truncated = png((300, 300), "red")[:200]
    interaction = await harness.discord.run_command(
        "imagine",
        {"prompt": "edit this", "image": "a"},
        attachments={"a": ("broken.png", truncated, "image/png")},
    )
    await harness.wait_final(interaction)
    (answer,) = interaction.followups
    assert answer["flags"] & 64  # ephemeral
    assert "`broken.png` could not be decoded" in answer["content"]
    assert interaction.original is not None
    channel = harness.discord.channel_messages(harness.discord.channel_id)
    assert interaction.original["id"] not in [m["id"] for m in channel]  # "thinking…" removed
    assert len(harness.gemini.requests) == before
    assert await count_jobs(harness) == jobs_before


async def test_edit_with_gemini_from_the_message_menu(harness: Harness) -> None:
    photo = png((50, 50), "purple")
    message = await harness.discord.post_message(
        harness.discord.channel_id, "my cat", attachments=[("cat.png", photo, "image/png")]
    )
    opened = await harness.discord.run_message_command("Edit with Gemini", message["id"])
    await opened.wait_response()
    assert opened.callback_type == 9  # a modal asking what to change
    (field,) = [c for c in walk(opened.modal) if c.get("custom_id") == "text"]
    submitted = await harness.discord.submit_modal(
        opened, {field["custom_id"]: "make it a watercolor"}
    )
    await harness.wait_final(submitted)
    request = harness.gemini.requests[-1]
    assert request.texts() == ["make it a watercolor"]
    (image,) = request.images()
    assert Image.open(io.BytesIO(image[1])).size == (50, 50)
    assert harness.thread_of(submitted)


async def test_edit_with_gemini_needs_an_image(harness: Harness) -> None:
    message = await harness.discord.post_message(harness.discord.channel_id, "no picture here")
    interaction = await harness.discord.run_message_command("Edit with Gemini", message["id"])
    await interaction.wait_response()
    assert interaction.ephemeral
    assert interaction.original is not None
    assert "no image attached" in interaction.original["content"]


async def test_results_fit_the_servers_upload_limit(harness: Harness) -> None:
    noisy = io.BytesIO()
    Image.effect_noise((600, 600), 90).convert("RGB").save(noisy, "PNG")
    assert len(noisy.getvalue()) > 150_000
    harness.discord.set_upload_limit(150_000)
    try:
        harness.gemini.enqueue(image_reply(image=noisy.getvalue()))
        interaction = await harness.imagine("static noise")
    finally:
        harness.discord.set_upload_limit(10 * 1024 * 1024)
    assert interaction.original is not None
    (attachment,) = interaction.original["attachments"]
    assert attachment["filename"].endswith(".jpg")
    assert attachment["size"] <= 150_000
    # Only the posted copy was re-encoded: the conversation goes on from the model's PNG.
    await refine(harness, harness.thread_of(interaction), "make it calmer")
    sent = [data for role, _, data in harness.gemini.requests[-1].all_images() if role == "model"]
    assert sent == [noisy.getvalue()]


async def count_jobs(h: Harness) -> int:
    rows = await h.bot.jobs.store._fetchall("SELECT COUNT(*) FROM jobs")  # type: ignore[attr-defined]
    return int(rows[0][0])


async def test_a_jpeg_labelled_png_is_relabelled_so_the_next_edit_works(harness: Harness) -> None:
    harness.gemini.enqueue(image_reply(mime="image/jpeg", declared_mime="image/png"))
    interaction = await harness.imagine("a mislabelled kite")
    assert interaction.original is not None
    (attachment,) = interaction.original["attachments"]
    assert attachment["filename"].endswith(".jpg")  # posted as what it is
    thread = harness.thread_of(interaction)
    reply = await refine(harness, thread, "make it red")
    assert reply["attachments"]  # the fake refuses a JPEG sent back as image/png
    (previous,) = [
        mime for role, mime, _ in harness.gemini.requests[-1].all_images() if role == "model"
    ]
    assert previous == "image/jpeg"
