"""Refinement: a message in a conversation thread edits the thread's latest image.

Messages are accepted strictly in the order they arrive in each thread (the turn is taken
before any await); the pipeline then runs the thread's edits one after the other, each with
the history as it stands when it starts. Messages from members who may not change the
conversation are ignored silently, so people can chat in the thread.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.discord_ui.attachments import uploads_of
from bot.discord_ui.members import role_ids
from bot.errors import BotError

if TYPE_CHECKING:
    from bot.discord_ui.app import ImagineBot

log = logging.getLogger(__name__)

# Message types a member writes (a plain message, or a reply); everything else is a system event.
_MEMBER_MESSAGE_TYPES = (discord.MessageType.default, discord.MessageType.reply)


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

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if not is_for_the_bot(message):
            return
        intake = self.bot.jobs.intake
        turn = intake.turn(message.channel.id)  # before any await: keeps arrival order
        async with turn:
            try:
                await intake.thread_message(
                    message.channel.id,
                    message.author.id,
                    message.content,
                    uploads_of(message.attachments),
                    message_id=message.id,
                    role_ids=role_ids(message.author),
                )
            except BotError as exc:
                await self._tell(message, f"⚠️ {exc.user_message}")

    async def _tell(self, message: discord.Message, text: str) -> None:
        try:
            await message.reply(text, mention_author=False)
        except discord.HTTPException as exc:
            log.warning("cannot answer in thread %s: %s", message.channel.id, exc)


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Conversations(bot))
