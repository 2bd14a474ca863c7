"""One slash command per workflow file (`/imagine`, `/edit`, `/logo`, ...).

A command's options are the workflow's form fields; running it compiles the workflow with the
member's answers and starts the job, or first shows a briefing when the workflow asks for one
(`autoRun: false`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.errors import InputError
from bot.ui.commands import Handler, build_command
from bot.ui.launch import LaunchRequest, launch
from bot.ui.replies import answer_privately
from bot.workflows.engine import command_spec, compile_run

if TYPE_CHECKING:
    from bot.app import ImagineBot
    from bot.workflows.workflow import Workflow


class Workflows(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        self.commands = [
            build_command(spec.name, spec.description, spec.options, self._handler(workflow))
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

    async def run(
        self, interaction: discord.Interaction, workflow: Workflow, values: dict[str, Any]
    ) -> None:
        try:
            run = compile_run(workflow, values)
        except InputError as exc:
            await answer_privately(interaction, exc.user_message)
            return
        request = LaunchRequest(
            run.job_request(),
            attachments=[values[name] for name in run.image_options],
            kind=run.command,
            confirm=not run.auto_run,
        )
        await launch(self.bot, interaction, request)


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(Workflows(bot))
