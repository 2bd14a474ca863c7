"""The fake Discord, driven through the real, unmodified discord.py client.

A minimal bot defined here (not the product bot) logs in, syncs commands and answers
interactions; the tests act as users through the fake and check both what the bot saw and
what the fake recorded. Every test fails if discord.py logs an error or the fake records a
protocol violation it did not expect.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
import pytest
import pytest_asyncio
import yarl
from discord import app_commands
from discord.ext import commands
from PIL import Image

from tests.fakes.fake_discord import (
    CREATE_PUBLIC_THREADS,
    MANAGE_GUILD,
    FakeDiscord,
    RecordedRequest,
    validate_commands,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

NO_PINGS = discord.AllowedMentions.none()


def _png(width: int = 4, height: int = 3) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(buffer, "PNG")
    return buffer.getvalue()


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    comment: discord.ui.TextInput[FeedbackModal] = discord.ui.TextInput(
        label="Comment", custom_id="test:comment", max_length=200
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            f"Thanks: {self.comment.value}", allowed_mentions=NO_PINGS
        )


class PanelView(discord.ui.View):
    """Persistent: fixed custom_ids, registered with ``Bot.add_view`` at start-up."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Ping", custom_id="test:ping")
    async def ping(
        self, interaction: discord.Interaction, button: discord.ui.Button[PanelView]
    ) -> None:
        await interaction.response.send_message("pong", ephemeral=True)

    @discord.ui.button(label="Feedback", custom_id="test:feedback")
    async def feedback(
        self, interaction: discord.Interaction, button: discord.ui.Button[PanelView]
    ) -> None:
        await interaction.response.send_modal(FeedbackModal())


@app_commands.command(description="Make an image from a prompt and a source image")
async def imagine(interaction: discord.Interaction, prompt: str, image: discord.Attachment) -> None:
    await interaction.response.defer(thinking=True)
    source = await image.read()
    embed = discord.Embed(title=prompt, description=f"from {image.filename} ({len(source)} bytes)")
    embed.set_image(url="attachment://result.png")
    await interaction.edit_original_response(
        content="Here you go",
        embed=embed,
        attachments=[discord.File(io.BytesIO(_png()), "result.png")],
    )
    message = await interaction.original_response()
    thread = await message.create_thread(name=f"imagine {prompt}")
    await thread.send("Reply in this thread to refine the image.")


@app_commands.command(description="Post the panel with buttons")
async def panel(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("Pick one", view=PanelView())


@app_commands.command(description="Show whether the bot may create threads here")
async def perms(interaction: discord.Interaction) -> None:
    allowed = interaction.app_permissions.create_public_threads
    await interaction.response.send_message(f"threads={allowed}", ephemeral=True)


@app_commands.command(description="Answer after the bot's configured delay")
async def slow(interaction: discord.Interaction) -> None:
    bot = interaction.client
    assert isinstance(bot, FakeTestBot)
    await asyncio.sleep(bot.slow_delay)
    try:
        await interaction.response.send_message("finally")
    except discord.NotFound as exc:
        bot.failures.append(exc)


@app_commands.context_menu(name="Describe message")
async def describe(interaction: discord.Interaction, message: discord.Message) -> None:
    text = (
        f"{message.author.name} wrote {message.content!r} with {len(message.attachments)} file(s)"
    )
    await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)


team = app_commands.Group(
    name="team",
    description="Subcommands only members who manage the server see",
    default_permissions=discord.Permissions(manage_guild=True),
)


@team.command(name="show", description="Say who ran it, with which roles")
async def team_show(interaction: discord.Interaction, note: str) -> None:
    assert isinstance(interaction.user, discord.Member)
    roles = sorted(role.name for role in interaction.user.roles if not role.is_default())
    await interaction.response.send_message(f"{note}: {roles}", ephemeral=True)


@app_commands.command(description="Say where it was used, then send follow-ups")
@app_commands.allowed_installs(guilds=True, users=True)
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
async def where(interaction: discord.Interaction, followups: int = 0) -> None:
    await interaction.response.send_message(
        f"guild={interaction.guild_id} user_app={interaction.is_user_integration()} "
        f"guild_app={interaction.is_guild_integration()} dm={interaction.context.dm_channel} "
        f"private={interaction.context.private_channel} locale={interaction.locale.value}"
    )
    bot = interaction.client
    assert isinstance(bot, FakeTestBot)
    for n in range(followups):
        try:
            await interaction.followup.send(f"follow-up {n + 1}")
        except discord.HTTPException as exc:
            bot.failures.append(exc)


APP_COMMANDS: tuple[
    app_commands.Command[Any, ..., None] | app_commands.ContextMenu | app_commands.Group, ...
] = (imagine, panel, perms, slow, describe, team, where)


class FakeTestBot(commands.Bot):
    def __init__(self) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(command_prefix="!", intents=intents, guild_ready_timeout=0.05)
        self.received: dict[int, tuple[discord.Message, list[bytes]]] = {}
        self.edits: list[discord.RawMessageUpdateEvent] = []
        self.interactions: list[discord.Interaction] = []
        self.failures: list[discord.HTTPException] = []
        self.slow_delay = 0.0

    async def setup_hook(self) -> None:
        for command in APP_COMMANDS:
            self.tree.add_command(command)
        self.add_view(PanelView())
        await self.tree.sync()

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        self.received[message.id] = (message, [await a.read() for a in message.attachments])

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        self.edits.append(payload)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.interactions.append(interaction)


class DiscordErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# The fixtures are named so that the other test_fake_discord_* modules can import them (each
# module then gets its own fake and bot).


@pytest.fixture(name="discord_errors", scope="module")
def discord_errors_fixture() -> Iterator[DiscordErrorRecords]:
    handler = DiscordErrorRecords()
    logger = logging.getLogger("discord")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest_asyncio.fixture(name="fake", scope="module", loop_scope="module")
async def fake_fixture() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    await fake.start()
    yield fake
    await fake.stop()


def _point_discord_py_at(patch: pytest.MonkeyPatch, fake: FakeDiscord) -> None:
    patch.setattr(discord.http.Route, "BASE", fake.api_base_url)
    patch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url))


@contextlib.asynccontextmanager
async def running_bot(fake: FakeDiscord) -> AsyncIterator[FakeTestBot]:
    """The minimal test bot, logged in to ``fake`` until the block ends."""
    with pytest.MonkeyPatch.context() as patch:
        _point_discord_py_at(patch, fake)
        bot = FakeTestBot()
        runner = asyncio.create_task(bot.start(fake.token))
        ready = asyncio.create_task(bot.wait_until_ready())
        await asyncio.wait({runner, ready}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        if runner.done():
            runner.result()  # raises what stopped the bot from starting
        assert ready.done(), "the bot did not become ready within 5 s"
        try:
            yield bot
        finally:
            await bot.close()
            await runner


@pytest_asyncio.fixture(name="bot", scope="module", loop_scope="module")
async def bot_fixture(fake: FakeDiscord) -> AsyncIterator[FakeTestBot]:
    async with running_bot(fake) as bot:
        yield bot


@pytest.fixture(name="no_errors_or_violations", autouse=True)
def no_errors_or_violations_fixture(
    fake: FakeDiscord, discord_errors: DiscordErrorRecords
) -> Iterator[None]:
    yield
    logged = [logging.Formatter().format(record) for record in discord_errors.records]
    violations = list(fake.violations)
    discord_errors.records.clear()
    fake.violations.clear()  # so one failure does not fail every later test
    assert logged == []
    assert violations == []


async def new_text_channel(fake: FakeDiscord, bot: FakeTestBot, name: str) -> discord.TextChannel:
    """A new text channel (with fresh rate-limit buckets), once the bot has seen it."""
    channel_id = fake.add_text_channel(name)
    await fake.wait_for(lambda: bot.get_channel(int(channel_id)) is not None)
    return _text_channel(bot, channel_id)


def channel_posts(fake: FakeDiscord, channel: discord.abc.Snowflake) -> list[RecordedRequest]:
    """The message creations the fake received for ``channel``, oldest first."""
    path = f"/channels/{channel.id}/messages"
    return [r for r in fake.requests if r.method == "POST" and r.path == path]


def _text_channel(bot: FakeTestBot, channel_id: str) -> discord.TextChannel:
    channel = bot.get_channel(int(channel_id))
    assert isinstance(channel, discord.TextChannel)
    return channel


async def _imagine(fake: FakeDiscord, prompt: str) -> str:
    """Runs /imagine to the end; returns the id of its thread (that of the response message)."""
    interaction = await fake.run_command(
        "imagine",
        {"prompt": prompt, "image": "source"},
        attachments={"source": ("cat.png", _png(8, 8), "image/png")},
    )
    await interaction.wait_response()
    assert interaction.original is not None
    thread_id: str = interaction.original["id"]
    await fake.wait_for(lambda: fake.channel_messages(thread_id))  # the bot's note in the thread
    return thread_id


async def test_login_syncs_commands_and_identifies(fake: FakeDiscord, bot: FakeTestBot) -> None:
    assert bot.user is not None
    assert str(bot.user.id) == fake.bot_user["id"]
    assert bot.get_guild(int(fake.guild_id)) is not None
    synced = {command["name"]: command for command in fake.commands[None]}
    assert set(synced) == {
        "imagine",
        "panel",
        "perms",
        "slow",
        "team",
        "Describe message",
        "where",
    }
    assert synced["Describe message"]["type"] == 3
    assert fake.intents is not None
    assert fake.intents & discord.Intents(message_content=True).value
    paths = [request.path for request in fake.requests]
    assert paths.index("/users/@me") < paths.index(f"/applications/{fake.application_id}/commands")

    await bot.tree.sync()
    assert {c["name"]: c["id"] for c in fake.commands[None]} == {
        name: command["id"] for name, command in synced.items()
    }


async def test_slash_command_defers_edits_and_opens_a_thread(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    interaction = await fake.run_command(
        "imagine",
        {"prompt": "a cat", "image": "source"},
        attachments={"source": ("cat.png", _png(8, 8), "image/png")},
    )
    await interaction.wait_response()
    assert interaction.callback_type == 5
    original = interaction.original
    assert original is not None
    await fake.wait_for(lambda: fake.channel_messages(original["id"]))

    assert original["content"] == "Here you go"
    assert not original["flags"] & 128  # no longer loading
    assert len(interaction.original_edits) == 1
    [attachment] = original["attachments"]
    assert (attachment["filename"], attachment["width"], attachment["height"]) == (
        "result.png",
        4,
        3,
    )
    assert fake.attachment_bytes(attachment) == _png()
    [embed] = original["embeds"]
    assert embed["title"] == "a cat"
    assert embed["image"]["url"] == attachment["url"]
    assert embed["description"] == f"from cat.png ({len(_png(8, 8))} bytes)"

    thread = fake.threads[original["id"]]
    assert (thread["name"], thread["parent_id"]) == ("imagine a cat", fake.channel_id)
    [note] = fake.channel_messages(thread["id"])
    assert note["author"]["id"] == fake.bot_user["id"]
    assert thread["message_count"] == 1


async def test_a_thread_from_a_message_updates_that_message(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    starter = await _text_channel(bot, fake.channel_id).send("start a thread here")
    assert not starter.flags.has_thread
    thread = await starter.create_thread(name="from a message")
    await fake.wait_for(lambda: any(edit.message_id == starter.id for edit in bot.edits))
    [update] = [edit for edit in bot.edits if edit.message_id == starter.id]
    assert update.data["thread"]["id"] == str(thread.id)
    assert update.data["thread"]["member"]["user_id"] == fake.bot_user["id"]
    assert update.data["content"] == "start a thread here"  # the whole message, as for an edit
    assert update.message.flags.has_thread
    cached = discord.utils.get(bot.cached_messages, id=starter.id)
    assert cached is not None
    assert cached.flags.has_thread


async def test_user_message_in_thread_reaches_on_message(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    thread_id = await _imagine(fake, "a dog")
    data = _png(2, 2)
    posted = await fake.post_message(
        thread_id, "make it blue", author=fake.bob, attachments=[("ref.png", data, "image/png")]
    )
    await fake.wait_for(lambda: int(posted["id"]) in bot.received)

    message, contents = bot.received[int(posted["id"])]
    assert message.content == "make it blue"
    assert isinstance(message.channel, discord.Thread)
    assert str(message.author.id) == fake.bob["id"]
    assert contents == [data]


async def test_persistent_button_click(fake: FakeDiscord, bot: FakeTestBot) -> None:
    command = await fake.run_command("panel")
    await command.wait_response()
    assert command.original is not None

    click = await fake.click(command.original["id"], "test:ping", user=fake.bob)
    await click.wait_response()

    assert click.callback_type == 4
    assert click.ephemeral
    assert click.original is not None
    assert click.original["content"] == "pong"
    channel_ids = {message["id"] for message in fake.channel_messages(fake.channel_id)}
    assert click.original["id"] not in channel_ids


async def test_modal_opened_from_a_button_is_submitted(fake: FakeDiscord, bot: FakeTestBot) -> None:
    command = await fake.run_command("panel")
    await command.wait_response()
    assert command.original is not None

    opened = await fake.click(command.original["id"], "test:feedback")
    await opened.wait_response()
    assert opened.callback_type == 9
    assert opened.modal is not None
    assert opened.modal["title"] == "Feedback"

    submitted = await fake.submit_modal(opened, {"test:comment": "lovely"})
    await submitted.wait_response()
    assert submitted.original is not None
    assert submitted.original["content"] == "Thanks: lovely"


async def test_message_context_menu(fake: FakeDiscord, bot: FakeTestBot) -> None:
    posted = await fake.post_message(
        fake.channel_id, "look at this", attachments=[("a.png", _png(), "image/png")]
    )
    interaction = await fake.run_message_command("Describe message", posted["id"])
    await interaction.wait_response()
    assert interaction.original is not None
    assert interaction.original["content"] == "alice wrote 'look at this' with 1 file(s)"
    assert interaction.ephemeral


async def test_injected_403_surfaces_as_forbidden(fake: FakeDiscord, bot: FakeTestBot) -> None:
    message = await _text_channel(bot, fake.channel_id).send("thread me")
    fake.fail_next("POST", r"/messages/\d+/threads$", status=403, code=50013)

    with pytest.raises(discord.Forbidden) as raised:
        await message.create_thread(name="first try")
    assert raised.value.code == 50013

    thread = await message.create_thread(name="second try")  # the fault was used up
    assert str(thread.id) in fake.threads


async def test_denied_permission_gives_403_and_shows_in_app_permissions(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    channel_id = fake.add_text_channel("no-threads")
    fake.set_bot_permissions(channel_id, deny=CREATE_PUBLIC_THREADS)
    await fake.wait_for(lambda: bot.get_channel(int(channel_id)) is not None)
    channel = _text_channel(bot, channel_id)
    await fake.wait_for(lambda: not channel.permissions_for(channel.guild.me).create_public_threads)

    message = await channel.send("no threads here")
    with pytest.raises(discord.Forbidden):
        await message.create_thread(name="denied")

    interaction = await fake.run_command("perms", channel_id=channel_id)
    await interaction.wait_response()
    assert interaction.original is not None
    assert interaction.original["content"] == "threads=False"


def _long_custom_id_view() -> discord.ui.View:
    view = discord.ui.View()
    view.add_item(discord.ui.Button(label="Go", custom_id="job:" + "x" * 97))
    return view


@pytest.mark.parametrize(
    ("make_kwargs", "field"),
    [
        (lambda: {"content": "x" * 2001}, "content"),
        (lambda: {"embed": discord.Embed(title="t" * 257)}, "embeds.0.title"),
        (lambda: {"embed": discord.Embed(description="d" * 4097)}, "embeds.0.description"),
        (lambda: {"view": _long_custom_id_view()}, "components.0.components.0.custom_id"),
    ],
)
async def test_limits_are_enforced_and_recorded(
    fake: FakeDiscord,
    bot: FakeTestBot,
    make_kwargs: Callable[[], dict[str, Any]],
    field: str,
) -> None:
    channel = await new_text_channel(fake, bot, "limits")  # refusals count in the bucket too
    with pytest.raises(discord.HTTPException) as raised:
        await channel.send(**make_kwargs())
    assert (raised.value.status, raised.value.code) == (400, 50035)
    assert len(fake.violations) == 1
    assert field in fake.violations[0]
    fake.violations.clear()


V2 = 1 << 15


def _v2(*children: dict[str, Any], **payload: Any) -> dict[str, Any]:
    return {"flags": V2, "components": list(children), **payload}


def _text(content: str) -> dict[str, Any]:
    return {"type": 10, "content": content}


def _gallery(*names: str, description: str | None = None) -> dict[str, Any]:
    items: list[dict[str, Any]] = [{"media": {"url": f"attachment://{name}"}} for name in names]
    if description is not None:
        items[0]["description"] = description
    return {"type": 12, "items": items}


_BUTTON = {"type": 2, "style": 2, "label": "Go", "custom_id": "go"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        # Components V2 (Discord's component reference): no content or embeds beside them...
        (_v2(_text("hi"), content="legacy"), "content"),
        (_v2(_text("hi"), embeds=[{"title": "legacy"}]), "embeds"),
        # ...at most 40 components, nested ones included...
        (_v2({"type": 17, "components": [_text(f"{n}") for n in range(40)]}), "components"),
        (
            _v2(
                *({"type": 1, "components": [{**_BUTTON, "custom_id": f"b{n}"}]} for n in range(21))
            ),
            "components",
        ),
        # ...4,000 characters of text across all of them, button labels included...
        (_v2(_text("x" * 3000), _text("y" * 1001)), "components"),
        (
            _v2(_text("x" * 3990), {"type": 1, "components": [{**_BUTTON, "label": "l" * 20}]}),
            "components",
        ),
        # ...1 to 10 gallery items, alt text up to 1,024 characters, media that exists...
        (_v2(_gallery(*(f"{n}.png" for n in range(11)))), "components.0.items"),
        (_v2({"type": 12, "items": []}), "components.0.items"),
        (_v2(_gallery("missing.png")), "components"),
        # ...and containers hold only what may be inside them.
        (_v2({"type": 17, "components": [{"type": 17, "components": []}]}), "components.0"),
    ],
)
async def test_components_v2_limits_are_enforced(
    fake: FakeDiscord, bot: FakeTestBot, payload: dict[str, Any], field: str
) -> None:
    channel = await new_text_channel(fake, bot, "v2-limits")
    route = discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=channel.id)
    with pytest.raises(discord.HTTPException) as raised:
        await bot.http.request(route, json=payload)
    assert (raised.value.status, raised.value.code) == (400, 50035)
    assert len(fake.violations) == 1
    assert field in fake.violations[0]
    fake.violations.clear()


async def test_a_v2_gallery_shows_its_attachments_and_pings_like_content(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    channel = await new_text_channel(fake, bot, "v2-gallery")
    view = discord.ui.LayoutView()
    view.add_item(discord.ui.TextDisplay(f"<@{fake.alice['id']}> here it is"))
    gallery = discord.MediaGalleryItem("attachment://a.png", description="a" * 1024)
    view.add_item(discord.ui.MediaGallery(gallery))
    files = [discord.File(io.BytesIO(_png()), "a.png"), discord.File(io.BytesIO(_png()), "b.png")]
    await channel.send(view=view, files=files, allowed_mentions=NO_PINGS)
    stored = fake.channel_messages(str(channel.id))[-1]
    item = stored["components"][1]["items"][0]
    shown = stored["attachments"][0]
    assert (item["media"]["url"], item["media"]["attachment_id"]) == (shown["url"], shown["id"])
    # b.png is attached but no component shows it: invisible in a V2 message.
    (violation,) = fake.violations
    assert "'b.png' is not shown" in violation
    fake.violations.clear()
    # A mention in a text display pings like one in content.
    await channel.send(view=view, files=files[:1])
    assert any("would ping" in v for v in fake.violations)
    fake.violations.clear()


@pytest.mark.parametrize(
    ("command", "field"),
    [
        ({"name": "Imagine", "description": "d"}, "0.name"),
        ({"name": "two words", "description": "d"}, "0.name"),
        ({"name": "x", "description": ""}, "0.description"),
        ({"type": 3, "name": "Describe", "description": "no"}, "0.description"),
        (
            {
                "name": "x",
                "description": "d",
                "options": [
                    {"type": 3, "name": "a", "description": "d"},
                    {"type": 3, "name": "b", "description": "d", "required": True},
                ],
            },
            "0.options.1.required",
        ),
        (
            {"name": "x", "description": "d", "default_member_permissions": "manage"},
            "0.default_member_permissions",
        ),
    ],
)
def test_invalid_commands_are_named(command: dict[str, Any], field: str) -> None:
    assert [error.path for error in validate_commands([command])] == [field]


async def test_subcommands_follow_default_member_permissions_and_roles(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    owner = await fake.run_command("team show", {"note": "hi"}, user=fake.owner)
    await owner.wait_response()
    assert owner.original is not None
    assert owner.original["content"] == "hi: []"
    with pytest.raises(PermissionError, match="cannot use /team"):
        await fake.run_command("team show", {"note": "hi"}, user=fake.bob)
    with pytest.raises(ValueError, match="no subcommand 'hide'"):
        await fake.run_command("team hide", user=fake.owner)
    managers = fake.add_role("Managers", MANAGE_GUILD)
    await fake.wait_for(lambda: bot.guilds[0].get_role(int(managers)) is not None)
    fake.give_role(fake.bob, managers)
    bob = await fake.run_command("team show", {"note": "now"}, user=fake.bob)
    await bob.wait_response()
    assert bob.original is not None
    assert bob.original["content"] == "now: ['Managers']"


async def test_the_upload_limit_is_10_mib_per_file_and_interactions_say_so(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    limit = 10 * 1024 * 1024
    interaction = await fake.run_command("perms")
    await interaction.wait_response()
    guild = bot.get_guild(int(fake.guild_id))
    assert guild is not None
    assert bot.interactions[-1].filesize_limit == guild.filesize_limit == limit
    channel = await new_text_channel(fake, bot, "uploads")
    await channel.send(files=[discord.File(io.BytesIO(b"x" * limit), f"{n}.bin") for n in "ab"])
    with pytest.raises(discord.HTTPException) as raised:  # expected: not a violation
        await channel.send(file=discord.File(io.BytesIO(b"x" * (limit + 1)), "big.bin"))
    assert (raised.value.status, raised.value.code) == (413, 40005)


async def test_boosts_raise_the_upload_limit_everywhere(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    guild = bot.get_guild(int(fake.guild_id))
    assert guild is not None
    fake.set_upload_limit(50 * 1024 * 1024)
    try:
        await fake.wait_for(lambda: guild.filesize_limit == 50 * 1024 * 1024)  # GUILD_UPDATE
        interaction = await fake.run_command("perms")
        await interaction.wait_response()
        assert bot.interactions[-1].filesize_limit == 50 * 1024 * 1024
    finally:
        fake.set_upload_limit(10 * 1024 * 1024)
    await fake.wait_for(lambda: guild.filesize_limit == 10 * 1024 * 1024)


async def test_everyone_ping_is_a_violation_unless_suppressed(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    channel = _text_channel(bot, fake.channel_id)
    await channel.send("@everyone lunch is ready")
    assert len(fake.violations) == 1
    assert "would ping @everyone" in fake.violations[0]
    fake.violations.clear()

    await channel.send("@everyone lunch is ready", allowed_mentions=NO_PINGS)
    stored = fake.channel_messages(fake.channel_id)[-1]
    assert stored["allowed_mentions"] == {"parse": []}
    assert not stored["mention_everyone"]


async def test_archived_threads(fake: FakeDiscord, bot: FakeTestBot) -> None:
    thread_id = await _imagine(fake, "archive me")
    thread = bot.get_partial_messageable(int(thread_id), guild_id=int(fake.guild_id))

    fake.archive_thread(thread_id, locked=True)
    with pytest.raises(discord.HTTPException) as raised:
        await thread.send("in a locked thread")
    assert raised.value.code == 50083

    fake.archive_thread(thread_id)
    await thread.send("unarchives it")
    assert not fake.threads[thread_id]["thread_metadata"]["archived"]
    await fake.wait_for(lambda: bot.get_channel(int(thread_id)) is not None)

    fake.delete_channel(thread_id)
    with pytest.raises(discord.NotFound):
        await thread.send("gone")
    await fake.wait_for(lambda: bot.get_channel(int(thread_id)) is None)


async def test_late_response_is_a_violation(fake: FakeDiscord, bot: FakeTestBot) -> None:
    fake.interaction_deadline, bot.slow_delay = 0.05, 0.1
    try:
        interaction = await fake.run_command("slow")
        await fake.wait_for(lambda: bot.failures)
    finally:
        fake.interaction_deadline, bot.slow_delay = 3.0, 0.0
    assert bot.failures[0].code == 10062
    assert interaction.callback_type is None
    assert len(fake.violations) == 1
    assert "after dispatch" in fake.violations[0]
    fake.violations.clear()
    bot.failures.clear()


async def test_double_response_and_unknown_route_are_violations(
    fake: FakeDiscord, bot: FakeTestBot
) -> None:
    interaction = await fake.run_command("perms")
    await interaction.wait_response()
    callback = f"{fake.api_base_url}/interactions/{interaction.id}/{interaction.token}/callback"
    headers = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(callback, json={"type": 4, "data": {"content": "again"}}) as again:
            assert again.status == 400
            assert (await again.json())["code"] == 40060
        async with session.get(f"{fake.api_base_url}/nowhere", headers=headers) as unknown:
            assert unknown.status == 404
            assert unknown.headers["Content-Type"] == "application/json"
    assert len(fake.violations) == 2
    assert "second initial response" in fake.violations[0]
    assert "unknown route GET /nowhere" in fake.violations[1]
    fake.violations.clear()


async def test_bot_resumes_after_a_disconnect(fake: FakeDiscord, bot: FakeTestBot) -> None:
    identified = fake.identify_count
    await fake.disconnect_bot()
    await fake.wait_until_identified()
    assert fake.identify_count == identified  # RESUME, not a new IDENTIFY

    interaction = await fake.run_command("perms")
    await interaction.wait_response()


async def test_burst_of_concurrent_interactions(fake: FakeDiscord, bot: FakeTestBot) -> None:
    interactions = [await fake.run_command("perms") for _ in range(100)]
    await asyncio.gather(*(interaction.wait_response() for interaction in interactions))
    assert {interaction.callback_type for interaction in interactions} == {4}


async def test_missing_message_content_intent_closes_with_4014(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    strict = FakeDiscord(message_content_intent=False)
    await strict.start()
    try:
        _point_discord_py_at(monkeypatch, strict)
        refused = FakeTestBot()
        with pytest.raises(discord.PrivilegedIntentsRequired):
            await asyncio.wait_for(refused.start(strict.token), 5)
        await refused.close()
    finally:
        await strict.stop()
    assert strict.violations == [
        f"IDENTIFY asks for privileged intents {1 << 15} the application lacks"
    ]
