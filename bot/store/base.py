"""The storage interface. SQLite implements it today; PostgreSQL (several shards) can later.

Callers depend on this protocol only, never on SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from google.genai import types

from bot.records import Conversation, Job, StoredImage
from bot.store.codec import ImageBlob


@dataclass(frozen=True)
class HistoryLimits:
    max_turns: int  # earlier user+model exchanges to send back
    max_images: int  # images the model accepts in one request, history included


@dataclass(frozen=True)
class CleanupReport:
    conversations: int
    jobs: int
    images: int


class Store(Protocol):
    async def close(self) -> None: ...

    # Jobs
    async def add_job(self, job: Job, inputs: Sequence[ImageBlob] = ()) -> None:
        """Insert a job with its (already validated) input images, in one transaction; for a
        job that exists (a pending one being accepted), update its state and request."""

    async def save_job(self, job: Job, outputs: Sequence[ImageBlob] = ()) -> None:
        """Write a job's mutable fields (state, message, errors, times, cost), storing the
        images it produced (`outputs`) in the same transaction."""

    async def get_job(self, job_id: str) -> Job | None: ...

    async def unfinished_jobs(self) -> list[Job]:
        """Jobs queued or running (not pending ones, which wait for their owner)."""

    async def get_image(self, sha256: str) -> StoredImage | None: ...

    # Conversations
    async def get_conversation(self, thread_id: int) -> Conversation | None: ...

    async def record_turn(
        self,
        conversation: Conversation,
        job: Job,
        user: types.Content,
        model: types.Content | None,
        *,
        blocked: bool,
        outputs: Sequence[ImageBlob] = (),
    ) -> None:
        """In one transaction: upsert the conversation, add the user and model turns (with
        their images, stored once), store the job's `outputs`, and save the job. A blocked
        turn is kept for the record but never returned by `history`."""

    async def set_current_image(self, thread_id: int, sha256: str) -> None:
        """Make a stored image the one the conversation's next edit starts from."""

    async def history(
        self, thread_id: int, limits: HistoryLimits, *, before_job: str | None = None
    ) -> list[types.Content]:
        """The most recent complete, unblocked exchanges, oldest first, within `limits`;
        with `before_job`, only those that came before that job's turn."""

    async def delete_older_than(self, cutoff: float) -> CleanupReport:
        """Delete conversations and finished jobs untouched since `cutoff` (epoch seconds),
        then every image nothing refers to any more."""
