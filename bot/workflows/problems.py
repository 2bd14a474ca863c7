"""What can be wrong with a workflow file, said so that its author can fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.errors import ConfigError


@dataclass(frozen=True)
class WorkflowProblem:
    """One problem (or warning) in one file: where, what, and how to fix it."""

    file: str
    field: str  # where in the file: "stages[1].promptTemplate", "line 3, column 7", ...
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message} Fix: {self.fix}"


@dataclass
class Findings:
    """The problems and warnings found in one file."""

    file: str
    problems: list[WorkflowProblem] = field(default_factory=list)
    warnings: list[WorkflowProblem] = field(default_factory=list)

    def error(self, where: str, message: str, fix: str) -> None:
        self.problems.append(WorkflowProblem(self.file, where, message, fix))

    def warn(self, where: str, message: str, fix: str) -> None:
        self.warnings.append(WorkflowProblem(self.file, where, message, fix))


class WorkflowError(ConfigError):
    """The workflow files have problems; `problems` lists every one of them."""

    def __init__(self, problems: Sequence[WorkflowProblem]) -> None:
        count = f"{len(problems)} problem(s) in the workflow files"
        super().__init__(f"{count}:\n" + "\n".join(f"  {p}" for p in problems))
        self.problems = tuple(problems)


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """' Did you mean "x"?' for the closest of `known`, or "" when none is close."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f' Did you mean "{close[0]}"?' if close else ""


def one_of(known: Iterable[str]) -> str:
    """'"a", "b" or "c"' (for messages that list the valid values)."""
    quoted = [f'"{k}"' for k in known]
    if len(quoted) <= 1:
        return "".join(quoted) or "(none)"
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}"
