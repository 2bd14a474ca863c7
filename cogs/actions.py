"""The buttons, the style menu and the forms on the bot's messages, as Discord sees them.

What each action does, and who may do it, is decided in `bot.jobs.intake`; this cog answers
the interaction in time (a form, a deferral, a private answer), takes the conversation's turn
as soon as the press arrives, and lets the job's own message show what happens next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

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
from bot.discord_ui.reach import bot_is_absent
from bot.discord_ui.replies import answer_privately, report_exception
from bot.discord_ui.translator import localized
from bot.jobs.display import Action
from bot.jobs.intake import PressAnswer
from bot.jobs.records import Job, new_job_id
from bot.jobs.redo import REDO_ACTIONS

if TYPE_CHECKING:
    from bot.discord_ui.app import ImagineBot

DELETED = "🗑️ Deleted."


class FormWords(NamedTuple):
    title: str
    label: str
    placeholder: str | None = None


# Actions that open a form first (the work happens when it is sent), and the form's words.
FORMS = {
    Action.EDIT_PROMPT: FormWords("Edit the prompt", "Prompt"),
    Action.REFINE: FormWords(
        "Refine this image", "What should change?", "e.g. make it night-time, add a red scarf"
    ),
    Action.ANIMATE: FormWords(
        "Animate this image",
        "What moves, and how does the camera move?",
        "e.g. the waves roll in, the boat drifts left; slow push-in",
    ),
}
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
            if action in FORMS:
                turn.end()
                job = await self.bot.jobs.intake.permitted(actor_of(interaction), action, job_id)
                await interaction.response.send_modal(self._form(action, job, interaction))
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
        actor, intake, display = actor_of(interaction), self.bot.jobs.intake, self.bot.jobs.display
        await intake.permitted(actor, action, job_id)  # refused: answered before deferring
        answer = None
        if action in REDO_ACTIONS and bot_is_absent(interaction):
            # The bot cannot post beside the job: the new job answers the press itself.
            callback = await interaction.response.defer(thinking=True)
            answer = PressAnswer(new_job_id(), callback.message_id if callback else None)
            display.bind(answer.job_id, interaction)
        elif action not in _QUICK:
            await interaction.response.defer()
        if action in _SAME_MESSAGE:
            display.bind(job_id, interaction)
        try:
            reply = await intake.act(actor, action, job_id, value, answer=answer)
        except BaseException:
            if answer is not None:
                display.release(answer.job_id)
            raise
        if reply is not None:
            if answer is not None:
                display.release(answer.job_id)
            await answer_privately(interaction, reply)

    async def _delete(self, interaction: discord.Interaction, job_id: str) -> None:
        await self.bot.jobs.intake.permitted(actor_of(interaction), Action.DELETE, job_id)
        if bot_is_absent(interaction):  # only the interaction may touch the message
            await interaction.response.defer()
            await interaction.delete_original_response()
            await interaction.followup.send(localized(interaction, DELETED), ephemeral=True)
            return
        await interaction.response.send_message(localized(interaction, DELETED), ephemeral=True)
        if interaction.message is not None:
            await interaction.message.delete()

    def _form(self, action: Action, job: Job, interaction: discord.Interaction) -> TextModal:
        words = FORMS[action]
        return TextModal(
            custom_id=job_modal_id(action, job.id),
            title=localized(interaction, words.title),
            label=localized(interaction, words.label),
            default=job.request.prompt if action is Action.EDIT_PROMPT else None,
            placeholder=localized(interaction, words.placeholder) if words.placeholder else None,
            max_length=self.bot.settings.prompts.max_chars,
        )


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(JobActions(bot))
