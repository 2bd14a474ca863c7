"""/jobs lists a member's recent jobs with links; /show posts a result again with live
buttons. Both read the store, so they work the same after a restart."""

from __future__ import annotations

from tests.e2e.conftest import Harness
from tests.e2e.guard_support import ask, private_text
from tests.e2e.helpers import button_labels, custom_id, gallery, job_id, prompt_of, texts
from tests.fakes.fake_gemini import blocked_prompt
from tests.support import settle


async def test_jobs_lists_the_members_recent_jobs_after_a_restart(harness: Harness) -> None:
    made = await harness.imagine("a [tiny] teapot", size="2K")
    harness.gemini.enqueue(blocked_prompt("SAFETY"))
    blocked = await harness.imagine("something blocked")
    await harness.imagine("bob's own", user=harness.discord.bob)
    await harness.stop_bot()
    await harness.start_bot()

    listing = private_text(await ask(harness, "jobs"))
    lines = listing.splitlines()
    assert len(lines) == 2  # alice's two, newest first; not bob's
    assert made.original is not None
    assert blocked.original is not None
    assert lines[0].startswith(f"`{job_id(blocked.original)}`")
    assert "🚫 blocked" in lines[0]
    first = lines[1]
    assert first.startswith(f"`{job_id(made.original)}`")
    assert "✅ made · Gemini 3.1 Flash Image · 2K · $0.10" in first
    link = f"https://discord.com/channels/{harness.discord.guild_id}/"
    assert f"[a (tiny) teapot]({link}" in first  # brackets cannot break the link


async def test_show_posts_a_result_again_with_live_buttons(harness: Harness) -> None:
    made = await harness.imagine("a copper kettle")
    assert made.original is not None
    thread = harness.thread_of(made)
    await harness.stop_bot()
    await harness.start_bot()

    shown = await harness.discord.run_command("show", {"job": job_id(made.original).upper()})
    await harness.wait_final(shown)
    again = shown.original
    assert again is not None
    assert prompt_of(again) == "a copper kettle"
    assert len(gallery(again)) == 1
    original_image = harness.discord.attachment_bytes(made.original["attachments"][0])
    assert harness.discord.attachment_bytes(again["attachments"][0]) == original_image
    assert any(f"<#{thread['id']}>" in text for text in texts(again))
    assert again["id"] not in harness.discord.threads  # no second thread
    # Its buttons work: Reroll makes a new image in the conversation's thread.
    before = len(harness.discord.channel_messages(thread["id"]))
    await harness.discord.click(again["id"], custom_id(again, "Reroll"))
    await harness.discord.wait_for(
        lambda: any(
            m.get("attachments") for m in harness.discord.channel_messages(thread["id"])[before:]
        )
    )
    await settle()
    assert "Reroll" in button_labels(again)


async def test_show_explains_what_it_cannot_show(harness: Harness) -> None:
    harness.gemini.enqueue(blocked_prompt("SAFETY"))
    blocked = await harness.imagine("something blocked")
    assert blocked.original is not None
    cases = {
        "nonsense!": "is not a job id",
        "zzzzzzzz": "There is no job `zzzzzzzz` in this server",
        job_id(blocked.original): "made no image (🚫 blocked)",
    }
    for given, said in cases.items():
        answer = await ask(harness, "show", {"job": given})
        assert said in private_text(answer)
        assert answer.original is not None
        assert answer.original["flags"] & 64  # privately
