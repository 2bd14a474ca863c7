"""A bound on how many Gemini answers a process reads and holds at once.

A 1K image comes as 2-4 MB of base64 JSON. Reading it, parsing it and handing the image on
takes 10-20 ms of CPU and several copies of it. When hundreds of calls end together (a
burst whose calls all took about as long), reading every answer as it comes holds them all in
memory at once (1.5 GB for 200 in one worker process), though the process can only deal with
them one after another. Behind the gate an answer's body is read only while one of `size`
slots is free; the others wait in their sockets (in the kernel's buffers and at Gemini), and a
call gives its slot back when its result has been handed on.

Only whole, successful answers take a slot (a 200 read at once): an error body is small and
may be followed by the SDK's wait before a retry, and a streamed answer (thought previews)
lasts as long as the generation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass

import aiohttp

# The bodies read at once: enough to read the next while one is parsed.
ANSWERS_AT_ONCE = 4


@dataclass
class _Slot:
    """One call's claim on the gate (shared by the requests of its images)."""

    gate: AnswerGate
    held: bool = False


_current: ContextVar[_Slot | None] = ContextVar("gemini_answer_slot", default=None)


class AnswerGate:
    def __init__(self, size: int = ANSWERS_AT_ONCE) -> None:
        self._free = asyncio.Semaphore(size)
        self.held = 0  # slots in use

    @contextlib.asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        """Make one call inside: its answer is read once a slot is free, and the slot is
        held until the block ends (when the result has been handed on)."""
        slot = _Slot(self)
        token = _current.set(slot)
        try:
            yield
        finally:
            _current.reset(token)
            if slot.held:
                self.held -= 1
                self._free.release()

    async def _take(self, slot: _Slot) -> None:
        await self._free.acquire()
        slot.held = True
        self.held += 1


class _GatedResponse(aiohttp.ClientResponse):
    async def read(self) -> bytes:
        slot = _current.get()
        if slot is not None and not slot.held and self.status == 200 and self._body is None:
            await slot.gate._take(slot)
        return await super().read()


def gated_session() -> aiohttp.ClientSession:
    """An aiohttp session for google-genai (`HttpOptions.aiohttp_client`) whose answers wait
    for the gate of the call they belong to. As the SDK's own: no limit on connections,
    proxies from the environment; the default read buffer (64 KB), so a body waiting for a
    slot is not read into memory meanwhile."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        trust_env=True,
        response_class=_GatedResponse,
    )
