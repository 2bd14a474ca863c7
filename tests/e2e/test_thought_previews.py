"""Live thought previews: the model's interim images shown in the job's message while it
thinks, then replaced by the finished image."""

from __future__ import annotations

from tests.e2e.conftest import Harness, settings_for


async def test_drafts_show_while_the_model_thinks_and_the_result_replaces_them(
    harness: Harness,
) -> None:
    await harness.stop_bot()
    settings = settings_for(
        harness.discord,
        harness.gemini,
        harness.settings.storage.path,
        jobs={"thought_previews_s": 0.05},
        models={"default": "gemini-3.1-flash-image"},
    )
    await harness.start_bot(settings)
    harness.gemini.stream_pause_s = 0.6  # the model goes on thinking after its draft
    try:
        interaction = await harness.imagine("a fox in the snow")
    finally:
        harness.gemini.stream_pause_s = 0.0

    request = harness.gemini.requests[-1]
    assert request.method == "streamGenerateContent"
    assert camel(request.generation_config["thinkingConfig"]) == {"includeThoughts": True}
    answer = request.answer_json["candidates"][0]["content"]["parts"]
    draft = next(p for p in answer if p.get("thought") and "inlineData" in p)
    drafts = [
        r
        for r in harness.discord.requests
        if r.method == "PATCH" and any(f.filename.startswith("draft.") for f in r.files)
    ]
    assert len(drafts) == 1
    assert drafts[0].json["content"].startswith("💭 Thinking… this is a draft")
    (shown_draft,) = drafts[0].files
    assert shown_draft.data == _b64(draft["inlineData"]["data"])
    # The result replaced the draft: only the final image is attached.
    assert interaction.original is not None
    (attachment,) = interaction.original["attachments"]
    assert not attachment["filename"].startswith("draft.")
    assert harness.discord.attachment_bytes(attachment) != shown_draft.data
    assert "💭" not in (interaction.original.get("content") or "")


async def test_the_catalogs_thinking_level_is_sent(harness: Harness) -> None:
    await harness.stop_bot()
    flash = harness.settings.models.info("gemini-3.1-flash-image")
    catalog = {
        **harness.settings.models.catalog,
        "gemini-3.1-flash-image": flash.model_copy(update={"thinking_level": "HIGH"}),
    }
    models = harness.settings.models.model_copy(update={"catalog": catalog})
    await harness.start_bot(harness.settings.model_copy(update={"models": models}))
    await harness.imagine("a fox in the snow")
    config = harness.gemini.requests[-1].generation_config
    assert camel(config["thinkingConfig"]) == {"thinkingLevel": "HIGH"}


def camel(fields: dict[str, object]) -> dict[str, object]:
    """Proto JSON accepts either spelling; the SDK sends some fields in snake_case."""
    return {
        key.split("_")[0] + "".join(w.title() for w in key.split("_")[1:]): value
        for key, value in fields.items()
    }


def _b64(text: str) -> bytes:
    import base64

    return base64.b64decode(text)
