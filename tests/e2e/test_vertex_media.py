"""Vertex AI only: Animate (Veo image-to-video, a long-running operation), Upscale
(faithful) with Imagen's upscaler, and both refused at start-up with an API key."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.credentials import Credentials, GeminiAuth
from bot.discord_ui.app import ImagineBot
from bot.errors import ConfigError
from bot.workflows.loader import load_workflows, workflows_directory
from tests.e2e.conftest import REPO, Harness, settings_for
from tests.e2e.guard_support import command, private_text, restart
from tests.e2e.helpers import (
    button_labels,
    card_text,
    custom_id,
    details,
    fields,
    is_card,
    job_id,
)
from tests.fakes.fake_gemini import video_reply
from tests.fakes.fake_vertex_media import FILTERED_CHILD, mp4_seconds
from tests.support import settle

Json = dict[str, Any]
VEO = "veo-3.1-fast-generate-001"
UPSCALER = "imagen-4.0-upscale-preview"


async def on_vertex(h: Harness) -> None:
    """Restart the bot on Vertex AI (express mode) with Animate and Upscale (faithful)."""
    await h.stop_bot()
    settings = settings_for(
        h.discord,
        h.gemini,
        h.settings.storage.path,
        gemini={"api_version": ""},
        video={"model": VEO, "poll_interval_s": 0.05},
        upscale={"faithful_model": UPSCALER},
    )
    await h.start_bot(settings, vertex=True)


async def bot_message_after(h: Harness, channel_id: str, after: int, *, where: Any) -> Json:
    bot_id = h.discord.bot_user["id"]

    def found() -> Json | None:
        mine = [
            m
            for m in h.discord.channel_messages(channel_id)[after:]
            if m["author"]["id"] == bot_id and where(m)
        ]
        return mine[-1] if mine else None

    await h.discord.wait_for(found, 15)
    message = found()
    assert message is not None
    return message


async def animate(h: Harness, shown: Json, thread: Json, motion: str) -> Json:
    """Press Animate, describe the motion, confirm the price: the video's final message."""
    before = len(h.discord.channel_messages(thread["id"]))
    opened = await h.discord.click(shown["id"], custom_id(shown, "Animate"))
    await opened.wait_response()
    assert opened.callback_type == 9  # the form asking for the motion
    await h.discord.submit_modal(opened, {"text": motion})
    briefing = await bot_message_after(
        h, thread["id"], before, where=lambda m: "Generate" in button_labels(m)
    )
    assert "$0.90" in fields(briefing)["Estimated cost"]  # 6 s at $0.15: asked first
    await h.discord.click(briefing["id"], custom_id(briefing, "Generate"))
    return await bot_message_after(
        h,
        thread["id"],
        before,
        where=lambda m: (
            m["id"] == briefing["id"]
            and "Generate" not in button_labels(m)
            and is_card(m)
            and "Animating" not in (m.get("content") or "")
        ),
    )


async def test_animate_polls_veo_and_posts_the_video_in_the_conversation(
    harness: Harness,
) -> None:
    await on_vertex(harness)
    interaction = await harness.imagine("a harbour at dawn")
    shown, thread = interaction.original, harness.thread_of(interaction)
    assert shown is not None
    assert button_labels(shown) == [
        "Reroll",
        "Refine",
        "Upscale (redraw) to 2K · $0.10",
        "Upscale (faithful)",
        "Animate",
        "Delete",
    ]
    image = harness.discord.attachment_bytes(shown["attachments"][0])
    harness.gemini.enqueue(video_reply(polls=3))

    video = await animate(harness, shown, thread, "the boats bob, slow pan right")

    start = next(r for r in harness.gemini.requests if r.method == "predictLongRunning")
    instance = start.body["instances"][0]
    assert instance["prompt"] == "the boats bob, slow pan right"
    assert _b64(instance["image"]["bytesBase64Encoded"]) == image
    assert start.body["parameters"] == {
        "sampleCount": 1,
        "durationSeconds": 6,
        "aspectRatio": "16:9",
        "resolution": "720p",
        "generateAudio": True,
    }
    polls = [r for r in harness.gemini.requests if r.method == "fetchPredictOperation"]
    assert len(polls) == 4
    animating = [
        r
        for r in harness.discord.requests
        if r.method == "PATCH" and "🎬 Animating" in str((r.json or {}).get("content"))
    ]
    assert animating, "the job's message showed the video being made"
    (attachment,) = video["attachments"]
    assert attachment["filename"].endswith(".mp4")
    data = harness.discord.attachment_bytes(attachment)
    assert mp4_seconds(data) == 6
    assert len(data) > 2_000_000
    # Recorded in the conversation, which still edits the image Gemini made.
    store = harness.bot.jobs.store
    animated = await store.get_job(job_id(video))
    assert animated is not None
    assert animated.thread_id == int(thread["id"])
    assert animated.cost_usd == pytest.approx(0.90)
    conversation = await store.get_conversation(int(thread["id"]))
    assert conversation is not None
    assert conversation.head_job == job_id(shown)
    assert button_labels(video) == ["Delete"]


async def test_a_filtered_or_failed_video_is_explained_with_retry(harness: Harness) -> None:
    await on_vertex(harness)
    interaction = await harness.imagine("a child on a swing")
    shown, thread = interaction.original, harness.thread_of(interaction)
    assert shown is not None

    harness.gemini.enqueue(video_reply(filtered=(FILTERED_CHILD,)))
    blocked = await animate(harness, shown, thread, "the swing moves")
    embed = blocked["embeds"][0]
    assert embed["description"] == "Veo's safety filters withheld the video."
    assert "58061214" in fields(blocked)["Reason given by Gemini"]
    assert fields(blocked)["Category"] == "Children, which the bot's settings do not allow"
    assert button_labels(blocked)[0] == "Retry"

    harness.gemini.enqueue(video_reply(error={"code": 13, "message": "Internal error."}))
    failed = await animate(harness, shown, thread, "the swing moves faster")
    assert "Veo could not make the video: Internal error." in failed["embeds"][0]["description"]
    assert button_labels(failed) == ["Retry"]


async def test_faithful_upscale_enlarges_the_image_as_it_is(harness: Harness) -> None:
    await on_vertex(harness)
    interaction = await harness.imagine("a paper boat", aspect_ratio="16:9")
    shown, thread = interaction.original, harness.thread_of(interaction)
    assert shown is not None
    before = len(harness.discord.channel_messages(thread["id"]))
    await harness.discord.click(shown["id"], custom_id(shown, "Upscale (faithful)"))
    upscaled = await bot_message_after(
        harness, thread["id"], before, where=lambda m: bool(m.get("attachments"))
    )
    request = harness.gemini.requests[-1]
    assert request.path.endswith(f"/models/{UPSCALER}:predict")
    assert request.body["parameters"]["mode"] == "upscale"
    assert request.body["parameters"]["upscaleConfig"] == {"upscaleFactor": "x2"}
    original = Image.open(io.BytesIO(harness.discord.attachment_bytes(shown["attachments"][0])))
    store = harness.bot.jobs.store
    job = await store.get_job(job_id(upscaled))
    assert job is not None
    assert job.result_image is not None
    kept = await store.get_image(job.result_image)
    assert kept is not None
    assert Image.open(io.BytesIO(kept.data)).size == (original.width * 2, original.height * 2)
    assert details(upscaled)[0] == "Imagen 4 Upscale"
    conversation = await store.get_conversation(int(thread["id"]))
    assert conversation is not None
    assert conversation.head_job == job_id(shown)


async def test_vertex_only_features_are_refused_at_start_up_with_an_api_key(
    harness: Harness,
) -> None:
    settings = settings_for(
        harness.discord,
        harness.gemini,
        harness.settings.storage.path,
        video={"model": VEO},
        upscale={"faithful_model": UPSCALER},
    )
    credentials = Credentials(discord_token="x", gemini=GeminiAuth(api_key=harness.gemini.api_key))
    workflows = load_workflows(workflows_directory(settings), settings)
    with pytest.raises(ConfigError) as refused:
        ImagineBot(settings, credentials, workflows)
    message = refused.value.user_message
    assert "need Vertex AI, but the bot uses a Gemini API key" in message
    assert f"[video] model ({VEO}: Animate)" in message
    assert f"[upscale] faithful_model ({UPSCALER})" in message


def _b64(text: str) -> bytes:
    import base64

    return base64.b64decode(text.replace("-", "+").replace("_", "/") + "==")


VIDEO_WORKFLOW: Json = {
    "id": "animate-photo",
    "name": "Animate a photo",
    "stages": [
        {
            "id": "ask",
            "inputType": "form",
            "outputType": "json",
            "formFields": [
                {"name": "photo", "type": "image", "validation": {"required": True}},
                {"name": "motion", "type": "text", "validation": {"required": True}},
            ],
        },
        {
            "id": "film",
            "inputType": "none",
            "outputType": "image",
            "dependencies": ["ask"],
            "model": VEO,
            "promptTemplate": "{{ask.output.motion}}",
            "imageGenerationSettings": {"gemini": {"personGeneration": "ALLOW_NONE"}},
        },
    ],
}
PEOPLE_WORKFLOW: Json = {
    "id": "scene",
    "name": "A scene without people",
    "stages": [
        {
            "id": "ask",
            "inputType": "form",
            "outputType": "json",
            "formFields": [{"name": "scene", "type": "text", "validation": {"required": True}}],
        },
        {
            "id": "draw",
            "inputType": "none",
            "outputType": "image",
            "dependencies": ["ask"],
            "promptTemplate": "{{ask.output.scene}}",
            "imageGenerationSettings": {
                "gemini": {
                    "personGeneration": "ALLOW_NONE",
                    "safetySettings": [
                        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}
                    ],
                }
            },
        },
    ],
}


async def test_workflows_make_videos_and_set_people_and_safety_on_vertex(
    harness: Harness, tmp_path: Path
) -> None:
    for name, workflow in (("animate-photo", VIDEO_WORKFLOW), ("scene", PEOPLE_WORKFLOW)):
        (tmp_path / f"{name}.json").write_text(json.dumps(workflow))
    await harness.stop_bot()
    settings = settings_for(
        harness.discord,
        harness.gemini,
        tmp_path / "bot.db",
        gemini={"api_version": ""},
        workflows={"directory": tmp_path},
        video={"poll_interval_s": 0.05},
    )
    with pytest.raises(ConfigError, match=r"/animate-photo \(animate-photo.json: it makes a"):
        ImagineBot(
            settings,
            Credentials(discord_token="x", gemini=GeminiAuth(api_key="k")),
            load_workflows(tmp_path, settings),
        )
    await harness.start_bot(settings, vertex=True)

    scene = await harness.discord.run_command("scene", {"scene": "an empty beach"})
    await harness.wait_final(scene)
    request = harness.gemini.requests[-1]
    assert request.image_config["personGeneration"] == "ALLOW_NONE"
    assert request.body["safetySettings"] == [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}
    ]

    photo = io.BytesIO()
    Image.new("RGB", (640, 360), "teal").save(photo, "JPEG")
    run = await harness.discord.run_command(
        "animate-photo",
        {"photo": "p", "motion": "the tide comes in"},
        attachments={"p": ("beach.jpg", photo.getvalue(), "image/jpeg")},
    )
    await harness.wait_final(run)
    assert run.original is not None
    assert "Generate" in button_labels(run.original)  # $0.90: the price first
    await harness.discord.click(run.original["id"], custom_id(run.original, "Generate"))
    message_id = run.original["id"]
    await harness.discord.wait_for(
        lambda: bool(harness.discord.message(message_id).get("attachments")), 15
    )
    start = next(r for r in harness.gemini.requests if r.method == "predictLongRunning")
    assert start.body["instances"][0]["prompt"] == "the tide comes in"
    assert start.body["parameters"]["personGeneration"] == "dont_allow"
    (attachment,) = harness.discord.message(message_id)["attachments"]
    assert attachment["filename"].endswith(".mp4")
    await settle()
    assert message_id not in harness.discord.threads  # a video is not a conversation to edit


async def test_a_video_over_the_upload_limit_is_explained(harness: Harness) -> None:
    await on_vertex(harness)
    interaction = await harness.imagine("a waterfall")
    shown, thread = interaction.original, harness.thread_of(interaction)
    assert shown is not None
    harness.gemini.enqueue(video_reply(seconds=24))  # ~12 MB at 720p: over 10 MiB
    video = await animate(harness, shown, thread, "the water falls")
    assert video["attachments"] == []
    assert "more than this server's upload limit (10 MB)" in card_text(video)
    store = harness.bot.jobs.store
    kept = await store.get_job(job_id(video))
    assert kept is not None
    assert kept.result_image is not None  # kept, for a server with a higher limit


async def test_admin_reload_refuses_a_video_workflow_with_an_api_key(
    harness: Harness, tmp_path: Path
) -> None:
    shutil.copy(REPO / "workflows" / "imagine.json", tmp_path / "imagine.json")
    await restart(harness, workflows={"directory": tmp_path})
    (tmp_path / "animate-photo.json").write_text(json.dumps(VIDEO_WORKFLOW))
    refused = await command(harness, "admin reload", user=harness.discord.owner)
    text = private_text(refused)
    assert "have problems, so nothing changed" in text
    assert "/animate-photo needs Vertex AI" in text
