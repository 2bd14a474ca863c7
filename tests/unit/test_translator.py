"""The translation catalogs: every text they translate is one the bot writes, names and
descriptions fit Discord's limits, and the translator answers per locale and place."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.app_commands import TranslationContext
from discord.app_commands import TranslationContextLocation as Where

import bot
import cogs
from bot.discord_ui.translator import CatalogTranslator, read_catalogs

CATALOGS = read_catalogs()
_NAME = re.compile(r"^[-_\w]{1,32}$")


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)


def written_texts() -> set[str]:
    """Every text held in a module-level constant of the bot and its cogs."""
    texts: set[str] = set()
    for package in (bot, cogs):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            for value in vars(importlib.import_module(module.name)).values():
                texts.update(_texts(value))
    return texts


def test_there_is_a_worked_example() -> None:
    assert "fr" in CATALOGS
    assert all(locale in {loc.value for loc in discord.Locale} for locale in CATALOGS)


@pytest.mark.parametrize("locale", sorted(CATALOGS))
def test_messages_translate_texts_the_bot_writes(locale: str) -> None:
    unknown = set(CATALOGS[locale].messages) - written_texts()
    assert unknown == set()


@pytest.mark.parametrize("locale", sorted(CATALOGS))
def test_names_and_descriptions_fit_discord(locale: str) -> None:
    catalog = CATALOGS[locale]
    assert all(_NAME.match(name) for name in catalog.names.values() if name.lower() == name)
    assert all(1 <= len(text) <= 100 for text in catalog.descriptions.values())
    assert all(1 <= len(text) <= 100 for text in catalog.choices.values())


async def _callback(interaction: discord.Interaction) -> None:
    """A command's body (never run)."""


async def test_the_translator_answers_per_locale_and_place() -> None:
    translator = CatalogTranslator(CATALOGS)
    command: app_commands.Command[Any, ..., None] = app_commands.Command(
        name="imagine", description="d", callback=_callback
    )
    name: app_commands.TranslationContextTypes = TranslationContext(Where.command_name, command)
    description: app_commands.TranslationContextTypes = TranslationContext(
        Where.command_description, command
    )
    imagine = app_commands.locale_str("imagine")
    assert await translator.translate(imagine, discord.Locale.french, name) == "imaginer"
    assert await translator.translate(imagine, discord.Locale.french, description) is None
    assert await translator.translate(imagine, discord.Locale.german, name) is None
    assert translator.message("Prompt", discord.Locale.french) == "Consigne"
    assert translator.message("Prompt", discord.Locale.japanese) == "Prompt"
    assert translator.message("anything else", discord.Locale.french) == "anything else"
