"""Command line: `python -m bot` runs the bot, `python -m bot check` validates everything
(`--online`: also asks Discord and Gemini with the credentials),
`python -m bot run WORKFLOW ...` runs one workflow once against the configured API.

Start-up problems (config, secrets, Discord refusing the token) end with one readable line
and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import discord

from bot.capabilities import require_vertex
from bot.config import Settings, load_settings
from bot.credentials import (
    Credentials,
    credentials_from_env,
    database_url_from_env,
    gemini_auth_from_env,
)
from bot.errors import ConfigError
from bot.workflows.loader import LoadedWorkflows, load_workflows, workflows_directory

log = logging.getLogger("bot")

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_CONFIG = 2


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    configure_logging()
    config_path: Path | None = getattr(args, "config", None)
    try:
        settings = load_settings(config_path)
        if args.command == "check":
            return check(settings, online=args.online or args.spend, spend=args.spend)
        if args.command == "run":
            return run_workflow_once(settings, args)
        credentials = credentials_from_env(os.environ)
        workflows = load_workflows_for(settings)
        require_vertex(settings, workflows, credentials.gemini)
    except ConfigError as exc:
        return fail(exc.user_message)
    from bot.discord_ui.app import ImagineBot  # imported late: `check` needs no Discord

    async def run() -> int:
        async with ImagineBot(settings, credentials, workflows) as bot:
            try:
                await bot.start(credentials.discord_token)
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
            except ConfigError as exc:  # found while starting, e.g. an unreachable database
                return fail(exc.user_message)
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


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The SDK logs request details at DEBUG/INFO; keep them (and any header) out of the log.
    logging.getLogger("google_genai").setLevel(logging.WARNING)


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
