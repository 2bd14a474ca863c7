"""Slash commands described as plain data (no Discord): what workflows compile to.

`bot.ui.commands.build_command` turns a CommandSpec into a discord.py command.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

OptionKind = Literal["string", "integer", "number", "attachment"]


@dataclass(frozen=True)
class OptionSpec:
    name: str
    description: str
    kind: OptionKind = "string"
    required: bool = False
    choices: Sequence[tuple[str, str]] = field(default=())  # (label, value)
    min_length: int | None = None
    max_length: int | None = None
    min_value: float | None = None
    max_value: float | None = None
    autocomplete: bool = False  # suggestions come from the bot as the member types


@dataclass(frozen=True)
class CommandSpec:
    name: str
    description: str
    options: Sequence[OptionSpec]
