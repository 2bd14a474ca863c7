"""What the SQLite and PostgreSQL stores share: how jobs, conversations and processes map to
table rows (the same columns in both), which jobs belong to some shards, and which exchanges
of a job chain a history keeps."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol, TypeVar

from bot.jobs.quotas import Admission
from bot.jobs.records import (
    Conversation,
    Job,
    JobRequest,
    JobState,
    Reference,
    ReferenceKind,
    Report,
)
from bot.jobs.shards import SNOWFLAKE_TIME_SHIFT, Shards
from bot.store.base import HistoryLimits, JobChanges, ProcessEntry

JOB_COLUMNS = (
    "id, kind, state, user_id, guild_id, channel_id, thread_id, message_id, reply_to, "
    "home_channel_id, request, error_kind, error_message, cost_usd, outputs, chosen, "
    "parent_job, seq, attempts, lane, dedupe, created_at, started_at, finished_at, shown_at, "
    "report, reserved_usd, reserved_images, charged_at, parent_candidate, previous_head, "
    "previous_candidate"
)
JOB_COLUMN_COUNT = JOB_COLUMNS.count(",") + 1
SEQ_COLUMN = JOB_COLUMNS.split(", ").index("seq")
CONVERSATION_COLUMNS = (
    "thread_id, guild_id, channel_id, owner_id, workflow, model, aspect_ratio, image_size, "
    "head_job, created_at, updated_at, head_candidate"
)
CONVERSATION_COLUMN_COUNT = CONVERSATION_COLUMNS.count(",") + 1
REFERENCE_COLUMNS = "guild_id, owner_id, name, kind, sha256, created_at"
PROCESS_COLUMNS = "id, shard_count, shard_ids, host, started_at, heartbeat_at"
ACTIVE = "('queued', 'running')"  # the states of a job that waits or runs
ENDED = "('pending', 'queued', 'running')"  # NOT IN these: the job has its outcome
# The jobs whose thread is still owed (a WHERE or ORDER BY may follow).
OWED_THREADS = "SELECT {} FROM threads_owed o JOIN jobs j ON j.id = o.job_id".format(
    ", ".join(f"j.{column}" for column in JOB_COLUMNS.split(", "))
)
DELETE_BATCH = 500  # rows per retention transaction


class NamedRow(Protocol):
    """A result row whose columns can be read by name (sqlite3.Row, asyncpg.Record)."""

    def __getitem__(self, key: str, /) -> Any: ...


TurnRow = TypeVar("TurnRow", bound=NamedRow)


def job_row(job: Job) -> tuple[Any, ...]:
    """The values of JOB_COLUMNS, in order."""
    return (
        job.id,
        job.kind,
        job.state.value,
        job.user_id,
        job.guild_id,
        job.channel_id,
        job.thread_id,
        job.message_id,
        job.reply_to,
        job.home_channel_id,
        job.request.model_dump_json(),
        job.error_kind,
        job.error_message,
        job.cost_usd,
        json.dumps(job.outputs),
        job.chosen,
        job.parent_job,
        job.seq,
        job.attempts,
        job.lane,
        job.dedupe,
        job.created_at,
        job.started_at,
        job.finished_at,
        job.shown_at,
        job.report.model_dump_json() if job.report else None,
        job.reserved_usd,
        job.reserved_images,
        job.charged_at,
        job.parent_candidate,
        job.previous_head,
        job.previous_candidate,
    )


def job_from_row(row: Iterable[Any]) -> Job:
    """The job from the values of JOB_COLUMNS."""
    (id_, kind, state, user, guild, channel, thread, message, reply_to, home, request, *rest) = row
    error_kind, error_message, cost, outputs, chosen, parent, seq, attempts, *rest = rest
    lane, dedupe, created, started, finished, shown, report, *rest = rest
    reserved_usd, reserved_images, charged_at, parent_candidate, previous, previous_candidate = rest
    return Job(
        id=id_,
        kind=kind,
        user_id=user,
        guild_id=guild,
        channel_id=channel,
        request=JobRequest.model_validate_json(request),
        thread_id=thread,
        message_id=message,
        reply_to=reply_to,
        home_channel_id=home,
        state=JobState(state),
        error_kind=error_kind,
        error_message=error_message,
        cost_usd=cost,
        outputs=tuple(json.loads(outputs)),
        chosen=chosen,
        parent_job=parent,
        seq=seq,
        attempts=attempts,
        lane=lane,
        dedupe=dedupe,
        created_at=created,
        started_at=started,
        finished_at=finished,
        shown_at=shown,
        report=Report.model_validate_json(report) if report else None,
        reserved_usd=reserved_usd,
        reserved_images=reserved_images,
        charged_at=charged_at,
        parent_candidate=parent_candidate,
        previous_head=previous,
        previous_candidate=previous_candidate,
    )


def transition_values(
    target: JobState, changes: JobChanges, now: float, admission: Admission | None = None
) -> dict[str, Any]:
    """The columns a transition to `target` writes (the new state included), by name. A job
    queued again starts afresh: its earlier run's times, error, cost and report are cleared
    (the store gives it a new place in line, unless `changes.keep_place`); with an
    admission it reserves what the admission says, counted from the admission's time."""
    values: dict[str, Any] = {"state": target.value}
    if target is JobState.QUEUED:
        values.update(started_at=None, finished_at=None, shown_at=None, error_kind=None)
        values.update(error_message=None, cost_usd=0.0, report=None)
    elif target is not JobState.RUNNING:
        values["finished_at"] = now
    if changes.request is not None:
        values["request"] = changes.request.model_dump_json()
    if changes.message_id is not None:
        values["message_id"] = changes.message_id
    if changes.error_kind is not None:
        values.update(error_kind=changes.error_kind, error_message=changes.error_message)
    if changes.report is not None:
        values["report"] = changes.report.model_dump_json()
    if target is JobState.QUEUED and admission is not None:
        values.update(reserved_usd=admission.usd, reserved_images=admission.images)
        values["charged_at"] = admission.now
    return values


def shard_filter(shards: Shards, guild_column: str = "guild_id") -> str:
    """SQL (both dialects) true for the jobs of `shards`: a server's jobs belong to its shard,
    jobs without one to shard 0, as Discord routes their events. The numbers are ints,
    written into the SQL."""
    if shards.everything:
        return "1 = 1"
    assert shards.count is not None
    ids = ", ".join(str(int(shard)) for shard in sorted(shards.ids))
    return (
        f"((COALESCE({guild_column}, 0) >> {SNOWFLAKE_TIME_SHIFT}) % {int(shards.count)}) "
        f"IN ({ids})"
    )


def process_row(process: ProcessEntry) -> tuple[Any, ...]:
    """The values of PROCESS_COLUMNS, in order."""
    shards = process.shards
    return (
        process.id,
        shards.count,
        json.dumps(sorted(shards.ids)),
        process.host,
        process.started_at,
        process.heartbeat_at,
    )


def process_from_row(row: Iterable[Any]) -> ProcessEntry:
    process_id, count, ids, host, started_at, heartbeat_at = row
    shards = Shards(count, frozenset(json.loads(ids)))
    return ProcessEntry(process_id, shards, host, started_at, heartbeat_at)


def conversation_row(c: Conversation, *, head_job: str, updated_at: float) -> tuple[Any, ...]:
    """The values of CONVERSATION_COLUMNS, in order."""
    return (
        c.thread_id,
        c.guild_id,
        c.channel_id,
        c.owner_id,
        c.workflow,
        c.model,
        c.aspect_ratio,
        c.image_size,
        head_job,
        c.created_at,
        updated_at,
        c.head_candidate,
    )


def reference_from_row(row: Iterable[Any]) -> Reference:
    """The reference from the values of REFERENCE_COLUMNS."""
    guild_id, owner_id, name, kind, sha256, created_at = row
    return Reference(guild_id, owner_id, name, ReferenceKind(kind), sha256, created_at)


def exchanges(rows_newest_first: Iterable[TurnRow]) -> list[list[TurnRow]]:
    """The chain's turns (rows with depth and role) grouped per job, newest job first; jobs
    without a complete user+model exchange are skipped."""
    by_depth: dict[int, list[TurnRow]] = {}
    for row in rows_newest_first:
        by_depth.setdefault(row["depth"], []).append(row)
    return [
        turns
        for _, turns in sorted(by_depth.items())
        if {"user", "model"} <= {turn["role"] for turn in turns}
    ]


def within_budget(
    exchanges_newest_first: list[list[TurnRow]], limits: HistoryLimits
) -> list[TurnRow]:
    """The longest run of newest exchanges within the image and byte limits, oldest first."""
    chosen: list[TurnRow] = []
    images = size = 0
    for turns in exchanges_newest_first:
        images += sum(turn["image_count"] for turn in turns)
        size += sum(turn["image_bytes"] for turn in turns)
        if images > limits.max_images or size > limits.max_bytes:
            break
        chosen[:0] = turns
    return chosen
