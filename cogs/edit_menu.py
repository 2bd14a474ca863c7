"""The message menu command "Edit with Gemini": edit the pictures of any message."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.records import Job, JobRequest, JobState, new_job_id
from bot.ui.modals import TextModal
from bot.ui.replies import answer_privately
from bot.ui.uploads import image_attachments
from bot.ui.views import Action

if TYPE_CHECKING:
    from bot.app import ImagineBot

EDIT_MENU_NAME = "Edit with Gemini"


class EditMenu(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        self.edit_menu = app_commands.ContextMenu(
            name=EDIT_MENU_NAME, callback=self.edit_with_gemini
        )
        self.edit_menu.guild_only = True

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.edit_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.edit_menu.name, type=self.edit_menu.type)

    async def edit_with_gemini(
        self, interaction: discord.Interaction, message: discord.Message
    ) -> None:
        """Message menu: ask what to change, then edit the message's images (see JobActions)."""
        if not image_attachments(message):
            await answer_privately(
                interaction,
                "That message has no image attached. Use Edit with Gemini on a message with a "
                "picture in it.",
            )
            return
        job = Job(
            id=new_job_id(),
            kind="edit",
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or message.channel.id,
            state=JobState.PENDING,
            request=JobRequest(
                prompt="",
                model=self.bot.settings.models.default,
                source_message=(message.channel.id, message.id),
            ),
        )
        await self.bot.store.add_job(job)
        await interaction.response.send_modal(
            TextModal(
                action=Action.START,
                job_id=job.id,
                title="Edit with Gemini",
                label="What should change?",
                placeholder="e.g. make it a watercolor, remove the background",
                max_length=self.bot.settings.prompts.max_chars,
            )
        )


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(EditMenu(bot))
