"""The message menu command "Edit with Gemini": edit the pictures of any message.

The form's custom_id names the message, so a form opened before a restart still works; the
job starts when the form is sent, on the form's own response.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_ui.attachments import image_attachments, uploads_of
from bot.discord_ui.components import EDIT_MENU_MODAL_ID, TextModal, submitted_text
from bot.discord_ui.members import place_of, role_ids
from bot.discord_ui.replies import answer_privately, report_exception
from bot.errors import BotError, InputError
from bot.jobs.intake import NewJob
from bot.jobs.records import JobRequest, new_job_id

if TYPE_CHECKING:
    from bot.discord_ui.app import ImagineBot

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
        """Message menu: ask what to change, then edit the message's images."""
        try:
            self.bot.jobs.intake.check_accepting()  # before the member types anything
            await self.bot.jobs.guard.screen(
                interaction.user.id, role_ids(interaction.user), place_of(interaction)
            )
        except BotError as exc:
            await answer_privately(interaction, exc.user_message)
            return
        if not image_attachments(message):
            await answer_privately(
                interaction,
                "That message has no image attached. Use Edit with Gemini on a message with a "
                "picture in it.",
            )
            return
        await interaction.response.send_modal(
            TextModal(
                custom_id=f"editmsg:{message.channel.id}:{message.id}",
                title="Edit with Gemini",
                label="What should change?",
                placeholder="e.g. make it a watercolor, remove the background",
                max_length=self.bot.settings.prompts.max_chars,
            )
        )

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data: dict[str, object] = dict(interaction.data or {})
        match = EDIT_MENU_MODAL_ID.fullmatch(str(data.get("custom_id", "")))
        if match is None:
            return
        try:
            await self._start(
                interaction, int(match["channel"]), int(match["message"]), submitted_text(data)
            )
        except Exception as exc:
            await report_exception(interaction, exc, "the Edit with Gemini form")

    async def _start(
        self, interaction: discord.Interaction, channel_id: int, message_id: int, text: str | None
    ) -> None:
        prompt = (text or "").strip()
        if not prompt:
            raise InputError("The text was empty, so nothing changed.")
        roles, place = role_ids(interaction.user), place_of(interaction)
        await self.bot.jobs.guard.screen(interaction.user.id, roles, place, prompt)
        callback = await interaction.response.defer(thinking=True)
        channel = self.bot.get_partial_messageable(channel_id, guild_id=interaction.guild_id)
        try:
            message = await channel.fetch_message(message_id)
        except discord.NotFound:
            raise InputError(
                "The message with the image was deleted, so there is nothing to edit."
            ) from None
        jobs = self.bot.jobs
        job_id = new_job_id()
        jobs.display.bind(job_id, interaction)
        new = NewJob(
            request=JobRequest(prompt=prompt, model=self.bot.settings.models.default),
            kind="edit",
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or channel_id,
            message_id=callback.message_id if callback else None,
            job_id=job_id,
            role_ids=roles,
            parent_channel_id=place.parent_id,
        )
        try:
            await jobs.intake.submit(new, uploads_of(image_attachments(message)))
        except BotError:
            jobs.display.release(job_id)
            raise


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(EditMenu(bot))
