"""`python -m bot` as an operator runs it, stopped with a real SIGTERM: it refuses new work,
finishes or puts back what is running, closes cleanly and logs JSON lines without a secret.
Also `python -m bot health` (the container's HEALTHCHECK) against the running process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.jobs.intake import RESTARTING
from tests.e2e.helpers import free_port
from tests.e2e.test_startup import clean_env, run_bot, spawn_bot
from tests.fakes.fake_discord import FakeDiscord, FakeInteraction
from tests.fakes.fake_gemini import FakeGemini, hang_reply, image_reply


def write_config(
    tmp_path: Path, discord: FakeDiscord, gemini: FakeGemini, *, port: int, grace_s: float
) -> None:
    (tmp_path / "config.toml").write_text(
        f'[discord]\napi_base_url = "{discord.api_base_url}"\n'
        f'gateway_url = "{discord.gateway_url}"\nguild_ids = [{discord.guild_id}]\n'
        f'[gemini]\nbase_url = "{gemini.base_url}"\nworker_processes = 1\n'
        f"[jobs]\nshutdown_grace_s = {grace_s}\nprogress_interval_s = 0.2\n"
        f'[observability]\nhttp_port = {port}\nlog_format = "json"\n'
    )


def secrets_env(discord: FakeDiscord, gemini: FakeGemini) -> dict[str, str]:
    return clean_env(DISCORD_TOKEN=discord.token, GEMINI_API_KEY=gemini.api_key)


async def wait_health(port: int, status: int = 200, timeout: float = 30) -> None:
    """Until /healthz answers `status`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline:
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as answer:
                    if answer.status == status:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"/healthz did not answer {status} within {timeout}s")


async def started_generating(gemini: FakeGemini, interaction: FakeInteraction) -> None:
    await interaction.wait_response(10)
    for _ in range(1000):
        if gemini.requests:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the bot never called Gemini")


def json_lines(stderr: str) -> list[dict[str, Any]]:
    """Every line of the log, each of which must be a JSON object."""
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


def stop(process: asyncio.subprocess.Process, how: str) -> None:
    if how == "ctrl-c":  # the whole group: the bot and its worker process
        os.killpg(process.pid, signal.SIGINT)
    else:  # docker stop, systemctl stop: the bot alone
        process.send_signal(signal.SIGTERM)


@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
async def test_a_stop_lets_the_image_in_progress_finish_then_exits_cleanly(
    tmp_path: Path, discord_fake: FakeDiscord, gemini_fake: FakeGemini, how: str
) -> None:
    gemini_fake.reset()
    port = free_port()
    write_config(tmp_path, discord_fake, gemini_fake, port=port, grace_s=30)
    env = secrets_env(discord_fake, gemini_fake)
    process = await spawn_bot(env=env, cwd=tmp_path, own_group=True)
    try:
        await wait_health(port)
        code, out, err = await run_bot("health", env=clean_env(), cwd=tmp_path)
        assert (code, out.strip()) == (0, "ok"), err
        gemini_fake.enqueue(image_reply(delay=1.5))
        slow = await discord_fake.run_command("imagine", {"prompt": "a slow sunrise"})
        await started_generating(gemini_fake, slow)

        stop(process, how)
        await wait_health(port, 503)  # the signal is handled: from now on work is refused
        late = await discord_fake.run_command("imagine", {"prompt": "one more"})
        await late.wait_response()
        assert late.ephemeral
        assert late.original is not None
        assert late.original["content"] == RESTARTING
        out_bytes, err_bytes = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stdout, stderr = out_bytes.decode(), err_bytes.decode()
    assert process.returncode == 0, stderr
    assert slow.original is not None
    assert slow.original["attachments"]  # finished and posted before the process ended
    assert len(gemini_fake.requests) == 1  # the refused one never reached Gemini

    lines = json_lines(stderr)  # JSON lines only: nothing else on stderr, no traceback
    (job_line,) = [line for line in lines if line["logger"] == "bot.jobs"]
    assert job_line["level"] == "INFO"
    assert job_line["outcome"] == "delivered"
    assert job_line["member"] == int(discord_fake.alice["id"])
    assert job_line["workflow"] == "imagine"
    assert job_line["model_s"] >= 1.5
    messages = [line["message"] for line in lines]
    assert any(m.startswith("shutting down: new requests are refused; 1 job(s)") for m in messages)
    assert messages[-1] == "stopped"
    for secret in (discord_fake.token, gemini_fake.api_key):
        assert secret not in stdout + stderr

    code, _, err = await run_bot("health", env=clean_env(), cwd=tmp_path)
    assert code == 1
    assert f"no answer from http://127.0.0.1:{port}/healthz" in err


async def test_sigterm_puts_what_outlasts_the_grace_back_in_line_for_the_next_start(
    tmp_path: Path, discord_fake: FakeDiscord, gemini_fake: FakeGemini
) -> None:
    gemini_fake.reset()
    port = free_port()
    write_config(tmp_path, discord_fake, gemini_fake, port=port, grace_s=0.5)
    env = secrets_env(discord_fake, gemini_fake)
    process = await spawn_bot(env=env, cwd=tmp_path)
    try:
        await wait_health(port)
        gemini_fake.enqueue(hang_reply(60))
        stuck = await discord_fake.run_command("imagine", {"prompt": "a long night"})
        await started_generating(gemini_fake, stuck)
        process.send_signal(signal.SIGTERM)
        _, err_bytes = await asyncio.wait_for(process.communicate(), 15)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err_bytes.decode()
    db = tmp_path / "data" / "bot.sqlite3"
    with sqlite3.connect(db) as connection:
        ((job_id, state),) = connection.execute("SELECT id, state FROM jobs").fetchall()
    assert state == "queued"
    assert "1 job(s) put back in line" in err_bytes.decode()

    # The next start runs it (Gemini answers at once now) into the same message.
    process = await spawn_bot(env=env, cwd=tmp_path)
    try:
        assert stuck.original is not None
        message_id = stuck.original["id"]
        await discord_fake.wait_for(
            lambda: bool(discord_fake.message(message_id).get("attachments")), 30
        )
        process.send_signal(signal.SIGINT)
        _, err_bytes = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err_bytes.decode()
    with sqlite3.connect(db) as connection:
        ((state,),) = connection.execute("SELECT state FROM jobs WHERE id = ?", (job_id,))
    assert state == "delivered"


async def test_a_metrics_port_in_use_is_one_line_naming_the_setting(
    tmp_path: Path, discord_fake: FakeDiscord, gemini_fake: FakeGemini
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        write_config(tmp_path, discord_fake, gemini_fake, port=port, grace_s=1)
        code, _, err = await run_bot(env=secrets_env(discord_fake, gemini_fake), cwd=tmp_path)
    assert code == 2
    assert "Traceback" not in err
    last = err.splitlines()[-1]
    assert last.startswith(f"error: Cannot serve health and metrics on 127.0.0.1:{port} (")
    assert "Choose another [observability] http_port" in last


async def test_health_says_when_the_endpoint_is_off(tmp_path: Path) -> None:
    code, _, err = await run_bot("health", env=clean_env(), cwd=tmp_path)
    assert code == 1
    assert "set [observability] http_port" in err
