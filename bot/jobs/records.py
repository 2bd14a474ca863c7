"""What the bot keeps about jobs and conversations. Plain data: no I/O, no Discord.

A job is one request (prompt, options, input images) and its life; see `bot.jobs.states` for
the states and the transitions between them. A conversation is a thread the bot opened for
an image: its `head_job` is the job whose image the next edit continues from, and the
conversation's history is the chain of jobs behind it (each job knows its `parent_job`), so
undo, branches and restarts all replay exactly what was sent and received.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.safety import Block

_JOB_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o/1/l: easy to read aloud


def new_job_id() -> str:
    # 8 random bytes, each picking one of the 32 letters (32 divides 256: no bias).
    return "".join(_JOB_ID_ALPHABET[byte % 32] for byte in secrets.token_bytes(8))


class JobState(StrEnum):
    PENDING = "pending"  # waits for its owner (a briefing, a form): nothing reserved or run
    QUEUED = "queued"  # accepted: waits for its conversation's turn and a free slot
    RUNNING = "running"  # the model is working on it
    DELIVERED = "delivered"  # the result is stored (`shown_at` says when it was posted)
    BLOCKED = "blocked"  # the model refused or a safety filter withheld the image
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the bot stopped while the model was working on it


WAITING_OR_RUNNING = frozenset({JobState.QUEUED, JobState.RUNNING})
OUTCOMES = frozenset(
    {
        JobState.DELIVERED,
        JobState.BLOCKED,
        JobState.FAILED,
        JobState.CANCELLED,
        JobState.INTERRUPTED,
    }
)


class Basis(StrEnum):
    """What a job builds on, decided when it is accepted; the history itself is read when it
    starts, so edits queued behind each other each see the one before."""

    NEW = "new"  # only the prompt and the job's own input images
    CONVERSATION = "conversation"  # the conversation's current image, with its history
    AFTER = "after"  # `parent`'s image, with the history that led to it
    IMAGE = "image"  # `parent`'s image as an input, without history (e.g. upscale)


class JobRequest(BaseModel):
    """Everything needed to run (or re-run) a job, stored as JSON with it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str
    model: str
    aspect_ratio: str | None = None
    image_size: str | None = None
    input_images: tuple[str, ...] = ()  # sha256 hex of stored, normalised uploads
    workflow: str = "imagine"
    redo: bool = True  # offer Reroll / Refine / Upscale / style buttons on the result
    count: int = Field(1, ge=1, le=4)  # images made side by side (one model call each)
    thinking_level: str | None = None  # e.g. "MINIMAL" or "HIGH", where the model has it
    response_modalities: tuple[str, ...] = ("TEXT", "IMAGE")
    tools: tuple[str, ...] = ()  # "google_search": ground the answer in Google Search
    person_generation: str | None = None  # Vertex AI: "ALLOW_ALL", "ALLOW_ADULT", "ALLOW_NONE"
    safety: tuple[tuple[str, str], ...] = ()  # (harm category, block threshold) settings
    duration_s: int | None = None  # a video's length (None: the model's default)
    audio: bool = False  # a video with sound
    # What the model is asked: an image from Gemini, a video from an image (Veo), or the
    # image enlarged as it is (Imagen's upscaler).
    call: Literal["generate", "animate", "upscale"] = "generate"
    basis: Basis = Basis.NEW
    parent: str | None = None  # the job `basis` AFTER or IMAGE builds on
    # Which of `parent`'s images (None: the one it shows when this job starts).
    parent_output: int | None = None
    source_message: tuple[int, int] | None = None  # (channel, message) whose images to edit
    # Saved references brought in (their images are among `input_images`, after the
    # uploads), those named but left out for the model's limit, and what each is for.
    references: tuple[str, ...] = ()
    left_out: tuple[str, ...] = ()
    hints: str = ""  # sent after the prompt, never shown as the prompt
    prompts: int = 0  # /describe: an answer of this many prompts (text) instead of images

    @property
    def text(self) -> str:
        """The text sent to the model: the prompt, then the hints."""
        return f"{self.prompt}\n\n{self.hints}" if self.hints else self.prompt


class Source(BaseModel):
    """A web page a grounded answer drew on (groundingMetadata.groundingChunks[].web)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str
    uri: str


class Report(BaseModel):
    """What the member is told about an outcome, kept so it can be posted again as it was
    (after a restart, when posting failed the first time)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = ""  # the model's words with the image, or why nothing came
    elapsed_s: float = 0.0
    withheld: tuple[str, ...] = ()  # why some of several side-by-side images are missing
    # Where each of `withheld` would have been among the side-by-side images (0-based), in
    # the same order; records from before this field lost theirs at the end.
    missing: tuple[int, ...] = ()
    block: Block | None = None
    retryable: bool = True  # for a failure: whether Retry makes sense
    by_user: int | None = None  # who cancelled
    # Search grounding: the pages the answer drew on, and the searches Google made.
    sources: tuple[Source, ...] = ()
    search_queries: tuple[str, ...] = ()


@dataclass
class Job:
    id: str
    kind: str  # "imagine", "refine", "reroll", ...: what the member asked for
    user_id: int
    guild_id: int | None
    channel_id: int  # where the job's message is (a thread, for a conversation's turns)
    request: JobRequest
    thread_id: int | None = None  # the conversation this job belongs to, once there is one
    message_id: int | None = None  # the message that shows this job (progress, then outcome)
    reply_to: int | None = None  # the member's message this job answers (thread edits)
    home_channel_id: int | None = None  # where to answer if `channel_id` is gone (a thread's)
    state: JobState = JobState.QUEUED
    error_kind: str | None = None
    error_message: str | None = None
    cost_usd: float = 0.0
    outputs: tuple[str, ...] = ()  # sha256 of every image shown, in order
    chosen: int = 0  # which of `outputs` a conversation continues from
    parent_job: str | None = None  # the job whose image this one continued (set at start)
    parent_candidate: int = 0  # which of `parent_job`'s images it continued
    # The conversation's image this job replaced as its head: Undo goes back to it.
    previous_head: str | None = None
    previous_candidate: int = 0
    seq: int | None = None  # place in the queue, given when the job is queued
    attempts: int = 0  # how many times it started running
    lane: str | None = None  # jobs of one lane (a conversation) run one at a time, in order
    dedupe: str | None = None  # two waiting jobs may not share it (a double click)
    # What the job reserved against the quotas when it was accepted (or put back in line),
    # and when: it counts in that day's usage (see `bot.jobs.quotas`).
    reserved_usd: float = 0.0
    reserved_images: int = 0
    charged_at: float | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    shown_at: float | None = None  # when the outcome was posted in Discord
    report: Report | None = None

    @property
    def result_image(self) -> str | None:
        """The image its buttons work on (the chosen one of several)."""
        return self.output(self.chosen)

    def output(self, index: int) -> str | None:
        """Image `index` of its outputs (the last one when there are fewer)."""
        if not self.outputs:
            return None
        return self.outputs[min(index, len(self.outputs) - 1)]

    def slots(self) -> list[int | None]:
        """Its side-by-side images in the order they were asked for: each slot holds the
        index of its image in `outputs`, or None where the image was withheld."""
        missing = set(self.report.missing if self.report else ())
        total = len(self.outputs) + len(self.report.withheld if self.report else ())
        outputs = iter(range(len(self.outputs)))
        return [None if slot in missing else next(outputs, None) for slot in range(total)]


def lane_of(thread_id: int | None) -> str | None:
    return f"thread:{thread_id}" if thread_id is not None else None


class ReferenceKind(StrEnum):
    """What a saved reference image is for; each becomes a hint in the prompt."""

    STYLE = "style"
    CHARACTER = "character"
    OBJECT = "object"


SERVER_WIDE = 0  # the owner of a reference every member of the server can use


@dataclass(frozen=True)
class Reference:
    """An image a member (or a server) saved by name, to bring into later prompts."""

    guild_id: int
    owner_id: int  # SERVER_WIDE for the server's own
    name: str
    kind: ReferenceKind
    image: str  # sha256 of the stored, normalised image
    created_at: float = field(default_factory=time.time)

    @property
    def server_wide(self) -> bool:
        return self.owner_id == SERVER_WIDE


def reference_key(name: str) -> str:
    """What makes two reference names the same: "Mia" and "mia" are one reference."""
    return " ".join(name.casefold().split())


@dataclass(frozen=True)
class Conversation:
    """A thread the bot opened for one image conversation."""

    thread_id: int
    guild_id: int | None
    channel_id: int  # the channel the thread lives in
    owner_id: int
    workflow: str
    model: str
    aspect_ratio: str | None = None
    image_size: str | None = None
    head_job: str | None = None  # the job whose image the next edit starts from
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    head_candidate: int = 0  # which of `head_job`'s images
