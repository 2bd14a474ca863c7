"""How a job is shown, as plain data, and the one protocol the Discord side implements.

The pipeline says *what* to show (a place in line, "generating since", a result card, a
block report, a failure, a notice) and which actions to offer; `bot.discord_ui.display`
decides how it looks in Discord and which message it edits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

from bot.jobs.records import Job, Source
from bot.media import Media
from bot.safety import Block


class Action(StrEnum):
    """What a button (or menu, or form) on a job's message does."""

    RETRY = "retry"
    EDIT_PROMPT = "edit"
    REROLL = "reroll"
    REFINE = "refine"
    UPSCALE = "upscale"  # the image redrawn by Gemini at the model's next size
    UPSCALE_FAITHFUL = "faithful"  # the same image enlarged by Imagen's upscaler (Vertex AI)
    ANIMATE = "animate"  # a short video of the image (Veo, Vertex AI): asks for the motion
    DELETE = "delete"
    GENERATE = "generate"
    CANCEL = "cancel"
    STYLE = "style"  # a menu: the chosen value is the style
    CHOOSE = "choose"  # U1-U4: continue from one of several images (its number is the value)
    VARY = "vary"  # V1-V4: new variations of one of several images (its number is the value)
    IMAGINE = "imagine"  # /describe: make an image of one of its prompts (its number)
    UNDO = "undo"  # the conversation goes back to the image before this one
    BRANCH = "branch"  # a new thread that continues from this image


@dataclass(frozen=True)
class Waiting:
    ahead: int  # jobs before this one in the queue
    behind_own_lane: bool  # waiting for the previous change of the same conversation
    requeued: bool = False  # back in line after a restart
    wait_s: float | None = None  # about how long until it starts (None: unknown yet)
    paused: str | None = None  # the server's admins paused the bot (with this message)


@dataclass(frozen=True)
class Running:
    started_at: float  # epoch seconds
    editing: bool  # editing an image (rather than making a new one)
    video: bool = False  # animating an image (Veo takes a minute or more)
    describing: bool = False  # reading an image for /describe (no image is made)


@dataclass(frozen=True)
class Drafting:
    """Running, with the model's latest interim "thought" image to show."""

    started_at: float
    draft: Media


Progress = Waiting | Running | Drafting


@dataclass(frozen=True)
class Offer:
    """What a button would make, and its estimated price (Upscale: the next size)."""

    size: str
    usd: float


@dataclass(frozen=True)
class ResultCard:
    images: tuple[Media, ...]  # the images that came, in the order they were asked for
    prompt: str
    text: str  # the model's words
    model_label: str
    aspect_ratio: str | None
    size: str | None
    cost_usd: float
    elapsed_s: float
    # Side-by-side images withheld, each with its place (0-based) among all and why.
    missing: tuple[tuple[int, str], ...]
    actions: tuple[Action, ...]
    styles: tuple[tuple[str, str], ...]  # (key, label) for the style menu; () for none
    grid: int  # places of side-by-side images with U and V buttons; 0 for none
    upscale: Offer | None  # the size (and price) Upscale makes, when it is offered
    notes: tuple[str, ...]  # short lines under the details (the references used, a branch)
    open_conversation: bool  # open a thread for the conversation to continue in
    # Search grounding: the pages the answer drew on and Google's searches (links to them).
    sources: tuple[Source, ...] = ()
    search_queries: tuple[str, ...] = ()


@dataclass(frozen=True)
class BlockCard:
    block: Block
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class FailureCard:
    message: str
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class NoticeCard:
    kind: Literal["interrupted", "cancelled"]
    prompt: str
    by_user: int | None  # who cancelled
    actions: tuple[Action, ...]


@dataclass(frozen=True)
class BriefingCard:
    """A pending job shown for its owner to confirm (a workflow that asks first)."""

    prompt: str
    model_label: str
    count: int
    aspect_ratio: str | None
    size: str | None
    input_images: int
    actions: tuple[Action, ...]
    cost_usd: float  # the estimate the job will reserve
    confirm_above_usd: float  # the price above which jobs ask first (0: none do)


@dataclass(frozen=True)
class DescribeCard:
    """/describe's answer: prompts for an image like the member's, each with a button."""

    image: Media | None  # the image described (None once it is no longer stored)
    prompts: tuple[str, ...]
    model_label: str
    cost_usd: float
    elapsed_s: float
    actions: tuple[Action, ...]


Card = ResultCard | BlockCard | FailureCard | NoticeCard | BriefingCard | DescribeCard


@dataclass(frozen=True)
class Shown:
    """Where a job's message is (it may have been created or moved), and whether a thread
    for a new conversation should open on it (asked for, and possible where it is)."""

    message_id: int
    channel_id: int
    thread_wanted: bool = False


class Unreachable(Exception):
    """The job's outcome can never be shown: the bot is not where it was asked for (a DM
    or a server only the member installed it for) and the interaction it answered expired."""


class Display(Protocol):
    async def progress(self, job: Job, progress: Progress) -> Shown | None:
        """Show the job's progress; returns where, when a message had to be created."""

    async def show(self, job: Job, card: Card) -> Shown:
        """Show the job's card (replacing its progress); raises when it could not
        (`Unreachable` when it never can)."""

    def upload_limit(self, job: Job) -> int | None:
        """The bytes a file posted for the job may have, when known (a larger image is
        re-encoded to fit)."""

    async def open_thread(
        self, job: Job, card: Callable[[], Awaitable[Card]], *, last_try: bool
    ) -> int | None:
        """Open the thread of the conversation the shown result (`job.message_id`) starts;
        its id. None, with a note on the result (its `card()`, composed again), where Discord
        does not allow it (or on the last try); raises on a failure worth trying again.
        Waits while Discord paces thread creation."""
