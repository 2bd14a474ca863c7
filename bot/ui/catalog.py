"""The slash commands the bot registers, as data, and a readable summary for `check`."""

from __future__ import annotations

from typing import Any

import discord

from bot.command_spec import CommandSpec, OptionSpec
from bot.config import Settings
from bot.errors import ConfigError
from bot.ui.commands import build_command

MAX_IMAGE_OPTIONS = 10


def image_option(n: int) -> str:
    return "image" if n == 1 else f"image{n}"


def imagine_spec(settings: Settings) -> CommandSpec:
    """prompt, aspect_ratio (the default model's ratios) and one option per input image."""
    info = settings.models.info(settings.models.default)
    options = [
        OptionSpec(
            "prompt",
            "What to create, or how to change the attached images",
            required=True,
            min_length=1,
            max_length=settings.prompts.max_chars,
        ),
        OptionSpec(
            "aspect_ratio",
            "Shape of the image (leave empty to let the model choose)",
            choices=[(ratio, ratio) for ratio in info.aspect_ratios],
        ),
    ]
    count = min(info.max_input_images, MAX_IMAGE_OPTIONS)
    options += [
        OptionSpec(image_option(n), "A photo or picture to edit or combine", kind="attachment")
        for n in range(1, count + 1)
    ]
    return CommandSpec(
        "imagine", "Create an image from a description, or edit attached photos", options
    )


def command_specs(settings: Settings) -> list[CommandSpec]:
    return [imagine_spec(settings)]


def command_summaries(settings: Settings) -> list[str]:
    """One line per command, built with discord.py's own validation (no connection needed)."""
    lines = []
    for spec in command_specs(settings):
        try:
            command = build_command(spec.name, spec.description, spec.options, _never_called)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"command /{spec.name} is not valid for Discord: {exc}") from None
        options = " ".join(
            f"{p.name}{'' if p.required else '?'}:{p.type.name}" for p in command.parameters
        )
        lines.append(f"/{command.name} {options} - {command.description}")
    return lines


async def _never_called(interaction: discord.Interaction, values: dict[str, Any]) -> None:
    raise AssertionError("commands built for `check` are never registered")
