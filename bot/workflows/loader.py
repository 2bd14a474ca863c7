"""Reading the workflow files: every problem of every file, each with its file, key and fix.

Loading reads files with blocking calls. That is deliberate: it happens once, before the bot
connects to Discord (and in the command-line tools), never while the event loop serves
members.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bot.config import EXAMPLE_CONFIG, Settings
from bot.workflows import jsonc
from bot.workflows.problems import Findings, WorkflowError, WorkflowProblem, did_you_mean, one_of
from bot.workflows.rules import build_workflow
from bot.workflows.schema import WorkflowFile
from bot.workflows.workflow import Workflow

# The JSON Schema for editors lives next to the workflows; it is not a workflow.
SCHEMA_FILE = "schema.json"
_SCHEMA_HINT = "workflows/schema.json describes every key"


@dataclass(frozen=True)
class LoadedWorkflows:
    workflows: tuple[Workflow, ...]
    warnings: tuple[WorkflowProblem, ...]

    def find(self, name: str) -> Workflow | None:
        """The workflow whose command name (or else id) is `name`."""
        by_command = next((w for w in self.workflows if w.command == name), None)
        return by_command or next((w for w in self.workflows if w.id == name), None)


@dataclass(frozen=True)
class WorkflowReport:
    """What reading the files found: the valid workflows, the problems and the warnings."""

    workflows: tuple[Workflow, ...]
    problems: tuple[WorkflowProblem, ...]
    warnings: tuple[WorkflowProblem, ...]

    def loaded(self) -> LoadedWorkflows:
        """The workflows, or WorkflowError listing every problem."""
        if self.problems:
            raise WorkflowError(self.problems)
        return LoadedWorkflows(self.workflows, self.warnings)


def workflows_directory(settings: Settings) -> Path:
    """`[workflows] directory`; a relative path is relative to the bot's own folder."""
    return EXAMPLE_CONFIG.parent / settings.workflows.directory


def load_workflows(directory: Path, settings: Settings) -> LoadedWorkflows:
    """Every `*.json` workflow directly in `directory`; WorkflowError lists all problems."""
    return read_workflows(directory, settings).loaded()


def read_workflows(directory: Path, settings: Settings) -> WorkflowReport:
    """Like `load_workflows`, but returns the problems instead of raising them."""
    if not directory.is_dir():
        problem = WorkflowProblem(
            str(directory),
            "[workflows] directory",
            "is not a folder.",
            "Create it, or set [workflows] directory in config.toml to your workflows' folder.",
        )
        return WorkflowReport((), (problem,), ())
    paths = sorted(p for p in directory.glob("*.json") if p.is_file() and p.name != SCHEMA_FILE)
    if not paths:
        problem = WorkflowProblem(
            str(directory),
            "[workflows] directory",
            "has no workflow files (*.json), so the bot would have no commands.",
            "Put workflow files there (the repository's workflows/ folder has examples).",
        )
        return WorkflowReport((), (problem,), ())
    return read_workflow_files(paths, settings)


def read_workflow_files(paths: Iterable[Path], settings: Settings) -> WorkflowReport:
    """The workflows in these files, checked together (command names must be unique)."""
    workflows: list[Workflow] = []
    problems: list[WorkflowProblem] = []
    warnings: list[WorkflowProblem] = []
    for path in paths:
        found = Findings(str(path))
        workflow = _read_file(path, settings, found)
        if workflow is not None:
            _check_unique(workflow, workflows, found)
            workflows.append(workflow)
        problems += found.problems
        warnings += found.warnings
    valid = tuple(w for w in workflows if not any(p.file == str(w.source) for p in problems))
    return WorkflowReport(valid, tuple(problems), tuple(warnings))


def _read_file(path: Path, settings: Settings, found: Findings) -> Workflow | None:
    try:
        data = jsonc.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        found.error("file", f"cannot be read: {exc.strerror}.", "Check that it is readable.")
        return None
    except UnicodeDecodeError:
        found.error("file", "is not UTF-8 text.", "Save it with UTF-8 encoding.")
        return None
    except jsonc.JsoncError as exc:
        found.error(
            f"line {exc.line}, column {exc.column}",
            f"this is not valid JSON: {exc.reason}.",
            "Correct the JSON there (// and /* */ comments are allowed, trailing commas not).",
        )
        return None
    try:
        doc = WorkflowFile.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        for where, message, fix in _explain(errors):
            found.error(where, message, fix)
        if any(error["type"] != "extra_forbidden" for error in errors):
            return None  # the file's shape is wrong: further checks would only guess
        doc = WorkflowFile.model_validate(_without_keys(data, [e["loc"] for e in errors]))
    return build_workflow(doc, path, settings, found)


def _without_keys(data: Any, locations: Iterable[tuple[int | str, ...]]) -> Any:
    """A copy of `data` without the keys at `locations` (unknown keys, already reported), so
    that the rest of the file can still be checked."""
    cleaned = copy.deepcopy(data)
    for *parents, key in locations:
        target = cleaned
        for part in parents:
            target = target[part]
        del target[key]
    return cleaned


def _check_unique(workflow: Workflow, earlier: Sequence[Workflow], found: Findings) -> None:
    for other in earlier:
        if other.command == workflow.command:
            found.error(
                "command.name",
                f'the command "/{workflow.command}" is also defined by {other.source}.',
                'Give one of them another "command": {"name": ...}.',
            )
        if other.id == workflow.id:
            found.error(
                "id", f'the id "{workflow.id}" is also used by {other.source}.', "Rename one."
            )


# --------------------------------------------------------------------------- pydantic's errors


def _explain(errors: Sequence[ErrorDetails]) -> list[tuple[str, str, str]]:
    """pydantic's errors as (where, message, fix), one per key (unions report once)."""
    explained: dict[str, tuple[str, str, str]] = {}
    for error in errors:
        loc = error["loc"]
        if error["type"] == "extra_forbidden":
            where, model = _locate(loc[:-1])
            key = str(loc[-1])
            known = _keys(model)
            hint = did_you_mean(key, known) or f" The keys here are {one_of(known)}."
            explained[f"{where}.{key}"] = (
                where or "the file",
                f'"{key}" is not a known key.',
                f"Correct or remove it.{hint}",
            )
            continue
        where, _ = _locate(loc)
        if error["type"] == "missing":
            explained.setdefault(where, (where, "is missing.", f"Add it; {_SCHEMA_HINT}."))
        elif error["type"] == "model_type":
            message = "must be a JSON object ({...})."
            explained[where] = (where or "the file", message, f"Correct it; {_SCHEMA_HINT}.")
        elif where not in explained:
            got = error["input"]
            shown = "" if isinstance(got, dict | list) else f" (it is {got!r})"
            message = f"{error['msg'].removeprefix('Value error, ')}{shown}."
            explained[where] = (where or "the file", message, f"Correct it; {_SCHEMA_HINT}.")
    return list(explained.values())


def _locate(loc: tuple[int | str, ...]) -> tuple[str, type[BaseModel] | None]:
    """The path of `loc` in the file's own spelling ("stages[1].formFields[0]") and the model
    found there; pydantic's extra names for members of a union are skipped."""
    path = ""
    model: type[BaseModel] | None = WorkflowFile
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
            continue
        fields = {f.alias or name: f for name, f in model.model_fields.items()} if model else {}
        if part in fields:
            path += f".{part}" if path else part
            model = _model_in(fields[part].annotation)
    return path, model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as `tuple[Stage, ...]` or `X | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        model = _model_in(argument)
        if model is not None:
            return model
    return None


def _keys(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]
