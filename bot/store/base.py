"""The storage interface. SQLite implements it; PostgreSQL (several processes) can too.

Callers depend on this protocol only, never on SQL. Everything that must hold across
processes lives behind it as transactions: the queue (jobs are claimed, not handed out in
memory), each job's state (compare-and-set transitions), conversations, and the quotas (a
job's reservation is checked and written in the transaction that queues it).

Usage counts the jobs accepted in a window (`charged_at`), each by its state: waiting or
running, its reservation (`reserved_usd`, `reserved_images`); delivered, its cost and the
images it showed; otherwise nothing. So a job that ends without a result gives its
reservation back by the same state change that ends it. A member's usage is summed over
their own jobs; a server's and the bot's over hourly totals that `finish` adds each
delivered job to (by the hour of its `charged_at`), plus their active jobs, so checking a
limit costs the same however busy the day was. Windows start and end on whole hours.

Several processes may share one store (PostgreSQL), each serving some Discord shards. Each
registers itself and beats a heartbeat; a job records the process that claimed it (`owner`).
A process claims the jobs of its shards (`Shards`), and adopts the jobs of a process that is
gone: no longer registered (a restart of the same shards replaced it) or silent too long.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.jobs.concurrency import Pace, PaceChange
from bot.jobs.quotas import Admission, LimitHit, Override, Usage, Window
from bot.jobs.records import Conversation, Job, JobRequest, JobState, Reference, Report
from bot.jobs.shards import ALL_SHARDS, Shards
from bot.media import Media
from bot.store.codec import StoredTurn


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

    user: StoredTurn
    model: StoredTurn
    candidate: int = 0  # which of the job's side-by-side calls


@dataclass(frozen=True)
class Outcome:
    """How a running job ended, with everything to keep, written in one transaction."""

    state: JobState
    parent_job: str | None = None
    parent_candidate: int = 0  # which of `parent_job`'s images it continued
    outputs: Sequence[Media] = ()
    exchanges: Sequence[Exchange] = ()
    cost_usd: float = 0.0
    error_kind: str | None = None
    error_message: str | None = None
    report: Report | None = None
    moves_head: bool = True  # a delivered job of a conversation becomes its head


@dataclass(frozen=True)
class QueuePlace:
    job: Job
    ahead: int  # queued jobs before this one
    behind_own_lane: bool  # waiting for an earlier job of the same conversation
    paused: str | None = None  # its server is paused (with this message): it does not start


@dataclass(frozen=True)
class MemberStanding:
    """Whether a member may start work in a server: the server's pause, the member's ban."""

    paused: str | None = None  # the message the admins left when they paused
    banned: bool = False


@dataclass(frozen=True)
class UsageLine:
    """One member's use of one model in a window (delivered and still-reserved jobs)."""

    user_id: int
    model: str
    jobs: int
    images: int
    usd: float


@dataclass(frozen=True)
class ProcessEntry:
    """A bot process sharing the store: the shards it serves, and when it was last alive."""

    id: str
    shards: Shards
    host: str  # hostname and pid, for the operator
    started_at: float
    heartbeat_at: float


@dataclass
class JobChanges:
    """Fields a transition may change besides the state."""

    request: JobRequest | None = None
    message_id: int | None = None
    error_kind: str | None = None
    error_message: str | None = None
    report: Report | None = None
    keep_place: bool = False  # back to queued where it was in line (not at the end)
    uncounted: bool = False  # the start that ends here does not count as an attempt


class QuotaExceededError(Exception):
    """The job would go past a limit; nothing was recorded. `hit` says which and by how much."""

    def __init__(self, hit: LimitHit) -> None:
        super().__init__(hit.limit.value)
        self.hit = hit


class DuplicateJobError(Exception):
    """An equal job (same `dedupe` key) is already waiting or running."""

    def __init__(self, dedupe: str) -> None:
        super().__init__(dedupe)
        self.dedupe = dedupe


class ReferenceLimitError(Exception):
    """The owner already has as many references as allowed; nothing was saved."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


class Store(Protocol):
    async def close(self) -> None: ...

    async def write_problem(self) -> str | None:
        """Why the store cannot take a write right now, or None when it can. Cheap enough
        for a health check: starts a write transaction and rolls it back."""

    # Jobs ---------------------------------------------------------------------------------
    async def add_job(
        self, job: Job, inputs: Sequence[Media] = (), admission: Admission | None = None
    ) -> Job:
        """Record a new job (pending or queued) with its validated input images, in one
        transaction; a queued job gets its place in line. A job recorded delivered (a branch:
        a copy of another job's image, nothing to run) has `inputs` as its outputs.
        DuplicateJobError when a job with the same `dedupe` key is already waiting or running.

        With `admission` (for a queued job), the same transaction reads the usage of
        `admission.window` (`usage`), runs `quotas.check` and writes the reservation
        (`reserved_usd`, `reserved_images`, `charged_at`); QuotaExceededError, with nothing
        recorded, when a limit would be passed. Admissions are serialised: no other
        admission may commit between the usage read and the insert (SQLite: BEGIN
        IMMEDIATE; PostgreSQL: e.g. `pg_advisory_xact_lock` on one key before the read, or
        SERIALIZABLE with retries), so concurrent jobs never pass a limit together."""

    async def get_job(self, job_id: str) -> Job | None: ...

    async def transition(
        self,
        job_id: str,
        sources: Iterable[JobState],
        target: JobState,
        changes: JobChanges | None = None,
        admission: Admission | None = None,
    ) -> Job | None:
        """Move the job to `target` if it is in one of `sources` (else None: somebody else
        moved it first). To `queued`, it gets a new place at the end of the line (unless
        `changes.keep_place`); with `admission`, also a new reservation, checked and written
        in the same serialised transaction as in `add_job` (QuotaExceededError: the job is
        left as it was)."""

    async def claim_next(
        self,
        *,
        max_running: int,
        max_per_user: int,
        owner: str | None = None,
        shards: Shards = ALL_SHARDS,
    ) -> Job | None:
        """The first queued job of `shards` that may start (a free slot: `max_running` counts
        the jobs running in every process; a free slot of its member; no earlier job of its
        lane waiting or running; its server not paused), moved to `running` and recorded as
        `owner`'s; None if none may."""

    async def queue(self) -> list[QueuePlace]:
        """Every queued job, in order (with its server's pause message, if paused)."""

    async def finish(self, job_id: str, outcome: Outcome) -> Job | None:
        """A running job's outcome, with its images and exchanges; a delivered job of a
        conversation becomes its head, keeping the head it replaced for Undo (unless
        `outcome.moves_head` is False), and its cost joins the hourly usage totals of the bot
        and its server, in the same transaction. None when the job is no longer running
        (cancelled)."""

    async def mark_shown(
        self, job_id: str, message_id: int, channel_id: int, *, thread_wanted: bool = False
    ) -> None:
        """The outcome is posted (as this message, which may have moved elsewhere); with
        `thread_wanted`, in the same transaction, a thread for its conversation is owed:
        `threads_owed` lists the job until `open_conversation` or `no_thread`."""

    async def open_conversation(self, conversation: Conversation, job_id: str) -> None:
        """The job's thread is open: in one transaction, a new conversation whose head is
        the job (which joins it), and the thread is no longer owed. Opening it twice changes
        nothing the second time."""

    async def no_thread(self, job_id: str) -> None:
        """Discord does not allow the job's thread: it is no longer owed."""

    async def threads_owed(self, shards: Shards = ALL_SHARDS) -> list[Job]:
        """Shown jobs of `shards` whose conversation's thread is still to open, oldest
        first."""

    async def owing_thread(self, message_id: int) -> Job | None:
        """The shown job whose result is this message, if its thread is still owed."""

    async def set_message(self, job_id: str, message_id: int, channel_id: int) -> None:
        """The message that shows the job (created after it was accepted)."""

    async def jobs_in(self, states: Iterable[JobState]) -> list[Job]: ...

    async def revise_pending(self, job_id: str, request: JobRequest) -> Job | None:
        """A pending job's new request (its owner edited the prompt); None if not pending."""

    async def recent_jobs(self, user_id: int, guild_id: int | None, limit: int) -> list[Job]:
        """The member's newest jobs in this server (or outside any), newest first."""

    # Processes sharing the store ------------------------------------------------------------
    async def register_process(self, process: ProcessEntry) -> list[ProcessEntry]:
        """Add `process`, replacing (removing) every process whose shards overlap its own: a
        restart of the same shards, or a new layout. Their jobs are orphans from now on.
        Returns the replaced processes."""

    async def heartbeat(self, process_id: str, now: float) -> bool:
        """The process is alive at `now`; False when it is no longer registered (replaced)."""

    async def deregister_process(self, process_id: str) -> None: ...

    async def processes(self) -> list[ProcessEntry]:
        """Every registered process, silent ones included (`heartbeat_at` says)."""

    async def adopt_orphans(
        self, owner: str, shards: Shards, *, alive_since: float, unowned: bool = False
    ) -> list[Job]:
        """Jobs of `shards` whose process is gone (not registered, or no heartbeat since
        `alive_since`): running ones, and ended ones never shown; with `unowned` also ended
        ones never claimed (cancelled while waiting) and never shown. Each becomes `owner`'s
        atomically: no two processes adopt the same job."""

    async def pace(self) -> Pace | None:
        """The shared pace of the concurrency limit; None until a process wrote one."""

    async def update_pace(self, change: PaceChange) -> Pace:
        """Store `change(pace, running)`, with `running` the jobs running in every process,
        atomically (no other change in between)."""

    # Quotas and admin controls -------------------------------------------------------------
    async def usage(self, user_id: int, guild_id: int | None, window: Window) -> Usage:
        """What counts against the limits of this member, their server and the bot in
        `window`, and the member's waiting jobs and latest acceptance. A plain read (the
        admission re-reads it inside its own transaction)."""

    async def usage_lines(self, guild_id: int, window: Window) -> list[UsageLine]:
        """The server's use in `window`, per member and model (members with most spent
        first). A plain read."""

    async def charged_jobs(self, guild_id: int, window: Window) -> list[Job]:
        """The server's jobs that count in `window` (every job accepted in it, ended or not),
        oldest first. A plain read."""

    async def quota_overrides(self, guild_id: int) -> list[Override]:
        """The limits admins set in this server, oldest first."""

    async def set_quota_override(
        self, guild_id: int, override: Override, *, by_user: int, now: float
    ) -> None:
        """Set (replace) one limit for one member or role in this server, atomically."""

    async def clear_quota_override(self, guild_id: int, override: Override) -> bool:
        """Remove the limit `override` names (its value is ignored); False if none was set."""

    async def standing(self, guild_id: int | None, user_id: int) -> MemberStanding:
        """Whether the server is paused and the member banned there. A plain read."""

    async def pause(self, guild_id: int, message: str, *, by_user: int, now: float) -> None:
        """Pause the server (or change the message of its pause), atomically: from the
        commit on, `claim_next` starts none of its jobs."""

    async def resume(self, guild_id: int) -> bool:
        """Lift the server's pause; False if it was not paused."""

    async def ban(
        self, guild_id: int, user_id: int, *, by_user: int, reason: str, now: float
    ) -> bool:
        """Ban the member from the bot in this server; False if already banned."""

    async def unban(self, guild_id: int, user_id: int) -> bool:
        """Lift the ban; False if there was none."""

    # Images -------------------------------------------------------------------------------
    async def get_image(self, sha256: str) -> Media | None: ...

    async def get_images(self, digests: Sequence[str]) -> list[Media]:
        """The stored images, in the order asked (missing ones left out)."""

    # Conversations ------------------------------------------------------------------------
    async def get_conversation(self, thread_id: int) -> Conversation | None: ...

    async def set_head(self, thread_id: int, job_id: str, chosen: int) -> None:
        """Continue the conversation from image `chosen` of `job_id` (which becomes the image
        that job's buttons work on, too). ValueError when the job has no such image."""

    async def history(
        self, head_job: str, limits: HistoryLimits, candidate: int | None = None
    ) -> list[StoredTurn]:
        """The turns of the exchanges that led to image `candidate` of `head_job` (None: the
        one it shows), it included, oldest first: each earlier job's exchange is the one of
        the image the next continued. The newest exchanges that fit `limits` (older ones are
        dropped first)."""

    # References ---------------------------------------------------------------------------
    async def save_reference(self, reference: Reference, image: Media, *, limit: int) -> bool:
        """Save `reference` with its image, replacing the owner's reference of the same name
        (names compare case-insensitively); True when it replaced one. ReferenceLimitError,
        with nothing saved, when the owner has `limit` others already (0: no limit)."""

    async def references(self, guild_id: int, user_id: int) -> list[Reference]:
        """The member's own references in this server and the server's, by name."""

    async def delete_reference(self, guild_id: int, owner_id: int, name: str) -> bool:
        """False when the owner has no reference of that name."""

    async def delete_older_than(self, cutoff: float) -> CleanupReport:
        """Delete conversations untouched since `cutoff` (epoch seconds), finished jobs no
        conversation needs, images nothing refers to (saved references keep theirs) and hourly
        usage totals before it, in small batches."""
