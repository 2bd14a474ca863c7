"""Shared by the end-to-end tests and the benchmarks: settings pointed at the fakes, and
waiting for the bot's handlers to finish."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.config import EXAMPLE_CONFIG, Settings, load_settings

# Tasks discord.py runs per event, command, component interaction or modal, and the bot's
# own background tasks (running a job, showing its place in line, a moderation log copy,
# opening threads).
HANDLER_TASKS = (
    "discord.py: ",
    "CommandTree-invoker",
    "discord-ui-view-dispatch",
    "discord-ui-dynamic-item",
    "discord-ui-modal",
    "job ",
    "show ",
    "moderation copy",
    "thread opener",
)


def settings_against(
    *,
    api_base_url: str,
    gateway_url: str,
    guild_id: str,
    gemini_base_url: str,
    db_path: Path,
    **sections: dict[str, Any],
) -> Settings:
    """The example's settings pointed at the fakes, with fast retries; `sections` override
    single settings, e.g. `jobs={"max_concurrent": 200}`."""
    base = load_settings(EXAMPLE_CONFIG)
    updates: dict[str, dict[str, Any]] = {
        "discord": {
            "api_base_url": api_base_url,
            "gateway_url": gateway_url,
            "guild_ids": [int(guild_id)],
        },
        "gemini": {
            "base_url": gemini_base_url,
            "retry_initial_delay_s": 0.01,
            "retry_max_delay_s": 0.02,
            # In-process calls: starting worker processes for each test's bot would cost
            # more than the test (tests/e2e/test_gemini_workers.py covers the workers).
            "worker_processes": 0,
        },
        "storage": {"path": db_path},
        # Thought previews stream every answer with its drafts: off unless a test is about
        # them (tests/e2e/test_thought_previews.py).
        "jobs": {"thought_previews_s": 0.0},
    }
    for name, values in sections.items():
        updates.setdefault(name, {}).update(values)
    return base.model_copy(
        update={
            name: getattr(base, name).model_copy(update=values) for name, values in updates.items()
        }
    )


async def settle(timeout: float = 10) -> None:
    """Wait until no event, command or component handler of any bot, and no job, is still
    running (quiet twice in a row: a finished job may let a queued one start)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    quiet = 0
    while True:
        busy = [
            task
            for task in asyncio.all_tasks()
            if task is not asyncio.current_task() and task.get_name().startswith(HANDLER_TASKS)
        ]
        if not busy:
            quiet += 1
            if quiet == 2:
                return
            await asyncio.sleep(0.02)
            continue
        quiet = 0
        if loop.time() > deadline:
            raise AssertionError(f"handlers still running after {timeout}s: {busy}")
        await asyncio.wait(busy, timeout=deadline - loop.time())
