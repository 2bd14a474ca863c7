"""/describe end to end: a text model reads the image and answers with four prompts (JSON),
shown as a Components V2 card with an Imagine button each; the buttons go through the guard
rails and outlive restarts."""

from __future__ import annotations

import io
import time
from typing import Any

from PIL import Image

from bot.jobs.describe import INSTRUCTION
from tests.e2e.conftest import Harness
from tests.e2e.guard_support import private_text
from tests.e2e.helpers import V2, button_labels, custom_id, details, job_id, prompt_of, texts, walk
from tests.fakes.fake_discord import FakeInteraction
from tests.fakes.fake_gemini import prompts_reply, text_reply
from tests.support import settle

Json = dict[str, Any]
PROMPTS = [
    "A red fox asleep in fresh snow, soft morning light, telephoto photograph",
    "A red fox curled up in a snowy forest, watercolour with loose washes",
    "Close-up of a sleeping fox in snow, blue hour, cinematic",
    "A fox in the snow, minimalist flat illustration, warm orange and cool white",
]


def wide_photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 180), "teal").save(buffer, "JPEG")
    return buffer.getvalue()


async def describe(h: Harness, **kwargs: Any) -> FakeInteraction:
    interaction = await h.discord.run_command(
        "describe",
        {"image": "p"},
        attachments={"p": ("fox.jpg", wide_photo(), "image/jpeg")},
        **kwargs,
    )
    await h.wait_final(interaction)
    return interaction


async def test_describe_answers_with_four_prompts_and_a_button_each(harness: Harness) -> None:
    harness.gemini.enqueue(prompts_reply(PROMPTS))
    interaction = await describe(harness)

    request = harness.gemini.requests[-1]
    assert request.model == "gemini-3-flash"
    config = request.generation_config
    assert config["responseModalities"] == ["TEXT"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["minItems"] == config["responseJsonSchema"]["maxItems"] == 4
    assert "imageConfig" not in config
    assert request.texts() == [INSTRUCTION]
    assert len(request.images()) == 1

    card = interaction.original
    assert card is not None
    assert card["flags"] & V2
    (thumbnail,) = [c for c in walk(card["components"]) if c.get("type") == 11]
    assert thumbnail["media"]["url"] == card["attachments"][0]["url"]
    shown = [t for t in texts(card) if t.startswith("**")]
    assert shown == [f"**{n}.** {prompt}" for n, prompt in enumerate(PROMPTS, start=1)]
    assert button_labels(card).count("Imagine") == 4
    model, cost, *_ = details(card)
    assert model == "Gemini 3 Flash"
    assert cost.startswith("$0.0")


async def test_imagine_on_a_prompt_makes_that_image_for_whoever_presses(harness: Harness) -> None:
    harness.gemini.enqueue(prompts_reply(PROMPTS))
    card = (await describe(harness)).original
    assert card is not None
    await harness.stop_bot()  # the prompts come from the store
    await harness.start_bot()
    channel = harness.discord.channel_id
    before = len(harness.discord.channel_messages(channel))
    second = [c for c in walk(card["components"]) if c.get("custom_id", "").startswith("desc:2:")]
    pressed = await harness.discord.click(
        card["id"], second[0]["custom_id"], user=harness.discord.bob
    )
    await pressed.wait_response()

    def made() -> Json | None:
        found = [
            m for m in harness.discord.channel_messages(channel)[before:] if m.get("attachments")
        ]
        return found[-1] if found else None

    await harness.discord.wait_for(made)
    await settle()
    result = made()
    assert result is not None
    request = harness.gemini.requests[-1]
    assert request.model == "gemini-3.1-flash-image"
    assert request.texts() == [PROMPTS[1]]
    assert request.image_config["aspectRatio"] == "16:9"  # the shape of the image described
    assert prompt_of(result) == PROMPTS[1]
    assert result["id"] in harness.discord.threads  # a conversation of its own
    conversation = await harness.bot.jobs.store.get_conversation(int(result["id"]))
    assert conversation is not None
    assert conversation.owner_id == int(harness.discord.bob["id"])


async def test_an_answer_without_prompts_fails_with_retry(harness: Harness) -> None:
    harness.gemini.enqueue(text_reply('{"not": "a list"}'))
    card = (await describe(harness)).original
    assert card is not None
    assert "did not answer with prompts" in card["embeds"][0]["description"]
    assert "Retry" in button_labels(card)
    clicked = await harness.discord.click(card["id"], custom_id(card, "Retry"))
    await clicked.wait_response()
    await harness.discord.wait_for(lambda: bool(harness.discord.message(card["id"])["flags"] & V2))
    await settle()
    assert button_labels(harness.discord.message(card["id"])).count("Imagine") == 4


async def test_describe_goes_through_the_guard_rails(harness: Harness) -> None:
    guild = int(harness.discord.guild_id)
    await harness.bot.jobs.store.pause(guild, "back soon", by_user=1, now=time.time())
    before = len(harness.gemini.requests)
    interaction = await harness.discord.run_command(
        "describe", {"image": "p"}, attachments={"p": ("fox.jpg", wide_photo(), "image/jpeg")}
    )
    await harness.discord.wait_for(lambda: bool(private_text(interaction)))
    await settle()
    assert "paused in this server: back soon" in private_text(interaction)
    assert len(harness.gemini.requests) == before


async def test_show_posts_a_describe_card_again(harness: Harness) -> None:
    harness.gemini.enqueue(prompts_reply(PROMPTS))
    card = (await describe(harness)).original
    assert card is not None
    shown = await harness.discord.run_command("show", {"job": job_id(card)})
    await harness.wait_final(shown)
    assert shown.original is not None
    assert button_labels(shown.original).count("Imagine") == 4
    listing = await harness.discord.run_command("jobs")
    await harness.discord.wait_for(lambda: bool(private_text(listing)))
    assert "/describe of an image" in private_text(listing)
