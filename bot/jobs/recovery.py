"""After a restart: nothing accepted is lost, nothing paid for goes unposted.

- Jobs that were running lost their model call with the process: they become `interrupted`
  and their owner gets a notice with Retry (a job that never started costs nothing yet, so it
  simply stays in the queue and runs).
- Outcomes that were stored but never posted (posting failed, or the bot stopped in between)
  are posted now.
- Jobs still waiting are told they are back in line.
- Threads owed to results already posted are opened.

`interrupt_running` is quick (store only) and must run before the dispatcher starts claiming;
`catch_up` talks to Discord and runs in the background. `put_back` is the other end: a clean
shutdown puts the jobs it could not wait for back in line, so they simply run again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bot.jobs.display import Waiting
from bot.jobs.events import NO_EVENTS, JobEvents
from bot.jobs.pipeline import JobPipeline
from bot.jobs.records import JobState
from bot.store import JobChanges, Store

log = logging.getLogger(__name__)

INTERRUPTED_TEXT = "The bot restarted while this was being made."


async def interrupt_running(store: Store, events: JobEvents = NO_EVENTS) -> int:
    interrupted = 0
    for job in await store.jobs_in([JobState.RUNNING]):
        changes = JobChanges(error_kind="interrupted", error_message=INTERRUPTED_TEXT)
        moved = await store.transition(job.id, [JobState.RUNNING], JobState.INTERRUPTED, changes)
        if moved is not None:
            events.finished(moved, posted=False)
            interrupted += 1
    if interrupted:
        log.info("%d job(s) were interrupted by the restart", interrupted)
    return interrupted


async def put_back(store: Store, job_ids: Iterable[str]) -> int:
    """Jobs this process stopped running (a shutdown past its grace period) wait again, in
    the place they had, and run after the restart: nothing was paid for yet."""
    back = 0
    for job_id in job_ids:
        changes = JobChanges(keep_place=True)
        if await store.transition(job_id, [JobState.RUNNING], JobState.QUEUED, changes):
            back += 1
    if back:
        log.info("%d job(s) put back in line; they run after the restart", back)
    return back


async def catch_up(store: Store, pipeline: JobPipeline, *, started_at: float) -> None:
    """`started_at`: when this process started; newer jobs were not held up by a restart."""
    await pipeline.threads.resume()
    unshown = await store.unshown_jobs()
    for job in unshown:
        await pipeline.deliver(job)
    queued = [place for place in await store.queue() if place.job.created_at < started_at]
    for place in queued:
        await pipeline.show_progress(
            place.job,
            Waiting(place.ahead, place.behind_own_lane, requeued=True, paused=place.paused),
        )
    if unshown or queued:
        log.info(
            "after the restart: %d outcome(s) posted, %d job(s) back in line",
            len(unshown),
            len(queued),
        )
