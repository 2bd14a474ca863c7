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
from bot.discord_ui.replies import answer_privately
from bot.discord_ui.starts import start_job
from bot.discord_ui.suggestions import reference_names
from bot.errors import BotError
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
        try:
            run = compile_run(workflow, values)
        except BotError as exc:
            await answer_privately(interaction, exc.user_message)
            return
        await start_job(
            self.bot,
            interaction,
            run.job_request(),
            run.command,
            uploads_of([values[n] for n in run.image_options]),
            confirm=not run.auto_run,
            references=run.references,
        )


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Workflows(bot))
