"""How many jobs may run at once: a fixed number, or one that finds the API quota by itself.

The Gemini quota belongs to the project, so the limit holds for every process sharing the
store: `claim_next` counts the jobs running in all of them, and what the processes learn
about the quota is one shared `Pace` in the store. Each process keeps the latest copy it
read; a change (a 429, a reason to grow) is a function of the shared pace and the number of
jobs running everywhere, which the store applies atomically (`Store.update_pace`).

With `[jobs] max_concurrent = "auto"` the limit is additive increase, multiplicative
decrease: it starts at `[jobs] max_concurrent_start`, grows by one with each answer while the
limit is what holds jobs back and answers stay about as fast as the best seen, halves when
Gemini says a per-minute quota ran out (429), and stays within `[jobs] max_concurrent_limit`.

Either way, after a 429 nothing new starts anywhere until the time Gemini gave (RetryInfo)
has passed, and the jobs that got it go back in line instead of failing. Pure: the clock
(wall time, the same in every process) is passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.config import JobSettings

_LATENCY_SLACK = 1.5  # answers this much slower than the best seen: stop growing
_EWMA = 0.2  # weight of the newest answer in the smoothed latency
_DEFAULT_PAUSE_S = 5.0  # after a 429 that says nothing about when to retry


@dataclass(frozen=True)
class Pace:
    """What the processes sharing the store know about the Gemini quota."""

    limit: int  # jobs that may run at once, in all processes together ("auto" only)
    paused_until: float = 0.0  # epoch seconds: nothing new starts before (after a 429)
    last_cut: float = 0.0  # epoch seconds: when the limit was last halved


# A change of the shared pace: the new pace from the current one (None: nothing stored yet)
# and the number of jobs running in every process.
PaceChange = Callable[[Pace | None, int], Pace]


class Concurrency:
    """A fixed limit (each process uses its own setting; a 429's pause is shared). Also keeps
    the smoothed time this process's model calls take, for estimated waits."""

    def __init__(self, limit: int, *, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.pace = Pace(max(1, limit))  # the latest shared pace this process read
        self.latency_s: float | None = None

    def seen(self, shared: Pace | None) -> None:
        """The shared pace as the store has it now (None: nobody wrote it yet)."""
        if shared is not None:
            self.pace = replace(shared, limit=self._limit(shared))

    def _limit(self, shared: Pace) -> int:
        return self.pace.limit

    def current(self) -> int:
        """How many jobs may run now (0 while paused after a 429)."""
        return 0 if self.paused_for() > 0 else self.pace.limit

    def paused_for(self) -> float:
        """Seconds before anything new may start."""
        return max(0.0, self.pace.paused_until - self._clock())

    def answered(self, latency_s: float) -> PaceChange | None:
        """A model call answered after `latency_s`; the change to share, if any."""
        self.latency_s = (
            latency_s
            if self.latency_s is None
            else (1 - _EWMA) * self.latency_s + _EWMA * latency_s
        )
        return None

    def throttled(self, retry_after_s: float | None) -> PaceChange:
        """Gemini refused a call (the per-minute quota ran out): nothing starts anywhere
        until the time it gave."""
        until = self._clock() + (retry_after_s or _DEFAULT_PAUSE_S)

        def pause(shared: Pace | None, running: int) -> Pace:
            shared = shared or self.pace
            return replace(shared, paused_until=max(shared.paused_until, until))

        return pause


class AdaptiveConcurrency(Concurrency):
    def __init__(self, *, start: int, ceiling: int, clock: Callable[[], float]) -> None:
        super().__init__(min(start, ceiling), clock=clock)
        self._ceiling = ceiling
        self._best_latency: float | None = None

    def _limit(self, shared: Pace) -> int:
        return min(max(1, shared.limit), self._ceiling)

    def answered(self, latency_s: float) -> PaceChange | None:
        super().answered(latency_s)
        assert self.latency_s is not None
        best = self._best_latency = min(self._best_latency or latency_s, latency_s)
        if self.latency_s > _LATENCY_SLACK * best:
            return None  # answers slow down: no reason to allow more
        ceiling = self._ceiling

        def grow(shared: Pace | None, running: int) -> Pace:
            shared = shared or self.pace
            saturated = running >= shared.limit  # the limit is what holds jobs back
            if not saturated or shared.limit >= ceiling:
                return shared
            return replace(shared, limit=shared.limit + 1)

        return grow

    def throttled(self, retry_after_s: float | None) -> PaceChange:
        pause = retry_after_s or _DEFAULT_PAUSE_S
        now = self._clock()
        extend = super().throttled(retry_after_s)

        def cut(shared: Pace | None, running: int) -> Pace:
            shared = shared or self.pace
            # One cut per pause: the calls under way (in every process) get their 429s
            # together.
            if now >= shared.last_cut + pause:
                shared = replace(shared, limit=max(1, shared.limit // 2), last_cut=now)
            return extend(shared, running)

        return cut


def concurrency_for(settings: JobSettings, clock: Callable[[], float] = time.time) -> Concurrency:
    if settings.max_concurrent == "auto":
        return AdaptiveConcurrency(
            start=settings.max_concurrent_start,
            ceiling=settings.max_concurrent_limit,
            clock=clock,
        )
    return Concurrency(settings.max_concurrent, clock=clock)
