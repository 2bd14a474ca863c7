"""A process among those sharing the store (`Membership`), on both stores with a clock the
test moves: it keeps to its own shards until the processes started with it had time to
join, then also takes the shards no live process serves, and gives them back when their
process appears; a process replaced by another for its shards learns it at its next beat."""

from __future__ import annotations

from typing import cast

import pytest

from bot.jobs.dispatcher import Dispatcher
from bot.jobs.pipeline import JobPipeline
from bot.jobs.processes import Membership
from bot.jobs.shards import ALL_SHARDS, Shards
from bot.store import ProcessEntry, Store

pytestmark = pytest.mark.asyncio(loop_scope="function")

ZERO, ONE, BOTH = Shards.of(2, [0]), Shards.of(2, [1]), Shards.of(2)
TAKEOVER_S = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Claims:
    """The dispatcher's side: which shards it claims for, and whether it was told."""

    def __init__(self) -> None:
        self.shards = ALL_SHARDS
        self.woken = 0

    def wake(self) -> None:
        self.woken += 1


def member(store: Store, clock: Clock, claims: Claims) -> Membership:
    return Membership(
        store=store,
        pipeline=cast(JobPipeline, None),  # posts only adopted outcomes: none here
        dispatcher=cast(Dispatcher, claims),
        process_id="zero",
        shards=ZERO,
        takeover_after_s=TAKEOVER_S,
        on_replaced=lambda: None,  # `run` calls it when `beat` says so
        clock=clock,
    )


async def test_a_new_process_takes_unserved_shards_only_once_others_had_time_to_join(
    store: Store,
) -> None:
    clock, claims = Clock(), Claims()
    zero = member(store, clock, claims)
    assert await zero.join() == []
    assert claims.shards == ZERO  # shard 1's process may be starting too
    clock.now += TAKEOVER_S / 2
    assert await zero.beat()
    assert claims.shards == ZERO
    clock.now += TAKEOVER_S
    assert await zero.beat()
    assert claims.shards == BOTH  # nobody came for shard 1: its jobs are this one's too
    woken = claims.woken
    await store.register_process(ProcessEntry("one", ONE, "host/one", clock.now, clock.now))
    clock.now += 1
    assert await zero.beat()
    assert claims.shards == ZERO
    assert claims.woken == woken + 1


async def test_a_process_learns_at_its_next_beat_that_another_replaced_it(store: Store) -> None:
    clock, claims = Clock(), Claims()
    zero = member(store, clock, claims)
    await zero.join()
    await store.register_process(ProcessEntry("zero-2", ZERO, "host/2", clock.now, clock.now))
    assert not await zero.beat()
