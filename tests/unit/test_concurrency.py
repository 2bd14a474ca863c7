"""The limit on jobs running at once: fixed, or finding the quota by itself (AIMD), shared by
every process through one pace in the store (simulated here by `Shared`)."""

from __future__ import annotations

from bot.config import EXAMPLE_CONFIG, load_settings
from bot.jobs.concurrency import (
    AdaptiveConcurrency,
    Concurrency,
    Pace,
    PaceChange,
    concurrency_for,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Shared:
    """The store's side: one pace, each change applied to the latest one."""

    def __init__(self) -> None:
        self.pace: Pace | None = None

    def apply(self, limit: Concurrency, change: PaceChange | None, running: int = 0) -> None:
        if change is not None:
            self.pace = change(self.pace, running)
        limit.seen(self.pace)


def test_the_shipped_default_adapts_from_its_start() -> None:
    limit = concurrency_for(load_settings(EXAMPLE_CONFIG).jobs)
    assert isinstance(limit, AdaptiveConcurrency)
    assert limit.current() == 32


def test_it_grows_while_saturated_and_fast_and_stops_at_the_ceiling() -> None:
    shared, limit = Shared(), AdaptiveConcurrency(start=4, ceiling=6, clock=Clock())
    shared.apply(limit, limit.answered(1.0), running=1)  # not saturated: no reason to grow
    assert limit.current() == 4
    for _ in range(5):
        shared.apply(limit, limit.answered(1.0), running=limit.current())
    assert limit.current() == 6


def test_it_stops_growing_when_answers_slow_down() -> None:
    shared, limit = Shared(), AdaptiveConcurrency(start=4, ceiling=100, clock=Clock())
    shared.apply(limit, limit.answered(1.0), running=4)
    assert limit.current() == 5
    for _ in range(10):  # three times slower than the best seen
        shared.apply(limit, limit.answered(3.0), running=5)
    assert limit.current() < 8


def test_a_429_halves_once_and_pauses_until_retry_info() -> None:
    clock = Clock()
    shared, limit = Shared(), AdaptiveConcurrency(start=32, ceiling=100, clock=clock)
    for _ in range(5):  # the calls in flight all come back refused
        shared.apply(limit, limit.throttled(7.0))
    assert limit.current() == 0  # paused
    assert limit.paused_for() == 7.0
    clock.now += 7.0
    assert limit.current() == 16  # halved once, not five times
    shared.apply(limit, limit.throttled(None))  # no RetryInfo: a default pause
    assert limit.paused_for() > 0
    clock.now += 60
    assert limit.current() == 8


def test_a_fixed_limit_pauses_after_a_429_but_does_not_shrink() -> None:
    clock = Clock()
    shared, limit = Shared(), Concurrency(4, clock=clock)
    shared.apply(limit, limit.throttled(3.0))
    assert limit.current() == 0
    clock.now += 3
    assert limit.current() == 4
    assert limit.answered(2.0) is None  # nothing to share
    limit.answered(1.0)
    assert limit.latency_s is not None
    assert 1.0 < limit.latency_s < 2.0  # smoothed


def test_processes_share_one_pace() -> None:
    clock = Clock()
    shared = Shared()
    first, second = (AdaptiveConcurrency(start=8, ceiling=100, clock=clock) for _ in range(2))
    # Jobs running in both processes saturate the limit together: either may grow it.
    shared.apply(first, first.answered(1.0), running=8)
    shared.apply(second, second.answered(1.0), running=9)
    assert shared.pace == Pace(10)
    first.seen(shared.pace)
    assert first.current() == second.current() == 10
    # One process's 429s pause the other too, and the calls of both halve the limit once.
    shared.apply(first, first.throttled(5.0))
    shared.apply(second, second.throttled(5.0))
    second.seen(shared.pace)
    first.seen(shared.pace)
    assert first.current() == second.current() == 0
    clock.now += 5
    assert first.current() == second.current() == 5
