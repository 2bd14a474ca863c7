"""The bot on PostgreSQL (DATABASE_URL): a conversation, its history and a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from tests.e2e.conftest import Harness
from tests.e2e.helpers import answered_content, model_contents, user_texts
from tests.postgres import create_database, drop_database
from tests.support import settle

pytestmark = pytest.mark.postgres


@pytest_asyncio.fixture(loop_scope="module")
async def database(postgres_server: str) -> AsyncIterator[str]:
    url = await create_database(postgres_server)
    yield url
    await drop_database(postgres_server, url)


async def test_a_conversation_lives_in_postgresql_across_a_restart(
    harness: Harness, database: str
) -> None:
    await harness.stop_bot()
    harness.database_url = database
    await harness.start_bot()

    interaction = await harness.imagine("a red fox in a meadow")
    thread = harness.thread_of(interaction)
    first = harness.gemini.requests[-1]
    await harness.stop_bot()
    await harness.start_bot()  # a new process on the same database

    message = await harness.say(thread["id"], "now at night")
    reply = await harness.bot_reply_to(message)
    await settle()
    after = harness.gemini.requests[-1]
    assert user_texts(after) == ["a red fox in a meadow", "now at night"]
    assert model_contents(after) == [answered_content(first)]
    assert reply["attachments"]

    conn = await asyncpg.connect(database)
    try:
        states = await conn.fetch("SELECT state FROM jobs ORDER BY created_at")
        conversations = await conn.fetchval("SELECT COUNT(*) FROM conversations")
    finally:
        await conn.close()
    assert [row["state"] for row in states] == ["delivered", "delivered"]
    assert conversations == 1
