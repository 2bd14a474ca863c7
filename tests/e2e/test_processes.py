"""Processes sharing a store, in one test process: a second bot started for the same shards
(here: every shard, on the same database) replaces the first one, which stops by itself, so
two never answer the same server; the new one serves."""

from __future__ import annotations

import re

from tests.conftest import ErrorCollector
from tests.e2e.conftest import Harness, settings_for

TAKEOVER_S = 5.0  # [jobs] takeover_after_s, its smallest value: a heartbeat every 1.25 s


async def test_a_process_started_for_the_same_shards_replaces_the_running_one(
    harness: Harness, expect_logged_errors: ErrorCollector
) -> None:
    expect_logged_errors.expected.append(re.compile(r"another process was started for all"))
    settings = settings_for(
        harness.discord,
        harness.gemini,
        harness.settings.storage.path,
        jobs={"takeover_after_s": TAKEOVER_S},
    )
    await harness.stop_bot()
    first = await harness.start_bot(settings)
    second = await harness.start_bot(settings)

    await harness.discord.wait_for(first.is_closed, 2 * TAKEOVER_S)
    assert not second.is_closed()
    (record,) = expect_logged_errors.records
    assert "give each process its own [discord] shard_ids" in record.getMessage()
    interaction = await harness.imagine("a lighthouse")
    assert interaction.original is not None
    assert interaction.original["attachments"]
