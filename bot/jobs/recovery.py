"""After a process is gone (restarted, crashed, or silent too long): nothing accepted is lost,
nothing paid for goes unposted.

The jobs of a gone process are adopted by exactly one other process (`Store.adopt_orphans`,
see `bot.jobs.processes`): at start-up a process adopts those of the run it replaces, and
while running those of a process that stopped answering.
- Jobs that were running lost their model call with their process: they become `interrupted`
  and their owner gets a notice with Retry (a job that never started costs nothing yet, so it
  simply stays in the queue and runs).
- Outcomes that were stored but never posted (posting failed, or the process stopped in
  between) are posted now.
- After a restart, jobs still waiting are told they are back in line.

`interrupt_orphans` is quick (store only); `post_outcomes` and `catch_up` talk to Discord.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bot.jobs.display import Waiting
from bot.jobs.pipeline import JobPipeline
from bot.jobs.records import Job, JobState
from bot.jobs.shards import Shards
from bot.store import JobChanges, Store

log = logging.getLogger(__name__)

INTERRUPTED_TEXT = "The bot restarted while this was being made."


async def interrupt_orphans(store: Store, adopted: Iterable[Job]) -> list[Job]:
    """The adopted jobs to post: those that were running become interrupted first (one whose
    process finished it after all is left to that process)."""
    outcomes: list[Job] = []
    interrupted = 0
    for job in adopted:
        if job.state is JobState.RUNNING:
            moved = await _interrupt(store, job)
            if moved is None:
                continue
            job = moved
            interrupted += 1
        outcomes.append(job)
    if interrupted:
        log.info("%d job(s) were interrupted: the process making them is gone", interrupted)
    return outcomes


async def _interrupt(store: Store, job: Job) -> Job | None:
    changes = JobChanges(error_kind="interrupted", error_message=INTERRUPTED_TEXT)
    return await store.transition(job.id, [JobState.RUNNING], JobState.INTERRUPTED, changes)


async def post_outcomes(pipeline: JobPipeline, jobs: Iterable[Job]) -> int:
    """Post adopted outcomes; how many could be posted."""
    posted = 0
    for job in jobs:
        posted += await pipeline.deliver(job)
    return posted


async def catch_up(
    store: Store,
    pipeline: JobPipeline,
    outcomes: Iterable[Job],
    *,
    shards: Shards,
    started_at: float,
) -> None:
    """Once connected after a start: post the outcomes adopted from the run before, and tell
    the waiting jobs of this process's `shards` they are back in line. `started_at`: when
    this process started; newer jobs were not held up by a restart."""
    posted = await post_outcomes(pipeline, outcomes)
    queued = [
        place
        for place in await store.queue()
        if place.job.created_at < started_at and shards.serves(place.job.guild_id)
    ]
    for place in queued:
        await pipeline.show_progress(
            place.job,
            Waiting(place.ahead, place.behind_own_lane, requeued=True, paused=place.paused),
        )
    if posted or queued:
        log.info(
            "after the restart: %d outcome(s) posted, %d job(s) back in line",
            posted,
            len(queued),
        )
