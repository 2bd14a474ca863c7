"""The buttons, the style menu and the forms on the bot's messages, as Discord sees them.

What each action does, and who may do it, is decided in `bot.jobs.intake`; this cog answers
the interaction in time (a form, a deferral, a private answer), takes the conversation's turn
as soon as the press arrives, and lets the job's own message show what happens next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.discord_ui.components import (
    DYNAMIC_ITEMS,
    MODAL_ID,
    TextModal,
    job_modal_id,
    submitted_text,
)
from bot.discord_ui.members import actor_of
from bot.discord_ui.replies import answer_privately, report_exception
from bot.jobs.display import Action
from bot.jobs.records import Job

if TYPE_CHECKING:
    from bot.discord_ui.app import ImagineBot

# Actions that open a form first; the work happens when it is sent.
_FORMS = {Action.EDIT_PROMPT, Action.REFINE, Action.ANIMATE}
# Actions whose job is shown on the very message the button is on.
_SAME_MESSAGE = {Action.RETRY, Action.EDIT_PROMPT, Action.GENERATE, Action.CANCEL}
# Actions answered at once (nothing slow happens before the answer).
_QUICK = {Action.CHOOSE, Action.UNDO}


def conversation_key(interaction: discord.Interaction) -> int:
    """The conversation a press belongs to, known without waiting: the thread it is in, or
    the thread that starts at the message it is on (a thread takes its message's id)."""
    if isinstance(interaction.channel, discord.Thread):
        return interaction.channel.id
    return interaction.message.id if interaction.message else interaction.id


class JobActions(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(*DYNAMIC_ITEMS)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(*DYNAMIC_ITEMS)

    @commands.Cog.listener()
    async def on_job_action(
        self, interaction: discord.Interaction, action: Action, job_id: str, value: str | None
    ) -> None:
        """A button or the style menu was used (`value`: the chosen style or image)."""
        turn = self.bot.jobs.intake.turn(conversation_key(interaction))
        try:
            if action in _FORMS:
                turn.end()
                job = await self.bot.jobs.intake.permitted(actor_of(interaction), action, job_id)
                await interaction.response.send_modal(self._form(action, job))
            elif action is Action.DELETE:
                turn.end()
                await self._delete(interaction, job_id)
            else:
                async with turn:
                    await self._act(interaction, action, job_id, value)
        except Exception as exc:
            await report_exception(interaction, exc, f"the {action.value} button")
        finally:
            turn.end()

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A form opened from a button was sent (possibly after a restart)."""
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data: dict[str, object] = dict(interaction.data or {})
        match = MODAL_ID.fullmatch(str(data.get("custom_id", "")))
        if match is None:
            return
        action = Action(match["action"])
        turn = self.bot.jobs.intake.turn(conversation_key(interaction))
        try:
            async with turn:
                await self._act(interaction, action, match["job"], submitted_text(data))
        except Exception as exc:
            await report_exception(interaction, exc, f"the {action.value} form")

    async def _act(
        self, interaction: discord.Interaction, action: Action, job_id: str, value: str | None
    ) -> None:
        actor, intake = actor_of(interaction), self.bot.jobs.intake
        await intake.permitted(actor, action, job_id)  # refused: answered before deferring
        if action not in _QUICK:
            await interaction.response.defer()
        if action in _SAME_MESSAGE:
            self.bot.jobs.display.bind(job_id, interaction)
        answer = await intake.act(actor, action, job_id, value)
        if answer is not None:
            await answer_privately(interaction, answer)

    async def _delete(self, interaction: discord.Interaction, job_id: str) -> None:
        await self.bot.jobs.intake.permitted(actor_of(interaction), Action.DELETE, job_id)
        await interaction.response.send_message("🗑️ Deleted.", ephemeral=True)
        if interaction.message is not None:
            await interaction.message.delete()

    def _form(self, action: Action, job: Job) -> TextModal:
        max_length = self.bot.settings.prompts.max_chars
        if action is Action.EDIT_PROMPT:
            return TextModal(
                custom_id=job_modal_id(action, job.id),
                title="Edit the prompt",
                label="Prompt",
                default=job.request.prompt,
                max_length=max_length,
            )
        if action is Action.ANIMATE:
            return TextModal(
                custom_id=job_modal_id(action, job.id),
                title="Animate this image",
                label="What moves, and how does the camera move?",
                placeholder="e.g. the waves roll in, the boat drifts left; slow push-in",
                max_length=max_length,
            )
        return TextModal(
            custom_id=job_modal_id(action, job.id),
            title="Refine this image",
            label="What should change?",
            placeholder="e.g. make it night-time, add a red scarf",
            max_length=max_length,
        )


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(JobActions(bot))
