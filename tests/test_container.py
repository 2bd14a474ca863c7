"""The Dockerfile, compose.yaml and compose.scale.yaml, checked without a Docker engine (none
runs here): the image installs exactly as CI does, runs as a non-root user with its database
in the /data volume, checks its health the way the tests prove works, and carries no secret;
the scale variant gives every shard to exactly one process, all on one PostgreSQL."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import yaml

from bot.config import load_settings

REPO = Path(__file__).resolve().parents[1]
Json = dict[str, Any]
SECRETS = ("DISCORD_TOKEN", "GEMINI_API_KEY", "GOOGLE_API_KEY")


def instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of each Dockerfile instruction, continuation lines joined."""
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            found.append((keyword.upper(), arguments.strip()))
    return found


def arguments(keyword: str) -> list[str]:
    return [args for kw, args in instructions() if kw == keyword]


def exec_form(text: str) -> list[str]:
    """["a", "b"] of CMD/HEALTHCHECK's exec form."""
    return list(yaml.safe_load(text))  # a JSON array, and JSON is YAML


def test_the_image_installs_with_the_commands_ci_runs() -> None:
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    installs = [line for line in ci if "pip install" in line or line.startswith("uv sync")]
    assert installs == ["python3 -m pip install --quiet uv", "uv sync --frozen"]
    runs = [shlex.split(run) for run in arguments("RUN")]
    for command in map(shlex.split, installs):
        # The same command; only --no-dev may be added (the image needs no test tools).
        assert any(
            run[: len(command)] == command and run[len(command) :] in ([], ["--no-dev"])
            for run in runs
        ), command


def test_the_base_image_is_slim_python_of_the_version_the_project_requires() -> None:
    (base,) = arguments("FROM")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    minimum = project["requires-python"].removeprefix(">=")
    assert base == f"python:{minimum}-slim"


def test_the_bot_runs_as_a_non_root_user_with_its_database_in_the_data_volume() -> None:
    (user,) = arguments("USER")
    assert user not in ("root", "0")
    assert arguments("VOLUME") == ['["/data"]']
    command = exec_form(arguments("CMD")[0])
    assert command[:3] == ["python", "-m", "bot"]
    config = REPO / command[command.index("--config") + 1]
    settings = load_settings(config)
    assert settings.storage.path.parent == Path("/data")
    assert (settings.observability.http_host, settings.observability.http_port) == ("0.0.0.0", 8080)
    assert arguments("EXPOSE") == ["8080"]


def test_the_healthcheck_asks_healthz_through_the_same_settings_as_the_bot() -> None:
    (healthcheck,) = arguments("HEALTHCHECK")
    options, _, command_text = healthcheck.partition("CMD ")
    assert "--start-period=" in options
    command = exec_form(command_text)
    run = exec_form(arguments("CMD")[0])
    assert command == ["python", "-m", "bot", "health", *run[3:]]


def test_no_secret_is_in_the_image_or_the_compose_file() -> None:
    for keyword, args in instructions():
        if keyword in ("ENV", "ARG"):
            assert not any(name in args for name in SECRETS), args
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {"config.toml", ".env", "data", ".venv"} <= set(ignored)
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    environment = compose["services"]["bot"]["environment"]
    for name, value in environment.items():
        assert value.startswith(f"${{{name}:?"), (name, value)  # taken from the environment


def test_compose_keeps_the_data_gives_the_grace_period_and_exposes_health_locally() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    bot = compose["services"]["bot"]
    assert bot["build"] == "."
    assert "bot-data:/data" in bot["volumes"]
    assert "bot-data" in compose["volumes"]
    assert bot["ports"] == ["127.0.0.1:8080:8080"]
    grace = load_settings(REPO / "deploy" / "container.toml").jobs.shutdown_grace_s
    assert float(bot["stop_grace_period"].removesuffix("s")) > grace


def scale_services() -> dict[str, Json]:
    compose = yaml.safe_load((REPO / "compose.scale.yaml").read_text())
    assert "pg-data" in compose["volumes"]
    return dict(compose["services"])


def test_the_scale_compose_file_splits_every_shard_over_its_processes() -> None:
    services = scale_services()
    shards = [name for name in services if name.startswith("shard-")]
    assert len(shards) == 2
    layouts = []
    for name in shards:
        service = services[name]
        command = service["command"]
        assert command[:3] == ["python", "-m", "bot"]
        assert service["healthcheck"]["test"] == [
            "CMD",
            "python",
            "-m",
            "bot",
            "health",
            *command[3:],
        ]
        settings = load_settings(REPO / command[command.index("--config") + 1])
        layouts.append(settings.discord.shards())
        assert (settings.observability.http_host, settings.observability.http_port) == (
            "0.0.0.0",
            8080,
        )
        grace = settings.jobs.shutdown_grace_s
        assert float(service["stop_grace_period"].removesuffix("s")) > grace
        assert service["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert {layout.count for layout in layouts} == {2}  # the same count everywhere
    assert sorted(shard for layout in layouts for shard in layout.ids) == [0, 1]  # each once
    ports = [port for name in shards for port in services[name]["ports"]]
    assert all(port.startswith("127.0.0.1:") for port in ports)
    assert len(set(ports)) == len(ports)


def test_the_scale_compose_file_takes_every_secret_from_the_environment() -> None:
    services = scale_services()
    password = "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == password
    for name in ("shard-0", "shard-1"):
        environment = services[name]["environment"]
        for secret in SECRETS[:2]:
            assert environment[secret] == f"${{{secret}:?set {secret}}}"
        assert environment["DATABASE_URL"] == f"postgresql://bot:{password}@postgres:5432/bot"
