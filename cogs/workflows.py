"""One slash command per workflow file (`/imagine`, `/edit`, `/logo`, ...).

A command's options are the workflow's form fields; running it compiles the workflow with the
member's answers and hands the job to the pipeline, which shows it on the command's own
response (or first a briefing, when the workflow asks for one: `autoRun: false`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_ui.attachments import uploads_of
from bot.discord_ui.commands import Handler, build_command
from bot.discord_ui.members import place_of, role_ids
from bot.discord_ui.replies import answer_privately
from bot.discord_ui.suggestions import reference_names
from bot.errors import BotError
from bot.jobs.intake import NewJob
from bot.jobs.records import new_job_id
from bot.workflows.engine import command_spec, compile_run

if TYPE_CHECKING:
    from bot.discord_ui.app import ImagineBot
    from bot.workflows.workflow import Workflow


class Workflows(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        self.commands = [
            build_command(
                spec.name, spec.description, spec.options, self._handler(workflow), self._suggest
            )
            for workflow in bot.workflows.workflows
            if (spec := command_spec(workflow))
        ]

    async def cog_load(self) -> None:
        for command in self.commands:
            self.bot.tree.add_command(command)

    async def cog_unload(self) -> None:
        for command in self.commands:
            self.bot.tree.remove_command(command.name)

    def _handler(self, workflow: Workflow) -> Handler:
        async def handle(interaction: discord.Interaction, values: dict[str, Any]) -> None:
            await self.run(interaction, workflow, values)

        return handle

    async def _suggest(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await reference_names(self.bot, interaction, current)

    async def run(
        self, interaction: discord.Interaction, workflow: Workflow, values: dict[str, Any]
    ) -> None:
        jobs = self.bot.jobs
        roles, place = role_ids(interaction.user), place_of(interaction)
        try:
            run = compile_run(workflow, values)
            request = run.job_request()
            # Refused before the public "thinking…": nothing shows in the channel.
            await jobs.guard.screen(interaction.user.id, roles, place, request.prompt)
        except BotError as exc:
            await answer_privately(interaction, exc.user_message)
            return
        callback = await interaction.response.defer(thinking=True)
        job_id = new_job_id()
        jobs.display.bind(job_id, interaction)
        new = NewJob(
            request=request,
            kind=run.command,
            user_id=interaction.user.id,
            guild_id=interaction.guild_id,
            channel_id=place.channel_id,
            message_id=callback.message_id if callback else None,
            confirm=not run.auto_run,
            job_id=job_id,
            role_ids=roles,
            parent_channel_id=place.parent_id,
            references=run.references,
        )
        try:
            await jobs.intake.submit(new, uploads_of([values[n] for n in run.image_options]))
        except BotError as exc:
            jobs.display.release(job_id)
            await answer_privately(interaction, exc.user_message)


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Workflows(bot))
