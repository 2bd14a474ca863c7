"""Running one job, top to bottom: inputs -> generate -> keep the outcome -> show it.

`run` takes a job the dispatcher claimed (already `running` in the store). The history is
read now, not when the job was accepted, so each edit of a conversation sees the one before.
The outcome (images, the exchange to replay later, the report) is stored before anything is
posted, in one transaction that succeeds only if the job is still running: a job cancelled
meanwhile drops its result. Posting is retried; what could not be posted is posted after the
next restart (`recovery`). Progress is best effort: it can fail in any way without touching
the job. Once a result or a block is posted, the moderators get a copy (when a moderation
log is set up); that copy can fail without touching anything either.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from bot.config import Settings
from bot.errors import BotError, GenerationError
from bot.generation import CallInputs, GenerationResult, PreviewSink
from bot.jobs import describe
from bot.jobs.cards import BRANCH_KIND, card_for, is_editing, shown_images
from bot.jobs.display import Card, Display, Drafting, Progress, Running, Shown, Unreachable
from bot.jobs.events import NO_EVENTS, JobEvents
from bot.jobs.moderation import Moderation
from bot.jobs.ordering import KeyedLocks
from bot.jobs.previews import PreviewThrottle
from bot.jobs.pricing import settled_usd
from bot.jobs.records import Basis, Job, JobRequest, JobState, Report, Source
from bot.jobs.threads import ThreadOpener
from bot.media import Media
from bot.store import Exchange, HistoryLimits, JobChanges, Outcome, Store

log = logging.getLogger(__name__)

Answer = GenerationResult | GenerationError  # one model call's result, or why it failed


class Generate(Protocol):
    """A job's model calls (`bot.calls.call_model`, in this process or a worker's)."""

    def __call__(
        self, request: JobRequest, inputs: CallInputs, on_preview: PreviewSink | None = None
    ) -> Awaitable[list[Answer]]: ...


INTERNAL_ERROR = (
    "Something went wrong on my side and the image could not be made. Press Retry; if it "
    "keeps happening, give the bot's operator the job id below."
)
NO_PROMPTS = (
    "Gemini did not answer with prompts for this image. This is usually temporary: press Retry."
)
# Seconds to wait before each attempt at posting an outcome.
DELIVERY_DELAYS = (0.0, 1.0, 4.0, 15.0)
# How many outcomes are posted at once: a burst of finished jobs then holds a few images in
# memory (and in upload buffers) at a time, not hundreds.
POSTING_AT_ONCE = 8
# A job that keeps hitting the per-minute quota fails after this many starts.
MAX_ATTEMPTS = 5
THROTTLED = "rate_limited"  # bot.failures' kind for a per-minute quota (429)


class JobPipeline:
    def __init__(
        self,
        *,
        store: Store,
        display: Display,
        generate: Generate,
        settings: Settings,
        moderation: Moderation | None = None,
        events: JobEvents = NO_EVENTS,
    ) -> None:
        self._store = store
        self._display = display
        self._generate = generate
        self._settings = settings
        self._moderation = moderation
        self._events = events
        # Per job: one display call at a time, and where its message is once known.
        self._locks = KeyedLocks()
        self._places: dict[str, Shown] = {}
        self._posting = asyncio.Semaphore(POSTING_AT_ONCE)
        self.threads = ThreadOpener(store, display, self._locks, self._stored_card)

    # Running ------------------------------------------------------------------------------

    async def run(self, job: Job) -> Calls:
        """Run a claimed job to its end; says how its model calls went (for the limit on
        how many run at once)."""
        started = job.started_at or 0.0
        video = job.request.call == "animate"
        describing = bool(job.request.prompts)
        running = Running(started, is_editing(job), describing=describing, video=video)
        await self.show_progress(job, running)
        previews = self._previews(job, started)
        try:
            base, answers = await self._answers(job, previews)
        finally:
            if previews is not None:
                await previews.close()  # before the result: no draft may land after it
        calls = Calls.of(answers)
        if job.request.call != "generate":  # minutes of Veo must not look like a slow Gemini
            calls = replace(calls, latency_s=None)
        if calls.throttled and job.attempts < MAX_ATTEMPTS:
            # The per-minute quota ran out: back in line where it was, nothing lost.
            changes = JobChanges(keep_place=True)
            await self._store.transition(job.id, [JobState.RUNNING], JobState.QUEUED, changes)
            log.info("job %s is back in line: Gemini's per-minute quota ran out", job.id)
            self._events.throttled(job)
            return calls
        outcome, shown = self._judge(job, base, answers)
        refitted = any(a is not b for a, b in zip(shown, outcome.outputs, strict=True))
        finished = await self._store.finish(job.id, outcome)
        del answers, outcome  # the images are in the store now; keep at most one reference
        if finished is None:
            log.info("job %s was cancelled while running; its result is dropped", job.id)
            return calls
        # Waiting for a turn to post, a result does not hold its images (they are read back),
        # unless they were re-encoded to fit Discord's limit (smaller; read back, they would
        # be re-encoded again).
        hold = refitted or not self._posting.locked()
        posted = await self.deliver(finished, shown if hold and shown else None)
        self._events.finished(finished, posted=posted)
        return calls

    async def crashed(self, job: Job) -> None:
        """A bug stopped `run`: the job must not stay `running`; its owner gets Retry."""
        try:
            outcome = _failed(GenerationError(INTERNAL_ERROR, kind="internal"))
            failed = await self._store.finish(job.id, outcome)
            if failed is not None:
                self._events.finished(failed, posted=await self.deliver(failed))
        except Exception as exc:
            log.error("job %s: its failure could not be recorded either", job.id, exc_info=exc)

    def _previews(self, job: Job, started: float) -> PreviewThrottle | None:
        """Live thought previews for a model that draws drafts, when they are on."""
        info = self._settings.models.catalog.get(job.request.model)
        interval = self._settings.jobs.thought_previews_s
        if info is None or not info.thought_images or not interval:
            return None

        async def show(image: Media) -> None:
            await self.show_progress(job, Drafting(started, image))

        return PreviewThrottle(show, interval)

    def _prepared(self, request: JobRequest) -> JobRequest:
        """The request as sent: the catalog's thinking level when it sets none itself."""
        info = self._settings.models.catalog.get(request.model)
        if request.thinking_level or info is None or not info.thinking_level:
            return request
        return request.model_copy(update={"thinking_level": info.thinking_level})

    async def _answers(
        self, job: Job, previews: PreviewThrottle | None = None
    ) -> tuple[Base | None, Sequence[Answer]]:
        """The image the job builds on, and what each of its model calls came back with."""
        try:
            base, inputs = await self._inputs(job)
            video = self._settings.video
            inputs = replace(
                inputs,
                poll_interval_s=video.poll_interval_s,
                max_wait_s=video.max_wait_s,
                post_limit=self._display.upload_limit(job),
            )
            on_preview = previews.offer if previews is not None else None
            return base, await self._generate(self._prepared(job.request), inputs, on_preview)
        except GenerationError as exc:
            return None, [exc]
        except BotError as exc:  # e.g. the image to edit is no longer stored
            return None, [GenerationError(exc.user_message, kind="input", retryable=False)]
        except Exception as exc:  # a bug: the member still gets an answer, with Retry
            log.error("unexpected error in job %s", job.id, exc_info=exc)
            return None, [GenerationError(INTERNAL_ERROR, kind="internal")]

    async def _inputs(self, job: Job) -> tuple[Base | None, CallInputs]:
        """What the model gets besides the prompt: the image this job builds on (with the
        history that led to it, when that fits) and the job's own uploads."""
        request = job.request
        uploads = await self._store.get_images(request.input_images)
        base = await self._base(job)
        if base is None:
            return None, CallInputs(images=uploads)
        history = []
        if request.basis is not Basis.IMAGE:
            info = self._settings.models.info(request.model)
            budget = self._settings.conversations.history_budget_mb * 1024 * 1024
            limits = HistoryLimits(
                max_turns=self._settings.conversations.max_history_turns,
                max_images=info.max_input_images - len(uploads),
                max_bytes=int(budget) - sum(image.size for image in uploads),
            )
            history = await self._store.history(base.job, limits, base.candidate)
        if history:
            return base, CallInputs(images=uploads, history=history)
        # No history (an upscale), or even the last exchange is too big: send the image.
        parent = await self._store.get_job(base.job)
        digest = parent.output(base.candidate) if parent else None
        image = await self._store.get_image(digest) if digest else None
        if image is None:
            raise BotError(
                "The image this builds on is no longer stored (old images are deleted after a "
                "while), so it cannot be changed. Start again with /imagine."
            )
        return base, CallInputs(images=[image, *uploads])

    async def _base(self, job: Job) -> Base | None:
        """The image the job continues: the conversation's as it is now, or the one its
        request names."""
        request = job.request
        if request.basis is Basis.CONVERSATION and job.thread_id is not None:
            conversation = await self._store.get_conversation(job.thread_id)
            if conversation is None or conversation.head_job is None:
                return None
            return Base(conversation.head_job, conversation.head_candidate)
        if request.basis not in (Basis.AFTER, Basis.IMAGE) or request.parent is None:
            return None
        if request.parent_output is not None:
            return Base(request.parent, request.parent_output)
        parent = await self._store.get_job(request.parent)  # recorded before parent_output
        return Base(request.parent, parent.chosen if parent else 0)

    def _judge(
        self, job: Job, base: Base | None, results: Sequence[Answer]
    ) -> tuple[Outcome, list[Media]]:
        """The job's outcome from its calls: delivered if any image came (the others are
        withheld in their places), else blocked (the first block) or failed (the first
        failure); and the images to show (re-encoded to fit where that was needed)."""
        if job.request.prompts:
            return self._judge_prompts(job, results), []
        images: list[Media] = []
        shown: list[Media] = []
        exchanges: list[Exchange] = []
        withheld: list[str] = []
        missing: list[int] = []
        texts: list[str] = []
        for slot, result in enumerate(results):
            if isinstance(result, GenerationError):
                withheld.append(result.user_message)
                missing.append(slot)
            elif result.block is not None:
                withheld.append(result.block.info.category)
                missing.append(slot)
            else:
                if result.model_turn is not None:
                    exchanges.append(Exchange(result.user_turn, result.model_turn, len(images)))
                images.append(result.images[-1])  # earlier ones are drafts
                shown.append(result.posted or result.images[-1])
                texts.append(result.text)
        answered = [r for r in results if isinstance(r, GenerationResult)]
        elapsed = max((r.elapsed_s for r in answered), default=0)
        parent_job, candidate = (base.job, base.candidate) if base else (None, 0)
        if images:
            info = self._settings.models.catalog.get(job.request.model)
            tokens = sum(r.usage.prompt_tokens for r in answered)
            grounding = next((r.grounding for r in answered if r.grounding), None)
            report = Report(
                text=texts[0],
                elapsed_s=elapsed,
                withheld=tuple(withheld),
                missing=tuple(missing),
                sources=tuple(Source(title=t, uri=u) for t, u in grounding.sources)
                if grounding
                else (),
                search_queries=grounding.queries if grounding else (),
            )
            outcome = Outcome(
                JobState.DELIVERED,
                parent_job=parent_job,
                parent_candidate=candidate,
                outputs=images,
                exchanges=exchanges,
                cost_usd=settled_usd(info, job.request, len(images), tokens),
                report=report,
                # A video or a faithful upscale is kept in the conversation, but the next
                # edit goes on from the image Gemini made.
                moves_head=job.request.call == "generate",
            )
            return outcome, shown
        blocked = [r for r in results if isinstance(r, GenerationResult) and r.block]
        if blocked:
            block = blocked[0].block
            assert block is not None
            return Outcome(
                JobState.BLOCKED,
                parent_job=parent_job,
                parent_candidate=candidate,
                error_kind=f"{block.stage}:{block.reason}",
                report=Report(text=blocked[0].text, elapsed_s=elapsed, block=block),
            ), []
        errors = [r for r in results if isinstance(r, GenerationError)]
        return _failed(errors[0]), []

    def _judge_prompts(self, job: Job, results: Sequence[Answer]) -> Outcome:
        """A /describe's outcome: its prompts (the model's text), a block, or a failure."""
        (result,) = results
        if isinstance(result, GenerationError):
            return _failed(result)
        if result.block is not None:
            return Outcome(
                JobState.BLOCKED,
                error_kind=f"{result.block.stage}:{result.block.reason}",
                report=Report(text=result.text, elapsed_s=result.elapsed_s, block=result.block),
            )
        if not describe.parse_prompts(result.text):
            return _failed(GenerationError(NO_PROMPTS, kind="no_prompts"))
        info = self._settings.models.catalog.get(job.request.model)
        usage = result.usage
        cost = settled_usd(
            info, job.request, 0, usage.prompt_tokens, usage.total_tokens - usage.prompt_tokens
        )
        return Outcome(
            JobState.DELIVERED,
            cost_usd=cost,
            report=Report(text=result.text, elapsed_s=result.elapsed_s),
        )

    # Showing ------------------------------------------------------------------------------

    async def show_progress(self, job: Job, progress: Progress) -> None:
        """Best effort: a failed progress edit is logged and changes nothing else."""
        async with self._locks.hold(job.id):
            try:
                shown = await self._display.progress(self._located(job), progress)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("progress of job %s not shown: %r", job.id, exc)
                return
            if shown is not None:
                await self._moved(job, shown)

    async def show_card(self, job: Job) -> None:
        """Show a pending job's briefing (it stays pending, nothing to record)."""
        async with self._locks.hold(job.id):
            shown = await self._display.show(self._located(job), self._card(job, []))
            await self._moved(job, shown)

    async def deliver(self, job: Job, images: Sequence[Media] | None = None) -> bool:
        """Post a stored outcome (retrying), then record that it was shown (and owes the
        thread of the conversation it starts, opened in the background). False when it could
        not be posted: it stays unshown.
        `images`: the job's outputs when the caller has them (else read from the store)."""
        shown = None
        for attempt, delay in enumerate(DELIVERY_DELAYS, start=1):
            await asyncio.sleep(delay)
            async with self._posting:
                if images is None:
                    images = await self._store.get_images(shown_images(job))
                shown = await self._post(job, self._card(job, images), attempt)
            if shown is not None:
                break
            images = None  # not held while waiting to try again
        if shown is None:
            log.warning("job %s: outcome not posted; it will be posted after a restart", job.id)
            return False
        await self._store.mark_shown(
            job.id, shown.message_id, shown.channel_id, thread_wanted=shown.thread_wanted
        )
        self._places.pop(job.id, None)
        if shown.thread_wanted:
            self.threads.owe(replace(job, message_id=shown.message_id, channel_id=shown.channel_id))
        if self._moderation is not None and _made_by_the_model(job):
            await self._moderation.outcome(job, images or ())
        return True

    async def _post(self, job: Job, card: Card, attempt: int) -> Shown | None:
        async with self._locks.hold(job.id):
            located = self._located(job)
            try:
                return await self._display.show(located, card)
            except asyncio.CancelledError:
                raise
            except Unreachable as exc:  # kept in the store; nothing more can be done
                log.warning("job %s: its outcome cannot be shown: %s", job.id, exc)
                return Shown(located.message_id or 0, located.channel_id)
            except Exception as exc:
                log.warning(
                    "job %s: posting its outcome failed (attempt %d): %r", job.id, attempt, exc
                )
                return None

    def _card(self, job: Job, images: Sequence[Media]) -> Card:
        return card_for(job, images, self._settings)

    async def _stored_card(self, job: Job) -> Card:
        """The card of a shown job, composed again from the store."""
        return self._card(job, await self._store.get_images(shown_images(job)))

    def _located(self, job: Job) -> Job:
        """The job with its message where it really is (another task may have created it)."""
        place = self._places.get(job.id)
        if place is None or place.message_id == job.message_id:
            return job
        return replace(job, message_id=place.message_id, channel_id=place.channel_id)

    async def _moved(self, job: Job, shown: Shown) -> None:
        if (shown.message_id, shown.channel_id) == (job.message_id, job.channel_id):
            return
        if self._places.get(job.id) == shown:
            return
        self._places[job.id] = shown
        await self._store.set_message(job.id, shown.message_id, shown.channel_id)


@dataclass(frozen=True)
class Base:
    """The image a job continues: image `candidate` of job `job`."""

    job: str
    candidate: int = 0


@dataclass(frozen=True)
class Calls:
    """How a job's model calls went, for `bot.jobs.concurrency`."""

    latency_s: float | None = None  # the slowest answer, when one came
    throttled: bool = False  # every call hit the per-minute quota
    retry_after_s: float | None = None  # Gemini's RetryInfo, when it gave one

    @classmethod
    def of(cls, answers: Sequence[Answer]) -> Calls:
        latencies = [a.elapsed_s for a in answers if isinstance(a, GenerationResult)]
        limited = [a for a in answers if isinstance(a, GenerationError) and a.kind == THROTTLED]
        return cls(
            latency_s=max(latencies, default=None),
            throttled=bool(answers) and len(limited) == len(answers),
            retry_after_s=max((a.retry_after_s or 0 for a in limited), default=0) or None,
        )


def _made_by_the_model(job: Job) -> bool:
    """An image the model made or withheld (moderators see those; not a branch's copy of an
    image they saw already, nor /describe's text)."""
    if job.kind == BRANCH_KIND or job.request.prompts:
        return False
    return job.state in (JobState.DELIVERED, JobState.BLOCKED)


def _failed(error: GenerationError) -> Outcome:
    return Outcome(
        JobState.FAILED,
        error_kind=error.kind,
        error_message=error.user_message,
        report=Report(retryable=error.retryable),
    )
