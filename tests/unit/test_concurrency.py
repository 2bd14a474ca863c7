"""The limit on jobs running at once: fixed, or finding the quota by itself (AIMD)."""

from __future__ import annotations

from bot.config import EXAMPLE_CONFIG, load_settings
from bot.jobs.concurrency import AdaptiveConcurrency, Concurrency, concurrency_for


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_shipped_default_adapts_from_its_start() -> None:
    limit = concurrency_for(load_settings(EXAMPLE_CONFIG).jobs)
    assert isinstance(limit, AdaptiveConcurrency)
    assert limit.current() == 32


def test_it_grows_while_saturated_and_fast_and_stops_at_the_ceiling() -> None:
    clock = Clock()
    limit = AdaptiveConcurrency(start=4, ceiling=6, clock=clock)
    limit.answered(1.0, running=1)  # not saturated: no reason to grow
    assert limit.current() == 4
    for _ in range(5):
        limit.answered(1.0, running=limit.current())
    assert limit.current() == 6


def test_it_stops_growing_when_answers_slow_down() -> None:
    limit = AdaptiveConcurrency(start=4, ceiling=100, clock=Clock())
    limit.answered(1.0, running=4)
    assert limit.current() == 5
    for _ in range(10):
        limit.answered(3.0, running=5)  # three times slower than the best seen
    assert limit.current() < 8


def test_a_429_halves_once_and_pauses_until_retry_info() -> None:
    clock = Clock()
    limit = AdaptiveConcurrency(start=32, ceiling=100, clock=clock)
    for _ in range(5):  # the calls in flight all come back refused
        limit.throttled(7.0)
    assert limit.current() == 0  # paused
    assert limit.paused_for() == 7.0
    clock.now += 7.0
    assert limit.current() == 16  # halved once, not five times
    limit.throttled(None)  # no RetryInfo: a default pause
    assert limit.paused_for() > 0
    clock.now += 60
    assert limit.current() == 8


def test_a_fixed_limit_pauses_after_a_429_but_does_not_shrink() -> None:
    clock = Clock()
    limit = Concurrency(4, clock=clock)
    limit.throttled(3.0)
    assert limit.current() == 0
    clock.now += 3
    assert limit.current() == 4
    limit.answered(2.0, running=4)
    limit.answered(1.0, running=4)
    assert limit.latency_s is not None
    assert 1.0 < limit.latency_s < 2.0  # smoothed
