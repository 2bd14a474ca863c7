"""`python -m bot run WORKFLOW --set field=value --image PATH --out FILE`: one run, no Discord.

It lets an operator try a key, a model and a workflow before the bot goes live: the workflow
is loaded and checked exactly as the bot does, the request goes to the configured API, and
the first image is written to FILE exactly as the model made it, with its prompt, model and
workflow in a sidecar FILE.json.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google import genai

from bot import images
from bot.calls import call_model
from bot.config import Settings
from bot.credentials import GeminiAuth
from bot.errors import ConfigError, GenerationError, InputError
from bot.gemini import build_client
from bot.generation import CallInputs, GenerationResult
from bot.images import UploadLimits
from bot.media import EXTENSIONS, Media
from bot.safety import Block
from bot.workflows.engine import CompiledRun, compile_run
from bot.workflows.loader import (
    LoadedWorkflows,
    load_workflows,
    read_workflow_files,
    workflows_directory,
)
from bot.workflows.problems import did_you_mean, one_of
from bot.workflows.workflow import Workflow

# bot.cli's exit statuses (bot.cli imports discord, which this package must not).
EXIT_OK = 0
EXIT_FAILED = 1  # the model blocked the request or the call failed
EXIT_CONFIG = 2  # settings, credentials, the workflow or the arguments are wrong


async def run_workflow(
    settings: Settings,
    auth: GeminiAuth,
    *,
    workflow: str,
    sets: Sequence[str] = (),
    image_paths: Sequence[Path] = (),
    out: Path,
) -> int:
    """Run `workflow` (a command name, an id, or a path to a workflow file) once."""
    try:
        chosen = _choose(settings, workflow)
        if not out.parent.is_dir():
            raise InputError(f"--out {out}: the folder {out.parent} does not exist.")
        values: dict[str, Any] = _values(chosen, sets)
        values.update(await _images(chosen, image_paths, settings))
        run = compile_run(chosen, values)
        if chosen.generation.needs_vertex and not auth.vertexai:
            raise ConfigError(
                f"/{chosen.command} needs Vertex AI ({chosen.generation.needs_vertex}), but "
                "GEMINI_API_KEY is used. Set GOOGLE_GENAI_USE_VERTEXAI=true (see the README)."
            )
    except (ConfigError, InputError) as exc:
        _say(f"error: {exc.user_message}")
        return EXIT_CONFIG
    client = build_client(settings.gemini, auth)
    try:
        results = await _generate(client, run, values, settings)
    finally:
        await client.aio.aclose()
    made = [r for r in results if isinstance(r, GenerationResult) and r.ok]
    if not made:
        first = results[0]
        if isinstance(first, GenerationError):
            _say(f"error: {first.user_message}")
        else:
            assert first.block is not None
            _say(explain_block(first.block))
        return EXIT_FAILED
    result = made[0]
    try:
        saved = await asyncio.to_thread(_save, result.images[-1], result, run, out)
    except OSError as exc:
        _say(f"error: cannot write {out}: {exc.strerror}.")
        return EXIT_FAILED
    if result.text:
        print(result.text)
    print(_summary(result, len(made), len(results), run, saved))
    return EXIT_OK


def explain_block(block: Block) -> str:
    """Why no image came, in plain words: what happened, the API's reason, what to try."""
    lines = [f"blocked: {block.info.category}", f"  Reason given: {block.reason}"]
    if block.api_message:
        lines.append(f"  Message: {' '.join(block.api_message.split())}")
    if block.code_category:
        lines.append(f"  Category: {block.code_category}")
    lines += [
        f"  Safety rating: {r.category}: {r.probability.lower()}"
        + (" (blocked)" if r.blocked else "")
        for r in block.ratings
    ]
    if block.model_text:
        lines.append(f"  The model said: {block.model_text}")
    lines.append(f"  What you can do: {block.info.advice}")
    return "\n".join(lines)


def _choose(settings: Settings, name: str) -> Workflow:
    """The workflow file at `name`, else the workflow of that command name or id."""
    path = Path(name)
    if path.suffix == ".json" and path.is_file():
        loaded = read_workflow_files([path], settings).loaded()
        workflow: Workflow | None = loaded.workflows[0]
    else:
        loaded = load_workflows(workflows_directory(settings), settings)
        workflow = loaded.find(name)
    _warn(loaded)
    if workflow is None:
        commands = [w.command for w in loaded.workflows]
        raise ConfigError(
            f"There is no workflow {name!r}. The workflows are {one_of(commands)}."
            + did_you_mean(name, commands)
        )
    return workflow


def _warn(loaded: LoadedWorkflows) -> None:
    for warning in loaded.warnings:
        _say(f"warning: {warning}")


_NOT_SET = ("image", "references")  # fields --set cannot fill


def _values(workflow: Workflow, sets: Sequence[str]) -> dict[str, Any]:
    """--set FIELD=VALUE as option values; FIELD is a field name or an option name."""
    values: dict[str, Any] = {}
    for item in sets:
        key, equals, value = item.partition("=")
        option = workflow.option(key) or next(
            (o for o in workflow.options if o.field.name == key), None
        )
        if not equals or option is None:
            names = [o.name for o in workflow.options if o.field.type not in _NOT_SET]
            raise InputError(
                f"--set {item!r}: use FIELD=VALUE with one of {one_of(names)}."
                + did_you_mean(key, names)
            )
        if option.field.type == "image":
            raise InputError(f"--set {item!r}: {option.name} is an image; use --image PATH.")
        if option.field.type == "references":
            raise InputError(
                f"--set {item!r}: saved references live in the bot's database; pass their "
                "images with --image PATH instead."
            )
        values[option.name] = value
    return values


async def _images(
    workflow: Workflow, paths: Sequence[Path], settings: Settings
) -> dict[str, Media]:
    """Each --image, checked like an upload, as the value of the next image option."""
    options = [o.name for o in workflow.options if o.field.type == "image"]
    if len(paths) > len(options):
        raise InputError(
            f"/{workflow.command} takes at most {len(options)} image(s), "
            f"but {len(paths)} were given."
        )
    limits = UploadLimits.of(settings.uploads)
    read = [asyncio.to_thread(_read_image, path, limits) for path in paths]
    return dict(zip(options, await asyncio.gather(*read), strict=False))


def _read_image(path: Path, limits: UploadLimits) -> Media:
    """Blocking: read and normalise one image file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"--image {path}: cannot be read ({exc.strerror}).") from None
    return images.normalize_upload(data, filename=path.name, limits=limits)


async def _generate(
    client: genai.Client, run: CompiledRun, values: dict[str, Any], settings: Settings
) -> list[GenerationResult | GenerationError]:
    inputs = CallInputs(
        images=[values[n] for n in run.image_options],
        poll_interval_s=settings.video.poll_interval_s,
        max_wait_s=settings.video.max_wait_s,
    )
    return await call_model(client, run.job_request(), inputs)


def _save(image: Media, result: GenerationResult, run: CompiledRun, out: Path) -> Path:
    """Blocking: the image as the model made it, and what made it in `<file>.json` beside it.
    A file name whose extension says another format gets the right one."""
    extension = f".{EXTENSIONS.get(image.mime_type, 'bin')}"
    suffix = out.suffix.lower().replace(".jpeg", ".jpg")
    if suffix in {f".{e}" for e in EXTENSIONS.values()} and suffix != extension:
        out = out.with_suffix(extension)
    out.write_bytes(image.data)
    sidecar = {
        "prompt": run.prompt,
        "model": run.model,
        "workflow": run.workflow_id,
        "mime_type": image.mime_type,
        "text": result.text,
    }
    out.with_name(out.name + ".json").write_text(
        json.dumps(sidecar, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return out


def _summary(result: GenerationResult, made: int, asked: int, run: CompiledRun, out: Path) -> str:
    summary = (
        f"/{run.command}: {made} image{'s' if made != 1 else ''} from {run.model} in "
        f"{result.elapsed_s:.1f}s; saved {'the first ' if made > 1 else ''}to {out}"
    )
    if made < asked:
        summary += f"; {asked - made} withheld or failed"
    return summary


def _say(text: str) -> None:
    print(text, file=sys.stderr)
