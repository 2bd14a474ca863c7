"""Records the bot keeps: jobs and conversations. Plain data, no I/O, no Discord.

A job is an explicit record of one request (prompt, options, input images) and its life
(queued -> running -> succeeded | blocked | failed | interrupted), so it can be shown,
retried after a restart, counted for quotas, and quoted by id in an error message.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

_JOB_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o/1/l: easy to read aloud


def new_job_id() -> str:
    return "".join(secrets.choice(_JOB_ID_ALPHABET) for _ in range(8))


class JobState(StrEnum):
    PENDING = "pending"  # shown for confirmation (a workflow's briefing), not yet accepted
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    BLOCKED = "blocked"  # the model refused or a safety filter withheld the image
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # the bot stopped while the job was queued or running
    CANCELLED = "cancelled"  # the member dismissed a pending job


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
    provider: Literal["gemini", "imagen"] = "gemini"
    number_of_images: int = 1  # Imagen: 1-4 images shown together
    person_generation: str | None = None  # Imagen: dont_allow | allow_adult | allow_all
    negative_prompt: str | None = None  # Imagen (Gemini has it folded into the prompt)
    response_modalities: tuple[str, ...] = ("TEXT", "IMAGE")  # Gemini
    source_message: tuple[int, int] | None = None  # (channel, message) whose images to edit


@dataclass
class Job:
    id: str
    kind: str  # "imagine", "refine", "retry", ...: what the member asked for
    user_id: int
    guild_id: int | None
    channel_id: int  # where the job's message is (a thread, for a conversation's turns)
    request: JobRequest
    thread_id: int | None = None  # the conversation this job belongs to, once there is one
    message_id: int | None = None  # the message that shows this job (progress, then result)
    state: JobState = JobState.QUEUED
    error_kind: str | None = None
    error_message: str | None = None
    cost_usd: float = 0.0
    result_image: str | None = None  # sha256 hex of the image this job produced
    outputs: tuple[str, ...] = ()  # every image shown (Imagen: up to four), result_image first
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None


@dataclass(frozen=True)
class Conversation:
    """A thread the bot created for one image conversation."""

    thread_id: int
    guild_id: int | None
    channel_id: int  # the channel the thread lives in
    owner_id: int
    workflow: str
    model: str
    aspect_ratio: str | None = None
    image_size: str | None = None
    last_image: str | None = None  # sha256 hex of the latest result image
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class StoredImage:
    sha256: str
    mime_type: str
    data: bytes
