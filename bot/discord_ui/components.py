"""Buttons and menus that never die, and forms that survive restarts.

Every component's custom_id carries its action and the job id, and the items are discord.py
`DynamicItem`s registered once at start-up: a button posted a month ago, before any number of
restarts, is still recognised. A press becomes the bot event `job_action` (interaction,
action, job id, value), which the actions cog handles. Forms (modals) carry the action and job
id in their custom_id and are handled from the raw interaction, so a form opened before a
restart still works when it is sent after one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import discord

from bot.jobs.display import Action

JOB_ID = r"[a-z2-9]{8}"
MODAL_ID = re.compile(rf"modal:(?P<action>[a-z]+):(?P<job>{JOB_ID})")
EDIT_MENU_MODAL_ID = re.compile(r"editmsg:(?P<channel>\d+):(?P<message>\d+)")
JOB_ACTION_EVENT = "job_action"
_FIELD = "text"
_MODAL_TIMEOUT_S = 15 * 60  # matches the interaction token's life


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
    # The two upscales differ: one redraws the image bigger, one enlarges it as it is.
    Action.UPSCALE: ButtonLook("Upscale (redraw)", "🔍", discord.ButtonStyle.secondary),
    Action.UPSCALE_FAITHFUL: ButtonLook("Upscale (faithful)", "🔎", discord.ButtonStyle.secondary),
    Action.ANIMATE: ButtonLook("Animate", "🎬", discord.ButtonStyle.secondary),
    Action.DELETE: ButtonLook("Delete", "🗑️", discord.ButtonStyle.danger),
    Action.GENERATE: ButtonLook("Generate", "🎨", discord.ButtonStyle.success),
    Action.CANCEL: ButtonLook("Cancel", "✖️", discord.ButtonStyle.secondary),
    Action.UNDO: ButtonLook("Undo", "↩️", discord.ButtonStyle.secondary),
    Action.BRANCH: ButtonLook("Branch", "🌿", discord.ButtonStyle.secondary),
}


def _dispatch(
    interaction: discord.Interaction, action: Action, job_id: str, value: str | None
) -> None:
    interaction.client.dispatch(JOB_ACTION_EVENT, interaction, action, job_id, value)


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"job:(?P<action>[a-z]+):(?P<job>{JOB_ID})",
):
    def __init__(self, action: Action, job_id: str, label: str | None = None) -> None:
        look = LOOKS[action]
        super().__init__(
            discord.ui.Button(
                label=label or look.label,
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
        _dispatch(interaction, self.action, self.job_id, None)


class StyleSelect(
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=rf"style:(?P<job>{JOB_ID})",
):
    def __init__(self, job_id: str, styles: Sequence[tuple[str, str]]) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=f"style:{job_id}",
                placeholder="🎨 Vary the style…",
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
        _dispatch(interaction, Action.STYLE, self.job_id, value)


@dataclass(frozen=True)
class NumberedLook:
    prefix: str  # of the custom_id
    label: str  # with {n} for the number
    style: discord.ButtonStyle


# Buttons about one of several images (U2, V3) or one of several prompts (/describe).
NUMBERED: dict[Action, NumberedLook] = {
    Action.CHOOSE: NumberedLook("pick", "U{n}", discord.ButtonStyle.secondary),
    Action.VARY: NumberedLook("vary", "V{n}", discord.ButtonStyle.secondary),
    Action.IMAGINE: NumberedLook("desc", "Imagine", discord.ButtonStyle.primary),
}
_NUMBERED_ACTIONS = {look.prefix: action for action, look in NUMBERED.items()}


class NumberedButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"(?P<kind>{'|'.join(_NUMBERED_ACTIONS)}):(?P<n>[1-9]):(?P<job>{JOB_ID})",
):
    """ "U2": continue the conversation from the second of several images; "V2": new
    variations of it."""

    def __init__(self, action: Action, number: int, job_id: str) -> None:
        look = NUMBERED[action]
        super().__init__(
            discord.ui.Button(
                label=look.label.format(n=number),
                style=look.style,
                custom_id=f"{look.prefix}:{number}:{job_id}",
            )
        )
        self.action = action
        self.number = number
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> NumberedButton:
        return cls(_NUMBERED_ACTIONS[match["kind"]], int(match["n"]), match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        _dispatch(interaction, self.action, self.job_id, str(self.number))


# Every persistent component: registered once at start-up, so old messages keep working.
DYNAMIC_ITEMS = (JobButton, StyleSelect, NumberedButton)
# Every custom_id prefix the bot uses (a test checks that none clash).
CUSTOM_ID_PREFIXES = (
    "job:",
    "style:",
    *(f"{n.prefix}:" for n in NUMBERED.values()),
    "modal:",
    "editmsg:",
)


def job_view(job_id: str, actions: Sequence[Action]) -> discord.ui.View | None:
    """The buttons of a job's message without Components V2 (None when there are none)."""
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(JobButton(action, job_id))
    return view if view.children else None


class TextModal(discord.ui.Modal):
    """A one-field form. Its submission is handled from the raw interaction (see the module
    docstring), so `on_submit` does nothing here."""

    def __init__(
        self,
        *,
        custom_id: str,
        title: str,
        label: str,
        default: str | None = None,
        placeholder: str | None = None,
        max_length: int = 4000,
    ) -> None:
        super().__init__(title=title, custom_id=custom_id, timeout=_MODAL_TIMEOUT_S)
        self.add_item(
            discord.ui.TextInput(
                label=label,
                custom_id=_FIELD,
                style=discord.TextStyle.paragraph,
                default=default[:max_length] if default else None,
                placeholder=placeholder,
                max_length=max_length,
            )
        )

    async def on_submit(self, interaction: discord.Interaction, /) -> None:
        """Deliberately empty: the cogs handle every submission, live or after a restart."""


def job_modal_id(action: Action, job_id: str) -> str:
    return f"modal:{action.value}:{job_id}"


def submitted_text(data: Any) -> str | None:
    """The text input's value from a modal submission's raw data."""
    for component in _walk(data.get("components") or []):
        if component.get("custom_id") == _FIELD:
            value = component.get("value")
            return str(value) if value is not None else None
    return None


def _walk(components: list[Any]) -> list[Any]:
    found = []
    for component in components:
        found.append(component)
        found += _walk(component.get("components") or [])
        if isinstance(component.get("component"), dict):  # a type-18 label wraps one component
            found += _walk([component["component"]])
    return found
