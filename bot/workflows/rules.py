"""Everything a workflow file must satisfy beyond its shape, checked against the settings.

`build_workflow` looks at the whole file and records every problem it finds (not just the
first) in `Findings`; it returns the resolved `Workflow` only when there were none. Warnings
(an unknown model replaced by the default, options reordered for Discord) do not stop a
workflow from loading. The image stage's own rules are in `generation_rules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bot.config import Settings
from bot.workflows import naming
from bot.workflows.generation_rules import check_generation, with_model_sizes
from bot.workflows.problems import Findings, did_you_mean, one_of
from bot.workflows.schema import FormField, Stage, WorkflowFile
from bot.workflows.values import parse_value
from bot.workflows.workflow import IMAGE_SIZE_FIELDS, Option, Workflow

_TEXT_TYPES = ("text", "textarea")


def build_workflow(
    doc: WorkflowFile, source: Path, settings: Settings, found: Findings
) -> Workflow | None:
    """The validated workflow of `doc`, or None when `found` has problems."""
    command = naming.command_name(doc)
    _check_command_name(command, found)
    stages = _check_stages(doc, found)
    options = _check_options(doc, command, found)
    generation = check_generation(doc, stages, options, settings, found)
    if found.problems or generation is None:
        return None
    return Workflow(
        id=doc.id,
        name=doc.name,
        source=source,
        command=command,
        description=naming.command_description(doc),
        options=tuple(with_model_sizes(options, generation.model_info)),
        generation=generation,
    )


def _check_command_name(command: str, found: Findings) -> None:
    """An explicit `command.name` (names derived from the id are always valid), and no
    name of the bot's own commands."""
    problem = naming.name_problem(command)
    if problem is not None:
        found.error(
            "command.name",
            f"the command name {problem}.",
            f'Set "name": "{naming.valid_name(command)}" (or another valid name).',
        )
    if command in naming.BUILT_IN_COMMANDS:
        found.error(
            "command.name",
            f"/{command} is one of the bot's own commands.",
            f'Set "command": {{"name": "my-{command}"}} (or another name).',
        )


# --------------------------------------------------------------------------- stages


def _check_stages(doc: WorkflowFile, found: Findings) -> dict[str, Stage]:
    stages: dict[str, Stage] = {}
    for i, stage in enumerate(doc.stages):
        where = f"stages[{i}]"
        if stage.id in stages:
            found.error(f"{where}.id", f'the stage id "{stage.id}" is used twice.', "Rename one.")
        stages.setdefault(stage.id, stage)
        if stage.input_type == "none" and stage.form_fields:
            found.error(
                f"{where}.formFields",
                f'stage "{stage.id}" has form fields but "inputType" is "none".',
                'Set "inputType": "form", or move the fields to a form stage.',
            )
        if stage.output_type == "json" and stage.input_type != "form":
            found.error(
                f"{where}.outputType",
                f'stage "{stage.id}" outputs json without a form: only form stages can do that '
                "here (stages that run a text model are not supported).",
                'Set "inputType": "form" and give it formFields, or remove the stage.',
            )
        if stage.generates_image and stage.input_type == "form":
            found.error(
                f"{where}.inputType",
                f'the image stage "{stage.id}" cannot have a form of its own.',
                'Set "inputType": "none" and put the fields in a form stage it depends on.',
            )
    for i, stage in enumerate(doc.stages):
        for dependency in stage.dependencies:
            if dependency not in stages:
                found.error(
                    f"stages[{i}].dependencies",
                    f'stage "{stage.id}" depends on "{dependency}", which does not exist.',
                    f"Use one of the stage ids {one_of(stages)}."
                    + did_you_mean(dependency, stages),
                )
    cycle = _find_cycle(stages)
    if cycle:
        found.error(
            "stages",
            f"the dependencies form a cycle: {' -> '.join(cycle)}.",
            "Remove one of these dependencies: a stage can only use answers given before it.",
        )
    return stages


def _find_cycle(stages: Mapping[str, Stage]) -> list[str] | None:
    """A dependency cycle as a path that ends where it starts ([a, b, a]), or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(stage_id: str) -> list[str] | None:
        path.append(stage_id)
        for dependency in stages[stage_id].dependencies:
            if dependency in path:
                return [*path[path.index(dependency) :], dependency]
            if dependency in stages and dependency not in done:
                cycle = visit(dependency)
                if cycle:
                    return cycle
        path.pop()
        done.add(stage_id)
        return None

    for stage_id in stages:
        if stage_id not in done:
            cycle = visit(stage_id)
            if cycle:
                return cycle
    return None


# --------------------------------------------------------------------------- options


def _check_options(doc: WorkflowFile, command: str, found: Findings) -> list[Option]:
    """Every form field as an option, required ones first (Discord's rule)."""
    options: list[Option] = []
    used: dict[str, str] = {}  # option name -> where it was defined
    for i, stage in enumerate(doc.stages):
        names: set[str] = set()
        for j, form_field in enumerate(stage.form_fields):
            where = f"stages[{i}].formFields[{j}]"
            if form_field.name in names:
                found.error(
                    f"{where}.name",
                    f'stage "{stage.id}" has two fields named "{form_field.name}".',
                    "Rename one.",
                )
            names.add(form_field.name)
            _check_field(form_field, where, found)
            option = Option(
                naming.option_name(form_field),
                naming.option_description(form_field),
                form_field,
                stage.id,
            )
            _check_option_name(option, where, used, found)
            options.append(option)
    if len(options) > naming.MAX_OPTIONS:
        found.error(
            "stages",
            f"the form fields make {len(options)} options; Discord allows at most "
            f"{naming.MAX_OPTIONS} per command.",
            "Remove fields, or split the workflow into two commands.",
        )
    ordered = sorted(options, key=lambda option: not option.required)  # stable
    if ordered != options:
        found.warn(
            "formFields",
            "Discord lists required options first, so the options of "
            f"/{command} are in this order: {', '.join(o.name for o in ordered)}.",
            "Put required fields before optional ones to make the file match.",
        )
    return ordered


def _check_option_name(option: Option, where: str, used: dict[str, str], found: Findings) -> None:
    key = f"{where}.option" if option.field.option is not None else f"{where}.name"
    problem = naming.name_problem(option.name)
    if problem is not None:
        found.error(
            key,
            f"the option name {problem}.",
            f'Set "option": "{naming.valid_name(option.name)}" (or another valid name).',
        )
    elif option.name in used:
        found.error(
            key,
            f'the option name "{option.name}" is also the name of {used[option.name]}.',
            'Set "option" on one of the two fields to another name.',
        )
    else:
        used[option.name] = where


def _check_field(form_field: FormField, where: str, found: Findings) -> None:
    rules, kind = form_field.validation, form_field.type
    if kind not in _TEXT_TYPES and (rules.min_length is not None or rules.max_length is not None):
        found.error(
            f"{where}.validation",
            f"minLength and maxLength apply to text and textarea fields, not to {kind} fields.",
            "Remove them.",
        )
    if kind != "number" and (rules.min is not None or rules.max is not None):
        found.error(
            f"{where}.validation",
            f"min and max apply to number fields, not to {kind} fields.",
            "Remove them.",
        )
    if _reversed(rules.min_length, rules.max_length) or _reversed(rules.min, rules.max):
        found.error(
            f"{where}.validation",
            "the smallest allowed value is greater than the largest.",
            "Swap them.",
        )
    _check_choices(form_field, where, found)
    if form_field.default_value is None:
        return
    if kind in ("image", "references"):
        found.error(
            f"{where}.defaultValue", f"an {kind} field cannot have a default.", "Remove it."
        )
        return
    try:
        parse_value(form_field, form_field.default_value)
    except ValueError as exc:
        fix = "Use one of the option values." if kind == "select" else "Change or remove it."
        found.error(
            f"{where}.defaultValue", f"the default {form_field.default_value!r} {exc}.", fix
        )


def _reversed(low: float | None, high: float | None) -> bool:
    return low is not None and high is not None and low > high


def _check_choices(form_field: FormField, where: str, found: Findings) -> None:
    choices = form_field.options
    if form_field.type != "select":
        if choices:
            found.error(
                f"{where}.options",
                f"only select fields have options (this one is {form_field.type}).",
                'Remove "options", or set "type": "select".',
            )
        return
    if not choices and form_field.name not in IMAGE_SIZE_FIELDS:  # sizes: the model's
        found.error(f"{where}.options", "a select field needs options.", "Add its options.")
    if len(choices) > naming.MAX_CHOICES:
        found.error(
            f"{where}.options",
            f"{len(choices)} options; Discord allows at most {naming.MAX_CHOICES} choices.",
            "Remove options, or use a text field.",
        )
    values = [choice.value for choice in choices]
    repeated = sorted({value for value in values if values.count(value) > 1})
    if repeated:
        found.error(
            f"{where}.options",
            f"the option values {one_of(repeated)} appear more than once.",
            "Give every option its own value.",
        )
