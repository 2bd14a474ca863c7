"""/imagine end to end: real discord.py and google-genai against the fakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Harness, settings_for
from tests.e2e.helpers import answered_content, details, gallery, prompt_of, texts
from tests.fakes.fake_gemini import image_reply


async def test_commands_are_synced_to_the_configured_guild(harness: Harness) -> None:
    commands = {c["name"]: c for c in harness.discord.commands[harness.discord.guild_id]}
    imagine = commands["imagine"]
    options = {o["name"]: o for o in imagine["options"]}
    assert options["prompt"]["required"] is True
    assert options["prompt"]["max_length"] == 1500
    ratios = [c["value"] for c in options["aspect_ratio"]["choices"]]
    assert ratios[-1] == "model_default"
    for model in ("gemini-3.1-flash-image", "gemini-3-pro-image"):
        assert set(ratios[:-1]) <= set(harness.settings.models.info(model).aspect_ratios)
    assert {"edit", "logo", "Edit with Gemini"} <= set(commands)
    assert [name for name, o in options.items() if o["type"] == 11][:3] == [
        "image",
        "image2",
        "image3",
    ]
    assert None not in harness.discord.commands  # guild mode registers nothing globally


async def test_imagine_posts_the_image_in_a_new_thread(harness: Harness) -> None:
    harness.gemini.enqueue(image_reply(text="A lighthouse, as requested."))
    interaction = await harness.imagine(
        "a lighthouse in a storm, oil painting", aspect_ratio="16:9"
    )

    request = harness.gemini.requests[-1]
    assert request.model == "gemini-3.1-flash-image"
    assert request.texts() == ["a lighthouse in a storm, oil painting"]
    assert request.generation_config["responseModalities"] == ["TEXT", "IMAGE"]
    assert request.image_config["aspectRatio"] == "16:9"

    result = interaction.original
    assert result is not None
    # One Components V2 card: no content, no embed.
    assert (result["content"], result["embeds"], result["flags"] & (1 << 15)) == ("", [], 1 << 15)
    (attachment,) = result["attachments"]
    assert attachment["filename"].endswith(".png")
    # Posted exactly as the model made it: no decode, no re-encode, nothing inserted.
    (answered,) = [
        p["inlineData"][1] for p in answered_content(request)["parts"] if "inlineData" in p
    ]
    assert harness.discord.attachment_bytes(attachment) == answered
    (picture,) = gallery(result)
    assert picture["media"]["url"] == attachment["url"]  # Discord resolves attachment://
    assert picture["description"] == "a lighthouse in a storm, oil painting"  # alt text
    assert prompt_of(result) == "a lighthouse in a storm, oil painting"
    assert "-# 💬 A lighthouse, as requested." in texts(result)
    model, size, ratio, cost, _, job = details(result)
    assert (model, size, ratio) == ("Gemini 3.1 Flash Image", "1K", "16:9")
    assert cost.startswith("$0.0")
    assert job.startswith("Job `")

    thread = harness.thread_of(interaction)
    assert thread["name"] == "a lighthouse in a storm, oil painting"
    # The result itself says how to go on (no separate message in the thread).
    (hint,) = [t for t in texts(result) if "can write in the thread below" in t]
    assert f"<@{harness.discord.alice['id']}>" in hint  # named, never pinged


async def test_progress_edits_one_message(harness: Harness) -> None:
    # One request at a time per member: the second waits for the first, and says so.
    harness.gemini.enqueue(image_reply(delay=0.4), image_reply(delay=0.1))
    first = await harness.discord.run_command("imagine", {"prompt": "a slow painting"})
    await first.wait_response()
    second = await harness.discord.run_command("imagine", {"prompt": "a second painting"})
    await harness.wait_final(first)
    await harness.wait_final(second)
    for interaction, queued in ((first, False), (second, True)):
        assert interaction.callback_type == 5  # deferred at once
        texts = [edit.get("content") or "" for edit in interaction.original_edits]
        assert any(text.startswith("⏳ Queued") for text in texts) is queued
        assert any(text.startswith("🎨 Generating your image… ") for text in texts)
        assert interaction.original is not None
        assert interaction.original["attachments"]  # the same message ends with the image
        assert interaction.followups == []  # never a stream of new messages


async def test_without_aspect_ratio_the_model_chooses(harness: Harness) -> None:
    interaction = await harness.imagine("a cat")
    assert "aspectRatio" not in harness.gemini.requests[-1].image_config
    assert interaction.original is not None
    assert details(interaction.original)[2] == "model's aspect ratio"


@pytest.mark.parametrize(
    "prompt",
    ["@everyone look at this <@123> and <@&456>", "@here a dragon"],
)
async def test_echoed_text_never_pings(harness: Harness, prompt: str) -> None:
    harness.gemini.enqueue(image_reply(text=f"Sure! {prompt}"))
    interaction = await harness.imagine(prompt)
    thread = harness.thread_of(interaction)
    assert thread["name"].startswith("@")
    # The fake records a violation for any message that would ping; the harness asserts none.


async def test_long_prompts_make_valid_thread_names(harness: Harness) -> None:
    prompt = "a very long prompt\nwith lines " + "and detail " * 60
    interaction = await harness.imagine(prompt)
    name = harness.thread_of(interaction)["name"]
    assert len(name) == 100
    assert "\n" not in name
    assert name.endswith("…")


async def test_thinking_turns_into_progress_only_for_a_slow_image(
    harness: Harness, tmp_path: Path
) -> None:
    await harness.stop_bot()
    settings = settings_for(
        harness.discord, harness.gemini, tmp_path / "t.db", jobs={"running_edit_after_s": 0.5}
    )
    await harness.start_bot(settings)
    fast = await harness.imagine("a quick sketch")
    assert not any("🎨" in (e.get("content") or "") for e in fast.original_edits)
    harness.gemini.enqueue(image_reply(delay=1.0))
    slow = await harness.imagine("a slow oil painting")
    progress = [e for e in slow.original_edits if "🎨" in (e.get("content") or "")]
    assert len(progress) == 1  # one edit: the time counts by itself (<t:...:R>)
    assert "<t:" in progress[0]["content"]
    assert slow.original is not None
    assert slow.original["attachments"]


async def test_twenty_members_in_one_channel_never_meet_a_rate_limit(harness: Harness) -> None:
    # Progress is edited only when it changes (elapsed time counts by itself in a Discord
    # timestamp), so a busy channel stays within Discord's limits instead of sleeping them off.
    limits = harness.discord.rate_limits
    hits_before, drained_before = len(limits.hits), len(limits.drained)
    await harness.imagine_together(20, "a lantern", model_delay_s=1.0)
    assert limits.hits[hits_before:] == []  # not one 429
    assert limits.drained[drained_before:] == []  # and no bucket emptied: nobody waited
