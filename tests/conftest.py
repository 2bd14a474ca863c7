"""Test-wide rules and fixtures: the fake servers, and anything logged at ERROR fails the test.

discord.py only logs exceptions raised in events, commands, views and modals, and asyncio
only logs exceptions of tasks nobody awaited; without this, such bugs would pass silently.
A test that provokes an error on purpose declares it with `expect_logged_errors`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_gemini import FakeGemini

# The google-genai SDK's aiohttp session honours proxy variables; the fakes are local.
os.environ["NO_PROXY"] = ",".join(filter(None, [os.environ.get("NO_PROXY"), "127.0.0.1,localhost"]))


class ErrorCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.expected: list[re.Pattern[str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def unexpected(self) -> list[str]:
        problems = []
        for record in self.records:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                text += f" | {record.exc_info[0].__name__}: {record.exc_info[1]}"
            if not any(p.search(text) for p in self.expected):
                problems.append(f"{record.name}: {text}")
        return problems


@pytest.fixture(autouse=True)
def logged_errors() -> Iterator[ErrorCollector]:
    collector = ErrorCollector()
    root = logging.getLogger()
    root.addHandler(collector)
    try:
        yield collector
    finally:
        root.removeHandler(collector)
    problems = collector.unexpected()
    assert not problems, "errors were logged:\n" + "\n".join(problems)


@pytest.fixture
def expect_logged_errors(logged_errors: ErrorCollector) -> ErrorCollector:
    """Call `expect_logged_errors.expected.append(re.compile(...))` for each expected error."""
    return logged_errors


# The fake servers, started once per test module that uses them.


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    await fake.start()
    yield fake
    await fake.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gemini_fake() -> AsyncIterator[FakeGemini]:
    fake = FakeGemini()
    await fake.start()
    yield fake
    await fake.stop()
