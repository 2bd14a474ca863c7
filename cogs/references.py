"""/ref: the reference library. Save an image by name (a style, a character, an object),
list what you and the server keep, delete. Saved references come into /imagine with refs:.
Every answer is private."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_ui import messages
from bot.discord_ui.attachments import uploads_of
from bot.discord_ui.members import place_of, role_ids
from bot.discord_ui.reach import SERVER_CONTEXT, SERVER_INSTALL
from bot.discord_ui.replies import answer_privately
from bot.discord_ui.suggestions import reference_names
from bot.errors import BotError
from bot.jobs import references
from bot.jobs.records import Reference, ReferenceKind

if TYPE_CHECKING:
    from bot.discord_ui.app import ImagineBot

_NONE = discord.AllowedMentions.none()
_KINDS = [
    app_commands.Choice(name="Style: use its look, not what it shows", value="style"),
    app_commands.Choice(name="Character: keep this face and features", value="character"),
    app_commands.Choice(name="Object: include it as it looks", value="object"),
]


class References(commands.Cog):
    ref = app_commands.Group(
        name="ref",
        description="Reference images to bring into /imagine",
        guild_only=True,
        allowed_installs=SERVER_INSTALL,  # a server's library: it needs the bot there
        allowed_contexts=SERVER_CONTEXT,
    )

    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot

    @ref.command(name="save", description="Save an image by name, for /imagine refs:")
    @app_commands.describe(
        name="A short name to call it by, e.g. Mia or watercolour",
        image="The image (PNG, JPEG, WEBP, GIF or AVIF)",
        kind="What it is for (default: an object)",
        server="Save it for everyone in this server (needs Manage Server)",
    )
    @app_commands.choices(kind=_KINDS)
    async def save(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, references.NAME_MAX_LENGTH],
        image: discord.Attachment,
        kind: str = ReferenceKind.OBJECT.value,
        server: bool = False,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            answer = await self.bot.jobs.references.save(
                interaction.user.id,
                role_ids(interaction.user),
                place_of(interaction),
                name,
                ReferenceKind(kind),
                uploads_of([image])[0],
                server_wide=server,
                manages_server=interaction.permissions.manage_guild,
            )
        except BotError as exc:
            answer = f"⚠️ {exc.user_message}"
        await interaction.followup.send(answer, ephemeral=True, allowed_mentions=_NONE)

    @ref.command(name="list", description="The references you and this server keep")
    async def list_(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None  # guild_only
        listed = await self.bot.jobs.references.listed(interaction.guild_id, interaction.user.id)
        embed = discord.Embed(
            title="Saved references",
            description=messages.clip(_listing(listed), messages.EMBED_DESCRIPTION_LIMIT),
            colour=messages.COLOR_OK,
        )
        embed.set_footer(text="Use them with /imagine refs: name1, name2 · save with /ref save")
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=_NONE)

    @ref.command(name="delete", description="Delete one of your references (or the server's)")
    @app_commands.describe(
        name="The reference to delete",
        server="Delete the server's reference of that name (needs Manage Server)",
    )
    async def delete(
        self, interaction: discord.Interaction, name: str, server: bool = False
    ) -> None:
        assert interaction.guild_id is not None  # guild_only
        try:
            answer = await self.bot.jobs.references.delete(
                interaction.user.id,
                interaction.guild_id,
                name,
                server_wide=server,
                manages_server=interaction.permissions.manage_guild,
            )
        except BotError as exc:
            answer = f"⚠️ {exc.user_message}"
        await answer_privately(interaction, answer)

    @delete.autocomplete("name")
    async def _names(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await reference_names(self.bot, interaction, current.replace(",", " "))


def _listing(listed: list[Reference]) -> str:
    if not listed:
        return (
            "Nothing saved yet. Save an image with `/ref save name: image:`, then use it with "
            "`/imagine prompt: … refs: name`."
        )
    lines = []
    for title, whose in (("Yours", False), ("The server's", True)):
        mine = [r for r in listed if r.server_wide is whose]
        if mine:
            lines.append(f"**{title}**")
            lines += [
                f"`{r.name}`: {references.KIND_LABELS[r.kind]}, saved <t:{int(r.created_at)}:R>"
                for r in mine
            ]
    return "\n".join(lines)


async def setup(bot: ImagineBot) -> None:
    await bot.add_cog(References(bot))
