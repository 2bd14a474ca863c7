"""How many jobs may run at once: a fixed number, or one that finds the API quota by itself.

With `[jobs] max_concurrent = "auto"` the limit is additive increase, multiplicative
decrease: it starts at `[jobs] max_concurrent_start`, grows by one with each answer while the
limit is what holds jobs back and answers stay about as fast as the best seen, halves when
Gemini says a per-minute quota ran out (429), and stays within `[jobs] max_concurrent_limit`.

Either way, after a 429 nothing new starts until the time Gemini gave (RetryInfo) has passed,
and the jobs that got it go back in line instead of failing. Pure: the clock is passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.config import JobSettings

_LATENCY_SLACK = 1.5  # answers this much slower than the best seen: stop growing
_EWMA = 0.2  # weight of the newest answer in the smoothed latency
_DEFAULT_PAUSE_S = 5.0  # after a 429 that says nothing about when to retry


class Concurrency:
    """A fixed limit. Also keeps the smoothed time a model call takes, for estimated waits."""

    def __init__(self, limit: int, *, clock: Callable[[], float]) -> None:
        self._limit = max(1, limit)
        self._clock = clock
        self._paused_until = 0.0
        self.latency_s: float | None = None

    def current(self) -> int:
        """How many jobs may run now (0 while paused after a 429)."""
        return 0 if self.paused_for() > 0 else self._limit

    def paused_for(self) -> float:
        """Seconds before anything new may start."""
        return max(0.0, self._paused_until - self._clock())

    def answered(self, latency_s: float, running: int) -> None:
        """A model call answered after `latency_s`, with `running` jobs in progress."""
        self.latency_s = (
            latency_s
            if self.latency_s is None
            else (1 - _EWMA) * self.latency_s + _EWMA * latency_s
        )

    def throttled(self, retry_after_s: float | None) -> None:
        """Gemini refused a call: the per-minute quota ran out."""
        pause = retry_after_s or _DEFAULT_PAUSE_S
        self._paused_until = max(self._paused_until, self._clock() + pause)


class AdaptiveConcurrency(Concurrency):
    def __init__(self, *, start: int, ceiling: int, clock: Callable[[], float]) -> None:
        super().__init__(min(start, ceiling), clock=clock)
        self._ceiling = ceiling
        self._best_latency: float | None = None
        self._last_cut = float("-inf")

    @property
    def limit(self) -> int:
        return self._limit

    def answered(self, latency_s: float, running: int) -> None:
        super().answered(latency_s, running)
        assert self.latency_s is not None
        best = self._best_latency = min(self._best_latency or latency_s, latency_s)
        saturated = running >= self._limit
        if saturated and self.latency_s <= _LATENCY_SLACK * best and self._limit < self._ceiling:
            self._limit += 1

    def throttled(self, retry_after_s: float | None) -> None:
        pause = retry_after_s or _DEFAULT_PAUSE_S
        now = self._clock()
        # One cut per pause: the calls already under way get their 429s together.
        if now >= self._last_cut + pause:
            self._limit = max(1, self._limit // 2)
            self._last_cut = now
        super().throttled(retry_after_s)


def concurrency_for(
    settings: JobSettings, clock: Callable[[], float] = time.monotonic
) -> Concurrency:
    if settings.max_concurrent == "auto":
        return AdaptiveConcurrency(
            start=settings.max_concurrent_start,
            ceiling=settings.max_concurrent_limit,
            clock=clock,
        )
    return Concurrency(settings.max_concurrent, clock=clock)
