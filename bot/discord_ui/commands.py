"""Build slash commands from data (option lists) instead of hand-written signatures.

discord.py reads a command's options from its callback's signature; here the signature is
made from `OptionSpec`s, so commands can come from config and workflow files. The callback
receives the interaction and a dict of the values the member gave (absent options omitted).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import discord
from discord import app_commands

from bot.command_spec import OptionKind, OptionSpec
from bot.discord_ui.reach import offered_everywhere

Handler = Callable[[discord.Interaction, dict[str, Any]], Awaitable[None]]
# Suggestions for what the member is typing (options with `autocomplete`).
Suggest = Callable[[discord.Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[str]]]]

_TYPES: dict[OptionKind, type] = {
    "string": str,
    "integer": int,
    "number": float,
    "attachment": discord.Attachment,
}


def build_command(
    name: str,
    description: str,
    options: Sequence[OptionSpec],
    handler: Handler,
    suggest: Suggest | None = None,
) -> app_commands.Command[Any, ..., None]:
    """A slash command whose options are `options` and which calls `handler`, offered
    wherever the app is installed (servers, DMs, group DMs); `suggest` answers the options
    that autocomplete."""

    async def callback(interaction: discord.Interaction, **values: Any) -> None:
        await handler(interaction, {k: v for k, v in values.items() if v is not None})

    parameters = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
        )
    ]
    parameters += [_parameter(option) for option in options]
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    described = app_commands.describe(**{o.name: o.description for o in options})(callback)
    choices = {
        o.name: [app_commands.Choice(name=label, value=value) for label, value in o.choices]
        for o in options
        if o.choices
    }
    if choices:
        described = app_commands.choices(**choices)(described)
    command: app_commands.Command[Any, ..., None] = app_commands.Command(
        name=name, description=description, callback=described
    )
    for option in options:
        if option.autocomplete and suggest is not None:
            command.autocomplete(option.name)(suggest)
    return offered_everywhere(command)


def _parameter(option: OptionSpec) -> inspect.Parameter:
    annotation: Any = _TYPES[option.kind]
    if option.kind == "string" and (option.min_length or option.max_length):
        annotation = app_commands.Range[str, option.min_length or 0, option.max_length or 6000]
    elif option.kind in ("integer", "number") and (
        option.min_value is not None or option.max_value is not None
    ):
        annotation = app_commands.Range[annotation, option.min_value, option.max_value]
    return inspect.Parameter(
        option.name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=annotation,
        default=inspect.Parameter.empty if option.required else None,
    )
