"""Refinement: a message in a conversation thread edits the thread's latest image.

The thread's stored history (earlier turns with their images and thought signatures) goes
back to Gemini with the new message and its attachments; the new image is posted as a reply.
Messages in one thread are handled strictly in the order they arrive.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord
from discord.ext import commands
from google.genai import types

from bot.errors import InputError
from bot.generation import GenerationRequest
from bot.images import ImageInput
from bot.records import Conversation, Job, JobRequest, new_job_id
from bot.sequencer import Sequencer
from bot.store import HistoryLimits
from bot.store.codec import ImageBlob, sha256_hex
from bot.ui.surfaces import MessageSurface
from bot.ui.uploads import check_count, read_images, upload_limits

if TYPE_CHECKING:
    from bot.app import ImagineBot

log = logging.getLogger(__name__)

# Message types a member writes (a plain message, or a reply); everything else is a system event.
_MEMBER_MESSAGE_TYPES = (discord.MessageType.default, discord.MessageType.reply)
_WAITING_TEXT = "⏳ Waiting for the previous change in this thread to finish…"


def is_for_the_bot(message: discord.Message) -> bool:
    """A member's own message with something to act on, in a thread."""
    return (
        not message.author.bot
        and message.webhook_id is None
        and message.type in _MEMBER_MESSAGE_TYPES
        and isinstance(message.channel, discord.Thread)
        and bool(message.content.strip() or message.attachments)
    )


class Conversations(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        self.sequencer = Sequencer()

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if not is_for_the_bot(message):
            return
        turn = self.sequencer.turn(message.channel.id)  # before any await: keeps arrival order
        try:
            conversation = await self.bot.store.get_conversation(message.channel.id)
            if conversation is None or not self._may_refine(conversation, message.author):
                return
            surface = await MessageSurface.reply_to(
                message, _WAITING_TEXT if turn.must_wait else "⏳ Queued…"
            )
            async with turn:
                await self._refine(conversation, message, surface)
        finally:
            turn.end()

    def _may_refine(self, conversation: Conversation, author: discord.abc.User) -> bool:
        """Owner only by default; others are ignored silently so people can chat freely."""
        if self.bot.settings.conversations.who_can_refine == "anyone":
            return True
        return author.id == conversation.owner_id

    async def _refine(
        self, conversation: Conversation, message: discord.Message, surface: MessageSurface
    ) -> None:
        # The conversation may have moved on while this message waited its turn.
        conversation = await self.bot.store.get_conversation(conversation.thread_id) or conversation
        info = self.bot.settings.models.info(conversation.model)
        prompt = message.content.strip() or "Use the attached image(s)."
        try:
            # One image slot stays free for the thread's current image.
            check_count(len(message.attachments), max(info.max_input_images - 1, 0), info.label)
            uploads = await read_images(
                message.attachments, upload_limits(self.bot.settings.uploads)
            )
        except InputError as exc:
            await surface.edit_text(f"⚠️ {exc.user_message}")
            return
        history = await self.bot.store.history(
            conversation.thread_id,
            HistoryLimits(
                max_turns=self.bot.settings.conversations.max_history_turns,
                max_images=info.max_input_images - len(uploads),
            ),
        )
        inputs = await self._with_current_image(conversation, history, uploads)
        job = Job(
            id=new_job_id(),
            kind="refine",
            user_id=message.author.id,
            guild_id=conversation.guild_id,
            channel_id=conversation.channel_id,
            thread_id=conversation.thread_id,
            request=JobRequest(
                prompt=prompt,
                model=conversation.model,
                aspect_ratio=conversation.aspect_ratio,
                image_size=conversation.image_size,
                input_images=tuple(sha256_hex(i.data) for i in uploads),
                workflow=conversation.workflow,
            ),
        )
        await self.bot.store.add_job(job, [ImageBlob.of(i.data, i.mime_type) for i in uploads])
        outcome = await self.bot.runner.run(
            job,
            GenerationRequest(
                model=conversation.model,
                prompt=prompt,
                images=inputs,
                aspect_ratio=conversation.aspect_ratio,
                image_size=conversation.image_size,
                history=history,
            ),
            surface,
            what="Editing the image",
        )
        job.message_id = outcome.message.id
        if outcome.result is None:  # the call failed: nothing to add to the conversation
            await self.bot.store.save_job(job)
            return
        await self.bot.store.record_turn(
            dataclasses.replace(conversation, last_image=outcome.image_sha),
            job,
            outcome.result.user_turn,
            outcome.result.model_turn,
            blocked=not outcome.succeeded,
        )

    async def _with_current_image(
        self,
        conversation: Conversation,
        history: Sequence[types.Content],
        uploads: list[ImageInput],
    ) -> list[ImageInput]:
        """When no earlier turn fits in the request, send the current image explicitly, so the
        model still edits it rather than starting over."""
        if history or conversation.last_image is None:
            return uploads
        current = await self.bot.store.get_image(conversation.last_image)
        if current is None:
            return uploads
        return [ImageInput(current.data, current.mime_type), *uploads]


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Conversations(bot))
