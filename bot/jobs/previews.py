"""Live thought previews: the model's interim images, shown while it thinks. Pure asyncio.

Gemini 3 image models draft an image or two before the final one. Each draft the model
sends is offered here; the newest is shown at most once per `interval` seconds (a message
edit with an upload is not free, and Discord limits edits), and a draft that comes too soon
waits for its turn, replaced by any newer one. `close` ends it before the result is shown:
a draft waiting is dropped, one being sent is let through first (cancelling a Discord
request while it is being sent can hang the next one).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bot.media import Media

Show = Callable[[Media], Awaitable[None]]


class PreviewThrottle:
    def __init__(
        self, show: Show, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._show = show
        self._interval = interval
        self._clock = clock
        self._latest: Media | None = None
        self._last_shown: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._sending = False
        self._closed = False

    async def offer(self, image: Media) -> None:
        """A new draft: shown now, or when its turn comes (if nothing newer came by then)."""
        if self._closed:
            return
        self._latest = image
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._next(), name="show preview")

    async def _next(self) -> None:
        if self._last_shown is not None:
            await asyncio.sleep(max(0.0, self._last_shown + self._interval - self._clock()))
        image, self._latest = self._latest, None
        if image is None or self._closed:
            return
        self._sending = True
        try:
            await self._show(image)
        finally:
            self._sending = False
            self._last_shown = self._clock()
        if self._latest is not None and not self._closed:  # a newer draft came meanwhile
            self._task = asyncio.create_task(self._next(), name="show preview")

    async def close(self) -> None:
        self._closed = True
        task = self._task
        if task is None:
            return
        if not self._sending:
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
