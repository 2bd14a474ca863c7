"""Accepting work: new jobs from commands, edits written in a conversation's thread, and
what the buttons on a job's message do. Discord-free.

Accepted means recorded: a job is in the store (with its validated uploads) before anything
says "queued". Work that continues a conversation is accepted in arrival order, under the
conversation's turn (`turn`, taken by the caller before any await). Every state change is a
compare-and-set in the store: a second click finds the job already moved and is told so.

Every way in passes the guard rails (`bot.jobs.guard`): access, bans, pauses and blocked
terms first; then the job's reservation under the member's limits, checked by the store in
the transaction that queues it. A job estimated above `[quotas] confirm_above_usd` waits,
pending, for its owner to press Generate after seeing the price.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.config import Settings
from bot.errors import InputError
from bot.images import nearest_ratio
from bot.jobs import access, redo, references, threads
from bot.jobs.access import Place
from bot.jobs.cards import BRANCH_KIND
from bot.jobs.dispatcher import Dispatcher
from bot.jobs.display import Action
from bot.jobs.events import NO_EVENTS, JobEvents
from bot.jobs.guard import Guard
from bot.jobs.ordering import Arrivals, Turn
from bot.jobs.permissions import Actor, may_refine_in_thread, refusal
from bot.jobs.pipeline import JobPipeline
from bot.jobs.records import (
    OUTCOMES,
    Basis,
    Conversation,
    Job,
    JobRequest,
    JobState,
    Report,
    lane_of,
    new_job_id,
)
from bot.jobs.states import RETRYABLE
from bot.media import Media
from bot.store import DuplicateJobError, JobChanges, QuotaExceededError, Store
from bot.uploads import Upload, UploadReader

ATTACHMENTS_ONLY_PROMPT = "Edit the image using the attached image(s)."
RESTARTING = "The bot is restarting, so it cannot take this right now. Try again in a minute."
EMPTY_TEXT = "The text was empty, so nothing changed."
GONE = (
    "That request is no longer stored (old requests are deleted after a while), so this "
    "button cannot do anything now. Start again with /imagine."
)


@dataclass(frozen=True)
class NewJob:
    """A new job as a command asks for it."""

    request: JobRequest
    kind: str
    user_id: int
    guild_id: int | None
    channel_id: int
    message_id: int | None = None  # the message that will show it (a command's response)
    confirm: bool = False  # show a briefing and wait for Generate
    job_id: str = ""  # chosen by the caller when it needs it before acceptance
    role_ids: frozenset[int] = frozenset()  # the member's roles (access, role quotas)
    parent_channel_id: int | None = None  # the channel `channel_id` is a thread of, if any
    references: tuple[str, ...] = ()  # names of saved references to bring in

    @property
    def place(self) -> Place:
        return Place(self.guild_id, self.channel_id, self.parent_channel_id)


@dataclass(frozen=True)
class PressAnswer:
    """The message a job made by a button or form shows on, when it must answer the press
    itself (the bot cannot post in the channel): the job's id, chosen beforehand, and the
    message (None until Discord says which)."""

    job_id: str
    message_id: int | None


class Intake:
    def __init__(
        self,
        *,
        store: Store,
        settings: Settings,
        pipeline: JobPipeline,
        dispatcher: Dispatcher,
        uploads: UploadReader,
        guard: Guard,
        events: JobEvents = NO_EVENTS,
    ) -> None:
        self._store = store
        self._settings = settings
        self._pipeline = pipeline
        self._dispatcher = dispatcher
        self._uploads = uploads
        self._guard = guard
        self._events = events
        self._arrivals = Arrivals()
        self._accepting = True

    def stop_accepting(self) -> None:
        """The bot is shutting down: new work is refused (InputError saying so)."""
        self._accepting = False

    def check_accepting(self) -> None:
        """InputError saying so when the bot is shutting down (new work is refused)."""
        if not self._accepting:
            raise InputError(RESTARTING)

    def turn(self, conversation_key: Hashable) -> Turn:
        """Call when the event arrives, before any await: its place in arrival order."""
        return self._arrivals.turn(conversation_key)

    # New work -----------------------------------------------------------------------------

    async def submit(self, new: NewJob, uploads: Sequence[Upload] = ()) -> Job:
        """Record a new job (queued, or pending when it asks first). InputError on bad input
        or when the guard rails refuse it (nothing is recorded then)."""
        self.check_accepting()
        await self._guard.screen(new.user_id, new.role_ids, new.place, new.request.prompt)
        info = self._settings.models.info(new.request.model)
        self._uploads.check_count(len(uploads), info.max_input_images, info.label)
        images = await self._uploads.read(uploads)
        request = new.request.model_copy(
            update={"input_images": tuple(image.sha256 for image in images)}
        )
        if request.prompts and images:  # /describe: its prompts make images of this shape
            ratios = self._settings.models.info(self._settings.models.default).aspect_ratios
            ratio = await asyncio.to_thread(nearest_ratio, images[0].data, ratios)
            request = request.model_copy(update={"aspect_ratio": ratio})
        if new.references:
            request, saved = await self._with_references(new, request, len(images))
            images += saved
        job = Job(
            id=new.job_id or new_job_id(),
            kind=new.kind,
            user_id=new.user_id,
            guild_id=new.guild_id,
            channel_id=new.channel_id,
            message_id=new.message_id,
            request=request,
        )
        await self._accept(job, new.role_ids, images, confirm=new.confirm)
        return job

    async def _with_references(
        self, new: NewJob, request: JobRequest, uploads: int
    ) -> tuple[JobRequest, list[Media]]:
        """The request with the saved references it names, as many as the model's image
        limit leaves room for after the uploads, and their images."""
        if new.guild_id is None:
            raise InputError("Saved references belong to a server: use them in one.")
        library = await self._store.references(new.guild_id, new.user_id)
        info = self._settings.models.info(request.model)
        chosen = references.choose(new.references, library, info.max_input_images - uploads)
        saved = await self._store.get_images([reference.image for reference in chosen.used])
        if len(saved) < len(chosen.used):
            raise InputError("A saved reference's image is missing; save it again with /ref.")
        update = {
            "input_images": (*request.input_images, *(image.sha256 for image in saved)),
            "references": tuple(reference.name for reference in chosen.used),
            "left_out": chosen.left_out,
            "hints": references.hints(chosen.used, first_image=uploads + 1),
        }
        return request.model_copy(update=update), saved

    async def _owed_conversation(self, thread_id: int) -> Conversation | None:
        """The conversation of a result whose thread opened before it was recorded (see
        bot.jobs.threads): recorded now, by whoever needs it first."""
        job = await self._store.owing_thread(thread_id)
        if job is None:
            return None
        started = threads.conversation(job, thread_id)
        await self._store.open_conversation(started, job.id)
        return started

    async def thread_message(
        self,
        thread_id: int,
        author_id: int,
        text: str,
        uploads: Sequence[Upload],
        *,
        message_id: int,
        role_ids: frozenset[int] = frozenset(),
    ) -> Job | None:
        """A member wrote in a thread: a new edit of its conversation, or None when the
        thread is not a conversation or the member may not change it, or use the bot there
        (ignored silently)."""
        conversation = await self._store.get_conversation(thread_id)
        if conversation is None:
            conversation = await self._owed_conversation(thread_id)
        who = self._settings.conversations.who_can_refine
        if conversation is None or not may_refine_in_thread(author_id, conversation.owner_id, who):
            return None
        place = Place(conversation.guild_id, thread_id, conversation.channel_id)
        if not access.allowed(self._settings.access, place, role_ids):
            return None
        self.check_accepting()
        prompt = text.strip() or ATTACHMENTS_ONLY_PROMPT
        await self._guard.screen(author_id, role_ids, place, prompt)
        info = self._settings.models.info(conversation.model)
        # One image slot stays free for the conversation's current image.
        self._uploads.check_count(len(uploads), max(info.max_input_images - 1, 0), info.label)
        images = await self._uploads.read(uploads)
        request = JobRequest(
            prompt=prompt,
            model=conversation.model,
            aspect_ratio=conversation.aspect_ratio,
            image_size=conversation.image_size,
            input_images=tuple(image.sha256 for image in images),
            workflow=conversation.workflow,
            basis=Basis.CONVERSATION,
            **await self._workflow_options(conversation),
        )
        job = Job(
            id=new_job_id(),
            kind="refine",
            user_id=author_id,
            guild_id=conversation.guild_id,
            channel_id=thread_id,
            thread_id=thread_id,
            reply_to=message_id,
            home_channel_id=conversation.channel_id,
            lane=lane_of(thread_id),
            request=request,
        )
        await self._accept(job, role_ids, images)
        return job

    async def _workflow_options(self, conversation: Conversation) -> dict[str, Any]:
        """What the conversation's workflow set besides the prompt (Search grounding,
        safety settings), so every edit in its thread keeps them."""
        head = await self._store.get_job(conversation.head_job) if conversation.head_job else None
        if head is None:
            return {}
        return {name: getattr(head.request, name) for name in _KEPT_BY_EDITS}

    async def _accept(
        self, job: Job, role_ids: frozenset[int], images: Sequence[Media], *, confirm: bool = False
    ) -> None:
        """Record a new job: queued with its reservation, or pending (shown with its price
        and Generate) when it asks first or costs more than `[quotas] confirm_above_usd`.
        InputError when a limit refuses it: nothing is recorded then."""
        admission = await self._guard.admission(job.user_id, job.guild_id, role_ids, job.request)
        if confirm or self._guard.asks_first(job.request):
            job.state = JobState.PENDING
            await self._guard.precheck(admission)  # no Generate button that can only fail
            await self._store.add_job(job, images)
            await self._pipeline.show_card(job)
            return
        try:
            await self._store.add_job(job, images, admission)
        except QuotaExceededError as exc:
            raise self._guard.refusal(exc.hit) from None
        self._dispatcher.wake()

    # Buttons ------------------------------------------------------------------------------

    async def permitted(self, actor: Actor, action: Action, job_id: str) -> Job:
        """The job, if `actor` may do `action` on it; InputError saying why not otherwise."""
        job, _ = await self._permitted(actor, action, job_id)
        return job

    async def act(
        self,
        actor: Actor,
        action: Action,
        job_id: str,
        value: str | None = None,
        *,
        answer: PressAnswer | None = None,
    ) -> str | None:
        """Do what a button, menu or form on a job's message asks. Returns a private answer
        for the member, or None when the job's message shows what happened. `answer`: where
        a new job (Reroll, Refine, ...) shows itself, when not in a new message beside it."""
        job, conversation = await self._permitted(actor, action, job_id)
        if job.state is JobState.PENDING and action is Action.EDIT_PROMPT:
            return await self._revise_briefing(actor, job, value)
        if action is Action.GENERATE:
            return self._said(await self._requeue(actor, job, [JobState.PENDING]), job)
        if action is Action.CANCEL:
            if not await self._cancel(job, actor.user_id):
                return "This request already finished; there is nothing to cancel."
            return None
        if action in (Action.RETRY, Action.EDIT_PROMPT):
            request = None
            if action is Action.EDIT_PROMPT:
                request = job.request.model_copy(update={"prompt": _text(value)})
            return self._said(await self._requeue(actor, job, RETRYABLE, request), job)
        if action is Action.CHOOSE:
            return await self._choose(job, conversation, value)
        if action is Action.UNDO:
            return await self._undo(job, conversation)
        if action is Action.BRANCH:
            return await self._branch(actor, job, conversation)
        if action in redo.REDO_ACTIONS:
            return await self._redo(actor, action, job, conversation, value, answer)
        raise ValueError(f"{action} is not something a job's message offers")

    async def _permitted(
        self, actor: Actor, action: Action, job_id: str
    ) -> tuple[Job, Conversation | None]:
        if action in _STARTS_WORK:  # while shutting down, buttons may still cancel or choose
            self.check_accepting()
        job = await self._store.get_job(job_id)
        if job is None:
            raise InputError(GONE)
        conversation = await self._store.get_conversation(job.thread_id) if job.thread_id else None
        owner = conversation.owner_id if conversation else job.user_id
        who = self._settings.conversations.who_can_refine
        reason = refusal(actor, action, job, owner, who)
        if reason is not None:
            raise InputError(reason)
        if action in _STARTS_WORK:
            await self._guard.screen(actor.user_id, actor.role_ids, _place(job))
        return job, conversation

    async def cancel(self, job_id: str, by_user: int) -> bool:
        """Cancel any job an admin names (whoever's it is); False when it already ended."""
        job = await self._store.get_job(job_id)
        return job is not None and await self._cancel(job, by_user)

    async def _requeue(
        self,
        actor: Actor,
        job: Job,
        sources: Iterable[JobState],
        request: JobRequest | None = None,
    ) -> Job | None:
        """Back in line with a new reservation (charged to the job's owner: with the roles
        of the member pressing the button when that is the owner)."""
        to_run = request or job.request
        await self._guard.check_prompt(actor.user_id, _place(job), to_run.prompt)
        roles = actor.role_ids if actor.user_id == job.user_id else frozenset()
        admission = await self._guard.admission(job.user_id, job.guild_id, roles, to_run)
        try:
            moved = await self._store.transition(
                job.id, sources, JobState.QUEUED, JobChanges(request=request), admission
            )
        except QuotaExceededError as exc:
            raise self._guard.refusal(exc.hit) from None
        if moved is not None:
            self._dispatcher.wake()
        return moved

    def _said(self, moved: Job | None, job: Job) -> str | None:
        return None if moved is not None else _already(job)

    async def _revise_briefing(self, actor: Actor, job: Job, value: str | None) -> str | None:
        prompt = _text(value)
        await self._guard.check_prompt(actor.user_id, _place(job), prompt)
        revised = await self._store.revise_pending(
            job.id, job.request.model_copy(update={"prompt": prompt})
        )
        if revised is None:
            return _already(job)
        await self._pipeline.show_card(revised)
        return None

    async def _cancel(self, job: Job, by_user: int) -> bool:
        cancelled = await self._store.transition(
            job.id,
            [JobState.PENDING, JobState.QUEUED, JobState.RUNNING],
            JobState.CANCELLED,
            JobChanges(report=Report(by_user=by_user)),
        )
        if cancelled is None:
            return False
        self._dispatcher.cancel(job.id)
        self._dispatcher.wake()
        self._events.finished(cancelled, posted=await self._pipeline.deliver(cancelled))
        return True

    async def _choose(
        self, job: Job, conversation: Conversation | None, value: str | None
    ) -> str | None:
        index = redo.output_index(job, value)
        if conversation is None:
            raise InputError(
                "This result has no conversation thread. Use V for variations of one of its "
                "images, or Branch to start a thread from it."
            )
        await self._store.set_head(conversation.thread_id, job.id, index)
        return (
            f"Image {value} is now the one this conversation continues from: write in the "
            "thread to change it. Refine and Upscale on this message work on it too."
        )

    async def _undo(self, job: Job, conversation: Conversation | None) -> str:
        """The conversation goes back to the image it had before this result."""
        if conversation is None or job.previous_head is None:
            raise InputError("There is no earlier image in this conversation to go back to.")
        before = (job.previous_head, job.previous_candidate)
        if (conversation.head_job, conversation.head_candidate) != before:
            try:
                await self._store.set_head(conversation.thread_id, *before)
            except ValueError:
                raise InputError(
                    "The image before this one is no longer stored, so the conversation "
                    "cannot go back to it."
                ) from None
        return (
            f"↩️ Undone: the next change in this thread starts from the image before this one "
            f"(job `{job.previous_head}`). This result stays here, but it is no longer part of "
            "the conversation's history."
        )

    async def _branch(self, actor: Actor, job: Job, conversation: Conversation | None) -> str:
        """A new thread, owned by `actor`, continuing from this result's image with the
        history behind it: a copy of the image, delivered at once (nothing is generated)."""
        if conversation is None or job.result_image is None:
            raise InputError("Only a result in a conversation's thread can be branched.")
        for recent in await self._store.recent_jobs(actor.user_id, job.guild_id, 5):
            if recent.kind == BRANCH_KIND and recent.parent_job == job.id and _just(recent):
                return "Already on it: your branch of this image was just opened."
        image = await self._store.get_image(job.result_image)
        if image is None:
            raise InputError("This image is no longer stored, so it cannot be branched.")
        branch = Job(
            id=new_job_id(),
            kind=BRANCH_KIND,
            user_id=actor.user_id,
            guild_id=job.guild_id,
            channel_id=conversation.channel_id,  # its message, and thread, beside the first
            request=redo.same_context(job.request, job),
            state=JobState.DELIVERED,
            outputs=(image.sha256,),
            parent_job=job.id,
            parent_candidate=job.chosen,
            report=Report(),
            finished_at=time.time(),
        )
        await self._store.add_job(branch, [image])
        if not await self._pipeline.deliver(branch, [image]):
            return "The branch could not be posted just now; it will appear shortly."
        return "🌿 Branched: the new thread below the copy of this image is yours to change."

    async def _redo(
        self,
        actor: Actor,
        action: Action,
        job: Job,
        conversation: Conversation | None,
        value: str | None,
        answer: PressAnswer | None,
    ) -> str | None:
        derived = redo.derive(action, job, conversation, value, self._settings)
        thread_id = conversation.thread_id if conversation else None
        new = Job(
            id=answer.job_id if answer else new_job_id(),
            message_id=answer.message_id if answer else None,
            kind=derived.kind,
            user_id=actor.user_id,
            guild_id=job.guild_id,
            # A new message: in the conversation's thread, else beside the job.
            channel_id=thread_id or job.channel_id,
            thread_id=thread_id,
            home_channel_id=conversation.channel_id if conversation else None,
            lane=lane_of(thread_id),
            request=derived.request,
            dedupe=_dedupe(action, job.id, actor.user_id, value),
        )
        await self._guard.check_prompt(actor.user_id, _place(job), new.request.prompt)
        try:
            await self._accept(new, actor.role_ids, ())
        except DuplicateJobError:
            return (
                f"Already on it: your {derived.kind} of this image is waiting or being made. "
                "It will appear here shortly."
            )
        return None


# A workflow's settings that thread edits of its conversation keep.
_KEPT_BY_EDITS = ("tools", "person_generation", "safety")
# Actions that start work or open a conversation (and so pass the guard rails); Cancel,
# Delete, Choose and Undo do not.
_STARTS_WORK = frozenset(
    {Action.RETRY, Action.EDIT_PROMPT, Action.GENERATE, Action.BRANCH, *redo.REDO_ACTIONS}
)


def _just(job: Job, seconds: float = 30.0) -> bool:
    return time.time() - job.created_at < seconds


def _place(job: Job) -> Place:
    """Where a job's buttons are: its channel (a thread's parent is its home channel)."""
    return Place(job.guild_id, job.channel_id, job.home_channel_id)


def _text(value: str | None) -> str:
    text = (value or "").strip()
    if not text:
        raise InputError(EMPTY_TEXT)
    return text


def _already(job: Job) -> str:
    if job.state in (JobState.QUEUED, JobState.RUNNING):
        return "This request is already running: its message shows its progress."
    if job.state in OUTCOMES or job.state is JobState.DELIVERED:
        return "This was already used; nothing more to do here."
    return "This request has moved on; nothing more to do here."


def _dedupe(action: Action, job_id: str, user_id: int, value: str | None) -> str:
    """Two clicks of the same button by the same member while its job waits count once."""
    digest = hashlib.sha256((value or "").encode()).hexdigest()[:16]
    return f"{action.value}:{job_id}:{user_id}:{digest}"
