"""The answer gate with the real SDK against the fake Gemini: answers beyond its slots wait
unread until a call hands its result on; streamed answers and error bodies never wait."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from google import genai
from google.genai import errors, types

from bot.answer_gate import AnswerGate, gated_session
from bot.config import EXAMPLE_CONFIG, load_settings
from bot.credentials import GeminiAuth
from bot.gemini import build_client
from tests.fakes.fake_gemini import FakeGemini, error_reply

MODEL = "gemini-3-pro-image"
IMAGE = types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"])


@pytest_asyncio.fixture
async def client(gemini_fake: FakeGemini) -> AsyncIterator[genai.Client]:
    gemini_fake.reset()
    gemini_fake.default_delay = 0.0
    settings = load_settings(EXAMPLE_CONFIG).gemini.model_copy(
        update={"base_url": gemini_fake.base_url, "retry_attempts": 1}
    )
    session = gated_session()
    client = build_client(settings, GeminiAuth(api_key=gemini_fake.api_key), session)
    yield client
    await client.aio.aclose()
    await session.close()


async def test_answers_beyond_the_slots_wait_until_a_result_is_handed_on(
    client: genai.Client, gemini_fake: FakeGemini
) -> None:
    gemini_fake.default_delay = 0.2  # the three calls end together
    gate = AnswerGate(size=1)
    read: asyncio.Queue[int] = asyncio.Queue()
    handed_on = {n: asyncio.Event() for n in range(3)}

    async def call(n: int) -> None:
        async with gate.call():
            await client.aio.models.generate_content(model=MODEL, contents=f"fox {n}", config=IMAGE)
            read.put_nowait(n)
            await handed_on[n].wait()

    calls = [asyncio.create_task(call(n)) for n in range(3)]
    order = [await asyncio.wait_for(read.get(), 10)]
    await asyncio.sleep(0.5)  # Gemini has answered all three by now
    assert len(gemini_fake.requests) == 3
    assert read.empty()
    assert gate.held == 1
    for _ in range(2):
        handed_on[order[-1]].set()
        order.append(await asyncio.wait_for(read.get(), 10))
    handed_on[order[-1]].set()
    await asyncio.gather(*calls)
    assert sorted(order) == [0, 1, 2]
    assert gate.held == 0


async def test_streamed_answers_and_errors_do_not_wait_for_a_slot(
    client: genai.Client, gemini_fake: FakeGemini
) -> None:
    gate = AnswerGate(size=1)
    holding = asyncio.Event()
    done = asyncio.Event()

    async def hold_the_slot() -> None:
        async with gate.call():
            await client.aio.models.generate_content(model=MODEL, contents="a fox", config=IMAGE)
            holding.set()
            await done.wait()

    holder = asyncio.create_task(hold_the_slot())
    await asyncio.wait_for(holding.wait(), 10)

    async def streamed() -> list[types.GenerateContentResponse]:
        stream = await client.aio.models.generate_content_stream(
            model=MODEL, contents="a hare", config=IMAGE
        )
        return [chunk async for chunk in stream]

    async with gate.call():
        assert await asyncio.wait_for(streamed(), 5)
        gemini_fake.enqueue(error_reply(400, "bad prompt"))
        with pytest.raises(errors.ClientError, match="bad prompt"):
            await asyncio.wait_for(
                client.aio.models.generate_content(model=MODEL, contents="x", config=IMAGE), 5
            )
    done.set()
    await holder
    assert gate.held == 0
