"""The reference library end to end: /ref save, list and delete, per member and for the whole
server, /imagine refs: with autocomplete, and the model's limit on images per request."""

from __future__ import annotations

from typing import Any

from bot.jobs.records import ReferenceKind
from bot.jobs.redo import UPSCALE_PROMPT
from bot.jobs.references import HINTS
from tests.e2e.conftest import Harness, png
from tests.e2e.guard_support import ask, private_text
from tests.e2e.helpers import custom_id, texts
from tests.e2e.test_buttons import newest_bot_result
from tests.fakes.fake_discord import FakeInteraction

Json = dict[str, Any]


async def save(
    h: Harness,
    name: str,
    colour: str,
    kind: str = "object",
    *,
    user: Json | None = None,
    server: bool = False,
) -> str:
    """/ref save; what the member was told."""
    options: dict[str, object] = {"name": name, "image": "i", "kind": kind}
    if server:
        options["server"] = True
    interaction = await h.discord.run_command(
        "ref save",
        options,
        user=user,
        attachments={"i": (f"{name}.png", png((24, 16), colour), "image/png")},
    )
    await h.discord.wait_for(lambda: bool(private_text(interaction)))
    return private_text(interaction)


async def imagine(h: Harness, **options: object) -> FakeInteraction:
    interaction = await h.discord.run_command("imagine", options)
    await h.wait_final(interaction)
    return interaction


async def test_saved_references_come_into_imagine_after_the_uploads(harness: Harness) -> None:
    said = await save(harness, "Mia", "red", "character")
    assert "Saved `Mia` (a character) for you" in said
    await save(harness, "ink", "blue", "style", user=harness.discord.owner, server=True)
    photo = png((30, 20), "green")
    interaction = await harness.discord.run_command(
        "imagine",
        {"prompt": "Mia at the beach", "image": "p", "refs": "mia, ink"},
        attachments={"p": ("beach.png", photo, "image/png")},
    )
    await harness.wait_final(interaction)

    request = harness.gemini.requests[-1]
    assert len(request.images()) == 3  # the upload, then Mia, then the server's ink
    prompt, *_ = request.texts()
    assert prompt.startswith("Mia at the beach\n\n")
    assert f'Image 2 ("Mia") is a character: {HINTS[ReferenceKind.CHARACTER]}.' in prompt
    assert f'Image 3 ("ink") is a style: {HINTS[ReferenceKind.STYLE]}.' in prompt
    assert interaction.original is not None
    card = texts(interaction.original)
    assert "📎 References: Mia, ink" in card
    assert not any("Image 2 (" in text for text in card)  # the hints are not the prompt


async def test_only_members_who_manage_the_server_save_for_everyone(harness: Harness) -> None:
    said = await save(harness, "logo", "black", server=True)
    assert "Only members who can manage the server" in said
    listing = await ask(harness, "ref list")
    assert "Nothing saved yet" in private_text(listing)


async def test_list_autocomplete_and_delete(harness: Harness) -> None:
    await save(harness, "Mia", "red", "character")
    await save(harness, "map", "brown")
    await save(harness, "moon", "white", "style", user=harness.discord.owner, server=True)
    await save(harness, "theirs", "pink", user=harness.discord.bob)
    listing = private_text(await ask(harness, "ref list"))
    assert "`Mia`: a character" in listing
    assert "`moon`: a style" in listing  # the server's, under its own heading
    assert "theirs" not in listing  # another member's

    choices = await harness.discord.autocomplete("imagine", "refs", "Mia, m", {"prompt": "x"})
    assert [c["value"] for c in choices] == ["Mia, map", "Mia, moon"]

    gone = await ask(harness, "ref delete", {"name": "MAP"})
    assert "Deleted `MAP`" in private_text(gone)
    refused = await ask(harness, "ref delete", {"name": "moon"})
    assert "no reference `moon` that you have" in private_text(refused)
    listing = private_text(await ask(harness, "ref list"))
    assert "map" not in listing


async def test_an_unknown_name_is_answered_privately(harness: Harness) -> None:
    await save(harness, "Mia", "red", "character")
    before = len(harness.gemini.requests)
    interaction = await imagine(harness, prompt="a portrait", refs="Mia, Nobody")
    assert "no saved reference called `Nobody`" in private_text(interaction)
    assert "You can use `Mia`" in private_text(interaction)
    assert len(harness.gemini.requests) == before


async def test_references_over_the_models_limit_are_left_out_and_named(
    harness: Harness,
) -> None:
    names = [f"r{n:02}" for n in range(13)]
    for n, name in enumerate(names):
        await save(harness, name, f"#{n * 19:02x}{n * 7:02x}40")
    uploads = {k: (f"{k}.png", png((20, 20), "orange"), "image/png") for k in ("a", "b")}
    interaction = await harness.discord.run_command(
        "imagine",
        {"prompt": "a collage", "image": "a", "image2": "b", "refs": ", ".join(names)},
        attachments=uploads,
    )
    await harness.wait_final(interaction)
    # Gemini 3.1 Flash Image takes 14 images: the two uploads and the first twelve references.
    assert len(harness.gemini.requests[-1].images()) == 14
    assert harness.gemini.violations == []
    assert interaction.original is not None
    (left_out,) = [t for t in texts(interaction.original) if t.startswith("⚠️ Left out")]
    assert "r12" in left_out
    assert "r11" not in left_out
    assert "takes at most 14 images" in left_out


async def test_an_upscale_of_a_result_with_references_sends_that_image_alone(
    harness: Harness,
) -> None:
    await save(harness, "Mia", "red", "character")
    interaction = await imagine(harness, prompt="Mia on a bench", refs="Mia")
    shown = interaction.original
    assert shown is not None
    assert len(harness.gemini.requests[-1].images()) == 1  # Mia came in
    thread = harness.thread_of(interaction)
    before = len(harness.discord.channel_messages(thread["id"]))
    await harness.discord.click(shown["id"], custom_id(shown, "Upscale (redraw) to 2K · $0.10"))
    upscaled = await newest_bot_result(harness, thread["id"], before)
    request = harness.gemini.requests[-1]
    # The image being upscaled, without the reference or the hint that named it.
    assert request.texts() == [UPSCALE_PROMPT]
    assert len(request.images()) == 1
    assert not any(text.startswith("📎 References") for text in texts(upscaled))
