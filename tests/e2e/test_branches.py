"""Undo and Branch on results in a conversation's thread: the stored history (thought
signatures included) makes both exact."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Harness
from tests.e2e.helpers import (
    answered_content,
    button_labels,
    custom_id,
    job_id,
    model_contents,
    prompt_of,
    texts,
    thread_history,
    user_texts,
)
from tests.support import settle

Json = dict[str, Any]


async def conversation(h: Harness) -> tuple[Json, Json, Json]:
    """A lighthouse, then an edit in its thread: (the first result, the thread, the edit)."""
    interaction = await h.imagine("a lighthouse")
    assert interaction.original is not None
    thread = h.thread_of(interaction)
    asked = await h.say(thread["id"], "make it night")
    edited = await h.bot_reply_to(asked)
    await settle()
    return interaction.original, thread, edited


async def test_results_in_a_thread_offer_undo_and_branch(harness: Harness) -> None:
    first, _, edited = await conversation(harness)
    assert not {"Undo", "Branch"} & set(button_labels(first))  # the thread starts here
    assert {"Undo", "Branch"} <= set(button_labels(edited))


async def test_undo_then_edit_continues_from_the_earlier_image(harness: Harness) -> None:
    _, thread, edited = await conversation(harness)
    first_call, undone_call = harness.gemini.requests[-2:]
    pressed = await harness.discord.click(edited["id"], custom_id(edited, "Undo"))
    await pressed.wait_response()
    assert pressed.ephemeral
    assert pressed.original is not None
    assert "Undone" in pressed.original["content"]
    asked = await harness.say(thread["id"], "add a moon")
    await harness.bot_reply_to(asked)
    await settle()
    request = harness.gemini.requests[-1]
    assert user_texts(request) == ["a lighthouse", "add a moon"]
    # The earlier image (with its thought signatures), not the undone one.
    assert model_contents(request) == [answered_content(first_call)]
    assert answered_content(undone_call) not in model_contents(request)
    # The undone result stays visible in the thread.
    assert edited["id"] in [m["id"] for m in harness.discord.channel_messages(thread["id"])]


async def test_only_the_owner_undoes(harness: Harness) -> None:
    _, thread, edited = await conversation(harness)
    head = await harness.bot.jobs.store.get_conversation(int(thread["id"]))
    pressed = await harness.discord.click(
        edited["id"], custom_id(edited, "Undo"), user=harness.discord.bob
    )
    await pressed.wait_response()
    assert pressed.ephemeral
    assert await harness.bot.jobs.store.get_conversation(int(thread["id"])) == head


async def test_branch_opens_a_thread_with_the_history_up_to_that_result(
    harness: Harness,
) -> None:
    _, thread, edited = await conversation(harness)
    first_call, second_call = harness.gemini.requests[-2:]
    channel = harness.discord.channel_id
    before = len(harness.discord.channel_messages(channel))
    # Anyone may branch: the new thread is theirs.
    pressed = await harness.discord.click(
        edited["id"], custom_id(edited, "Branch"), user=harness.discord.bob
    )
    await pressed.wait_response()
    await harness.discord.wait_for(
        lambda: any(
            m["id"] in harness.discord.threads
            for m in harness.discord.channel_messages(channel)[before:]
        )
    )
    await settle()
    (copy,) = [
        m for m in harness.discord.channel_messages(channel)[before:] if m.get("attachments")
    ]
    assert prompt_of(copy) == "make it night"
    assert any("A branch of job" in text for text in texts(copy))
    edited_image = harness.discord.attachment_bytes(edited["attachments"][0])
    assert harness.discord.attachment_bytes(copy["attachments"][0]) == edited_image
    branch = harness.discord.threads[copy["id"]]
    history = await thread_history(harness.bot.jobs.store, branch["id"])
    assert [c.role for c in history] == ["user", "model", "user", "model"]

    asked = await harness.say(branch["id"], "add snow", user=harness.discord.bob)
    await harness.bot_reply_to(asked)
    await settle()
    request = harness.gemini.requests[-1]
    assert user_texts(request) == ["a lighthouse", "make it night", "add snow"]
    assert model_contents(request) == [answered_content(first_call), answered_content(second_call)]
    # The thread it came from is as it was, and still alice's.
    original = await harness.bot.jobs.store.get_conversation(int(thread["id"]))
    assert original is not None
    assert original.owner_id == int(harness.discord.alice["id"])
    assert original.head_job == job_id(edited)
    branched = await harness.bot.jobs.store.get_conversation(int(branch["id"]))
    assert branched is not None
    assert branched.owner_id == int(harness.discord.bob["id"])


async def test_a_double_clicked_branch_opens_one_thread(harness: Harness) -> None:
    _, _, edited = await conversation(harness)
    channel = harness.discord.channel_id
    before = len(harness.discord.channel_messages(channel))
    first = await harness.discord.click(edited["id"], custom_id(edited, "Branch"))
    second = await harness.discord.click(edited["id"], custom_id(edited, "Branch"))
    await first.wait_response()
    await second.wait_response()
    await harness.discord.wait_for(lambda: bool(second.followups))
    await settle()
    copies = [m for m in harness.discord.channel_messages(channel)[before:] if m.get("attachments")]
    assert len(copies) == 1
    assert "Already on it" in second.followups[-1]["content"]
