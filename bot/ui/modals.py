"""One-field modals whose submissions survive restarts.

A modal's custom_id carries the action and the job id. Its submission is handled by the
JobActions cog from the raw interaction (not by this object's callback), so a modal opened
before a restart still works when it is submitted after one.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.ui.views import JOB_ID, Action

MODAL_ID = re.compile(rf"modal:(?P<action>[a-z]+):(?P<job>{JOB_ID})")
_FIELD = "text"
_MODAL_TIMEOUT_S = 15 * 60  # matches the interaction token's life


class TextModal(discord.ui.Modal):
    def __init__(
        self,
        *,
        action: Action,
        job_id: str,
        title: str,
        label: str,
        default: str | None = None,
        placeholder: str | None = None,
        max_length: int = 4000,
    ) -> None:
        super().__init__(
            title=title, custom_id=f"modal:{action.value}:{job_id}", timeout=_MODAL_TIMEOUT_S
        )
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
        """Deliberately empty: JobActions handles every submission, live or after a restart."""


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
