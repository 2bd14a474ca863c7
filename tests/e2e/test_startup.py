"""Starting the bot as a person would: `python -m bot` and `python -m bot check`.

These run the real entry point in a subprocess. Problems end with one readable line and exit
status 2; with credentials and a config pointing at the fakes, the bot logs in and stops
cleanly on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import BinaryIO

import pytest

from tests.e2e.helpers import free_port
from tests.fakes.fake_discord import API_PREFIX, FakeDiscord
from tests.fakes.fake_gemini import FakeGemini

REPO = Path(__file__).resolve().parents[2]
SECRET_VARS = (
    "DISCORD_TOKEN",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "DATABASE_URL",
    "PGPASSWORD",
)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    return {**env, **extra}


async def spawn_bot(
    *args: str,
    env: dict[str, str],
    cwd: Path,
    own_group: bool = False,
    output: BinaryIO | None = None,
) -> asyncio.subprocess.Process:
    """`python -m bot ARGS` as a person runs it, from `cwd`. `own_group`: as the leader of a
    process group of its own, like a terminal's job: Ctrl-C there reaches the bot and its
    Gemini worker processes alike. `output`: a file for its stdout and stderr (a bot that
    runs long logs more than a pipe holds unread); else pipes the caller reads."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env={**env, "PYTHONPATH": str(REPO)},
        stdout=output or asyncio.subprocess.PIPE,
        stderr=output or asyncio.subprocess.PIPE,
        start_new_session=own_group,
    )


async def run_bot(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await spawn_bot(*args, env=env, cwd=cwd)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def line_with(stream: asyncio.StreamReader, text: str) -> str:
    """The next line of the bot's log that contains `text` (no traceback before it)."""
    while True:
        line = (await asyncio.wait_for(stream.readline(), 30)).decode()
        assert line, f"the bot stopped before logging {text!r}"
        assert "Traceback" not in line
        if text in line:
            return line


def assert_one_clear_line(stderr: str, *expected: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr
    for text in expected:
        assert text in lines[0]


async def test_without_any_secret_the_first_command_says_what_to_do(tmp_path: Path) -> None:
    code, _, err = await run_bot(env=clean_env(), cwd=tmp_path)
    assert code == 2
    assert_one_clear_line(err, "DISCORD_TOKEN is not set", "developer portal", "export")


async def test_without_a_gemini_key_it_says_where_to_get_one(tmp_path: Path) -> None:
    code, _, err = await run_bot(env=clean_env(DISCORD_TOKEN="x"), cwd=tmp_path)
    assert code == 2
    assert_one_clear_line(err, "GEMINI_API_KEY is not set", "aistudio.google.com")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("[gemini]\nretry_attempts = 'many'\n", "[gemini] retry_attempts"),
        ("[discord]\ntoken = 'abc'\n", "looks like a secret"),
        ("not toml at all [\n", "is not valid TOML"),
    ],
)
async def test_a_bad_config_is_named_with_the_fix(
    tmp_path: Path, config: str, expected: str
) -> None:
    (tmp_path / "config.toml").write_text(config)
    code, _, err = await run_bot(env=clean_env(DISCORD_TOKEN="x", GEMINI_API_KEY="y"), cwd=tmp_path)
    assert code == 2
    assert_one_clear_line(err, "config.toml", expected)


async def test_an_unreadable_config_path_is_reported(tmp_path: Path) -> None:
    code, _, err = await run_bot(
        "--config", str(tmp_path / "missing.toml"), env=clean_env(), cwd=tmp_path
    )
    assert code == 2
    assert_one_clear_line(err, "missing.toml does not exist")


async def test_check_lists_the_commands_without_connecting(tmp_path: Path) -> None:
    env = clean_env(DISCORD_TOKEN="tok-SECRET-1", GEMINI_API_KEY="key-SECRET-2")
    code, out, err = await run_bot("check", env=env, cwd=tmp_path)
    assert code == 0, err
    assert "/imagine prompt:string aspect_ratio?:string size?:string count?:string" in out
    assert out.strip().endswith("OK")
    assert "SECRET" not in out + err


async def test_check_fails_on_missing_secrets(tmp_path: Path) -> None:
    code, out, err = await run_bot("check", env=clean_env(), cwd=tmp_path)
    assert code == 1
    assert "DISCORD_TOKEN is not set" in err
    assert "/imagine" in out


async def test_with_credentials_the_bot_runs_until_interrupted(
    tmp_path: Path, discord_fake: FakeDiscord, gemini_fake: FakeGemini
) -> None:
    fakes_config(tmp_path, discord_fake, gemini_fake)
    identified = discord_fake.identify_count
    env = clean_env(DISCORD_TOKEN=discord_fake.token, GEMINI_API_KEY=gemini_fake.api_key)
    process = await spawn_bot(env=env, cwd=tmp_path)
    try:
        await discord_fake.wait_for(lambda: discord_fake.identify_count > identified, 30)
        await discord_fake.wait_for(lambda: discord_fake.commands.get(discord_fake.guild_id), 5)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
    assert (tmp_path / "data" / "bot.sqlite3").exists()
    assert gemini_fake.api_key not in err.decode() + out.decode()
    assert discord_fake.token not in err.decode() + out.decode()


def use_workflow_folder(tmp_path: Path, **files: object) -> None:
    """A config.toml whose [workflows] directory holds `files` (name -> JSON content)."""
    folder = tmp_path / "wf"
    folder.mkdir()
    for name, content in files.items():
        (folder / f"{name}.json").write_text(json.dumps(content))
    (tmp_path / "config.toml").write_text(f'[workflows]\ndirectory = "{folder}"\n')


async def test_an_imagen_workflow_loads_with_one_warning_naming_the_replacement(
    tmp_path: Path,
) -> None:
    from tests.e2e.test_workflows import IMAGEN_WORKFLOW

    use_workflow_folder(tmp_path, poster=IMAGEN_WORKFLOW)
    env = clean_env(DISCORD_TOKEN="x", GEMINI_API_KEY="y")
    code, out, err = await run_bot("check", env=env, cwd=tmp_path)
    assert code == 0, err
    (warning,) = [line for line in err.splitlines() if line.startswith("warning:")]
    assert '"imagen-4.0-generate-001" has been shut down by Google' in warning
    assert '"gemini-3.1-flash-image" with thinking level HIGH' in warning
    assert "/poster" in out


async def test_check_reports_a_broken_workflow_with_file_and_field(tmp_path: Path) -> None:
    stage = {"id": "a", "title": "A", "inputType": "form", "outputType": "json"}
    broken = {"id": "x", "name": "X", "stages": [{**stage, "dependencies": ["nowhere"]}]}
    use_workflow_folder(tmp_path, x=broken)
    env = clean_env(DISCORD_TOKEN="x", GEMINI_API_KEY="y")
    code, _, err = await run_bot("check", env=env, cwd=tmp_path)
    assert code == 1
    assert "x.json" in err
    assert "nowhere" in err


def fakes_config(tmp_path: Path, discord_fake: FakeDiscord, gemini_fake: FakeGemini) -> None:
    (tmp_path / "config.toml").write_text(
        f'[discord]\napi_base_url = "{discord_fake.api_base_url}"\n'
        f'gateway_url = "{discord_fake.gateway_url}"\nguild_ids = [{discord_fake.guild_id}]\n'
        f'[gemini]\nbase_url = "{gemini_fake.base_url}"\n'
    )


async def test_a_token_discord_refuses_is_explained(
    tmp_path: Path, discord_fake: FakeDiscord, gemini_fake: FakeGemini
) -> None:
    fakes_config(tmp_path, discord_fake, gemini_fake)
    env = clean_env(DISCORD_TOKEN="not-the-token", GEMINI_API_KEY=gemini_fake.api_key)
    code, _, err = await run_bot(env=env, cwd=tmp_path)
    assert code == 2
    assert "Discord refused DISCORD_TOKEN" in err
    assert "Traceback" not in err
    assert "not-the-token" not in err


async def test_a_missing_message_content_intent_is_explained(
    tmp_path: Path, gemini_fake: FakeGemini
) -> None:
    no_intent = FakeDiscord(message_content_intent=False)
    await no_intent.start()
    try:
        fakes_config(tmp_path, no_intent, gemini_fake)
        env = clean_env(DISCORD_TOKEN=no_intent.token, GEMINI_API_KEY=gemini_fake.api_key)
        code, _, err = await run_bot(env=env, cwd=tmp_path)
    finally:
        await no_intent.stop()
    assert code == 2
    assert "Message Content Intent" in err
    assert "Traceback" not in err


async def test_a_database_it_cannot_reach_is_explained(
    tmp_path: Path, discord_fake: FakeDiscord, gemini_fake: FakeGemini
) -> None:
    fakes_config(tmp_path, discord_fake, gemini_fake)
    port = free_port()
    env = clean_env(
        DISCORD_TOKEN=discord_fake.token,
        GEMINI_API_KEY=gemini_fake.api_key,
        DATABASE_URL=f"postgresql://bot:pw-SECRET-4@127.0.0.1:{port}/bot",
    )
    code, _, err = await run_bot(env=env, cwd=tmp_path)
    assert code == 2
    shown = f"postgresql://bot@127.0.0.1:{port}/bot"
    assert f"error: Cannot connect to the PostgreSQL database {shown}" in err
    assert "Traceback" not in err
    assert "SECRET" not in err


async def test_while_discord_cannot_be_reached_it_says_so_and_keeps_trying(
    tmp_path: Path, gemini_fake: FakeGemini
) -> None:
    port = free_port()
    discord_later = FakeDiscord()
    (tmp_path / "config.toml").write_text(
        f'[discord]\napi_base_url = "http://127.0.0.1:{port}{API_PREFIX}"\n'
        f'gateway_url = "ws://127.0.0.1:{port}/gateway"\nguild_ids = [{discord_later.guild_id}]\n'
        f'[gemini]\nbase_url = "{gemini_fake.base_url}"\n'
    )
    env = clean_env(DISCORD_TOKEN=discord_later.token, GEMINI_API_KEY=gemini_fake.api_key)
    process = await spawn_bot(env=env, cwd=tmp_path)
    assert process.stderr is not None
    try:  # the first try, and the one a second later
        warnings = [await line_with(process.stderr, "cannot reach") for _ in range(2)]
        await discord_later.start(port)  # Discord is back: the bot logs in by itself
        await discord_later.wait_for(lambda: discord_later.identify_count > 0, 30)
    finally:
        process.send_signal(signal.SIGINT)
        _, rest = await asyncio.wait_for(process.communicate(), 30)
        await discord_later.stop()
    for line in warnings:
        assert "cannot reach Discord at 127.0.0.1 (" in line
        assert "trying again in" in line
    assert "Traceback" not in rest.decode()
    assert process.returncode == 0


async def test_stopped_while_discord_cannot_be_reached_it_ends_at_once(
    tmp_path: Path, gemini_fake: FakeGemini
) -> None:
    port = free_port()
    (tmp_path / "config.toml").write_text(
        f'[discord]\napi_base_url = "http://127.0.0.1:{port}{API_PREFIX}"\n'
        f'[gemini]\nbase_url = "{gemini_fake.base_url}"\n'
    )
    env = clean_env(DISCORD_TOKEN="a-token", GEMINI_API_KEY=gemini_fake.api_key)
    process = await spawn_bot(env=env, cwd=tmp_path)
    assert process.stderr is not None
    await line_with(process.stderr, "cannot reach Discord")
    process.send_signal(signal.SIGTERM)
    _, rest = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0
    assert "Traceback" not in rest.decode()
