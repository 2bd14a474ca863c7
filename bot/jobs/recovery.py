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
- After a restart, jobs still waiting are told they are back in line, and the threads owed
  to results of this process's shards already posted are opened (those of a shard whose
  process is gone wait for the shard's next process: only it knows none is being opened).

`interrupt_orphans` is quick (store only); `post_outcomes` and `catch_up` talk to Discord.
`put_back` is the other end: a clean shutdown puts the jobs it could not wait for back in
line, so they simply run again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bot.jobs.display import Waiting
from bot.jobs.events import NO_EVENTS, JobEvents
from bot.jobs.pipeline import JobPipeline
from bot.jobs.records import Job, JobState
from bot.jobs.shards import Shards
from bot.store import JobChanges, Store

log = logging.getLogger(__name__)

INTERRUPTED_TEXT = "The bot restarted while this was being made."


async def interrupt_orphans(
    store: Store, adopted: Iterable[Job], events: JobEvents = NO_EVENTS
) -> list[Job]:
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
            events.finished(moved, posted=False)
            interrupted += 1
        outcomes.append(job)
    if interrupted:
        log.info("%d job(s) were interrupted: the process making them is gone", interrupted)
    return outcomes


async def _interrupt(store: Store, job: Job) -> Job | None:
    changes = JobChanges(error_kind="interrupted", error_message=INTERRUPTED_TEXT)
    return await store.transition(job.id, [JobState.RUNNING], JobState.INTERRUPTED, changes)


async def put_back(store: Store, job_ids: Iterable[str]) -> int:
    """Jobs this process stopped running (a shutdown past its grace period) wait again, in
    the place they had, and run after the restart: nothing was paid for yet, and the start
    that was cut short does not count against the job's attempts."""
    back = 0
    for job_id in job_ids:
        changes = JobChanges(keep_place=True, uncounted=True)
        if await store.transition(job_id, [JobState.RUNNING], JobState.QUEUED, changes):
            back += 1
    if back:
        log.info("%d job(s) put back in line; they run after the restart", back)
    return back


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
    """Once connected after a start: open the threads owed in this process's `shards`, post
    the outcomes adopted from the run before, and tell the waiting jobs of `shards` they are
    back in line. `started_at`: when this process started; newer jobs were not held up by a
    restart."""
    await pipeline.threads.resume(shards)
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
