"""Copies for the moderators (`[moderation] log_channel_id`): the protocol the Discord side
implements. Implementations never raise: a moderation log that cannot be written must not
stop anyone's image."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.jobs.access import Place
from bot.jobs.records import Job
from bot.media import Media


class Moderation(Protocol):
    async def outcome(self, job: Job, images: Sequence[Media]) -> None:
        """A result (with its images) or a block was shown to the member."""

    async def refused_prompt(self, user_id: int, place: Place, prompt: str) -> None:
        """A prompt was refused before any call for containing a blocked term."""
