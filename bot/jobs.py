"""Admission of jobs to the image service: a global cap, a per-member cap, first come first served.

Discord-free. A job waits in line until both a global slot and one of its member's slots are
free; nobody overtakes an earlier job that could start. `position` tells a waiting job how
many are ahead of it, for its progress message.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass(eq=False)
class Ticket:
    user_id: int
    number: int = field(default_factory=itertools.count().__next__)


class JobQueue:
    def __init__(self, *, max_concurrent: int, max_per_user: int) -> None:
        self._max_concurrent = max_concurrent
        self._max_per_user = max_per_user
        self._running: Counter[int] = Counter()
        self._waiting: list[Ticket] = []
        self._changed = asyncio.Condition()

    @property
    def running(self) -> int:
        return sum(self._running.values())

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def position(self, ticket: Ticket) -> int:
        """How many waiting jobs are ahead of `ticket` (0 when it is next or running)."""
        try:
            return self._waiting.index(ticket)
        except ValueError:
            return 0

    def ticket(self, user_id: int) -> Ticket:
        """A place in line; pass it to `slot` to wait for it, and to `position` meanwhile."""
        ticket = Ticket(user_id)
        self._waiting.append(ticket)
        return ticket

    @asynccontextmanager
    async def slot(self, ticket: Ticket) -> AsyncIterator[None]:
        """Wait for this ticket's turn, hold a slot for the body, then let the next one in."""
        async with self._changed:
            try:
                await self._changed.wait_for(lambda: self._may_start(ticket))
            finally:
                self._waiting.remove(ticket)
            self._running[ticket.user_id] += 1
            self._changed.notify_all()  # positions moved for everyone behind
        try:
            yield
        finally:
            async with self._changed:
                self._running[ticket.user_id] -= 1
                if not self._running[ticket.user_id]:
                    del self._running[ticket.user_id]
                self._changed.notify_all()

    def _may_start(self, ticket: Ticket) -> bool:
        free = self._max_concurrent - self.running
        if free <= 0:
            return False
        # Walk the line in order: the first `free` tickets whose member has a free slot start.
        starting: Counter[int] = Counter()
        for waiting in self._waiting:
            user = waiting.user_id
            if self._running[user] + starting[user] >= self._max_per_user:
                continue
            if waiting is ticket:
                return True
            starting[user] += 1
            free -= 1
            if free == 0:
                return False
        return False
