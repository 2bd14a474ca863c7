"""Translations: command names and descriptions through discord.py's `app_commands.Translator`,
and member-facing messages in the member's language where a translation exists.

A catalog is a TOML file per Discord locale in `bot/discord_ui/locales/` (`fr.toml` is the
worked example), keyed by the English text exactly as the bot writes it: `[names]` for
command, option and group names, `[descriptions]`, `[choices]` for the choices' labels and
`[messages]` for what members are told. Anything without a translation stays English, so a
catalog can start small.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import discord
from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where
from discord.ext import commands

LOCALES_DIRECTORY = Path(__file__).with_name("locales")

_TABLES = {
    Where.command_name: "names",
    Where.group_name: "names",
    Where.parameter_name: "names",
    Where.command_description: "descriptions",
    Where.group_description: "descriptions",
    Where.parameter_description: "descriptions",
    Where.choice_name: "choices",
}


@dataclass(frozen=True)
class Catalog:
    """One language's translations, table by table (see the module docstring)."""

    names: Mapping[str, str] = field(default_factory=dict)
    descriptions: Mapping[str, str] = field(default_factory=dict)
    choices: Mapping[str, str] = field(default_factory=dict)
    messages: Mapping[str, str] = field(default_factory=dict)

    def table(self, name: str) -> Mapping[str, str]:
        table: Mapping[str, str] = getattr(self, name)
        return table


def read_catalogs(directory: Path = LOCALES_DIRECTORY) -> dict[str, Catalog]:
    """Blocking: every `<locale>.toml` in `directory`, by Discord locale ("fr", "pt-BR")."""
    catalogs = {}
    for path in sorted(directory.glob("*.toml")):
        with path.open("rb") as file:
            tables = tomllib.load(file)
        catalogs[path.stem] = Catalog(**tables)
    return catalogs


class CatalogTranslator(app_commands.Translator):
    def __init__(self, catalogs: Mapping[str, Catalog]) -> None:
        self.catalogs = catalogs

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        """The catalog's text for `string` in `locale`; None (no localization) without one."""
        catalog = self.catalogs.get(locale.value)
        table = _TABLES.get(context.location)
        if catalog is None or table is None:
            return None
        return catalog.table(table).get(string.message)

    def message(self, text: str, locale: discord.Locale) -> str:
        """`text` in `locale` where the catalog has it, else as it is."""
        catalog = self.catalogs.get(locale.value)
        return catalog.messages.get(text, text) if catalog else text


def localized(interaction: discord.Interaction, text: str) -> str:
    """A member-facing `text` in the language of the member's Discord client, where a
    translation exists."""
    client = interaction.client
    # AutoShardedBot is no subclass of Bot: both are BotBase with a command tree.
    translator = client.tree.translator if isinstance(client, commands.bot.BotBase) else None
    if isinstance(translator, CatalogTranslator):
        return translator.message(text, interaction.locale)
    return text
