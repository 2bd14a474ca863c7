"""`bot.jobs.display.Display` in Discord: each job is one message, edited from progress to
its outcome.

A job's message is edited through the interaction that made it while that interaction's
token lives (it needs no channel permissions), else through the channel. A thread edit's
message is created on its first progress, as a reply to the member. When the job's place is
gone (a thread deleted or locked, the token expired), the outcome goes to the channel the
conversation lives in, addressed to the member. A result image is posted as the model made
it; only one too large for the server's upload limit is re-encoded to fit.
"""

from __future__ import annotations

import asyncio
import datetime
import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import discord

from bot import images
from bot.config import Settings
from bot.discord_ui import layouts, messages
from bot.discord_ui.components import job_view
from bot.discord_ui.layouts import DescribeLayout, Picture, ResultLayout
from bot.jobs.display import (
    Action,
    BlockCard,
    BriefingCard,
    Card,
    DescribeCard,
    Drafting,
    FailureCard,
    NoticeCard,
    Progress,
    ResultCard,
    Running,
    Shown,
    Unreachable,
)
from bot.jobs.records import Job
from bot.media import Media

log = logging.getLogger(__name__)

_NONE = discord.AllowedMentions.none()
_THREAD_ARCHIVE_MINUTES: Literal[1440] = 1440  # a day without messages
_ARCHIVED_THREAD = 50083
_INVALID_WEBHOOK_TOKEN = 50027  # an interaction's 15 minutes are over


def place_is_gone(exc: discord.HTTPException) -> bool:
    """The message or thread was deleted or locked, we may no longer post there, or the
    interaction that owned the message has expired."""
    return exc.status in (401, 403, 404) or exc.code in (_ARCHIVED_THREAD, _INVALID_WEBHOOK_TOKEN)


@dataclass
class _Message:
    """What one edit of a job's message sets: content, an embed and buttons, or (a result)
    a Components V2 layout with its files."""

    content: str | None
    embed: discord.Embed | None = None
    view: discord.ui.View | None = None
    files: list[Media] = field(default_factory=list)
    mentions: discord.AllowedMentions = _NONE
    layout: ResultLayout | DescribeLayout | None = None
    names: list[str] = field(default_factory=list)  # the files' names, without a layout

    @property
    def filenames(self) -> list[str]:
        return self.layout.filenames if self.layout else self.names

    def edit_fields(self) -> dict[str, Any]:
        view: discord.ui.View | discord.ui.LayoutView | None = self.view
        if self.layout is not None:
            view = self.layout.build()
        return {
            "content": self.content,
            "embeds": [self.embed] if self.embed else [],
            "attachments": [
                discord.File(io.BytesIO(media.data), filename=name)
                for media, name in zip(self.files, self.filenames, strict=True)
            ],
            "view": view,
            "allowed_mentions": self.mentions,
        }


class _Later:
    """A progress edit that waits a moment before it is sent."""

    task: asyncio.Task[None]
    sending = False


class DiscordDisplay:
    token_life = datetime.timedelta(minutes=14)  # an interaction's 15, with a minute to spare

    def __init__(self, client: discord.Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self._bound: dict[str, discord.Interaction] = {}
        self._pending: dict[str, _Later] = {}  # progress edits made after a moment

    def bind(self, job_id: str, interaction: discord.Interaction) -> None:
        """`interaction` answers with the job's message: edit it through its token."""
        self._bound[job_id] = interaction

    async def close(self) -> None:
        """Drop progress edits still waiting (shutting down)."""
        for job_id in list(self._pending):
            await self._stop_pending(job_id)

    def release(self, job_id: str) -> None:
        """The job was not accepted after all: forget its interaction."""
        self._bound.pop(job_id, None)

    # The Display protocol -----------------------------------------------------------------

    async def progress(self, job: Job, progress: Progress) -> Shown | None:
        text = messages.progress_text(progress)
        message = _Message(text, view=job_view(job.id, [Action.CANCEL]))
        if isinstance(progress, Drafting) and progress.draft.size <= self.upload_limit(job):
            message.files = [progress.draft]
            message.names = [f"draft.{progress.draft.extension}"]
        if job.message_id is None:
            return await self._create(job, message)
        await self._stop_pending(job.id)
        if isinstance(progress, Running) and self._thinking(job):
            # A command's response already says "thinking…": a result that comes quickly
            # replaces it directly, a slow one shows its progress (and Cancel) after a moment.
            later = _Later()
            later.task = asyncio.create_task(
                self._edit_later(job, message, later), name=f"show {job.id}"
            )
            self._pending[job.id] = later
            return None
        await self._edit(job, message)
        return None

    def _thinking(self, job: Job) -> bool:
        interaction = self._live(job)
        return (
            interaction is not None
            and interaction.type is not discord.InteractionType.component
            and job.attempts <= 1
        )

    async def _edit_later(self, job: Job, message: _Message, later: _Later) -> None:
        await asyncio.sleep(self._settings.jobs.running_edit_after_s)
        later.sending = True
        try:
            await self._edit(job, message)
        except (discord.HTTPException, OSError, TimeoutError) as exc:  # progress: best effort
            log.info("progress of job %s not shown: %r", job.id, exc)

    async def _stop_pending(self, job_id: str) -> None:
        """A newer state replaces a progress edit still waiting; one already being sent is
        let through first (it must never land after the newer state)."""
        later = self._pending.pop(job_id, None)
        if later is None:
            return
        if not later.sending:
            later.task.cancel()
        await asyncio.gather(later.task, return_exceptions=True)

    async def show(self, job: Job, card: Card) -> Shown:
        await self._stop_pending(job.id)
        message = await self._compose(job, card)
        try:
            sent = await self._edit_fitted(job, message)
        except discord.HTTPException as exc:
            if not place_is_gone(exc) or isinstance(card, BriefingCard):
                raise
            if job.guild_id is None and job.home_channel_id is None:  # nowhere else to go
                raise Unreachable(
                    f"its interaction expired and the channel refuses: {exc}"
                ) from exc
            log.info("job %s: its message is unusable (%s); posting elsewhere", job.id, exc)
            sent = await self._elsewhere(job, message)
        if not isinstance(card, BriefingCard):
            self._bound.pop(job.id, None)
        wanted = isinstance(card, ResultCard) and card.open_conversation
        possible = job.guild_id is not None and not isinstance(sent.channel, discord.Thread)
        return Shown(sent.id, sent.channel.id, thread_wanted=wanted and possible)

    async def repost(
        self, interaction: discord.Interaction, job: Job, card: ResultCard | DescribeCard
    ) -> None:
        """A stored result posted again as the answer to `interaction` (/show), with live
        buttons. It opens no thread: the last line says where the conversation is."""
        if isinstance(card, DescribeCard):
            message = self._described(job, card)
        else:
            card = replace(card, open_conversation=False)
            message = await self._result(job, card, limit=interaction.filesize_limit)
        if message.layout is not None and job.thread_id is not None:
            message.layout.note = messages.shown_again_note(job.thread_id)
        await interaction.edit_original_response(**message.edit_fields())

    # Composing ----------------------------------------------------------------------------

    async def _compose(self, job: Job, card: Card) -> _Message:
        if isinstance(card, ResultCard):
            return await self._result(job, card)
        if isinstance(card, BlockCard):
            embed = messages.block_embed(card.block, job)
            return _Message(None, embed, job_view(job.id, card.actions))
        if isinstance(card, FailureCard):
            embed = messages.failure_embed(card.message, job)
            return _Message(None, embed, job_view(job.id, card.actions))
        if isinstance(card, BriefingCard):
            embed = messages.briefing_embed(card, job)
            return _Message(None, embed, job_view(job.id, card.actions))
        if isinstance(card, DescribeCard):
            return self._described(job, card)
        return self._notice(job, card)

    def _described(self, job: Job, card: DescribeCard) -> _Message:
        image = card.image
        name = f"described.{image.extension}" if image else None
        return _Message(
            None, files=[image] if image else [], layout=DescribeLayout(card, job.id, name)
        )

    def _notice(self, job: Job, card: NoticeCard) -> _Message:
        view = job_view(job.id, card.actions)
        embed = messages.notice_embed(card, job)
        if card.kind == "interrupted":  # the owner is not watching: ping them, and only them
            owner = discord.AllowedMentions(users=[discord.Object(job.user_id)])
            return _Message(f"<@{job.user_id}>", embed, view, mentions=owner)
        return _Message(None, embed, view)

    async def _result(self, job: Job, card: ResultCard, *, limit: int | None = None) -> _Message:
        limit = limit or self.upload_limit(job)
        fitted = list(card.images)
        if any(image.size > limit and not _is_video(image) for image in fitted):
            fitted = await asyncio.to_thread(_fit_all, fitted, limit)  # off the event loop
        too_large = [media for media in fitted if _is_video(media) and media.size > limit]
        stand_in = None
        if card.missing:  # a grey place in the grid for each image that was not made
            stand_in = await asyncio.to_thread(images.placeholder, card.aspect_ratio)
        places = layouts.picture_descriptions(card)
        files, pictures = [], []
        for slot, (index, description) in enumerate(places, start=1):
            suffix = f"-{slot}" if len(places) > 1 else ""
            if index is None:
                assert stand_in is not None
                media, name = stand_in, f"not-made{suffix}.{stand_in.extension}"
            elif fitted[index] in too_large:
                continue  # a video Discord would refuse: the note says so
            else:
                media = fitted[index]
                name = messages.image_filename(card.prompt, media.extension, suffix)
            files.append(media)
            pictures.append(Picture(name, description))
        note = None
        if card.open_conversation and job.guild_id is None:  # no thread where the bot is absent
            note = messages.REFINE_HINT
        elif card.open_conversation:
            in_thread = isinstance(self._client.get_channel(job.channel_id), discord.Thread)
            note = messages.NO_THREAD_IN_THREAD if in_thread else self._hint(job)
        if too_large:
            note = messages.too_large_note(too_large[0].size, limit)
        layout = ResultLayout(card, job.id, pictures, note)
        return _Message(None, files=files, layout=layout)

    def _hint(self, job: Job) -> str:
        anyone = self._settings.conversations.who_can_refine == "anyone"
        return messages.conversation_hint(job.user_id, anyone=anyone)

    # Sending ------------------------------------------------------------------------------

    async def _edit_fitted(self, job: Job, message: _Message) -> discord.Message:
        """Edit the job's message; if Discord still finds a file too large (the server's
        limit dropped), shrink the files to half and send again."""
        try:
            return await self._edit(job, message)
        except discord.HTTPException as exc:
            videos = any(_is_video(media) for media in message.files)
            if exc.status != 413 or not message.files or videos:  # a video cannot be halved
                raise
        smaller = await asyncio.to_thread(_halved, message.files)
        log.info("upload refused as too large; sending %d smaller file(s)", len(smaller))
        if message.layout is not None:
            message.layout.rename(
                [
                    f"{name.rsplit('.', 1)[0]}.{image.extension}"
                    for name, image in zip(message.filenames, smaller, strict=True)
                ]
            )
        message.files = smaller
        return await self._edit(job, message)

    async def _edit(self, job: Job, message: _Message) -> discord.Message:
        interaction = self._live(job)
        if interaction is not None:
            return await interaction.edit_original_response(**message.edit_fields())
        channel = self._client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        if job.message_id is None:  # a job shown with its card first (its price to confirm)
            return await self._send(channel, message, reply_to=job.reply_to)
        return await channel.get_partial_message(job.message_id).edit(**message.edit_fields())

    async def _create(self, job: Job, message: _Message) -> Shown:
        """The job's first message: a reply to the member's message, or a new message."""
        channel = self._client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        try:
            sent = await self._send(channel, message, reply_to=job.reply_to)
        except discord.HTTPException as exc:
            if not place_is_gone(exc):
                raise
            sent = await self._elsewhere(job, message)
        return Shown(sent.id, sent.channel.id)

    async def _elsewhere(self, job: Job, message: _Message) -> discord.Message:
        """Post in the channel the job's conversation lives in, addressed to the member."""
        home = job.home_channel_id or job.channel_id
        channel = self._client.get_partial_messageable(home, guild_id=job.guild_id)
        mention = f"<@{job.user_id}>"
        if message.layout is not None:  # Components V2: no content, a line of its own
            message.layout.address = mention
        else:
            message.content = f"{mention} {message.content}" if message.content else mention
        message.mentions = discord.AllowedMentions(users=[discord.Object(job.user_id)])
        return await self._send(channel, message)

    async def _send(
        self,
        channel: discord.abc.Messageable,
        message: _Message,
        *,
        reply_to: int | None = None,
    ) -> discord.Message:
        fields = message.edit_fields()
        fields["files"] = fields.pop("attachments")
        if fields["view"] is None:
            del fields["view"]
        if reply_to is not None and isinstance(channel, discord.PartialMessageable):
            fields["reference"] = channel.get_partial_message(reply_to)
            fields["mention_author"] = False
        return await channel.send(**fields)

    def _live(self, job: Job) -> discord.Interaction | None:
        interaction = self._bound.get(job.id)
        if interaction is None:
            return None
        if discord.utils.utcnow() - interaction.created_at > self.token_life:
            del self._bound[job.id]
            return None
        return interaction

    def upload_limit(self, job: Job) -> int:
        interaction = self._live(job)
        if interaction is not None:
            return interaction.filesize_limit
        guild = self._client.get_guild(job.guild_id) if job.guild_id else None
        return guild.filesize_limit if guild else discord.utils.DEFAULT_FILE_SIZE_LIMIT_BYTES

    # Conversations ------------------------------------------------------------------------

    async def open_thread(
        self, job: Job, card: Callable[[], Awaitable[Card]], *, last_try: bool
    ) -> int | None:
        """A thread on the result for the conversation to continue in (the result says how).
        Discord paces thread creation; discord.py waits as long as Discord says."""
        assert job.message_id is not None, "a shown result has its message"
        if isinstance(self._client.get_channel(job.message_id), discord.Thread):
            return job.message_id  # opened already (by a member, or before a restart)
        channel = self._client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        result = channel.get_partial_message(job.message_id)
        try:
            thread = await result.create_thread(
                name=messages.thread_name(job.request.prompt),
                auto_archive_duration=_THREAD_ARCHIVE_MINUTES,
            )
        except discord.HTTPException as exc:
            if exc.status >= 500 and not last_try:
                raise
            log.info("no thread for job %s: %s", job.id, exc)
            await self._note(result, job, await card(), messages.no_thread_note(exc))
            return None
        return thread.id

    async def _note(self, result: discord.PartialMessage, job: Job, card: Card, note: str) -> None:
        """The posted result, composed again, with `note` as its last line (its files stay
        as they are); best effort."""
        if not isinstance(card, ResultCard):
            return
        message = await self._result(job, card)
        assert message.layout is not None
        message.layout.note = note
        try:
            await result.edit(view=message.layout.build(), allowed_mentions=_NONE)
        except discord.HTTPException as failed:  # the result is shown all the same
            log.info("could not add a note to message %s: %s", result.id, failed)


def _is_video(media: Media) -> bool:
    return media.mime_type.startswith("video/")


def _fit_all(media: list[Media], limit: int) -> list[Media]:
    """Blocking: each image as it is, or re-encoded once to fit `limit` bytes (a video
    stays as it is: it cannot be re-encoded here)."""
    return [m if _is_video(m) else images.fit_to_limit(m, limit) for m in media]


def _halved(media: list[Media]) -> list[Media]:
    """Blocking: each image re-encoded to half its current size."""
    return [images.fit_to_limit(image, image.size // 2) for image in media]
