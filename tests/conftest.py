"""Test-wide rules and fixtures: the fake servers, and anything logged at ERROR fails the test.

discord.py only logs exceptions raised in events, commands, views and modals, and asyncio
only logs exceptions of tasks nobody awaited; without this, such bugs would pass silently.
A test that provokes an error on purpose declares it with `expect_logged_errors`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
import pytest_asyncio

from bot.database_url import redacted
from tests.fakes.fake_discord import FakeDiscord
from tests.fakes.fake_gemini import FakeGemini
from tests.postgres import SKIP_REASON, create_database, drop_database, server_url

T = TypeVar("T")

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


# PostgreSQL: the server named by TEST_DATABASE_URL, or one clear skip.


def pytest_report_header() -> str:
    url = server_url()
    return f"postgresql: {redacted(url)}" if url else f"postgresql: none ({SKIP_REASON})"


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Without a server, tests marked `postgres` skip here: one place, so the summary folds
    them into one line."""
    if item.get_closest_marker("postgres") and server_url() is None:
        pytest.skip(SKIP_REASON)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The server's URL; tests that use it are marked `postgres`."""
    url = server_url()
    if url is None:
        pytest.skip(SKIP_REASON)
    return url


@pytest.fixture(scope="session")
def postgres_database(postgres_server: str) -> Iterator[str]:
    """One database for the session (store tests empty it before each test)."""
    url = _run(create_database(postgres_server))
    yield url
    _run(drop_database(postgres_server, url))


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` on a loop of its own (session fixtures live outside the tests' loops)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()
