"""Quotas and spend caps through the real bot: reserved when a job is accepted, so requests
sent at the same moment never pass a limit together; given back when a job ends without a
result; the day turning at `reset_hour_utc`; the waiting cap and the cooldown; the price
shown before an expensive run; `/usage` agreeing with the job records; and a daily budget
that holds while members hammer the bot."""

from __future__ import annotations

import asyncio
import csv
import io
import re

from bot.jobs.quotas import Window
from bot.jobs.records import Job, JobState
from tests.e2e.conftest import Harness
from tests.e2e.guard_support import (
    FakeClock,
    Json,
    command,
    private_text,
    restart,
    shown_publicly,
    states,
    totals,
    utc,
)
from tests.e2e.helpers import button_labels, custom_id, fields
from tests.fakes.fake_discord import FakeInteraction
from tests.fakes.fake_gemini import blocked_prompt, image_reply
from tests.support import settle

EVERYTHING = Window(0, 1e12)
FLASH_1K = 0.067  # one /imagine (the example's default model and size), before input tokens


async def all_jobs(h: Harness) -> list[Job]:
    return await h.bot.jobs.store.charged_jobs(int(h.discord.guild_id), EVERYTHING)


async def imagine_at_once(h: Harness, users: list[Json]) -> list[FakeInteraction]:
    """One /imagine per entry of `users`, all sent before the bot answers any."""
    interactions = [
        await h.discord.run_command("imagine", {"prompt": f"a lighthouse, take {n}"}, user=user)
        for n, user in enumerate(users)
    ]
    for interaction in interactions:
        await interaction.wait_response()
    await settle()
    return interactions


# Races ------------------------------------------------------------------------------------


async def test_five_at_once_with_two_images_a_day_start_exactly_two(harness: Harness) -> None:
    await restart(harness, quotas={"member_daily_images": 2, "member_max_waiting": 0})
    interactions = await imagine_at_once(harness, [harness.discord.alice] * 5)
    assert len(harness.gemini.requests) == 2
    refused = [
        i for i in interactions if "You have used 2 of your 2 images today" in private_text(i)
    ]
    assert len(refused) == 3
    assert not any(shown_publicly(i, harness) for i in refused)  # nothing left in the channel
    assert states(await all_jobs(harness)) == {JobState.DELIVERED: 2}


async def test_a_bot_wide_spend_cap_holds_across_two_members(harness: Harness) -> None:
    await restart(harness, quotas={"bot_daily_usd": 2.5 * FLASH_1K, "member_max_waiting": 0})
    d = harness.discord
    interactions = await imagine_at_once(harness, [d.alice, d.bob, d.alice, d.bob, d.alice])
    assert len(harness.gemini.requests) == 2
    refused = [i for i in interactions if "the bot has only" in private_text(i)]
    assert len(refused) == 3
    _, spent = totals(await all_jobs(harness))
    assert spent <= 2.5 * FLASH_1K


async def test_a_server_spend_cap_holds_across_two_members(harness: Harness) -> None:
    await restart(harness, quotas={"guild_daily_usd": 1.5 * FLASH_1K, "member_max_waiting": 0})
    d = harness.discord
    interactions = await imagine_at_once(harness, [d.bob, d.alice, d.bob, d.alice, d.bob])
    assert len(harness.gemini.requests) == 1
    answers = [private_text(i) for i in interactions if private_text(i)]
    assert len(answers) == 4
    assert all(re.search(r"this server has only \$0\.0\d+ of its \$0\.10 left", a) for a in answers)


async def test_a_member_spend_cap_counts_what_is_still_running(harness: Harness) -> None:
    await restart(harness, quotas={"member_daily_usd": 0.1})
    harness.gemini.enqueue(image_reply(delay=0.5))
    first = await harness.discord.run_command("imagine", {"prompt": "slow"})
    await first.wait_response()
    await asyncio.sleep(0.1)  # accepted and running: its estimate is reserved
    second = await command(harness, "imagine", {"prompt": "fast"})
    assert "This would cost about $0.067, and you have only $0.033 of your $0.10 left" in (
        private_text(second)
    )
    await settle()
    assert len(harness.gemini.requests) == 1


# Reservations given back, days ------------------------------------------------------------


async def test_a_blocked_job_gives_its_reservation_back(harness: Harness) -> None:
    await restart(harness, quotas={"member_daily_images": 1})
    harness.gemini.enqueue(blocked_prompt("OTHER"))
    blocked = await harness.imagine("first try")
    assert blocked.original is not None
    assert "blocked" in blocked.original["embeds"][0]["title"]
    second = await harness.imagine("second try")
    assert second.original is not None
    assert second.original["attachments"]  # it ran: the blocked one counted for nothing
    third = await command(harness, "imagine", {"prompt": "third"})
    assert "You have used 1 of your 1 images today" in private_text(third)


async def test_the_day_turns_at_the_reset_hour(harness: Harness) -> None:
    clock = FakeClock(utc(2026, 3, 5, 5, 30))
    await restart(harness, clock=clock, quotas={"member_daily_images": 1, "reset_hour_utc": 6})
    await harness.imagine("before six")
    refused = await command(harness, "imagine", {"prompt": "again"})
    assert private_text(refused) == (
        "You have used 1 of your 1 images today; more at 06:00 UTC (in 30 min)."
    )
    clock.advance(30 * 60)
    after = await harness.imagine("after six")
    assert after.original is not None
    assert after.original["attachments"]
    assert len(harness.gemini.requests) == 2


# Waiting cap, cooldown ------------------------------------------------------------------------


async def test_more_waiting_requests_than_allowed_are_refused_not_queued(
    harness: Harness,
) -> None:
    await restart(harness, quotas={"member_max_waiting": 2})
    harness.gemini.enqueue(image_reply(delay=0.5), image_reply())
    interactions = await imagine_at_once(harness, [harness.discord.alice] * 3)
    refused = [i for i in interactions if private_text(i)]
    assert len(refused) == 1
    assert private_text(refused[0]) == (
        "You already have 2 requests waiting or being made, the most you can have at once. "
        "Try again when one of them has finished."
    )
    assert len(harness.gemini.requests) == 2


async def test_the_cooldown_says_how_long_to_wait(harness: Harness) -> None:
    clock = FakeClock(utc(2026, 3, 5, 12))
    await restart(harness, clock=clock, quotas={"cooldown_s": 90})
    await harness.imagine("one")
    clock.advance(20)
    early = await command(harness, "imagine", {"prompt": "two"})
    assert private_text(early) == "Please wait 2 min before your next request (one every 2 min)."
    other = await harness.imagine("bob's", user=harness.discord.bob)  # per member
    assert other.original is not None
    clock.advance(70)
    later = await harness.imagine("two")
    assert later.original is not None
    assert later.original["attachments"]


async def test_a_refusal_in_a_thread_is_a_reply(harness: Harness) -> None:
    await restart(harness, quotas={"member_daily_images": 1})
    first = await harness.imagine("a harbour")
    thread = harness.thread_of(first)
    message = await harness.say(thread["id"], "make it night")
    await settle()
    (reply,) = [
        m
        for m in harness.discord.channel_messages(thread["id"])
        if (m.get("message_reference") or {}).get("message_id") == message["id"]
    ]
    assert reply["content"].startswith("⚠️ You have used 1 of your 1 images today; more at")
    assert len(harness.gemini.requests) == 1


# The price first ----------------------------------------------------------------------------


async def test_an_expensive_request_shows_its_price_with_generate_first(harness: Harness) -> None:
    await restart(harness, quotas={"confirm_above_usd": 0.05})
    interaction = await harness.imagine("a castle")
    shown = interaction.original
    assert shown is not None
    assert harness.gemini.requests == []
    assert button_labels(shown) == ["Generate", "Edit prompt", "Cancel"]
    assert fields(shown)["Estimated cost"].startswith("about $0.067 (more than $0.050")
    await harness.discord.click(shown["id"], custom_id(shown, "Generate"))
    await harness.discord.wait_for(
        lambda: bool(harness.discord.message(shown["id"])["attachments"])
    )
    await settle()
    assert len(harness.gemini.requests) == 1

    thread = harness.thread_of(interaction)  # a thread edit asks first too, as a reply
    message = await harness.say(thread["id"], "add a dragon")
    briefing = await harness.bot_reply_to(message)
    assert "Estimated cost" in fields(briefing)
    await harness.discord.click(briefing["id"], custom_id(briefing, "Generate"))
    await harness.discord.wait_for(
        lambda: bool(harness.discord.message(briefing["id"])["attachments"])
    )
    await settle()
    assert len(harness.gemini.requests) == 2

    result = harness.discord.message(briefing["id"])  # a button's job asks first too
    before = len(harness.discord.channel_messages(thread["id"]))
    await harness.discord.click(result["id"], custom_id(result, "Reroll"))
    await settle()
    (asking,) = harness.discord.channel_messages(thread["id"])[before:]
    assert "Estimated cost" in fields(asking)
    await harness.discord.click(asking["id"], custom_id(asking, "Cancel"))
    await settle()
    assert harness.discord.message(asking["id"])["embeds"][0]["title"] == "Cancelled"
    assert len(harness.gemini.requests) == 2


async def test_a_price_beyond_what_is_left_is_refused_without_a_generate_button(
    harness: Harness,
) -> None:
    await restart(harness, quotas={"confirm_above_usd": 0.05, "member_daily_usd": 0.06})
    interaction = await command(harness, "imagine", {"prompt": "a castle"})
    assert "This would cost about $0.067, and you have only $0.060 of your $0.060 left" in (
        private_text(interaction)
    )
    assert not shown_publicly(interaction, harness)
    assert await harness.bot.jobs.store.jobs_in(list(JobState)) == []


# /usage -------------------------------------------------------------------------------------


async def test_usage_numbers_are_the_job_records(harness: Harness) -> None:
    await restart(
        harness,
        quotas={"member_daily_images": 10, "member_daily_usd": 1.0, "guild_daily_usd": 5.0},
    )
    d = harness.discord
    harness.gemini.enqueue(image_reply(), blocked_prompt("OTHER"), image_reply())
    await harness.imagine("one")
    await harness.imagine("two")  # blocked: counts nothing
    await harness.imagine("three", user=d.bob)
    jobs = await all_jobs(harness)
    alice_images, alice_usd = totals([j for j in jobs if j.user_id == int(d.alice["id"])])
    server_images, server_usd = totals(jobs)
    assert (alice_images, server_images) == (1, 2)

    mine = private_text(await command(harness, "usage"))
    assert "Images: 1 of 10 (9 left)" in mine
    assert f"Spend: about ${alice_usd:.3f} of $1.00 (${1 - alice_usd:.2f} left)" in mine
    assert f"This server today: about ${server_usd:.2f} of $5.00" in mine
    assert "This month" not in mine  # the server's breakdown is for its managers

    owner = await command(harness, "usage", user=d.owner)
    report = private_text(owner)
    assert f"**This server today**: 2 job(s), 2 image(s), about ${server_usd:.2f}" in report
    assert f"<@{d.alice['id']}> · Gemini 3.1 Flash Image: 1 job(s), 1 image(s)" in report
    (export,) = [a for m in owner.followups for a in m.get("attachments") or []]
    rows = list(csv.DictReader(io.StringIO(d.attachment_bytes(export).decode())))
    assert {row["job_id"] for row in rows} == {job.id for job in jobs}
    assert sum(int(row["images"]) for row in rows) == server_images
    assert abs(sum(float(row["usd"]) for row in rows) - server_usd) < 1e-6


# The owner's budget, hammered ---------------------------------------------------------------


async def test_a_daily_budget_holds_while_members_hammer_the_bot(harness: Harness) -> None:
    budget = 0.5
    await restart(harness, quotas={"bot_daily_usd": budget}, jobs={"max_concurrent": 3})
    d = harness.discord
    members = [d.alice, d.bob, *(d.add_member(f"member{n}") for n in range(4))]
    first = await imagine_at_once(harness, [m for m in members for _ in range(3)])
    made = [i for i in first if i.original and i.original.get("attachments")]
    edits = [await harness.say(harness.thread_of(i)["id"], "brighter", user=i.user) for i in made]
    second = await imagine_at_once(harness, members)
    await settle()

    jobs = await all_jobs(harness)
    images, spent = totals(jobs)
    assert spent <= budget
    assert budget - spent < FLASH_1K + 0.01  # the budget was used, not refused early
    assert images == len(harness.gemini.requests) == states(jobs)[JobState.DELIVERED]
    refused = [private_text(i) for i in (*first, *second) if private_text(i)]
    for edit in edits:  # each edit was made or answered in its thread
        (reply,) = [
            m
            for m in harness.discord.channel_messages(edit["channel_id"])
            if (m.get("message_reference") or {}).get("message_id") == edit["id"]
        ]
        if not reply.get("attachments"):
            refused.append(reply["content"])
    assert len(refused) + images == len(first) + len(edits) + len(second)
    assert all("bot has" in text.lower() or "waiting or being made" in text for text in refused)
    report = private_text(await command(harness, "usage", user=d.owner))
    shown = re.search(
        r"\*\*This server today\*\*: \d+ job\(s\), (\d+) image\(s\), about \$([\d.]+)", report
    )
    assert shown is not None
    assert int(shown[1]) == images
    assert float(shown[2]) <= budget
