"""Buttons that never die: every component's custom_id carries the action and the job id.

The items are discord.py `DynamicItem`s registered once at start-up, so a button posted a
month ago, before any number of restarts, is still recognised: its custom_id is parsed, the
job is loaded from the store, and the bot's `JobActions` handler does the work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

import discord

if TYPE_CHECKING:
    from collections.abc import Sequence

JOB_ID = r"[a-z2-9]{8}"


class Action(StrEnum):
    RETRY = "retry"
    EDIT_PROMPT = "edit"
    REROLL = "reroll"
    REFINE = "refine"
    UPSCALE = "upscale"
    DELETE = "delete"
    GENERATE = "generate"
    CANCEL = "cancel"
    STYLE = "style"  # a select: the chosen value is the style
    START = "start"  # a modal that starts a pending job (e.g. "Edit with Gemini")
    CHOOSE = "choose"  # one of several images: its number is the value


@dataclass(frozen=True)
class ButtonLook:
    label: str
    emoji: str
    style: discord.ButtonStyle


LOOKS: dict[Action, ButtonLook] = {
    Action.RETRY: ButtonLook("Retry", "🔁", discord.ButtonStyle.primary),
    Action.EDIT_PROMPT: ButtonLook("Edit prompt", "✏️", discord.ButtonStyle.secondary),
    Action.REROLL: ButtonLook("Reroll", "🎲", discord.ButtonStyle.secondary),
    Action.REFINE: ButtonLook("Refine", "🖌️", discord.ButtonStyle.primary),
    Action.UPSCALE: ButtonLook("Upscale", "🔍", discord.ButtonStyle.secondary),
    Action.DELETE: ButtonLook("Delete", "🗑️", discord.ButtonStyle.danger),
    Action.GENERATE: ButtonLook("Generate", "🎨", discord.ButtonStyle.success),
    Action.CANCEL: ButtonLook("Cancel", "✖️", discord.ButtonStyle.secondary),
}


class ActionHandler(Protocol):
    async def handle(
        self, interaction: discord.Interaction, action: Action, job_id: str, value: str | None
    ) -> None: ...


def _handler(interaction: discord.Interaction) -> ActionHandler:
    handler: ActionHandler = interaction.client.job_actions  # type: ignore[attr-defined]
    return handler


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"job:(?P<action>[a-z]+):(?P<job>{JOB_ID})",
):
    def __init__(self, action: Action, job_id: str) -> None:
        look = LOOKS[action]
        super().__init__(
            discord.ui.Button(
                label=look.label,
                emoji=look.emoji,
                style=look.style,
                custom_id=f"job:{action.value}:{job_id}",
            )
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> JobButton:
        return cls(Action(match["action"]), match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await _handler(interaction).handle(interaction, self.action, self.job_id, None)


class StyleSelect(
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=rf"style:(?P<job>{JOB_ID})",
):
    def __init__(self, job_id: str, styles: Sequence[tuple[str, str]]) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=f"style:{job_id}",
                placeholder="🎨 Vary the style…",
                row=2,
                options=[discord.SelectOption(label=label, value=key) for key, label in styles],
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> StyleSelect:
        assert isinstance(item, discord.ui.Select)
        styles = [(option.value, option.label) for option in item.options]
        return cls(match["job"], styles)

    async def callback(self, interaction: discord.Interaction) -> None:
        value = self.item.values[0] if self.item.values else None
        await _handler(interaction).handle(interaction, Action.STYLE, self.job_id, value)


class ChooseButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"pick:(?P<n>[1-9]):(?P<job>{JOB_ID})",
):
    """ "Use 2": continue the conversation from the second of several images."""

    def __init__(self, number: int, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Use {number}",
                style=discord.ButtonStyle.secondary,
                custom_id=f"pick:{number}:{job_id}",
                row=1,
            )
        )
        self.number = number
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ChooseButton:
        return cls(int(match["n"]), match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await _handler(interaction).handle(
            interaction, Action.CHOOSE, self.job_id, str(self.number)
        )


def buttons(job_id: str, *actions: Action) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(JobButton(action, job_id))
    return view


def with_choices(view: discord.ui.View, job_id: str, count: int) -> discord.ui.View:
    for number in range(1, count + 1):
        view.add_item(ChooseButton(number, job_id))
    return view


def with_styles(
    view: discord.ui.View, job_id: str, styles: Sequence[tuple[str, str]]
) -> discord.ui.View:
    view.add_item(StyleSelect(job_id, styles))
    return view


# Every persistent component: registered once at start-up, so old messages keep working.
DYNAMIC_ITEMS = (JobButton, StyleSelect, ChooseButton)
