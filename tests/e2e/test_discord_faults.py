"""Discord-side failures: no thread allowed, uploads too large, threads locked or deleted."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image

from bot.discord_ui.display import DiscordDisplay
from bot.jobs.records import JobState
from tests.e2e.conftest import Harness
from tests.e2e.helpers import button_labels, custom_id, gallery, job_id, prompt_of, texts
from tests.fakes.fake_discord import CREATE_PUBLIC_THREADS, Disconnect
from tests.fakes.fake_gemini import hang_reply, image_reply
from tests.support import settle


async def test_without_thread_permission_the_result_stays_in_the_channel(
    harness: Harness,
) -> None:
    channel = harness.discord.add_text_channel("no-threads")
    harness.discord.set_bot_permissions(channel, deny=CREATE_PUBLIC_THREADS)
    interaction = await harness.discord.run_command(
        "imagine", {"prompt": "a quiet lake"}, channel_id=channel
    )
    await harness.wait_final(interaction)
    shown = interaction.original
    assert shown is not None
    assert shown["attachments"]
    assert shown["id"] not in harness.discord.threads
    assert any("could not open a thread" in text for text in texts(shown))
    assert gallery(shown)[0]["media"]["url"] == shown["attachments"][0]["url"]  # still shown
    assert "Refine" in button_labels(shown)  # the buttons still carry the conversation
    job = await harness.bot.jobs.store.get_job(job_id(shown))
    assert job is not None
    assert job.state is JobState.DELIVERED
    # Reroll posts its result next to the first one, in the channel.
    before = len(harness.discord.channel_messages(channel))
    await harness.discord.click(shown["id"], custom_id(shown, "Reroll"))
    await harness.discord.wait_for(
        lambda: any(
            m.get("attachments") for m in harness.discord.channel_messages(channel)[before:]
        )
    )
    await settle()


async def test_an_upload_refused_as_too_large_is_shrunk_and_sent_again(harness: Harness) -> None:
    noisy = io.BytesIO()
    Image.effect_noise((400, 400), 90).convert("RGB").save(noisy, "PNG")
    harness.gemini.enqueue(image_reply(image=noisy.getvalue(), delay=0.3))
    interaction = await harness.discord.run_command("imagine", {"prompt": "television static"})
    # The server's limit drops after the interaction told the bot its limit (boosts ending):
    # the upload is refused with 413 and the bot must shrink the image and send it again.
    harness.discord.set_upload_limit(len(noisy.getvalue()) // 2)
    try:
        await harness.wait_final(interaction)
    finally:
        harness.discord.set_upload_limit(10 * 1024 * 1024)
    assert any(r.status == 413 for r in harness.discord.requests)
    assert interaction.original is not None
    (attachment,) = interaction.original["attachments"]
    assert attachment["filename"].endswith(".jpg")
    assert attachment["size"] < len(noisy.getvalue())
    assert gallery(interaction.original)[0]["media"]["url"] == attachment["url"]


async def test_a_locked_thread_sends_new_results_to_the_channel(harness: Harness) -> None:
    interaction = await harness.imagine("a red kite")
    assert interaction.original is not None
    shown, thread = interaction.original, harness.thread_of(interaction)
    harness.discord.archive_thread(thread["id"], locked=True)
    before = len(harness.discord.channel_messages(harness.discord.channel_id))
    await harness.discord.click(shown["id"], custom_id(shown, "Reroll"))
    await harness.discord.wait_for(
        lambda: any(
            m.get("attachments")
            for m in harness.discord.channel_messages(harness.discord.channel_id)[before:]
        )
    )
    await settle()


async def test_a_thread_deleted_mid_job_gets_its_result_in_the_channel(harness: Harness) -> None:
    interaction = await harness.imagine("a green kite")
    thread = harness.thread_of(interaction)
    harness.gemini.enqueue(hang_reply(0.5))
    await harness.say(thread["id"], "make it fly higher")
    await harness.discord.wait_for(
        lambda: harness.gemini.requests[-1].texts() == ["make it fly higher"]
    )
    before = len(harness.discord.channel_messages(harness.discord.channel_id))
    harness.discord.delete_channel(thread["id"])
    await harness.discord.wait_for(
        lambda: any(
            m.get("attachments")
            for m in harness.discord.channel_messages(harness.discord.channel_id)[before:]
        )
    )
    await settle()
    delivered = harness.discord.channel_messages(harness.discord.channel_id)[-1]
    assert prompt_of(delivered) == "make it fly higher"
    assert texts(delivered)[0] == f"<@{harness.discord.alice['id']}>"  # addressed to the member


async def test_a_job_that_outlives_its_interaction_token_still_delivers(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Time is compressed: the token lives half a second, the bot stops using it at 0.2 s.
    monkeypatch.setattr(DiscordDisplay, "token_life", timedelta(seconds=0.2))
    harness.discord.interaction_token_ttl = 0.5
    try:
        harness.gemini.enqueue(image_reply(delay=0.8))
        interaction = await harness.imagine("a patient snail")
    finally:
        harness.discord.interaction_token_ttl = 15 * 60.0
    assert interaction.original is not None
    assert interaction.original["attachments"]
    assert harness.thread_of(interaction)


@pytest.mark.parametrize("drop", ["close", "reset"])
async def test_progress_edits_lost_on_the_network_never_lose_the_image(
    harness: Harness, drop: Disconnect
) -> None:
    # The progress edit of this job loses its connection, and so does the first try to post
    # the result: the paid image is still posted, on the same message, once.
    harness.discord.fail_next("PATCH", r"/messages/@original$", disconnect=drop, times=2)
    harness.gemini.enqueue(image_reply(delay=0.5))
    interaction = await harness.imagine("a kite in a storm")
    assert interaction.original is not None
    assert interaction.original["attachments"]
    assert harness.thread_of(interaction)
    assert interaction.followups == []
    job = await harness.bot.jobs.store.get_job(job_id(interaction.original))
    assert job is not None
    assert job.state is JobState.DELIVERED
    assert job.message_id is not None  # recorded as shown: a restart will not post it again
    edited = f"/{interaction.token}/messages/@original"
    edits = [r for r in harness.discord.requests if r.path.endswith(edited)]
    assert [r.status for r in edits][:2] == [0, 0]  # the two the network lost
    assert edits[-1].status == 200
