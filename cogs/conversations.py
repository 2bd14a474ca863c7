"""Refinement: a message in a conversation thread edits the thread's latest image.

The thread's stored history (earlier turns with their images and thought signatures) goes
back to Gemini with the new message and its attachments; the new image is posted as a reply.
Messages in one thread are handled strictly in the order they arrive.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.errors import InputError
from bot.images import UploadLimits
from bot.records import Conversation, JobRequest
from bot.sequencer import Sequencer, Turn
from bot.store.codec import sha256_hex
from bot.ui.service import QUEUED_TEXT, Context, Origin
from bot.ui.surfaces import MessageSurface
from bot.ui.uploads import check_count, read_images

if TYPE_CHECKING:
    from bot.app import ImagineBot

log = logging.getLogger(__name__)

# Message types a member writes (a plain message, or a reply); everything else is a system event.
_MEMBER_MESSAGE_TYPES = (discord.MessageType.default, discord.MessageType.reply)
_WAITING_TEXT = "⏳ Waiting for the previous change in this thread to finish…"
_ATTACHMENTS_ONLY_PROMPT = "Edit the image using the attached image(s)."


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
        with self.bot.service.track():
            await self._handle(message, turn)

    async def _handle(self, message: discord.Message, turn: Turn) -> None:
        try:
            conversation = await self.bot.store.get_conversation(message.channel.id)
            if conversation is None or not self._may_refine(conversation, message.author):
                return
            surface = await self._status_reply(message, conversation, turn)
            if surface is None:
                return
            async with turn:
                await self._refine(conversation, message, surface)
        finally:
            turn.end()

    async def _status_reply(
        self, message: discord.Message, conversation: Conversation, turn: Turn
    ) -> MessageSurface | None:
        """The reply that will show this edit; in the parent channel if the bot may not write
        in the thread; None (logged) if it may write nowhere."""
        try:
            return await MessageSurface.reply_to(
                message, _WAITING_TEXT if turn.must_wait else QUEUED_TEXT
            )
        except discord.HTTPException as exc:
            log.warning("cannot answer in thread %s: %s", message.channel.id, exc)
        try:
            return await self.bot.service.status_message(
                conversation.channel_id, guild_id=conversation.guild_id
            )
        except discord.HTTPException as exc:
            log.warning("cannot answer in channel %s either: %s", conversation.channel_id, exc)
            return None

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
        try:
            # One image slot stays free for the thread's current image.
            check_count(len(message.attachments), max(info.max_input_images - 1, 0), info.label)
            limits = UploadLimits.of(self.bot.settings.uploads)
            uploads = await read_images(message.attachments, limits)
        except InputError as exc:
            await surface.edit_text(f"⚠️ {exc.user_message}")
            return
        request = JobRequest(
            prompt=message.content.strip() or _ATTACHMENTS_ONLY_PROMPT,
            model=conversation.model,
            aspect_ratio=conversation.aspect_ratio,
            image_size=conversation.image_size,
            input_images=tuple(sha256_hex(i.data) for i in uploads),
            workflow=conversation.workflow,
        )
        origin = Origin(
            user_id=message.author.id,
            user_mention=message.author.mention,
            guild_id=conversation.guild_id,
            channel_id=conversation.thread_id,
        )
        await self.bot.service.run(
            "refine",
            request,
            uploads,
            surface,
            Context(origin, conversation=conversation),
            what="Editing the image",
        )


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Conversations(bot))
