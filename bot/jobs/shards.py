"""Discord shards: which servers a process serves, and so whose jobs it runs and posts.

Discord splits a bot's servers over `count` shards: a server's events (its commands, button
presses, messages) go to shard `(guild_id >> 22) % count`, events without a server (direct
messages) to shard 0. A process connects some shards (`[discord] shard_ids`), or all.

Jobs are routed the same way: a process claims the jobs of its own shards, so the process
that accepted a job (and holds its interaction and its server) is the one that runs it and
posts its outcome. A shard no live process serves (its process died) is an orphan: every
process may then claim its jobs, so nothing waits for a process that is not coming back.
Pure: the store applies `Shards` as a filter in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SNOWFLAKE_TIME_SHIFT = 22  # a snowflake's lower 22 bits are not its time


def shard_of(guild_id: int | None, count: int) -> int:
    """The shard Discord sends a server's events to (no server: shard 0)."""
    return ((guild_id or 0) >> SNOWFLAKE_TIME_SHIFT) % count


@dataclass(frozen=True)
class Shards:
    """Some of `count` shards, or every shard there is (`count` None: one process connects
    all of them, as many as Discord recommends)."""

    count: int | None = None
    ids: frozenset[int] = frozenset()

    @classmethod
    def of(cls, count: int, ids: Iterable[int] | None = None) -> Shards:
        """`ids` of `count` shards (None: all of them)."""
        chosen = frozenset(range(count) if ids is None else ids)
        if count < 1 or not chosen or not chosen <= frozenset(range(count)):
            raise ValueError(f"shard ids {sorted(chosen)} are not within 0..{count - 1}")
        return cls(count, chosen)

    @property
    def everything(self) -> bool:
        return self.count is None or len(self.ids) == self.count

    def serves(self, guild_id: int | None) -> bool:
        return self.count is None or shard_of(guild_id, self.count) in self.ids

    def overlaps(self, other: Shards) -> bool:
        """Both would receive some server's events (or one of them used another count:
        the other layout is being replaced)."""
        if self.count is None or other.count is None or self.count != other.count:
            return True
        return bool(self.ids & other.ids)

    def describe(self) -> str:
        if self.count is None:
            return "all shards"
        return f"shard(s) {', '.join(map(str, sorted(self.ids)))} of {self.count}"


ALL_SHARDS = Shards()


def claimable(mine: Shards, live: Iterable[Shards]) -> Shards:
    """The shards whose jobs this process may claim: its own, and every shard no live
    process serves (their process is gone)."""
    if mine.count is None:
        return mine
    served: set[int] = set()
    for other in live:
        if other.count is None:
            return mine  # every shard has a process
        if other.count == mine.count:
            served |= other.ids
    orphans = frozenset(range(mine.count)) - served
    return Shards(mine.count, mine.ids | orphans)
