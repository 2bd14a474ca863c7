"""Components V2 layouts (discord.py's `LayoutView`): the result card, and /describe's.

One container holds everything about a result: the image (or the gallery of several, with a
grey stand-in where one was not made), the prompt, one line of details (model, size, aspect
ratio, cost, time, job id), notes, and the buttons. A V2 message carries no content and no
embeds, at most 40 components (nested ones included) and 4,000 characters of text across
all of them; the prompt gets whatever text the rest of the card leaves (for /describe, its
prompts share it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import discord

from bot.discord_ui import messages
from bot.discord_ui.components import JobButton, NumberedButton, StyleSelect
from bot.jobs.display import Action, DescribeCard, ResultCard
from bot.jobs.quotas import usd

MAX_COMPONENTS = 40
TEXT_LIMIT = 4000
BUTTONS_PER_ROW = 5
PICTURE_DESCRIPTION_LIMIT = 256  # discord.py's limit for a gallery item's alt text
GROUNDING_LIMIT = 1000  # characters of links to a grounded result's sources, and of searches
# Buttons about the conversation, in a row of their own after the ones that make images.
_CONVERSATION_ACTIONS = (Action.UNDO, Action.BRANCH, Action.DELETE)


@dataclass
class Picture:
    """One place of the gallery: an attached file, and its alt text."""

    filename: str
    description: str


@dataclass
class ResultLayout:
    """What a result message shows; `build` makes its components. The attached files'
    names, the last line and an address can change before it is sent (a re-encoded file, a
    thread that could not be opened, a card posted away from its place)."""

    card: ResultCard
    job_id: str
    pictures: list[Picture]
    note: str | None = None  # the last line: how to continue, or why there is no thread
    address: str | None = None  # a mention before the card, for a member to notice it

    @property
    def filenames(self) -> list[str]:
        return [picture.filename for picture in self.pictures]

    def rename(self, names: Sequence[str]) -> None:
        for picture, name in zip(self.pictures, names, strict=True):
            picture.filename = name

    def build(self) -> discord.ui.LayoutView:
        card = self.card
        box: discord.ui.Container[Any] = discord.ui.Container(accent_colour=messages.COLOR_OK)
        if self.pictures:  # none when a video was too large to post
            box.add_item(discord.ui.MediaGallery(*self._gallery()))
        prompt: discord.ui.TextDisplay[Any] = discord.ui.TextDisplay(">")
        box.add_item(prompt)
        for line in self._lines():
            box.add_item(discord.ui.TextDisplay(line))
        box.add_item(discord.ui.Separator())
        for row in self._rows():
            box.add_item(row)
        view, used = _framed(box, self.address, self.note)
        room = TEXT_LIMIT - used + len(prompt.content)
        prompt.content = messages.quote(card.prompt, room)
        return view

    def _gallery(self) -> list[discord.MediaGalleryItem]:
        return [
            discord.MediaGalleryItem(
                f"attachment://{picture.filename}",
                description=messages.clip(picture.description, PICTURE_DESCRIPTION_LIMIT),
            )
            for picture in self.pictures
        ]

    def _lines(self) -> list[str]:
        card = self.card
        lines = []
        if card.text.strip():
            lines.append(f"-# 💬 {messages.clip(messages.one_line(card.text), 500)}")
        lines.append(f"-# {details(card, self.job_id)}")
        for slot, reason in card.missing:
            why = messages.clip(messages.one_line(reason), 300)
            lines.append(f"⚠️ Image {slot + 1} was not made: {why}")
        lines += card.notes
        lines += messages.grounding_lines(card, GROUNDING_LIMIT)
        return lines

    def _rows(self) -> list[discord.ui.ActionRow[Any]]:
        card = self.card
        making = [a for a in card.actions if a not in _CONVERSATION_ACTIONS]
        keeping = [a for a in card.actions if a in _CONVERSATION_ACTIONS]
        buttons: list[list[discord.ui.Item[Any]]] = [
            [JobButton(action, self.job_id, self._label(action)) for action in group]
            for group in (making, keeping)
        ]
        places = [slot + 1 for slot in range(card.grid) if slot not in dict(card.missing)]
        for action in (Action.CHOOSE, Action.VARY):
            buttons.append([NumberedButton(action, n, self.job_id) for n in places])
        if card.styles:
            buttons.append([StyleSelect(self.job_id, card.styles)])
        return [_row(chunk) for group in buttons for chunk in _chunks(group)]

    def _label(self, action: Action) -> str | None:
        offer = self.card.upscale
        if action is Action.UPSCALE and offer is not None:
            return f"Upscale (redraw) to {offer.size} · {usd(offer.usd)}"
        return None


@dataclass
class DescribeLayout:
    """/describe's answer: the image it read beside a heading, then each prompt with its
    Imagine button."""

    card: DescribeCard
    job_id: str
    filename: str | None  # the image described, when it is still stored
    address: str | None = None
    note: str | None = None  # a last line

    @property
    def filenames(self) -> list[str]:
        return [self.filename] if self.filename else []

    def rename(self, names: Sequence[str]) -> None:
        (self.filename,) = names

    def build(self) -> discord.ui.LayoutView:
        card = self.card
        box: discord.ui.Container[Any] = discord.ui.Container(accent_colour=messages.COLOR_OK)
        heading = (
            "🔎 **Prompts for an image like this one.** Press Imagine on the one you like: it "
            "makes a new image (at the usual price), in a thread of its own."
        )
        if self.filename:
            picture: discord.ui.Thumbnail[Any] = discord.ui.Thumbnail(
                f"attachment://{self.filename}", description="The image described"
            )
            box.add_item(discord.ui.Section(heading, accessory=picture))
        else:
            box.add_item(discord.ui.TextDisplay(heading))
        shown: list[discord.ui.TextDisplay[Any]] = []
        for number, _ in enumerate(card.prompts, start=1):
            text: discord.ui.TextDisplay[Any] = discord.ui.TextDisplay(f"**{number}.**")
            button = NumberedButton(Action.IMAGINE, number, self.job_id)
            box.add_item(discord.ui.Section(text, accessory=button))
            shown.append(text)
        details = [card.model_label, usd(card.cost_usd), f"{card.elapsed_s:.1f} s"]
        box.add_item(discord.ui.TextDisplay(f"-# {' · '.join([*details, f'Job `{self.job_id}`'])}"))
        box.add_item(_row([JobButton(action, self.job_id) for action in card.actions]))
        view, used = _framed(box, self.address, self.note)
        each = (TEXT_LIMIT - used) // max(len(shown), 1)
        for text, prompt in zip(shown, card.prompts, strict=True):
            text.content = messages.clip(f"{text.content} {prompt}", len(text.content) + each)
        return view


def _framed(
    box: discord.ui.Container[Any], address: str | None, note: str | None
) -> tuple[discord.ui.LayoutView, int]:
    """A card's message: `address` above the box, `note` as the box's last line; and the
    characters of text it holds so far (V2 allows TEXT_LIMIT in all)."""
    view = discord.ui.LayoutView(timeout=None)
    if address:
        view.add_item(discord.ui.TextDisplay(address))
    if note:
        box.add_item(discord.ui.TextDisplay(note))
    view.add_item(box)
    return view, text_length(view.to_components())  # type: ignore[no-untyped-call]


def details(card: ResultCard, job_id: str) -> str:
    """Model · size · aspect ratio · cost · time · job id."""
    parts = [card.model_label]
    if card.size:
        parts.append(card.size)
    parts.append(card.aspect_ratio or "model's aspect ratio")
    images = len(card.images)
    parts.append(f"{usd(card.cost_usd)} for {images} images" if images > 1 else usd(card.cost_usd))
    parts += [f"{card.elapsed_s:.1f} s", f"Job `{job_id}`"]
    return " · ".join(parts)


def picture_descriptions(card: ResultCard) -> list[tuple[int | None, str]]:
    """For each place of the gallery, the index of its image in `card.images` (None for a
    stand-in) and its alt text."""
    missing = dict(card.missing)
    places = max(len(card.images) + len(missing), 1)
    found = iter(range(len(card.images)))
    described: list[tuple[int | None, str]] = []
    for slot in range(places):
        if slot in missing:
            described.append((None, f"Image {slot + 1} was not made: {missing[slot]}"))
            continue
        what = f"Image {slot + 1} of {places}: " if places > 1 else ""
        described.append((next(found), f"{what}{messages.one_line(card.prompt)}"))
    return described


def text_length(components: Iterable[Any]) -> int:
    """Characters of text across components as Discord counts them for the 4,000 limit
    (text displays, and, to be safe, labels, placeholders and descriptions too)."""
    total = 0
    for component in components:
        if not isinstance(component, dict):
            continue
        for key in ("content", "label", "placeholder", "description"):
            value = component.get(key)
            total += len(value) if isinstance(value, str) else 0
        for key in ("components", "items", "options"):
            total += text_length(component.get(key) or [])
        accessory = component.get("accessory")
        total += text_length([accessory] if accessory else [])
    return total


def component_count(components: Iterable[Any]) -> int:
    """Components as Discord counts them for the limit of 40 (nested ones included)."""
    total = 0
    for component in components:
        total += 1 + component_count(component.get("components") or [])
        if component.get("accessory"):
            total += 1
    return total


def _chunks(items: Sequence[discord.ui.Item[Any]]) -> list[Sequence[discord.ui.Item[Any]]]:
    return [items[i : i + BUTTONS_PER_ROW] for i in range(0, len(items), BUTTONS_PER_ROW)]


def _row(items: Sequence[discord.ui.Item[Any]]) -> discord.ui.ActionRow[Any]:
    row: discord.ui.ActionRow[Any] = discord.ui.ActionRow()
    for item in items:
        row.add_item(item)
    return row
