"""Discord's rules for slash commands, and the names and descriptions workflows get by default.

Names are limited to lower-case ASCII letters, digits, "-" and "_" (1-32 characters): Discord
also allows letters of other scripts, but ASCII names are the ones members can type anywhere.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.workflows.schema import FormField, WorkflowFile

NAME_PATTERN = "^[-_a-z0-9]{1,32}$"
NAME_LIMIT = 32
DESCRIPTION_LIMIT = 100
MAX_OPTIONS = 25
MAX_CHOICES = 25
MAX_TEXT_LENGTH = 6000
# Slash commands the bot has besides its workflows (cogs/usage.py, cogs/admin.py).
BUILT_IN_COMMANDS = frozenset({"usage", "admin", "ref", "jobs", "show", "describe"})

_NAME = re.compile(NAME_PATTERN)
_NOT_IN_NAME = re.compile(r"[^-_a-z0-9]")
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def command_name(workflow: WorkflowFile) -> str:
    """`command.name`, else the id lower-cased with other characters replaced by "-"."""
    if workflow.command.name is not None:
        return workflow.command.name
    return valid_name(workflow.id)


def command_description(workflow: WorkflowFile) -> str:
    return workflow.command.description or clip(workflow.name, DESCRIPTION_LIMIT)


def option_name(field: FormField) -> str:
    """`option`, else the field name in snake_case: userPrompt -> user_prompt."""
    return field.option if field.option is not None else snake_case(field.name)


def option_description(field: FormField) -> str:
    text = field.description or field.label or field.placeholder or field.name
    return clip(" ".join(text.split()), DESCRIPTION_LIMIT)


def snake_case(name: str) -> str:
    return _CAMEL_HUMP.sub("_", name).lower()


def valid_name(text: str) -> str:
    """`text` lower-cased, with characters a name cannot have replaced by "-", at most 32."""
    return _NOT_IN_NAME.sub("-", text.lower())[:NAME_LIMIT]


def name_problem(name: str) -> str | None:
    """Why Discord would refuse `name` as a command or option name, or None if it is valid."""
    if _NAME.match(name):
        return None
    if not name or len(name) > NAME_LIMIT:
        return f"{name!r} has {len(name)} characters; Discord allows 1 to {NAME_LIMIT}"
    bad = ", ".join(repr(char) for char in sorted(set(_NOT_IN_NAME.findall(name))))
    return f"{name!r} contains {bad}; Discord allows only lower-case letters, digits, - and _"


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis when something was cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
