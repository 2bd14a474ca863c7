"""Command line: `python -m bot` runs the bot, `python -m bot check` validates everything
(`--online`: also asks Discord and Gemini with the credentials),
`python -m bot run WORKFLOW ...` runs one workflow once against the configured API,
`python -m bot health` asks the running bot's /healthz (the container's HEALTHCHECK).

SIGTERM and Ctrl-C stop the bot cleanly (see `ImagineBot.request_shutdown`); a second one
stops without waiting for the images in progress.

Start-up problems (config, secrets, Discord refusing the token) end with one readable line
and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from bot.capabilities import require_vertex
from bot.config import Settings, load_settings
from bot.credentials import (
    Credentials,
    credentials_from_env,
    database_url_from_env,
    gemini_auth_from_env,
)
from bot.errors import ConfigError
from bot.observability.logs import configure_logging
from bot.workflows.loader import LoadedWorkflows, load_workflows, workflows_directory

log = logging.getLogger("bot")

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_CONFIG = 2
# Environment variables whose values are blanked out wherever they would appear in the log.
SECRET_VARIABLES = (
    "DISCORD_TOKEN",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "DATABASE_URL",
    "PGPASSWORD",
)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        help="settings file (default: ./config.toml, else the built-in defaults)",
    )
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="A Discord bot that creates and edits images with Google Gemini.",
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("start", parents=[common], help="run the bot (what no COMMAND does)")
    check_command = commands.add_parser(
        "check",
        parents=[common],
        help="validate settings, secrets and workflows without connecting; list the commands",
    )
    check_command.add_argument(
        "--online",
        action="store_true",
        help="also ask Discord and Gemini: token, Message Content intent, key, models",
    )
    check_command.add_argument(
        "--spend",
        action="store_true",
        help="with --online: make one real, paid image to confirm the key has quota",
    )
    run = commands.add_parser(
        "run",
        parents=[common],
        help="run one workflow once against the configured API (to try a key, model, workflow)",
    )
    run.add_argument(
        "workflow", help="a command name or workflow id, or the path of a workflow file"
    )
    run.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a form field's value, by field or option name (repeatable)",
    )
    run.add_argument(
        "--image",
        dest="images",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="an image for the workflow's next image field (repeatable)",
    )
    run.add_argument("--out", required=True, type=Path, metavar="FILE", help="where to save")
    commands.add_parser(
        "health",
        parents=[common],
        help="ask the running bot's /healthz ([observability] http_port); exit 0 if healthy",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging()
    config_path: Path | None = getattr(args, "config", None)
    try:
        settings = load_settings(config_path)
        configure_logging(settings.observability.log_format, secret_values(os.environ))
        if args.command == "check":
            return check(settings, online=args.online or args.spend, spend=args.spend)
        if args.command == "run":
            return run_workflow_once(settings, args)
        if args.command == "health":
            return health(settings)
        credentials = credentials_from_env(os.environ)
        workflows = load_workflows_for(settings)
        require_vertex(settings, workflows, credentials.gemini)
    except ConfigError as exc:
        return fail(exc.user_message)
    # Imported late: `check`, `run` and `health` need no Discord (and start faster).
    import discord

    from bot.discord_ui.app import ImagineBot

    async def run() -> int:
        async with ImagineBot(settings, credentials, workflows) as bot:
            stop_on_signals(bot.request_shutdown)
            try:
                if not await bot.log_in(credentials.discord_token):
                    return EXIT_OK  # stopped while Discord could not be reached
                await bot.connect()
            except discord.LoginFailure:
                return fail(
                    "Discord refused DISCORD_TOKEN (invalid or reset). Copy a fresh token from "
                    "the Bot page of your application in the Discord developer portal."
                )
            except discord.PrivilegedIntentsRequired:
                return fail(
                    "Discord refused the connection: the Message Content intent is off. Turn on "
                    "'Message Content Intent' on the Bot page of the Discord developer portal."
                )
            except ConfigError as exc:  # found while starting: a database, the metrics port
                return fail(exc.user_message)
            await bot.wait_shut_down()
        return EXIT_OK

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:
        return EXIT_OK


def run_workflow_once(settings: Settings, args: argparse.Namespace) -> int:
    """`python -m bot run`: needs only the Gemini credentials, never Discord's."""
    from bot.workflows.run_cli import run_workflow

    auth = gemini_auth_from_env(os.environ)
    try:
        return asyncio.run(
            run_workflow(
                settings,
                auth,
                workflow=args.workflow,
                sets=args.sets,
                image_paths=args.images,
                out=args.out,
            )
        )
    except KeyboardInterrupt:
        return EXIT_PROBLEM


def load_workflows_for(settings: Settings) -> LoadedWorkflows:
    """The workflows (WorkflowError listing every problem), with their warnings logged."""
    loaded = load_workflows(workflows_directory(settings), settings)
    for warning in loaded.warnings:
        log.warning("%s", warning)
    return loaded


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_CONFIG


def secret_values(env: Mapping[str, str]) -> list[str]:
    """What the log must never show: the secret variables, and DATABASE_URL's password."""
    values = [env.get(name, "") for name in SECRET_VARIABLES]
    with contextlib.suppress(ValueError):  # not a URL: DATABASE_URL itself is still hidden
        values.append(urlsplit(env.get("DATABASE_URL", "")).password or "")
    return values


def stop_on_signals(request_shutdown: Callable[[], None]) -> None:
    """SIGTERM (docker stop, systemd) and SIGINT (Ctrl-C) ask for a clean shutdown."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, request_shutdown)


def health(settings: Settings) -> int:
    """`python -m bot health`: GET /healthz of the bot these settings describe."""
    observability = settings.observability
    if not observability.http_port:
        print("The health endpoint is off: set [observability] http_port.", file=sys.stderr)
        return EXIT_PROBLEM
    host = observability.http_host
    if host in ("0.0.0.0", "::", ""):  # listening everywhere: ask on this machine
        host = "127.0.0.1"
    url = f"http://{host}:{observability.http_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            print(answer.read().decode().strip())
            return EXIT_OK
    except urllib.error.HTTPError as exc:
        print(f"unhealthy: {exc.read().decode().strip()}", file=sys.stderr)
    except OSError as exc:  # refused, timed out: the bot is not (yet) serving
        print(f"no answer from {url}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
    return EXIT_PROBLEM


def check(settings: Settings, *, online: bool = False, spend: bool = False) -> int:
    """Print what the bot would do with these settings; non-zero when anything is wrong.
    `online`: also ask Discord and Gemini with the credentials (bot.online_check)."""
    from bot.store import describe_store
    from bot.workflows.check import check_workflows

    problems: list[str] = []
    print(f"Default model: {settings.models.default}")
    try:
        print(f"Database: {describe_store(settings.storage, database_url_from_env(os.environ))}")
    except ConfigError as exc:
        problems.append(exc.user_message)
    credentials: Credentials | None = None
    try:
        credentials = credentials_from_env(os.environ)
        mode = "Vertex AI" if credentials.gemini.vertexai else "Gemini API key"
        print(f"Secrets: DISCORD_TOKEN set; Gemini via {mode}")
    except ConfigError as exc:
        if exc.user_message not in problems:  # a wrong DATABASE_URL is named once
            problems.append(exc.user_message)
    workflows = check_workflows(settings)
    problems += [str(problem) for problem in workflows.problems]
    if credentials is not None:
        try:
            require_vertex(settings, LoadedWorkflows(workflows.workflows, ()), credentials.gemini)
        except ConfigError as exc:
            problems.append(exc.user_message)
    print("Slash commands:")
    for line in workflows.summaries:
        print(f"  {line}")
    for warning in workflows.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    count = len(problems)
    if online:
        count += check_online(settings, credentials, spend=spend)
    print("OK" if not count else f"{count} problem(s) found.")
    return EXIT_OK if not count else EXIT_PROBLEM


def check_online(settings: Settings, credentials: Credentials | None, *, spend: bool) -> int:
    """Print one line per online check; the number of problems found."""
    from bot import online_check

    print("Online checks:")
    if credentials is None:
        print("  – skipped: the secrets above are missing")
        return 0
    findings = online_check.run(settings, credentials, spend=spend)
    for finding in findings:
        print(f"  {finding.line()}")
    return online_check.problems_in(findings)
