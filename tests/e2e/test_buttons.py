"""The buttons on results: what each does, who may press it, and that they outlive restarts."""

from __future__ import annotations

from typing import Any

from bot.jobs.redo import UPSCALE_PROMPT
from tests.e2e.conftest import Harness
from tests.e2e.helpers import (
    button_labels,
    components,
    custom_id,
    details,
    job_id,
    prompt_of,
    thread_history,
    user_texts,
)
from tests.fakes.fake_gemini import hang_reply
from tests.support import settle

Json = dict[str, Any]


async def result(h: Harness, prompt: str = "a paper boat") -> tuple[Json, Json]:
    interaction = await h.imagine(prompt)
    assert interaction.original is not None
    return interaction.original, h.thread_of(interaction)


async def newest_bot_result(h: Harness, channel_id: str, after: int) -> Json:
    """Wait for a new result message (with an image) from the bot in `channel_id`."""
    bot_id = h.discord.bot_user["id"]

    def found() -> Json | None:
        messages = [
            m
            for m in h.discord.channel_messages(channel_id)[after:]
            if m["author"]["id"] == bot_id and m.get("attachments")
        ]
        return messages[-1] if messages else None

    await h.discord.wait_for(found)
    await settle()
    message = found()
    assert message is not None
    return message


async def test_a_result_offers_the_redo_tools(harness: Harness) -> None:
    shown, _ = await result(harness)
    assert button_labels(shown) == ["Reroll", "Refine", "Upscale (redraw) to 2K · $0.10", "Delete"]
    (select,) = [c for c in components(shown) if c.get("type") == 3]
    assert {"Photorealistic", "Watercolor", "Pencil sketch", "3D render", "Pixel art"} <= {
        o["label"] for o in select["options"]
    }


async def test_reroll_makes_a_new_image_of_the_same_prompt_in_the_thread(harness: Harness) -> None:
    shown, thread = await result(harness)
    before = len(harness.discord.channel_messages(thread["id"]))
    clicked = await harness.discord.click(shown["id"], custom_id(shown, "Reroll"))
    await clicked.wait_response()
    rerolled = await newest_bot_result(harness, thread["id"], before)
    request = harness.gemini.requests[-1]
    assert user_texts(request) == ["a paper boat"]  # the same request, without history
    assert request.all_images() == []  # a new image, not an edit of the first one
    assert prompt_of(rerolled) == "a paper boat"
    # The conversation now continues from the new image (the first one stays in its own
    # branch, for Refine on it).
    history = await thread_history(harness.bot.jobs.store, thread["id"])
    assert [c.role for c in history] == ["user", "model"]
    assert history[1].parts
    assert history[1].parts[-1].inline_data
    assert history[1].parts[-1].inline_data.data == harness.discord.attachment_bytes(
        rerolled["attachments"][0]
    )


async def test_refine_asks_what_to_change_and_edits_the_image(harness: Harness) -> None:
    shown, thread = await result(harness)
    before = len(harness.discord.channel_messages(thread["id"]))
    opened = await harness.discord.click(shown["id"], custom_id(shown, "Refine"))
    await opened.wait_response()
    assert opened.callback_type == 9
    submitted = await harness.discord.submit_modal(opened, {"text": "make the boat red"})
    await submitted.wait_response()
    await newest_bot_result(harness, thread["id"], before)
    assert user_texts(harness.gemini.requests[-1]) == ["a paper boat", "make the boat red"]


async def test_refining_an_older_image_edits_that_image(harness: Harness) -> None:
    shown, thread = await result(harness)
    message = await harness.say(thread["id"], "make it night")
    await harness.bot_reply_to(message)
    await settle()
    first_image = [i for role, _, i in harness.gemini.requests[-1].all_images() if role == "model"]
    before = len(harness.discord.channel_messages(thread["id"]))
    opened = await harness.discord.click(shown["id"], custom_id(shown, "Refine"))
    await opened.wait_response()
    await harness.discord.submit_modal(opened, {"text": "add a sail"})
    await newest_bot_result(harness, thread["id"], before)
    request = harness.gemini.requests[-1]
    # A branch from the first image, with the exchange that made it (not "make it night").
    assert user_texts(request) == ["a paper boat", "add a sail"]
    assert [i for role, _, i in request.all_images() if role == "model"] == first_image


async def test_upscale_asks_for_the_next_size_with_the_image(harness: Harness) -> None:
    shown, thread = await result(harness)
    before = len(harness.discord.channel_messages(thread["id"]))
    await harness.discord.click(shown["id"], custom_id(shown, "Upscale (redraw) to 2K · $0.10"))
    upscaled = await newest_bot_result(harness, thread["id"], before)
    request = harness.gemini.requests[-1]
    assert request.image_config["imageSize"] == "2K"
    assert request.texts() == [UPSCALE_PROMPT]
    assert len(request.images()) == 1
    assert details(upscaled)[1] == "2K"
    # In the thread, the next size up is offered with its price.
    assert "Upscale (redraw) to 4K · $0.15" in button_labels(upscaled)


async def test_vary_style_changes_the_prompt(harness: Harness) -> None:
    shown, thread = await result(harness)
    before = len(harness.discord.channel_messages(thread["id"]))
    (select,) = [c for c in components(shown) if c.get("type") == 3]
    await harness.discord.select(shown["id"], select["custom_id"], ["watercolor"])
    styled = await newest_bot_result(harness, thread["id"], before)
    prompt = harness.gemini.requests[-1].texts()[0]
    assert prompt.startswith("a paper boat. Style: ")
    assert "watercolor" in prompt
    assert prompt_of(styled) == prompt


async def test_only_the_owner_changes_a_conversation(harness: Harness) -> None:
    shown, _ = await result(harness)
    before = len(harness.gemini.requests)
    pressed = await harness.discord.click(
        shown["id"], custom_id(shown, "Reroll"), user=harness.discord.bob
    )
    await pressed.wait_response()
    await settle()
    assert pressed.ephemeral
    assert pressed.original is not None
    assert "Only <@" in pressed.original["content"]
    assert len(harness.gemini.requests) == before


async def test_delete_is_for_the_owner_and_moderators(harness: Harness) -> None:
    shown, _ = await result(harness)
    refused = await harness.discord.click(
        shown["id"], custom_id(shown, "Delete"), user=harness.discord.bob
    )
    await refused.wait_response()
    assert refused.ephemeral
    assert shown["id"] in ids(harness.discord.channel_messages(harness.discord.channel_id))
    done = await harness.discord.click(
        shown["id"], custom_id(shown, "Delete"), user=harness.discord.moderator
    )
    await done.wait_response()
    await settle()
    assert shown["id"] not in ids(harness.discord.channel_messages(harness.discord.channel_id))


async def test_buttons_work_after_a_restart(harness: Harness) -> None:
    shown, thread = await result(harness)
    await harness.stop_bot()
    await harness.start_bot()
    before = len(harness.discord.channel_messages(thread["id"]))
    clicked = await harness.discord.click(shown["id"], custom_id(shown, "Reroll"))
    await clicked.wait_response()
    await newest_bot_result(harness, thread["id"], before)
    assert user_texts(harness.gemini.requests[-1]) == ["a paper boat"]


async def test_a_modal_opened_before_a_restart_works_after_it(harness: Harness) -> None:
    shown, thread = await result(harness)
    opened = await harness.discord.click(shown["id"], custom_id(shown, "Refine"))
    await opened.wait_response()
    await harness.stop_bot()
    await harness.start_bot()
    before = len(harness.discord.channel_messages(thread["id"]))
    await harness.discord.submit_modal(opened, {"text": "add a flag"})
    await newest_bot_result(harness, thread["id"], before)
    assert user_texts(harness.gemini.requests[-1])[-1] == "add a flag"


async def test_an_interrupted_job_offers_retry_after_the_restart(harness: Harness) -> None:
    harness.gemini.enqueue(hang_reply(30))
    interaction = await harness.discord.run_command("imagine", {"prompt": "a long job"})
    await interaction.wait_response()
    await harness.discord.wait_for(
        lambda: any("Generating" in (e.get("content") or "") for e in interaction.original_edits)
    )
    await harness.kill_bot()
    harness.gemini.reset()
    await harness.start_bot()
    assert interaction.original is not None
    message_id = interaction.original["id"]
    await harness.discord.wait_for(
        lambda: "Retry" in button_labels(harness.discord.message(message_id))
    )
    notice = harness.discord.message(message_id)
    assert notice["embeds"][0]["title"] == "Interrupted by a restart"
    assert notice["content"] == f"<@{harness.discord.alice['id']}>"
    job = await harness.bot.jobs.store.get_job(job_id(notice))
    assert job is not None
    assert job.state.value == "interrupted"
    clicked = await harness.discord.click(message_id, custom_id(notice, "Retry"))
    await clicked.wait_response()
    await harness.discord.wait_for(lambda: harness.discord.message(message_id)["attachments"])
    await settle()
    assert harness.gemini.requests[-1].texts() == ["a long job"]


async def test_a_button_whose_job_is_gone_says_so(harness: Harness) -> None:
    shown, _ = await result(harness)
    await harness.bot.jobs.store.delete_older_than(10**12)  # retention removed everything
    clicked = await harness.discord.click(shown["id"], custom_id(shown, "Reroll"))
    await clicked.wait_response()
    assert clicked.ephemeral
    assert clicked.original is not None
    assert "no longer stored" in clicked.original["content"]


def ids(messages: list[Json]) -> list[str]:
    return [m["id"] for m in messages]
