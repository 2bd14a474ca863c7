"""Log lines (text, JSON, secrets blanked out) and the health verdict, without any server."""

from __future__ import annotations

import asyncio
import json
import logging
import sys

from bot.observability.health import Health
from bot.observability.logs import REDACTED, log_formatter

TOKEN = "MTA4.discord-test-token-value"
KEY = "AIzaSy-test-gemini-key-value"


def record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    made = logging.LogRecord("bot.jobs", logging.INFO, __file__, 1, message, args, exc_info)
    made.fields = {"job": "abcdefgh", "cost_usd": 0.067, "guild": None}
    return made


def failure(text: str) -> BaseException:
    try:
        raise RuntimeError(text)
    except RuntimeError:
        return sys.exc_info()[1]  # type: ignore[return-value]


def test_json_lines_carry_the_fields_and_the_traceback() -> None:
    line = log_formatter("json").format(
        record("job %s %s", "abcdefgh", "delivered", exc=failure("x"))
    )
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["message"] == "job abcdefgh delivered"
    assert (entry["level"], entry["logger"]) == ("INFO", "bot.jobs")
    assert (entry["job"], entry["cost_usd"], entry["guild"]) == ("abcdefgh", 0.067, None)
    assert entry["time"].endswith("+00:00")
    assert entry["exception"].startswith("Traceback")
    assert "RuntimeError: x" in entry["exception"]


def test_text_lines_are_one_readable_line() -> None:
    line = log_formatter("text").format(record("job %s %s", "abcdefgh", "delivered"))
    assert line.endswith(" INFO    bot.jobs: job abcdefgh delivered")


def test_secrets_are_blanked_out_in_messages_arguments_and_tracebacks() -> None:
    for log_format in ("text", "json"):
        formatter = log_formatter(log_format, [TOKEN, KEY, ""])
        exc = failure(f"GET https://example/?key={KEY} failed")
        line = formatter.format(record("Authorization: Bot %s", TOKEN, exc=exc))
        assert TOKEN not in line
        assert KEY not in line
        assert line.count(REDACTED) == 2


def test_values_too_short_to_be_secrets_are_left_alone() -> None:
    line = log_formatter("text", ["x", "abc"]).format(record("x marks abc"))
    assert line.endswith("x marks abc")


class Probe:
    """Stands in for the store's write probe: answers `problem` after `delay` seconds."""

    def __init__(self, problem: str | None = None, delay: float = 0.0) -> None:
        self.problem = problem
        self.delay = delay
        self.calls = 0

    async def __call__(self) -> str | None:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return self.problem


def health(probe: Probe, *, connected: bool = True) -> Health:
    return Health(gateway_connected=lambda: connected, store_problem=probe, probe_timeout_s=0.05)


async def test_healthy_when_connected_and_the_store_takes_writes() -> None:
    assert await health(Probe()).problems() == []


async def test_every_problem_is_named() -> None:
    checked = health(Probe("the database cannot be written: disk I/O error"), connected=False)
    checked.stopping()
    assert await checked.problems() == [
        "the bot is shutting down",
        "not connected to Discord's gateway",
        "the database cannot be written: disk I/O error",
    ]


async def test_a_slow_store_is_reported_and_its_probe_is_shared_not_repeated() -> None:
    probe = Probe(delay=0.3)
    checked = health(probe)
    first, second = await asyncio.gather(checked.problems(), checked.problems())
    expected = "the database did not take a write within 0.05 s (is another process holding it?)"
    assert first == second == [expected]
    assert probe.calls == 1
    await checked.close()  # waits for the probe to end its transaction
    probe.delay = 0.0
    assert await checked.problems() == []  # a new probe, which answers in time
    assert probe.calls == 2


def test_the_database_password_is_one_of_the_secrets_to_hide() -> None:
    from bot.cli import secret_values

    env = {"DATABASE_URL": "postgresql://bot:s3cret-pass@db:5432/bot", "PGPASSWORD": "other-pw"}
    values = secret_values(env)
    assert {"s3cret-pass", env["DATABASE_URL"], "other-pw"} <= set(values)
    assert "postgresql://[unclosed" in secret_values({"DATABASE_URL": "postgresql://[unclosed"})
