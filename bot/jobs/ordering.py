"""Arrival order per conversation, for accepting work. Discord-free.

`turn(key)` is called synchronously when an event arrives, before any await, so the order of
turns is the order of events. A turn waits for the previous turn on its key, and a turn that
ends early (a message that was ignored) still lets the next one go only after its own
predecessor: turns complete strictly in order. Accepting is quick (reading uploads,
recording the job); the queue then runs the conversation's jobs one at a time, in that order.
Keys with nothing pending hold no memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class Turn:
    def __init__(self, owner: Arrivals, key: Hashable, previous: asyncio.Future[None] | None):
        self._owner = owner
        self._key = key
        self._previous = previous
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def __aenter__(self) -> Turn:
        if self._previous is not None:
            await asyncio.shield(self._previous)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.end()

    def end(self) -> None:
        """Let the next turn go once every earlier one has (safe to call twice)."""
        if self._previous is not None and not self._previous.done():
            self._previous.add_done_callback(lambda _: self._finish())
            return
        self._finish()

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)
        self._owner._forget(self._key, self.done)


class Arrivals:
    def __init__(self) -> None:
        self._tails: dict[Hashable, asyncio.Future[None]] = {}

    def turn(self, key: Hashable) -> Turn:
        turn = Turn(self, key, self._tails.get(key))
        self._tails[key] = turn.done
        return turn

    def _forget(self, key: Hashable, done: asyncio.Future[None]) -> None:
        if self._tails.get(key) is done:
            del self._tails[key]

    def __len__(self) -> int:
        return len(self._tails)


class KeyedLocks:
    """One asyncio lock per key, held only while someone uses it."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)
