"""The job pipeline without Discord: a recording display and scripted model calls.

The end-to-end tests drive the same pipeline through discord.py and the fakes; these pin its
own promises where a boundary fake reaches them only by chance: progress may fail in any way
without touching the result, a result that cannot be posted is tried again and otherwise
kept for the next start, a cancelled job's result is dropped, a per-minute quota puts the
job back where it was.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio
from google.genai import types

from bot.config import EXAMPLE_CONFIG, Settings, load_settings
from bot.errors import GenerationError
from bot.generation import CallInputs, GenerationResult, PreviewSink, Usage
from bot.jobs import pipeline as pipeline_module
from bot.jobs.display import (
    Action,
    Card,
    FailureCard,
    Progress,
    ResultCard,
    Running,
    Shown,
    Unreachable,
)
from bot.jobs.pipeline import Answer, JobPipeline
from bot.jobs.records import Job, JobRequest, JobState, new_job_id
from bot.media import Media
from bot.store import SQLiteStore, Store
from bot.store.codec import dehydrate
from tests.stores import unshown

pytestmark = pytest.mark.asyncio(loop_scope="function")

SETTINGS: Settings = load_settings(EXAMPLE_CONFIG)
IMAGE = Media(b"\x89PNG\r\n\x1a\n" + bytes(4096), "image/png")


class RecordingDisplay:
    """Records what the pipeline shows; `failing_progress` / `failing_shows` raise instead."""

    def __init__(self) -> None:
        self.progress_shown: list[Progress] = []
        self.cards: list[Card] = []
        self.failing_progress: BaseException | None = None
        self.failing_shows = 0  # this many `show` calls raise first
        self.unreachable = False  # every `show` says the job's place can never be reached
        self.shows_tried = 0
        self.limit: int | None = None  # the upload limit it reports

    async def progress(self, job: Job, progress: Progress) -> Shown | None:
        if self.failing_progress is not None:
            raise self.failing_progress
        self.progress_shown.append(progress)
        return None

    async def show(self, job: Job, card: Card) -> Shown:
        self.shows_tried += 1
        if self.unreachable:
            raise Unreachable("the interaction expired where the bot cannot post")
        if self.failing_shows:
            self.failing_shows -= 1
            raise ConnectionResetError("the connection dropped while posting")
        self.cards.append(card)
        return Shown(message_id=job.message_id or 500, channel_id=job.channel_id)

    def upload_limit(self, job: Job) -> int | None:
        return self.limit

    async def open_thread(
        self, job: Job, card: Callable[[], Awaitable[Card]], *, last_try: bool
    ) -> int | None:
        return None


class ScriptedModel:
    """Model calls answered from a script; `gate` holds each call until it is set."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[JobRequest] = []
        self.inputs: list[CallInputs] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.called = asyncio.Event()

    async def __call__(
        self, request: JobRequest, inputs: CallInputs, on_preview: PreviewSink | None = None
    ) -> list[Answer]:
        self.requests.append(request)
        self.inputs.append(inputs)
        self.called.set()
        await self.gate.wait()
        return [self.answers.pop(0)]


def an_image(text: str = "Here it is") -> GenerationResult:
    user = types.Content(role="user", parts=[types.Part.from_text(text="a lighthouse")])
    model = types.Content(
        role="model",
        parts=[
            types.Part.from_text(text=text),
            types.Part.from_bytes(data=IMAGE.data, mime_type=IMAGE.mime_type),
        ],
    )
    return GenerationResult(
        images=(IMAGE,),
        text=text,
        usage=Usage(prompt_tokens=12),
        block=None,
        user_turn=dehydrate(user),
        model_turn=dehydrate(model, [IMAGE]),
        elapsed_s=0.1,
    )


@pytest_asyncio.fixture(loop_scope="function")
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await SQLiteStore.open(tmp_path / "bot.sqlite3")
    yield opened
    await opened.close()


@pytest.fixture(autouse=True)
def no_delivery_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    # The pipeline waits 1, 4 and 15 s between tries to post; here the tries follow at once.
    monkeypatch.setattr(pipeline_module, "DELIVERY_DELAYS", (0.0, 0.0, 0.0, 0.0))


def make_pipeline(store: Store, display: RecordingDisplay, model: ScriptedModel) -> JobPipeline:
    return JobPipeline(store=store, display=display, generate=model, settings=SETTINGS)


async def running_job(store: Store) -> Job:
    request = JobRequest(prompt="a lighthouse", model=SETTINGS.models.default)
    job = Job(
        id=new_job_id(),
        kind="imagine",
        user_id=42,
        guild_id=7,
        channel_id=9,
        message_id=500,
        request=request,
    )
    await store.add_job(job)
    claimed = await store.claim_next(max_running=10, max_per_user=10)
    assert claimed is not None
    assert claimed.id == job.id
    return claimed


async def test_a_job_runs_to_its_result_and_is_recorded_as_shown(store: Store) -> None:
    display, model = RecordingDisplay(), ScriptedModel(an_image())
    job = await running_job(store)

    await make_pipeline(store, display, model).run(job)

    assert [type(p) for p in display.progress_shown] == [Running]
    (card,) = display.cards
    assert isinstance(card, ResultCard)
    assert card.images == (IMAGE,)
    assert card.text == "Here it is"
    done = await store.get_job(job.id)
    assert done is not None
    assert done.state is JobState.DELIVERED
    assert done.shown_at is not None
    assert done.outputs == (IMAGE.sha256,)
    assert done.cost_usd > 0


@pytest.mark.parametrize(
    "failure",
    [ConnectionResetError("reset"), TimeoutError(), RuntimeError("a bug in the display")],
    ids=["connection reset", "time-out", "any exception"],
)
async def test_progress_that_fails_in_any_way_never_costs_the_result(
    store: Store, failure: BaseException
) -> None:
    display, model = RecordingDisplay(), ScriptedModel(an_image())
    display.failing_progress = failure
    job = await running_job(store)

    await make_pipeline(store, display, model).run(job)

    assert [type(c) for c in display.cards] == [ResultCard]
    done = await store.get_job(job.id)
    assert done is not None
    assert (done.state, done.shown_at is not None) == (JobState.DELIVERED, True)


async def test_an_image_re_encoded_to_fit_is_posted_and_the_original_is_kept(
    store: Store,
) -> None:
    fitted = Media(b"\xff\xd8\xff" + bytes(100), "image/jpeg")
    display = RecordingDisplay()
    display.limit = 1000
    model = ScriptedModel(replace(an_image(), posted=fitted))
    job = await running_job(store)

    await make_pipeline(store, display, model).run(job)

    assert model.inputs[0].post_limit == 1000  # the call was told Discord's limit
    (card,) = display.cards
    assert isinstance(card, ResultCard)
    assert card.images == (fitted,)
    done = await store.get_job(job.id)
    assert done is not None
    assert await store.get_images(done.outputs) == [IMAGE]


async def test_a_result_whose_posting_fails_is_tried_again(store: Store) -> None:
    display, model = RecordingDisplay(), ScriptedModel(an_image())
    display.failing_shows = 2
    job = await running_job(store)

    await make_pipeline(store, display, model).run(job)

    assert [type(c) for c in display.cards] == [ResultCard]
    assert await unshown(store) == []


async def test_a_result_that_cannot_be_posted_is_kept_for_the_next_start(store: Store) -> None:
    display, model = RecordingDisplay(), ScriptedModel(an_image())
    display.failing_shows = len(pipeline_module.DELIVERY_DELAYS)
    job = await running_job(store)
    pipeline = make_pipeline(store, display, model)

    await pipeline.run(job)

    assert display.cards == []
    (kept,) = await unshown(store)
    assert (kept.id, kept.state) == (job.id, JobState.DELIVERED)
    # The next start posts it from the store, the paid image included.
    assert await pipeline.deliver(kept)
    (card,) = display.cards
    assert isinstance(card, ResultCard)
    assert card.images == (IMAGE,)
    assert await unshown(store) == []


async def test_a_result_that_can_never_be_posted_is_kept_and_not_tried_again(
    store: Store,
) -> None:
    display, model = RecordingDisplay(), ScriptedModel(an_image())
    display.unreachable = True
    job = await running_job(store)

    await make_pipeline(store, display, model).run(job)

    assert display.shows_tried == 1
    assert await unshown(store) == []  # no restart tries it again
    kept = await store.get_job(job.id)
    assert kept is not None
    assert (kept.state, kept.outputs) == (JobState.DELIVERED, (IMAGE.sha256,))


async def test_a_job_cancelled_while_the_model_works_shows_no_result(store: Store) -> None:
    display, model = RecordingDisplay(), ScriptedModel(an_image())
    model.gate.clear()
    job = await running_job(store)
    running = asyncio.create_task(make_pipeline(store, display, model).run(job))
    await model.called.wait()

    assert await store.transition(job.id, [JobState.RUNNING], JobState.CANCELLED)
    model.gate.set()
    await running

    assert display.cards == []
    cancelled = await store.get_job(job.id)
    assert cancelled is not None
    assert (cancelled.state, cancelled.outputs) == (JobState.CANCELLED, ())


async def test_a_per_minute_quota_puts_the_job_back_where_it_was(store: Store) -> None:
    throttled = GenerationError("busy", kind="rate_limited", retry_after_s=3.0)
    display, model = RecordingDisplay(), ScriptedModel(throttled)
    job = await running_job(store)

    calls = await make_pipeline(store, display, model).run(job)

    assert (calls.throttled, calls.retry_after_s) == (True, 3.0)
    assert display.cards == []  # nothing to say yet: it runs again
    waiting = await store.get_job(job.id)
    assert waiting is not None
    assert (waiting.state, waiting.seq) == (JobState.QUEUED, job.seq)


async def test_a_failure_is_shown_with_retry_when_trying_again_can_help(store: Store) -> None:
    unavailable = GenerationError("Gemini is overloaded.", kind="server", retryable=True)
    display, model = RecordingDisplay(), ScriptedModel(unavailable)
    job = await running_job(store)

    await make_pipeline(store, display, model).run(job)

    (card,) = display.cards
    assert isinstance(card, FailureCard)
    assert card.message == "Gemini is overloaded."
    assert Action.RETRY in card.actions
    failed = await store.get_job(job.id)
    assert failed is not None
    assert failed.state is JobState.FAILED
