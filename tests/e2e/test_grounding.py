"""Search-grounded images: the /infographic workflow sends Google Search with the request,
and the result shows the sources and the searches, as Google's display requirements ask."""

from __future__ import annotations

from tests.e2e.conftest import Harness
from tests.e2e.helpers import section
from tests.fakes.fake_gemini import GROUNDING_REDIRECT


async def test_an_infographic_is_grounded_and_shows_its_sources_and_searches(
    harness: Harness,
) -> None:
    interaction = await harness.discord.run_command("infographic", {"topic": "how tides work"})
    await harness.wait_final(interaction)

    request = harness.gemini.requests[-1]
    assert request.body["tools"] == [{"googleSearch": {}}]
    assert interaction.original is not None
    sources = "\n".join(section(interaction.original, "Sources"))
    answer = request.answer_json["candidates"][0]["groundingMetadata"]
    for chunk in answer["groundingChunks"]:
        assert f"[{chunk['web']['title']}]({chunk['web']['uri']})" in sources
    assert GROUNDING_REDIRECT in sources
    searches = section(interaction.original, "Google searches")
    assert len(searches) == len(answer["webSearchQueries"])
    assert searches[0].startswith("🔎 [")
    assert "(https://www.google.com/search?q=" in searches[0]

    # An edit in the thread stays grounded.
    thread = harness.thread_of(interaction)
    message = await harness.say(thread["id"], "add the spring tide numbers")
    reply = await harness.bot_reply_to(message)
    assert harness.gemini.requests[-1].body["tools"] == [{"googleSearch": {}}]
    assert section(reply, "Sources")


async def test_an_ungrounded_result_has_no_sources(harness: Harness) -> None:
    interaction = await harness.imagine("a lighthouse")
    assert "tools" not in harness.gemini.requests[-1].body
    assert interaction.original is not None
    assert section(interaction.original, "Sources") == []
    assert section(interaction.original, "Google searches") == []
