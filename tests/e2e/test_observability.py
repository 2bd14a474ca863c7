"""What an operator watches: /healthz and /metrics over HTTP, the one log line per job, and
no secret anywhere in the log. The real bot against the fakes, asked over real HTTP."""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.observability.logs import JsonFormatter
from tests.e2e.conftest import Harness
from tests.e2e.helpers import free_port, job_id
from tests.fakes.fake_gemini import blocked_prompt, image_reply, quota_reply

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def start_with_http(harness: Harness) -> str:
    """Restart the harness's bot with the HTTP server on; its base URL."""
    await harness.stop_bot()
    port = free_port()
    observability = {"http_host": "127.0.0.1", "http_port": port}
    settings = harness.settings.model_copy(
        update={"observability": harness.settings.observability.model_copy(update=observability)}
    )
    await harness.start_bot(settings)
    return f"http://127.0.0.1:{port}"


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text(), response.headers["Content-Type"]


async def scrape(base: str) -> Samples:
    status, text, _ = await get(f"{base}/metrics")
    assert status == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_healthz_answers_503_with_the_reason_while_the_gateway_is_down(
    harness: Harness,
) -> None:
    base = await start_with_http(harness)
    assert await get(f"{base}/healthz") == (200, "ok\n", "text/plain; charset=utf-8")

    harness.discord.hold_gateway()
    try:
        await harness.discord.disconnect_bot()
        await harness.discord.wait_for(lambda: not harness.bot.gateway_connected())
        status, body, _ = await get(f"{base}/healthz")
        assert (status, body) == (503, "not connected to Discord's gateway\n")
    finally:
        harness.discord.release_gateway()
    await harness.discord.wait_for(harness.bot.gateway_connected, 10)
    assert (await get(f"{base}/healthz"))[:2] == (200, "ok\n")


async def test_healthz_answers_503_while_another_process_holds_the_database(
    harness: Harness,
) -> None:
    base = await start_with_http(harness)
    other = sqlite3.connect(harness.settings.storage.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        status, body, _ = await get(f"{base}/healthz")
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert status == 503
    assert body == "the database did not take a write within 2 s (is another process holding it?)\n"
    assert (await get(f"{base}/healthz"))[:2] == (200, "ok\n")


async def test_healthz_is_503_as_soon_as_a_shutdown_starts(harness: Harness) -> None:
    base = await start_with_http(harness)
    bot = harness.bot
    harness.gemini.enqueue(image_reply(delay=0.5))
    interaction = await harness.discord.run_command("imagine", {"prompt": "slow"})
    await harness.discord.wait_for(lambda: bot.jobs.dispatcher.running == 1)
    bot.request_shutdown()
    status, body, _ = await get(f"{base}/healthz")
    assert (status, body) == (503, "the bot is shutting down\n")
    await bot.wait_shut_down()
    assert interaction.original is not None
    assert interaction.original["attachments"]


async def test_metrics_count_jobs_failures_blocks_spend_and_discord_429s(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    base = await start_with_http(harness)
    caplog.set_level(logging.INFO, logger="bot.jobs")
    # One 429 from Discord on the first progress edit: discord.py waits and retries it.
    harness.discord.fail_next("PATCH", r"/webhooks/.*/messages/@original$", status=429)
    delivered = await harness.imagine("a red fox", aspect_ratio="16:9")
    harness.gemini.enqueue(blocked_prompt("SAFETY"))
    await harness.imagine("a blocked prompt")
    harness.gemini.enqueue(quota_reply("per_day"))
    await harness.imagine("no quota left today")
    harness.gemini.enqueue(quota_reply("per_minute", retry_delay=1))  # back in line, then made
    await harness.imagine("a second try")

    samples = await scrape(base)
    model = harness.settings.models.default
    assert value(samples, "imagine_bot_jobs_total", outcome="delivered") == 2
    assert value(samples, "imagine_bot_jobs_total", outcome="blocked") == 1
    assert value(samples, "imagine_bot_jobs_total", outcome="failed") == 1
    assert value(samples, "imagine_bot_jobs_total", outcome="cancelled") == 0
    assert value(samples, "imagine_bot_blocks_total", reason="prompt:SAFETY") == 1
    assert value(samples, "imagine_bot_failures_total", kind="daily_quota") == 1
    assert value(samples, "imagine_bot_gemini_throttled_total", model=model) == 1
    # The model answered three times (quota answers have no model time).
    assert value(samples, "imagine_bot_model_latency_seconds_count", model=model) == 3
    assert value(samples, "imagine_bot_overhead_seconds_count") == 3
    # The catalog's price of each image, plus the prompt's input tokens (a fraction of a cent).
    price = harness.settings.models.info(model).price_for(None)
    spend = value(samples, "imagine_bot_estimated_spend_usd_total", model=model)
    assert spend == pytest.approx(2 * price, abs=0.001)
    assert value(samples, "imagine_bot_discord_rate_limited_total", scope="user") == 1
    assert value(samples, "imagine_bot_queue_depth") == 0
    assert value(samples, "imagine_bot_running_jobs") == 0
    allowed = harness.bot.jobs.dispatcher.concurrency.current()
    assert value(samples, "imagine_bot_concurrency_limit") == allowed > 0
    assert value(samples, "imagine_bot_store_size_bytes") > 100_000  # a real-sized image
    assert value(samples, "process_resident_memory_bytes") > 0

    # One INFO line per job, with what an operator needs and nothing of the prompt.
    records = [r for r in caplog.records if r.name == "bot.jobs"]
    lines: list[dict[str, Any]] = [r.__dict__["fields"] for r in records]
    assert [line["outcome"] for line in lines] == ["delivered", "blocked", "failed", "delivered"]
    assert delivered.original is not None
    first = lines[0]
    assert first["job"] == job_id(delivered.original)
    assert first["member"] == int(harness.discord.alice["id"])
    assert first["guild"] == int(harness.discord.guild_id)
    assert (first["workflow"], first["model"]) == ("imagine", model)
    assert (first["size"], first["images"]) == ("1K", 1)
    assert first["duration_s"] >= first["model_s"] > 0
    assert first["cost_usd"] == pytest.approx(price, abs=0.001)
    assert lines[1]["reason"] == "prompt:SAFETY"
    assert lines[2]["reason"] == "daily_quota"
    text = records[0].getMessage()
    assert "a red fox" not in text
    assert text.startswith(f"job {first['job']} delivered: member=")
    as_json = json.loads(JsonFormatter().format(records[0]))
    assert as_json["outcome"] == "delivered"
    assert as_json["logger"] == "bot.jobs"
    assert as_json["cost_usd"] == first["cost_usd"]


async def test_metrics_can_be_read_as_openmetrics(harness: Harness) -> None:
    base = await start_with_http(harness)
    headers = {"Accept": "application/openmetrics-text; version=1.0.0"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/metrics", headers=headers) as response,
    ):
        text = await response.text()
    assert response.content_type == "application/openmetrics-text"
    assert text.rstrip().endswith("# EOF")
    assert "imagine_bot_jobs_total" in text


async def test_no_secret_reaches_the_log_even_at_debug(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await harness.stop_bot()
    await harness.start_bot()  # the login and IDENTIFY are logged too
    interaction = await harness.imagine("a lighthouse")
    thread = harness.thread_of(interaction)
    await harness.bot_reply_to(await harness.say(thread["id"], "make it night-time"))
    await harness.stop_bot()
    text = "\n".join(
        logging.Formatter("%(message)s %(exc_text)s").format(r) for r in caplog.records
    )
    assert len(caplog.records) > 100  # discord.py's and aiohttp's debug lines are there
    assert harness.discord.token not in text
    assert harness.gemini.api_key not in text
