"""Network faults the fake Discord injects (``fail_next``): dropped connections and stalled
answers, and the exceptions the real discord.py lets through to the bot."""

from __future__ import annotations

import asyncio
import errno

import aiohttp
import discord
import pytest

from tests.fakes.fake_discord import FakeDiscord
from tests.test_fake_discord import (  # noqa: F401 (the fixtures serve this module too)
    FakeTestBot,
    bot_fixture,
    channel_posts,
    discord_errors_fixture,
    fake_fixture,
    new_text_channel,
    no_errors_or_violations_fixture,
)


async def test_a_closed_connection_reaches_the_caller_as_server_disconnected(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    channel = await new_text_channel(fake, bot, "closed")
    fake.fail_next("POST", rf"/channels/{channel.id}/messages$", disconnect="close")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await channel.send("lost")
    [post] = channel_posts(fake, channel)
    assert post.status == 0  # read, never answered
    assert fake.channel_messages(str(channel.id)) == []  # and never applied
    await channel.send("the next one goes through")


async def test_a_reset_connection_reaches_the_caller_as_client_os_error(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    channel = await new_text_channel(fake, bot, "reset")
    message = await channel.send("to edit")
    fake.fail_next("PATCH", rf"/messages/{message.id}$", disconnect="reset")
    # discord.py retries resets only for errno 54 and 10054 (macOS, Windows), not Linux's 104.
    with pytest.raises(aiohttp.ClientOSError) as raised:
        await message.edit(content="edited")
    assert raised.value.errno == errno.ECONNRESET
    assert fake.message(str(message.id))["content"] == "to edit"


async def test_a_lost_answer_leaves_the_request_applied(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    channel = await new_text_channel(fake, bot, "applied")
    fake.fail_next("POST", rf"/channels/{channel.id}/messages$", disconnect="close", handled=True)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await channel.send("sent, but the bot cannot know")
    [stored] = fake.channel_messages(str(channel.id))
    assert stored["content"] == "sent, but the bot cannot know"


async def test_idempotent_calls_are_retried_once_by_aiohttp(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    channel = await new_text_channel(fake, bot, "idempotent")
    message = await channel.send("to fetch")
    path = rf"/channels/{channel.id}/messages/{message.id}$"
    # aiohttp resends GET, HEAD, OPTIONS, TRACE, PUT and DELETE once over a new connection
    # when a reused one drops (client.py, IDEMPOTENT_METHODS): one drop goes unnoticed.
    fake.fail_next("GET", path, disconnect="close")
    assert (await channel.fetch_message(message.id)).content == "to fetch"
    fetches = [r.status for r in fake.requests if r.method == "GET" and r.path == path[:-1]]
    assert fetches == [0, 200]
    fake.fail_next("DELETE", path, disconnect="reset", times=2)
    with pytest.raises(aiohttp.ClientOSError):
        await message.delete()


async def test_interaction_webhook_calls_see_the_same_exceptions(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    command = await fake.run_command("panel")
    await command.wait_response()
    assert command.original is not None
    interaction_webhook = discord.Webhook.partial(
        int(fake.application_id), command.token, client=bot
    )
    fake.fail_next("PATCH", rf"/webhooks/\d+/{command.token}/messages/\d+$", disconnect="close")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await interaction_webhook.edit_message(int(command.original["id"]), content="lost")
    fake.fail_next("POST", rf"/webhooks/\d+/{command.token}$", disconnect="reset")
    with pytest.raises(aiohttp.ClientOSError):
        await interaction_webhook.send("lost too")
    assert command.original["content"] == "Pick one"
    assert command.followups == []


async def test_a_stalled_answer_comes_late_and_is_applied_even_if_the_caller_gave_up(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    # discord.py sets no timeout of its own: aiohttp's default gives up after 300 s.
    assert bot.http._HTTPClient__session.timeout.total == 300  # type: ignore[attr-defined]
    channel = await new_text_channel(fake, bot, "stalled")
    path = rf"/channels/{channel.id}/messages$"
    fake.fail_next("POST", path, stall=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await channel.send("slow")
    assert loop.time() - started >= 0.3

    fake.fail_next("POST", path, stall=0.4)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await channel.send("given up on")
    await fake.wait_for(lambda: len(fake.channel_messages(str(channel.id))) == 2)
    assert fake.channel_messages(str(channel.id))[-1]["content"] == "given up on"


async def test_stopping_the_fake_ends_a_stalled_answer() -> None:
    fake = FakeDiscord()
    await fake.start()
    fake.fail_next("GET", r"^/gateway$", stall=60)
    async with aiohttp.ClientSession() as session:
        pending = asyncio.create_task(session.get(f"{fake.api_base_url}/gateway"))
        await fake.wait_for(lambda: fake.requests)
        await asyncio.wait_for(fake.stop(), 5)
        with pytest.raises(aiohttp.ClientConnectionError):  # dropped; the GET's retry is refused
            await pending


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"status": 500, "disconnect": "close"}, {"status": 500, "handled": True}],
)
def test_fail_next_refuses_contradictions(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"fail_next|status|handled"):
        FakeDiscord().fail_next("GET", "/users/@me", **kwargs)  # type: ignore[arg-type]
