"""What the buttons, the style menu and the modals on the bot's messages do.

Every component carries its job id, so this works for messages of any age and across
restarts. Who may press what: destructive actions (Delete) are for the conversation's owner
and members who can manage messages; changes to a conversation follow
`[conversations] who_can_refine`.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.errors import InputError
from bot.images import ImageInput
from bot.providers import editing_model
from bot.records import Conversation, Job, JobRequest, JobState
from bot.styles import STYLES, apply_style
from bot.ui import render, views
from bot.ui.launch import BRIEFING_ACTIONS, LaunchRequest, launch, origin_of
from bot.ui.modals import MODAL_ID, TextModal, submitted_text
from bot.ui.replies import answer_privately, report_exception
from bot.ui.runner import upscale_size
from bot.ui.service import Context, Origin
from bot.ui.surfaces import InteractionSurface, Surface
from bot.ui.uploads import image_attachments
from bot.ui.views import DYNAMIC_ITEMS, Action

if TYPE_CHECKING:
    from bot.app import ImagineBot

log = logging.getLogger(__name__)

UPSCALE_PROMPT = (
    "Recreate this exact image at a higher resolution. Keep the composition, subjects, "
    "colours, text and style identical; only add fine detail and sharpness."
)
_GONE = (
    "That request is no longer stored (old requests are deleted after a while), so this "
    "button cannot do anything now. Start again with /imagine."
)
STYLE_KEYS = {style.key for style in STYLES}
# Actions that open a modal first; the work happens when it is submitted.
_MODALS = {Action.EDIT_PROMPT, Action.REFINE}
# Actions that only make sense while a job waits for its owner.
_PENDING_ONLY = {Action.START, Action.GENERATE, Action.CANCEL}


class JobActions(commands.Cog):
    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(*DYNAMIC_ITEMS)
        self.bot.job_actions = self

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(*DYNAMIC_ITEMS)

    # Entry points ------------------------------------------------------------------------

    async def handle(
        self, interaction: discord.Interaction, action: Action, job_id: str, value: str | None
    ) -> None:
        """A button or the style menu was used (`value`: the chosen style)."""
        with self.bot.service.track():
            await self._handle(interaction, action, job_id, value)

    async def _handle(
        self, interaction: discord.Interaction, action: Action, job_id: str, value: str | None
    ) -> None:
        try:
            permitted = await self._permitted_job(interaction, action, job_id)
            if permitted is None:
                return
            job, conversation = permitted
            if action in _MODALS:
                await interaction.response.send_modal(self._modal(action, job))
            else:
                await self._act(interaction, action, job, conversation, value)
        except Exception as exc:
            await report_exception(interaction, exc, f"the {action.value} button")

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """A modal from a button was submitted (possibly after a restart)."""
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data: dict[str, object] = dict(interaction.data or {})
        match = MODAL_ID.fullmatch(str(data.get("custom_id", "")))
        if match is None:
            return
        with self.bot.service.track():
            await self._submitted(interaction, Action(match["action"]), match["job"], data)

    async def _submitted(
        self,
        interaction: discord.Interaction,
        action: Action,
        job_id: str,
        data: dict[str, object],
    ) -> None:
        try:
            permitted = await self._permitted_job(interaction, action, job_id)
            if permitted is not None:
                text = (submitted_text(data) or "").strip()
                if not text:
                    raise InputError("The text was empty, so nothing changed.")
                await self._act(interaction, action, *permitted, text)
        except Exception as exc:
            await report_exception(interaction, exc, f"the {action.value} form")

    # Checks ------------------------------------------------------------------------------

    async def _permitted_job(
        self, interaction: discord.Interaction, action: Action, job_id: str
    ) -> tuple[Job, Conversation | None] | None:
        """The job and its conversation, or None when the member was told why not."""
        job = await self.bot.store.get_job(job_id)
        if job is None:
            await answer_privately(interaction, _GONE)
            return None
        conversation = (
            await self.bot.store.get_conversation(job.thread_id) if job.thread_id else None
        )
        owner = conversation.owner_id if conversation else job.user_id
        refusal = self._refusal(interaction, action, job, owner)
        if refusal:
            await answer_privately(interaction, refusal)
            return None
        return job, conversation

    def _refusal(
        self, interaction: discord.Interaction, action: Action, job: Job, owner: int
    ) -> str | None:
        user = interaction.user
        moderator = interaction.permissions.manage_messages
        if user.id == owner:
            return None
        if action is Action.DELETE:
            return None if moderator else "Only the person who made this image can delete it."
        if job.state is JobState.PENDING:
            return f"Only <@{owner}> can start or change this request."
        if self.bot.settings.conversations.who_can_refine == "anyone":
            return None
        return f"Only <@{owner}> can change this image. Start your own with /imagine."

    def _modal(self, action: Action, job: Job) -> TextModal:
        if action is Action.EDIT_PROMPT:
            return TextModal(
                action=action,
                job_id=job.id,
                title="Edit the prompt",
                label="Prompt",
                default=job.request.prompt,
                max_length=self.bot.settings.prompts.max_chars,
            )
        return TextModal(
            action=action,
            job_id=job.id,
            title="Refine this image",
            label="What should change?",
            placeholder="e.g. make it night-time, add a red scarf",
            max_length=self.bot.settings.prompts.max_chars,
        )

    # The work ----------------------------------------------------------------------------

    async def _act(
        self,
        interaction: discord.Interaction,
        action: Action,
        job: Job,
        conversation: Conversation | None,
        value: str | None,
    ) -> None:
        if job.state is JobState.PENDING or action in _PENDING_ONLY:
            await self._pending(interaction, action, job, value)
            return
        if action is Action.DELETE:
            await self._delete(interaction)
            return
        uploads = await self._uploads(job)
        if action in (Action.RETRY, Action.EDIT_PROMPT):
            # Re-run on the message that showed the failure, with the current history.
            request = job.request
            if action is Action.EDIT_PROMPT and value:
                request = request.model_copy(update={"prompt": value})
            surface: Surface = await InteractionSurface.defer(interaction)
            context = Context(origin_of(interaction), conversation=conversation)
            await self.bot.service.run("retry", request, uploads, surface, context)
            return
        if action is Action.CHOOSE:
            await self._choose(interaction, job, conversation, int(value or 1))
            return
        await interaction.response.defer()
        # Variations are new messages: in the conversation's thread, else beside the job.
        where = conversation.thread_id if conversation else job.channel_id
        origin = dataclasses.replace(origin_of(interaction), channel_id=where)
        request, context = self._variation(action, job, conversation, origin, value)
        surface = await self.bot.service.status_message(
            where,
            guild_id=job.guild_id,
            fallback_id=conversation.channel_id if conversation else None,
        )
        await self.bot.service.run(action.value, request, uploads, surface, context)

    def _variation(
        self,
        action: Action,
        job: Job,
        conversation: Conversation | None,
        origin: Origin,
        value: str | None,
    ) -> tuple[JobRequest, Context]:
        """The request and context of a new job derived from a finished one."""
        request = job.request
        # Reroll and style: the same request in the same context the job had.
        same_place = Context(origin, conversation=conversation, history_before=job.id)
        if action is Action.REROLL:
            return request, same_place
        if action is Action.STYLE:
            if value not in STYLE_KEYS:
                raise InputError("That style is not offered any more; pick another one.")
            prompt = apply_style(request.prompt, value)
            return request.model_copy(update={"prompt": prompt}), same_place
        # Upscale and refine edit an image: with Gemini, whatever made the image.
        edit = request.model_copy(update={**self._gemini(request), "input_images": ()})
        if action is Action.UPSCALE:
            bigger = upscale_size(self.bot.settings, edit.model, edit.image_size)
            if bigger is None:
                raise InputError("This image is already at the largest size the model offers.")
            edit = edit.model_copy(update={"prompt": UPSCALE_PROMPT, "image_size": bigger})
            return edit, Context(origin, conversation=conversation, base_image=job.result_image)
        # Refine: with the history when this job's image is the conversation's current one.
        assert action is Action.REFINE
        assert value
        edit = edit.model_copy(update={"prompt": value})
        if conversation is not None and conversation.last_image in job.outputs:
            return edit, Context(origin, conversation=conversation)
        return edit, Context(origin, conversation=conversation, base_image=job.result_image)

    def _gemini(self, request: JobRequest) -> dict[str, object]:
        """Fields that turn a request (an Imagen one, say) into a Gemini edit request."""
        if request.provider == "gemini":
            return {}
        return {
            "model": editing_model(request, self.bot.settings),
            "provider": "gemini",
            "number_of_images": 1,
            "person_generation": None,
            "negative_prompt": None,
        }

    async def _choose(
        self,
        interaction: discord.Interaction,
        job: Job,
        conversation: Conversation | None,
        number: int,
    ) -> None:
        """Continue the conversation from image `number` of several (Imagen)."""
        if not 1 <= number <= len(job.outputs):
            raise InputError("That image is no longer stored.")
        if conversation is None:
            raise InputError(
                "This result has no conversation thread. Use Refine to edit one of its images."
            )
        await self.bot.store.set_current_image(conversation.thread_id, job.outputs[number - 1])
        await interaction.response.send_message(
            f"Image {number} is now the one this conversation edits: write in the thread "
            "to change it.",
            ephemeral=True,
        )

    async def _pending(
        self, interaction: discord.Interaction, action: Action, job: Job, value: str | None
    ) -> None:
        """Actions on a job that waits for its owner: a briefing, or an Edit with Gemini form."""
        if job.state is not JobState.PENDING:
            raise InputError("This was already used; nothing more to do here.")
        if action is Action.START:
            await self._start(interaction, job, value or "")
        elif action is Action.GENERATE:
            surface = await InteractionSurface.defer(interaction)
            uploads = await self._uploads(job)
            context = Context(origin_of(interaction))
            await self.bot.service.run(
                job.kind, job.request, uploads, surface, context, job_id=job.id
            )
        elif action is Action.CANCEL:
            job.state = JobState.CANCELLED
            await self.bot.store.save_job(job)
            await interaction.response.edit_message(
                content=f"✖️ Cancelled by {interaction.user.mention}.", embed=None, view=None
            )
        elif action is Action.EDIT_PROMPT and value:
            job.request = job.request.model_copy(update={"prompt": value})
            await self.bot.store.add_job(job)  # a pending job is updated in place
            info = self.bot.settings.models.info(job.request.model)
            await interaction.response.edit_message(
                embed=render.briefing_embed(job, info),
                view=views.buttons(job.id, *BRIEFING_ACTIONS),
            )

    async def _uploads(self, job: Job) -> list[ImageInput]:
        """The job's validated uploads, as stored when it was accepted."""
        stored = [await self.bot.store.get_image(sha) for sha in job.request.input_images]
        return [ImageInput(image.data, image.mime_type) for image in stored if image]

    async def _start(self, interaction: discord.Interaction, job: Job, prompt: str) -> None:
        """The Edit with Gemini form was sent: edit the images of the message it was used on."""
        if job.state is not JobState.PENDING or job.request.source_message is None:
            raise InputError("This form was already used. Open Edit with Gemini again.")
        channel_id, message_id = job.request.source_message
        channel = self.bot.get_partial_messageable(channel_id, guild_id=job.guild_id)
        try:
            message = await channel.fetch_message(message_id)
        except discord.NotFound:
            raise InputError(
                "The message with the image was deleted, so there is nothing to edit."
            ) from None
        request = LaunchRequest(
            job.request.model_copy(update={"prompt": prompt, "source_message": None}),
            attachments=image_attachments(message),
            kind="edit",
            job_id=job.id,
        )
        await launch(self.bot, interaction, request)

    async def _delete(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("🗑️ Deleted.", ephemeral=True)
        if interaction.message is not None:
            await interaction.message.delete()


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(JobActions(bot))
