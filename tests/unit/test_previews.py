"""Live thought previews: the newest draft, at most once per interval, never after close."""

from __future__ import annotations

import asyncio

from bot.jobs.previews import PreviewThrottle
from bot.media import Media


def draft(n: int) -> Media:
    return Media(b"\x89PNG\r\n\x1a\n" + bytes([n]), "image/png")


async def test_drafts_are_shown_at_most_once_per_interval_newest_first() -> None:
    shown: list[Media] = []

    async def show(image: Media) -> None:
        shown.append(image)

    throttle = PreviewThrottle(show, interval=0.2)
    await throttle.offer(draft(1))
    await asyncio.sleep(0.01)
    await throttle.offer(draft(2))  # too soon: waits its turn...
    await throttle.offer(draft(3))  # ...and is replaced by a newer one
    await asyncio.sleep(0.05)
    assert shown == [draft(1)]
    await asyncio.sleep(0.25)
    assert shown == [draft(1), draft(3)]
    await throttle.close()


async def test_close_drops_a_waiting_draft_but_lets_one_being_sent_finish() -> None:
    shown: list[Media] = []
    sending = asyncio.Event()

    async def slow_show(image: Media) -> None:
        sending.set()
        await asyncio.sleep(0.05)
        shown.append(image)

    throttle = PreviewThrottle(slow_show, interval=10)
    await throttle.offer(draft(1))
    await sending.wait()
    await throttle.offer(draft(2))  # would wait 10 s
    await throttle.close()
    assert shown == [draft(1)]  # the one being sent landed; the waiting one never will
    await throttle.offer(draft(3))
    await asyncio.sleep(0.01)
    assert shown == [draft(1)]
