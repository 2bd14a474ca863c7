"""Which shard a server's events go to, and whose jobs a process may claim."""

from __future__ import annotations

import pytest

from bot.jobs.shards import Shards, claimable, shard_of


def test_a_server_goes_to_the_shard_discord_computes() -> None:
    # Discord's docs: shard_id = (guild_id >> 22) % num_shards; serenity's own example.
    assert shard_of(81384788765712384, 17) == 7
    assert shard_of(None, 4) == 0  # direct messages: shard 0 only
    assert Shards(2, frozenset({1})).serves(1 << 22)
    assert not Shards(2, frozenset({1})).serves(None)
    assert Shards().serves(81384788765712384)  # all shards


@pytest.mark.parametrize(("count", "ids"), [(2, [2]), (0, [0]), (3, [])])
def test_shard_ids_must_lie_within_the_count(count: int, ids: list[int]) -> None:
    with pytest.raises(ValueError, match="not within"):
        Shards.of(count, ids)


def test_a_process_claims_its_own_shards_and_those_nobody_serves() -> None:
    mine = Shards.of(4, [0])
    others = [Shards.of(4, [1]), mine]
    assert claimable(mine, others) == Shards.of(4, [0, 2, 3])
    assert claimable(mine, [*others, Shards.of(4, [2, 3])]) == mine
    assert claimable(mine, [Shards()]) == mine  # someone connects every shard
    assert claimable(Shards(), []) == Shards()


def test_layouts_overlap_when_they_share_a_shard_or_differ() -> None:
    assert Shards.of(2, [0]).overlaps(Shards.of(2, [0, 1]))
    assert not Shards.of(2, [0]).overlaps(Shards.of(2, [1]))
    assert Shards.of(2, [0]).overlaps(Shards.of(4, [1]))  # a new layout replaces the old
    assert Shards().overlaps(Shards.of(2, [1]))
    assert Shards.of(3, [2, 0]).describe() == "shard(s) 0, 2 of 3"
