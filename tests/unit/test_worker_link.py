"""The link between the bot and a Gemini worker: length-prefixed pickles over a socket pair.

The e2e tests (tests/e2e/test_gemini_workers.py) run it with real workers; these pin what a
worker's answers rely on: multi-megabyte messages arrive whole and in order however the
kernel splits them, messages sent at once never interleave, and a closed end is an error on
both sides, not a hang.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bot.gemini_workers import _Link


@pytest_asyncio.fixture
async def links() -> AsyncIterator[tuple[_Link, _Link]]:
    ours, theirs = socket.socketpair()
    pair = await _Link.over(ours), await _Link.over(theirs)
    yield pair
    for link in pair:
        link.close()
    await asyncio.sleep(0)  # let the transports finish closing


async def test_large_messages_sent_at_once_arrive_whole_and_in_order(
    links: tuple[_Link, _Link],
) -> None:
    bot, worker = links
    images = [os.urandom(size) for size in (3_000_000, 1, 0, 2_500_000, 70_000)]
    await asyncio.gather(*(worker.send((n, image)) for n, image in enumerate(images)))
    received = [await bot.receive() for _ in images]
    assert received == list(enumerate(images))


async def test_both_directions_at_once(links: tuple[_Link, _Link]) -> None:
    bot, worker = links
    request, answer = os.urandom(4_000_000), os.urandom(4_000_000)
    await asyncio.gather(bot.send(request), worker.send(answer))
    assert await worker.receive() == request
    assert await bot.receive() == answer


async def test_a_closed_end_is_an_error_for_receiving_and_sending(
    links: tuple[_Link, _Link],
) -> None:
    bot, worker = links
    await worker.send("last words")
    worker.close()
    assert await bot.receive() == "last words"  # what came before the end still arrives
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(bot.receive(), 5)
    with pytest.raises(ConnectionError):
        await worker.send("too late")
