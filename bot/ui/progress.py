"""A job's progress shown by editing one message: queued (place in line) -> generating (seconds).

The message is edited at most once per interval and only when its text changes, so a long
queue does not hit Discord's rate limits. A failed edit (message deleted, token expired)
stops the updates quietly: the final result is delivered by the caller either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import discord

log = logging.getLogger(__name__)

Edit = Callable[[str], Awaitable[object]]


def queued_text(ahead: int) -> str:
    if ahead <= 0:
        return "⏳ Queued: you are next."
    noun = "request" if ahead == 1 else "requests"
    return f"⏳ Queued: {ahead} {noun} ahead of you."


def generating_text(elapsed_s: float, what: str = "Generating your image") -> str:
    return f"🎨 {what}… {int(elapsed_s)}s"


class Progress:
    """Edits a message with the job's state until `stop()`.

    `position` reports the place in line while queued; call `started()` when the job runs.
    `stop()` lets an edit already in flight finish, so it can never land after the result.
    """

    def __init__(
        self, edit: Edit, *, interval_s: float, position: Callable[[], int], what: str
    ) -> None:
        self._edit = edit
        self._interval = interval_s
        self._position = position
        self._what = what
        self._started_at: float | None = None
        self._shown: str | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="progress")

    def started(self) -> None:
        self._started_at = asyncio.get_running_loop().time()
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task

    def _text(self) -> str:
        if self._started_at is None:
            return queued_text(self._position())
        return generating_text(asyncio.get_running_loop().time() - self._started_at, self._what)

    async def _run(self) -> None:
        while not self._stopping:
            text = self._text()
            if text != self._shown:
                try:
                    await self._edit(text)
                except discord.HTTPException as exc:
                    log.info("progress updates stopped: %s", exc)
                    return
                self._shown = text
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
