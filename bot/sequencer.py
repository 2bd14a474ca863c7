"""Strict arrival-order processing per key (one conversation = one key). Discord-free.

`turn(key)` is called synchronously when an event arrives, before any await, so the order of
turns is the order of events. Each turn waits for the previous turn on the same key to end:
two quick replies in one thread are handled one after the other, in order, and neither is
lost. Keys with nothing pending hold no memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable


class Turn:
    def __init__(self, owner: Sequencer, key: Hashable, previous: asyncio.Future[None] | None):
        self._owner = owner
        self._key = key
        self._previous = previous
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @property
    def must_wait(self) -> bool:
        """True when an earlier turn on this key has not finished yet."""
        return self._previous is not None and not self._previous.done()

    async def __aenter__(self) -> Turn:
        if self._previous is not None:
            await asyncio.shield(self._previous)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.end()

    def end(self) -> None:
        """Let the next turn go (safe to call twice; called by `async with` on exit)."""
        if not self.done.done():
            self.done.set_result(None)
        self._owner._forget(self._key, self.done)


class Sequencer:
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
