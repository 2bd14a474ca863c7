"""Which Gemini API version the bot talks to: the shipped defaults must reach `v1beta` with an
API key (image generation is documented there; the SDK's own `v1` refuses the image fields),
and Vertex AI keeps the SDK's default, `v1beta1`."""

from __future__ import annotations

from pathlib import Path

from bot.config import EXAMPLE_CONFIG, load_settings
from tests.e2e.conftest import Harness, settings_for

SHIPPED = load_settings(EXAMPLE_CONFIG)


async def test_the_shipped_defaults_generate_on_v1beta(harness: Harness) -> None:
    assert SHIPPED.gemini.api_version == ""  # automatic
    assert harness.settings.gemini.api_version == SHIPPED.gemini.api_version

    await harness.imagine("a lighthouse")

    first = harness.gemini.requests[0]
    assert first.path == f"/v1beta/models/{SHIPPED.models.default}:generateContent"
    assert first.status == 200


async def test_vertex_ai_keeps_the_sdk_default_version(harness: Harness) -> None:
    await harness.stop_bot()
    await harness.start_bot(vertex=True)
    harness.gemini.reset()

    await harness.imagine("a lighthouse")

    (request,) = harness.gemini.requests
    expected = f"/v1beta1/publishers/google/models/{SHIPPED.models.default}:generateContent"
    assert request.path == expected
    assert request.status == 200


async def test_a_configured_v1_is_refused_by_gemini(harness: Harness, tmp_path: Path) -> None:
    # What happens to an operator who pins the SDK's `v1`: Gemini refuses the image fields.
    await harness.stop_bot()
    await harness.start_bot(
        settings_for(
            harness.discord, harness.gemini, tmp_path / "v1.db", gemini={"api_version": "v1"}
        )
    )
    harness.gemini.reset()

    interaction = await harness.imagine("a lighthouse")

    (request,) = harness.gemini.requests
    assert request.path.startswith("/v1/models/")
    assert request.status == 400
    assert interaction.original is not None
    assert 'Unknown name "responseModalities"' in interaction.original["embeds"][0]["description"]
    harness.gemini.violations.clear()  # the fake records the refusal; here it is the point
