"""Workflows end to end: each shipped command, the seed's briefing flow, and Imagen."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.e2e.conftest import REPO, Harness, png, settings_for
from tests.e2e.helpers import (
    button_labels,
    custom_id,
    fields,
    job_id,
    texts,
    thread_history,
    walk,
)
from tests.fakes.fake_gemini import finish_reply, image_reply
from tests.support import settle

Json = dict[str, Any]
SEED_EXAMPLE = REPO / "workflows" / "examples" / "seed-example.json"


async def use_workflows(h: Harness, folder: Path, *, vertex: bool = False) -> None:
    """Restart the bot with the workflows in `folder` as its commands."""
    await h.stop_bot()
    settings = settings_for(
        h.discord,
        h.gemini,
        folder / "bot.db",
        workflows={"directory": folder},
        gemini={"api_version": ""} if vertex else {},
    )
    await h.start_bot(settings, vertex=vertex)


async def test_edit_changes_the_attached_photo(harness: Harness) -> None:
    photo = png((60, 40), "teal")
    interaction = await harness.discord.run_command(
        "edit",
        {"photo": "p", "instruction": "replace the sky with a sunset"},
        attachments={"p": ("garden.png", photo, "image/png")},
    )
    await harness.wait_final(interaction)
    request = harness.gemini.requests[-1]
    (prompt,) = request.texts()
    assert prompt.startswith(
        "Edit the first image provided, a photo: replace the sky with a sunset"
    )
    (sent,) = request.images()
    assert Image.open(io.BytesIO(sent[1])).size == (60, 40)
    assert harness.thread_of(interaction)


async def test_logo_fills_the_seeds_prompt_template(harness: Harness) -> None:
    interaction = await harness.discord.run_command(
        "logo",
        {"company_area": "coffee roasting", "company_name": "Bean There", "style": "vintage"},
    )
    await harness.wait_final(interaction)
    (prompt,) = harness.gemini.requests[-1].texts()
    assert prompt.startswith(
        "A vintage logo for a coffee roasting company on a solid color background. "
        'Include the text "Bean There".'
    )
    assert "Avoid: photographs" in prompt  # the negative prompt, folded in for Gemini
    assert interaction.original is not None
    assert interaction.original["attachments"]


async def test_member_text_cannot_inject_template_syntax(harness: Harness) -> None:
    interaction = await harness.discord.run_command(
        "logo", {"company_area": "{{brief.output.style}}", "company_name": "{{config.x}}"}
    )
    await harness.wait_final(interaction)
    (prompt,) = harness.gemini.requests[-1].texts()
    assert "a {{brief.output.style}} company" in prompt
    assert '"{{config.x}}"' in prompt


@pytest.fixture
def seed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "workflows"
    folder.mkdir()
    shutil.copy(SEED_EXAMPLE, folder / SEED_EXAMPLE.name)
    return folder


async def briefing(h: Harness) -> Json:
    interaction = await h.discord.run_command(
        "example-image-workflow",
        {"user_prompt": "a futuristic city at dusk", "aspect_ratio": "16:9"},
    )
    await h.wait_final(interaction)
    assert interaction.original is not None
    return interaction.original


async def test_the_seed_workflow_briefs_generates_and_offers_redo(
    harness: Harness, seed_folder: Path
) -> None:
    await use_workflows(harness, seed_folder)
    before = len(harness.gemini.requests)
    shown = await briefing(harness)
    assert len(harness.gemini.requests) == before  # autoRun false: nothing generated yet
    assert shown["embeds"][0]["title"] == "Ready to generate"
    assert "a futuristic city at dusk" in shown["embeds"][0]["description"]
    assert "cinematic and dramatic lighting" in shown["embeds"][0]["description"]
    assert fields(shown)["Aspect ratio"] == "16:9"
    assert button_labels(shown) == ["Generate", "Edit prompt", "Cancel"]

    # Edit the compiled prompt, then generate it.
    opened = await harness.discord.click(shown["id"], custom_id(shown, "Edit prompt"))
    await opened.wait_response()
    (text_input,) = [c for c in walk(opened.modal) if c.get("custom_id") == "text"]
    assert text_input["value"].startswith("Create an image based on the user's request")
    edited = await harness.discord.submit_modal(opened, {"text": "a futuristic city at dawn"})
    await edited.wait_response()
    await settle()
    assert harness.discord.message(shown["id"])["embeds"][0]["description"] == (
        "a futuristic city at dawn"
    )
    await harness.discord.click(shown["id"], custom_id(shown, "Generate"))
    await harness.discord.wait_for(lambda: harness.discord.message(shown["id"])["attachments"])
    await settle()
    request = harness.gemini.requests[-1]
    assert request.texts() == ["a futuristic city at dawn"]
    assert request.image_config["aspectRatio"] == "16:9"
    assert request.model == "gemini-3.1-flash-image"  # the seed's retired model was replaced
    result = harness.discord.message(shown["id"])
    assert "Reroll" in button_labels(result)
    assert shown["id"] in harness.discord.threads


async def test_a_briefing_can_be_cancelled_and_only_by_its_owner(
    harness: Harness, seed_folder: Path
) -> None:
    await use_workflows(harness, seed_folder)
    shown = await briefing(harness)
    pending = job_id(shown)
    refused = await harness.discord.click(
        shown["id"], custom_id(shown, "Generate"), user=harness.discord.bob
    )
    await refused.wait_response()
    assert refused.ephemeral
    cancelled = await harness.discord.click(shown["id"], custom_id(shown, "Cancel"))
    await cancelled.wait_response()
    await settle()
    message = harness.discord.message(shown["id"])
    assert message["embeds"][0]["title"] == "Cancelled"
    assert button_labels(message) == ["Retry"]  # changed their mind: run it after all
    job = await harness.bot.jobs.store.get_job(pending)
    assert job is not None
    assert job.state.value == "cancelled"


async def test_a_briefing_survives_a_restart(harness: Harness, seed_folder: Path) -> None:
    await use_workflows(harness, seed_folder)
    shown = await briefing(harness)
    await harness.stop_bot()
    await harness.start_bot(harness.bot.settings)
    await harness.discord.click(shown["id"], custom_id(shown, "Generate"))
    await harness.discord.wait_for(lambda: harness.discord.message(shown["id"])["attachments"])
    await settle()


IMAGEN_WORKFLOW = {
    "id": "poster",
    "name": "Four poster ideas from Imagen",
    "stages": [
        {
            "id": "ask",
            "title": "Your poster",
            "inputType": "form",
            "outputType": "json",
            "formFields": [
                {"name": "idea", "label": "Idea", "type": "text", "validation": {"required": True}}
            ],
        },
        {
            "id": "draw",
            "title": "Draw",
            "inputType": "none",
            "outputType": "image",
            "dependencies": ["ask"],
            "autoRun": True,
            "aiRedoEnabled": True,
            "model": "imagen-4.0-generate-001",
            "promptTemplate": "A poster: {{ask.output.idea}}",
            "imageGenerationSettings": {
                "provider": "imagen",
                "imagen": {"numberOfImages": 4, "personGeneration": "allow_adult"},
                "negativePrompt": "blurry",
            },
        },
    ],
}


async def test_an_imagen_stage_runs_on_its_replacement_side_by_side(
    harness: Harness, tmp_path: Path
) -> None:
    folder = tmp_path / "imagen"
    folder.mkdir()
    (folder / "poster.json").write_text(json.dumps(IMAGEN_WORKFLOW))
    await use_workflows(harness, folder)
    harness.gemini.enqueue(
        image_reply(), image_reply(), finish_reply("IMAGE_SAFETY"), image_reply()
    )
    interaction = await harness.discord.run_command("poster", {"idea": "a jazz night"})
    await harness.wait_final(interaction)
    briefing = interaction.original
    assert briefing is not None  # four images cost more than [quotas] confirm_above_usd
    assert "more than $0.20" in fields(briefing)["Estimated cost"]
    await harness.discord.click(briefing["id"], custom_id(briefing, "Generate"))
    await harness.discord.wait_for(
        lambda: bool(harness.discord.message(briefing["id"])["attachments"])
    )
    await settle()

    calls = harness.gemini.requests[-4:]
    assert {call.method for call in calls} == {"generateContent"}
    assert {call.model for call in calls} == {"gemini-3.1-flash-image"}
    # The SDK spells it thinking_level; the API takes either spelling (proto JSON).
    levels = {tuple(c.generation_config["thinkingConfig"].values()) for c in calls}
    assert levels == {("HIGH",)}
    assert all(call.texts() == ["A poster: a jazz night\n\nAvoid: blurry"] for call in calls)
    shown = harness.discord.message(briefing["id"])
    # Four asked, one withheld: it keeps its place in the grid, as a grey stand-in.
    names = [attachment["filename"] for attachment in shown["attachments"]]
    assert len(names) == 4
    (gap,) = [n for n, name in enumerate(names, start=1) if name.startswith("not-made-")]
    (why,) = [t for t in texts(shown) if t.startswith(f"⚠️ Image {gap} was not made")]
    assert "safety filters" in why
    picks = [b for b in button_labels(shown) if re.fullmatch(r"U\d", b)]
    assert picks == [f"U{n}" for n in range(1, 5) if n != gap]
    assert [b for b in button_labels(shown) if re.fullmatch(r"V\d", b)] == [
        f"V{p[1:]}" for p in picks
    ]

    await harness.stop_bot()  # the pick works after a restart too
    await harness.start_bot(harness.bot.settings)
    chosen = await harness.discord.click(shown["id"], custom_id(shown, picks[1]))
    await chosen.wait_response()
    assert chosen.ephemeral
    second = harness.discord.attachment_bytes(shown["attachments"][int(picks[1][1:]) - 1])
    thread = harness.thread_of(interaction)
    history = await thread_history(harness.bot.jobs.store, thread["id"])
    assert history[-1].parts
    assert history[-1].parts[-1].inline_data
    assert history[-1].parts[-1].inline_data.data == second
    message = await harness.say(thread["id"], "add a saxophone")
    await harness.bot_reply_to(message)
    await settle()
    edit = harness.gemini.requests[-1]
    (previous,) = [image for role, _, image in edit.all_images() if role == "model"]
    assert previous == second  # the conversation continues from the chosen image
