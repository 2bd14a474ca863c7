"""What the job machinery tells an observer (the job log line and the metrics), and when.

The pipeline, the dispatcher and the intake call these at the few points where something
happens to a job; they never depend on what the observer does with it. `NO_EVENTS` ignores
everything (tests and tools that need no observer).
"""

from __future__ import annotations

from typing import Protocol

from bot.jobs.records import Job


class JobEvents(Protocol):
    def finished(self, job: Job, *, posted: bool = True) -> None:
        """`job` reached its outcome in this process (`job.state`: delivered, blocked,
        failed, cancelled or interrupted); `posted`: its message shows it."""

    def throttled(self, job: Job) -> None:
        """Gemini's per-minute quota ran out for `job`: it is back in line, not finished."""

    def queue_seen(self, depth: int) -> None:
        """The dispatcher read the queue: `depth` jobs are waiting."""


class _NoEvents:
    def finished(self, job: Job, *, posted: bool = True) -> None:
        pass

    def throttled(self, job: Job) -> None:
        pass

    def queue_seen(self, depth: int) -> None:
        pass


NO_EVENTS: JobEvents = _NoEvents()
