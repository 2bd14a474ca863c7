"""What `python -m bot check` says about the workflows: their commands, problems and warnings."""

from __future__ import annotations

from typing import NamedTuple

from bot.config import Settings
from bot.workflows.engine import command_spec
from bot.workflows.loader import read_workflows, workflows_directory
from bot.workflows.problems import WorkflowProblem
from bot.workflows.workflow import Workflow


class WorkflowCheck(NamedTuple):
    summaries: list[str]  # one line per slash command
    problems: list[WorkflowProblem]
    warnings: list[WorkflowProblem]
    workflows: tuple[Workflow, ...] = ()  # the valid ones


def check_workflows(settings: Settings) -> WorkflowCheck:
    """Read every workflow file."""
    report = read_workflows(workflows_directory(settings), settings)
    problems = list(report.problems)
    summaries = [command_summary(workflow) for workflow in report.workflows]
    return WorkflowCheck(summaries, problems, list(report.warnings), report.workflows)


def command_summary(workflow: Workflow) -> str:
    """ "/name option:kind optional?:kind - description [model]"."""
    spec = command_spec(workflow)
    options = " ".join(
        f"{option.name}{'' if option.required else '?'}:{option.kind}" for option in spec.options
    )
    return f"/{spec.name} {options} - {spec.description} [{workflow.generation.model}]"
