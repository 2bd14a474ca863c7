"""The storage interface. SQLite implements it; PostgreSQL (several processes) can too.

Callers depend on this protocol only, never on SQL. Everything that must hold across
processes lives behind it as transactions: the queue (jobs are claimed, not handed out in
memory), each job's state (compare-and-set transitions), and conversations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from google.genai import types

from bot.jobs.records import Conversation, Job, JobRequest, JobState, Report
from bot.media import Media


@dataclass(frozen=True)
class HistoryLimits:
    max_turns: int  # earlier user+model exchanges to send back
    max_images: int  # images the model accepts in one request, history included
    max_bytes: int  # image bytes the history may carry (requests have a size limit)


@dataclass(frozen=True)
class CleanupReport:
    conversations: int
    jobs: int
    images: int


@dataclass(frozen=True)
class Exchange:
    """One model call of a job: what was sent and what came back, to replay as history."""

    user: types.Content
    model: types.Content
    candidate: int = 0  # which of the job's side-by-side calls


@dataclass(frozen=True)
class Outcome:
    """How a running job ended, with everything to keep, written in one transaction."""

    state: JobState
    parent_job: str | None = None
    outputs: Sequence[Media] = ()
    exchanges: Sequence[Exchange] = ()
    cost_usd: float = 0.0
    error_kind: str | None = None
    error_message: str | None = None
    report: Report | None = None


@dataclass(frozen=True)
class QueuePlace:
    job: Job
    ahead: int  # queued jobs before this one
    behind_own_lane: bool  # waiting for an earlier job of the same conversation


@dataclass
class JobChanges:
    """Fields a transition may change besides the state."""

    request: JobRequest | None = None
    message_id: int | None = None
    error_kind: str | None = None
    error_message: str | None = None
    report: Report | None = None
    keep_place: bool = False  # to `queued`: keep the job's place in line, not the end


class DuplicateJobError(Exception):
    """An equal job (same `dedupe` key) is already waiting or running."""

    def __init__(self, dedupe: str) -> None:
        super().__init__(dedupe)
        self.dedupe = dedupe


class Store(Protocol):
    async def close(self) -> None: ...

    async def write_problem(self) -> str | None:
        """Why the store cannot take a write right now, or None when it can. Cheap enough
        for a health check: starts a write transaction and rolls it back."""

    # Jobs ---------------------------------------------------------------------------------
    async def add_job(self, job: Job, inputs: Sequence[Media] = ()) -> Job:
        """Record a new job (pending or queued) with its validated input images, in one
        transaction; a queued job gets its place in line. DuplicateJobError when a job with
        the same `dedupe` key is already waiting or running."""

    async def get_job(self, job_id: str) -> Job | None: ...

    async def transition(
        self,
        job_id: str,
        sources: Iterable[JobState],
        target: JobState,
        changes: JobChanges | None = None,
    ) -> Job | None:
        """Move the job to `target` if it is in one of `sources` (else None: somebody else
        moved it first). To `queued`, it gets a new place at the end of the line (unless
        `changes.keep_place`)."""

    async def claim_next(self, *, max_running: int, max_per_user: int) -> Job | None:
        """The first queued job that may start (a free slot, a free slot of its member, no
        earlier job of its lane waiting or running), moved to `running`; None if none may."""

    async def queue(self) -> list[QueuePlace]:
        """Every queued job, in order."""

    async def finish(self, job_id: str, outcome: Outcome) -> Job | None:
        """A running job's outcome, with its images and exchanges; a delivered job of a
        conversation becomes its head. None when the job is no longer running (cancelled)."""

    async def mark_shown(self, job_id: str, message_id: int, channel_id: int) -> None:
        """The outcome is posted (as this message, which may have moved elsewhere)."""

    async def set_message(self, job_id: str, message_id: int, channel_id: int) -> None:
        """The message that shows the job (created after it was accepted)."""

    async def jobs_in(self, states: Iterable[JobState]) -> list[Job]: ...

    async def unshown_jobs(self) -> list[Job]:
        """Jobs whose outcome is stored but was never posted."""

    async def revise_pending(self, job_id: str, request: JobRequest) -> Job | None:
        """A pending job's new request (its owner edited the prompt); None if not pending."""

    # Images -------------------------------------------------------------------------------
    async def get_image(self, sha256: str) -> Media | None: ...

    async def get_images(self, digests: Sequence[str]) -> list[Media]:
        """The stored images, in the order asked (missing ones left out)."""

    # Conversations ------------------------------------------------------------------------
    async def get_conversation(self, thread_id: int) -> Conversation | None: ...

    async def open_conversation(self, conversation: Conversation, job_id: str) -> None:
        """A new conversation whose head is `job_id`, which joins it."""

    async def set_head(self, thread_id: int, job_id: str, chosen: int) -> None:
        """Continue the conversation from image `chosen` of `job_id`."""

    async def history(self, head_job: str, limits: HistoryLimits) -> list[types.Content]:
        """The exchanges that led to `head_job`'s image, it included, oldest first: the
        newest ones that fit `limits` (older ones are dropped first)."""

    async def delete_older_than(self, cutoff: float) -> CleanupReport:
        """Delete conversations untouched since `cutoff` (epoch seconds), finished jobs no
        conversation needs, and images nothing refers to, in small batches."""
