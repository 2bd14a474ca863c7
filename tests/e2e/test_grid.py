"""Sizes with their prices, and the 4-up grid: four calls at once as one job with one price,
one message with the images as a gallery, U1-U4 and V1-V4, a blocked call as a placeholder."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from tests.e2e.conftest import REPO, Harness
from tests.e2e.helpers import (
    button_labels,
    card_text,
    custom_id,
    details,
    gallery,
    job_id,
    thread_history,
    user_texts,
)
from tests.e2e.test_workflows import use_workflows
from tests.fakes.fake_discord import FakeInteraction
from tests.fakes.fake_gemini import finish_reply, image_reply
from tests.support import settle

Json = dict[str, Any]


async def four(h: Harness, prompt: str) -> tuple[FakeInteraction, Json]:
    """/imagine count:4: four images cost more than confirm_above_usd, so the price is shown
    first; Generate makes them. The interaction, and its message once the grid is shown."""
    interaction = await h.imagine(prompt, count="4")
    asked = interaction.original
    assert asked is not None
    assert "4 images" in card_text(asked) or "× 4" in card_text(asked)
    assert "Estimated cost: about $0.27" in card_text(asked)
    await h.discord.click(asked["id"], custom_id(asked, "Generate"))
    await h.discord.wait_for(lambda: bool(h.discord.message(asked["id"])["attachments"]))
    await settle()
    return interaction, h.discord.message(asked["id"])


def numbered(message: Json, letter: str) -> list[str]:
    return [label for label in button_labels(message) if re.fullmatch(rf"{letter}\d", label)]


async def test_size_choices_are_the_models_with_prices_and_are_sent(harness: Harness) -> None:
    imagine = next(
        c for c in harness.discord.commands[harness.discord.guild_id] if c["name"] == "imagine"
    )
    size = next(o for o in imagine["options"] if o["name"] == "size")
    assert [(c["name"], c["value"]) for c in size["choices"]] == [
        ("512 · about $0.045 an image", "512"),
        ("1K · about $0.067 an image", "1K"),
        ("2K · about $0.10 an image", "2K"),
        ("4K · about $0.15 an image", "4K"),
    ]
    interaction = await harness.imagine("a tiny stamp", size="512")
    assert harness.gemini.requests[-1].image_config["imageSize"] == "512"
    assert interaction.original is not None
    _, shown_size, _, cost, *_ = details(interaction.original)
    assert (shown_size, cost) == ("512", "$0.045")
    assert "Upscale (redraw) to 1K · $0.068" in button_labels(interaction.original)


async def test_a_workflow_on_another_model_offers_that_models_sizes(
    harness: Harness, tmp_path: Path
) -> None:
    folder = tmp_path / "pro"
    folder.mkdir()
    shutil.copy(REPO / "workflows" / "schema.json", folder)
    text = (REPO / "workflows" / "imagine.json").read_text()
    pro = text.replace('"autoRun": true,', '"autoRun": true, "model": "gemini-3-pro-image",')
    assert pro != text
    (folder / "imagine.json").write_text(pro)
    await use_workflows(harness, folder)

    imagine = next(
        c for c in harness.discord.commands[harness.discord.guild_id] if c["name"] == "imagine"
    )
    size = next(o for o in imagine["options"] if o["name"] == "size")
    assert [(c["name"], c["value"]) for c in size["choices"]] == [
        ("1K · about $0.13 an image", "1K"),  # Gemini 3 Pro Image makes no 512
        ("2K · about $0.13 an image", "2K"),
        ("4K · about $0.24 an image", "4K"),
    ]
    interaction = await harness.imagine("a brass compass", size="2K")
    request = harness.gemini.requests[-1]
    assert request.model == "gemini-3-pro-image"
    assert request.image_config["imageSize"] == "2K"
    assert interaction.original is not None
    _, shown_size, *_ = details(interaction.original)
    assert shown_size == "2K"
    assert "Upscale (redraw) to 4K · $0.24" in button_labels(interaction.original)


async def test_four_images_come_as_one_grid_with_one_price(harness: Harness) -> None:
    harness.gemini.enqueue(
        image_reply(), image_reply(), finish_reply("IMAGE_SAFETY"), image_reply()
    )
    before = len(harness.gemini.requests)
    _, shown = await four(harness, "four owls")
    calls = harness.gemini.requests[before:]
    assert len(calls) == 4
    assert all(user_texts(call) == ["four owls"] for call in calls)  # one image per call
    items = gallery(shown)
    assert len(items) == 4 == len(shown["attachments"])  # one message, one gallery
    gaps = [n for n, item in enumerate(items, start=1) if "was not made" in item["description"]]
    assert len(gaps) == 1  # the blocked call: a placeholder, with its reason
    assert numbered(shown, "U") == [f"U{n}" for n in range(1, 5) if n not in gaps]
    assert numbered(shown, "V") == [f"V{n}" for n in range(1, 5) if n not in gaps]
    cost = details(shown)[3]
    assert cost == "$0.20 for 3 images"  # what came is charged, the blocked call is not
    job = await harness.bot.jobs.store.get_job(job_id(shown))
    assert job is not None
    assert len(job.outputs) == 3


async def test_u_continues_the_thread_from_that_image(harness: Harness) -> None:
    interaction, shown = await four(harness, "four cats")
    pressed = await harness.discord.click(shown["id"], custom_id(shown, "U3"))
    await pressed.wait_response()
    assert pressed.ephemeral
    third = harness.discord.attachment_bytes(shown["attachments"][2])
    thread = harness.thread_of(interaction)
    message = await harness.say(thread["id"], "give it a hat")
    await harness.bot_reply_to(message)
    await settle()
    edit = harness.gemini.requests[-1]
    assert [image for role, _, image in edit.all_images() if role == "model"] == [third]
    history = await thread_history(harness.bot.jobs.store, thread["id"])
    assert [c.role for c in history] == ["user", "model", "user", "model"]


async def test_v_makes_new_variations_of_that_image(harness: Harness) -> None:
    interaction, shown = await four(harness, "four dogs")
    thread = harness.thread_of(interaction)
    before = len(harness.gemini.requests)
    pressed = await harness.discord.click(shown["id"], custom_id(shown, "V2"))
    await pressed.wait_response()

    def posted() -> Json | None:
        found = [m for m in harness.discord.channel_messages(thread["id"]) if m.get("embeds")]
        return found[-1] if found else None

    await harness.discord.wait_for(posted)
    asked = posted()
    assert asked is not None  # four variations cost more than confirm_above_usd: asked first
    assert "Estimated cost: about $0.27" in card_text(asked)
    await harness.discord.click(asked["id"], custom_id(asked, "Generate"))
    await harness.discord.wait_for(
        lambda: bool(harness.discord.message(asked["id"])["attachments"])
    )
    await settle()
    second = harness.discord.attachment_bytes(shown["attachments"][1])
    calls = harness.gemini.requests[before:]
    assert len(calls) == 4  # four new variations
    for call in calls:
        assert [data for _, data in call.images()] == [second]  # of image 2 alone
        assert call.texts()[0].endswith("description: four dogs")
    assert len(gallery(harness.discord.message(asked["id"]))) == 4
