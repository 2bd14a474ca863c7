"""A protocol-faithful fake of Discord: REST API, gateway websocket and a loopback CDN.

It serves 127.0.0.1 with aiohttp so tests drive the real, unmodified discord.py client against
it (``discord.http.Route.BASE = fake.api_base_url`` and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)``). Wire format,
login sequence and limits: /work/shared/notes/discord-protocol.md.

The fake keeps a small world (a guild with text channels, threads, members and messages; more
guilds with ``add_guild``; outside them the bot's DMs, a group DM and a server that never
installed the bot, which members reach through their own installation of the app:
``install_for_user``),
answers like Discord (including its error JSON) and records every REST request in ``requests``
and every protocol violation it detects in ``violations``, so tests can assert there were none.
Tests act as users through the driver coroutines (``run_command``, ``click``, ``post_message``...).

REST answers follow Discord's rate limits (per-route buckets and the global limit, with their
headers; see discord_rate_limits): ``rate_limited`` lists every 429 the fake sent, so a test or a
benchmark can assert there was none. ``fail_next`` injects errors, dropped connections and
stalled answers.

Sharding as Discord does it (docs/events/gateway.mdx, "Sharding"): IDENTIFY may carry
``shard: [shard_id, num_shards]`` (4010 Invalid shard otherwise); such a session receives the
events of the guilds with ``(guild_id >> 22) % num_shards == shard_id`` only, and events without
a guild (DMs) only on shard 0. ``GET /gateway/bot`` recommends ``recommended_shards``.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import inspect
import io
import json
import mimetypes
import re
import secrets
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple
from urllib.parse import quote

from aiohttp import BodyPartReader, WSMsgType, web
from PIL import Image

from tests.fakes.discord_rate_limits import (
    VIA,
    MajorParameter,
    RateLimitedError,
    RateLimiter,
    RateLimitEvent,
    Scope,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator, Mapping

Json = dict[str, Any]
# How fail_next drops a connection: "close" (FIN: aiohttp raises ServerDisconnectedError) or
# "reset" (RST: ClientOSError, errno ECONNRESET).
Disconnect = Literal["close", "reset"]

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000
HEARTBEAT_INTERVAL_MS = 41_250
MAX_REQUEST_BYTES = 1 << 30
# Upload limit per file (docs/reference, "Uploading Files": "The default limit is 10 MiB"), and
# what server boosts raise it to (discord.py's Guild._PREMIUM_GUILD_LIMITS).
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
BOOSTED_UPLOAD_LIMITS = {2: 50 * 1024 * 1024, 3: 100 * 1024 * 1024}
BACKLOG_EVENTS = 10_000  # dispatches kept per gateway session for RESUME
SNOWFLAKE_TIME_SHIFT = 22  # a snowflake's time is above its lower 22 bits; shards split by it

# Permission bits (docs/topics/permissions).
CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
STREAM = 1 << 9
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
CONNECT = 1 << 20
SPEAK = 1 << 21
USE_VAD = 1 << 25
CHANGE_NICKNAME = 1 << 26
USE_APPLICATION_COMMANDS = 1 << 31
REQUEST_TO_SPEAK = 1 << 32
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
USE_EXTERNAL_STICKERS = 1 << 37
SEND_MESSAGES_IN_THREADS = 1 << 38
USE_EMBEDDED_ACTIVITIES = 1 << 39
ALL_PERMISSIONS = (1 << 51) - 1

# @everyone in a server created with Discord's defaults: 1071698660929, the value real servers
# report for their @everyone role (GET /guilds/{id}) and Discord-compatible servers (Spacebar,
# Yepcord) use as the default. Servers may grant @everyone less; see set_everyone_permissions.
EVERYONE_PERMISSIONS = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | STREAM
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | MENTION_EVERYONE
    | USE_EXTERNAL_EMOJIS
    | CONNECT
    | SPEAK
    | USE_VAD
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | REQUEST_TO_SPEAK
    | CREATE_PUBLIC_THREADS
    | CREATE_PRIVATE_THREADS
    | USE_EXTERNAL_STICKERS
    | SEND_MESSAGES_IN_THREADS
    | USE_EMBEDDED_ACTIVITIES
)
MODERATOR_PERMISSIONS = EVERYONE_PERMISSIONS | MANAGE_MESSAGES | MANAGE_THREADS
# The bot's managed role holds exactly what the README's invite link asks for.
BOT_PERMISSIONS = (
    SEND_MESSAGES
    | SEND_MESSAGES_IN_THREADS
    | CREATE_PUBLIC_THREADS
    | ATTACH_FILES
    | EMBED_LINKS
    | READ_MESSAGE_HISTORY
)

# What the recipients of a DM or group DM may do there (discord.py's Permissions._dm_permissions).
DM_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | ADD_REACTIONS
    | MENTION_EVERYONE
    | USE_EXTERNAL_EMOJIS
)
# ``app_permissions`` of an app that answers where only the member installed it (a server the
# bot is not in, a group DM): Discord's support article "Moderating Apps on Discord": such apps
# "don't have permissions to do anything other than send messages, including attachments and
# embeds" -- and those only as answers to the interaction.
USER_APP_PERMISSIONS = SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | USE_EXTERNAL_EMOJIS

# Rate limits a default FakeDiscord counts (in rate_limits.overruns) but does not enforce: the
# bot overwrites its slash commands at every start, and asks GET /gateway/bot how many shards to
# connect (discord.py's auto-sharding), and each end-to-end test starts a bot, while Discord
# allows 2 overwrites per 60 s per guild and 2 /gateway/bot per 5 s. Pass relaxed_limits=() to
# enforce every limit.
RELAXED_BY_DEFAULT: frozenset[str] = frozenset({"command-overwrite", "gateway-bot"})

# Gateway intents.
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15

# Application flags for an unverified bot with the privileged intents switched on.
APP_FLAG_PRESENCE_LIMITED = 1 << 13
APP_FLAG_GUILD_MEMBERS_LIMITED = 1 << 15
APP_FLAG_MESSAGE_CONTENT_LIMITED = 1 << 19

# Message flags.
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_HAS_THREAD = 1 << 5
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_COMPONENTS_V2 = 1 << 15
CREATE_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_COMPONENTS_V2
INTERACTION_FLAGS = CREATE_FLAGS | FLAG_EPHEMERAL
EDITABLE_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_COMPONENTS_V2

# Message types.
MESSAGE_DEFAULT = 0
MESSAGE_REPLY = 19
MESSAGE_CHAT_INPUT_COMMAND = 20
MESSAGE_CONTEXT_MENU_COMMAND = 23

# Interaction types and the callback types Discord accepts for each.
INTERACTION_COMMAND = 2
INTERACTION_COMPONENT = 3
INTERACTION_AUTOCOMPLETE = 4
INTERACTION_MODAL_SUBMIT = 5
CALLBACK_TYPES: dict[int, frozenset[int]] = {
    INTERACTION_COMMAND: frozenset({4, 5, 9}),
    INTERACTION_COMPONENT: frozenset({4, 5, 6, 7, 9}),
    INTERACTION_AUTOCOMPLETE: frozenset({8}),
    INTERACTION_MODAL_SUBMIT: frozenset({4, 5, 6, 7}),
}

THREAD_TYPES = frozenset({10, 11, 12})
DM_CHANNEL = 1
GROUP_DM_CHANNEL = 3
PRIVATE_CHANNEL_TYPES = frozenset({DM_CHANNEL, GROUP_DM_CHANNEL})
# Interaction context types, and the installation types (integration_types) of commands.
CONTEXT_GUILD, CONTEXT_BOT_DM, CONTEXT_PRIVATE_CHANNEL = 0, 1, 2
GUILD_INSTALL, USER_INSTALL = "0", "1"
# Follow-up messages an interaction may create where only a user installation authorized it
# (discord-api-docs, "User-Installed Apps General Availability", 2024-06-27: at most 5).
USER_APP_MAX_FOLLOWUPS = 5
THREAD_ARCHIVE_DURATIONS = frozenset({60, 1440, 4320, 10080})
SELECT_TYPES = frozenset({3, 5, 6, 7, 8})
V2_TOP_LEVEL_TYPES = frozenset({1, 9, 10, 12, 13, 14, 17})
CONTAINER_CHILD_TYPES = frozenset({1, 9, 10, 12, 13, 14})
MEDIA_TYPES = frozenset({11, 12, 13})  # thumbnail, media gallery, file: they show attachments
# Components V2 (docs/components/reference.mdx; docs.discord.food/resources/components): at
# most 40 components, nested ones included, and 4,000 characters of text across all of them.
V2_MAX_COMPONENTS = 40
V2_MAX_TEXT = 4000
ALL_MENTION_KINDS = ("users", "roles", "everyone")

# Which intent a session needs to receive an event (events not listed go to every session).
EVENT_INTENTS = {
    "CHANNEL_CREATE": INTENT_GUILDS,
    "CHANNEL_UPDATE": INTENT_GUILDS,
    "CHANNEL_DELETE": INTENT_GUILDS,
    "THREAD_CREATE": INTENT_GUILDS,
    "THREAD_UPDATE": INTENT_GUILDS,
    "THREAD_DELETE": INTENT_GUILDS,
    "GUILD_MEMBER_ADD": INTENT_GUILD_MEMBERS,
    "GUILD_MEMBER_UPDATE": INTENT_GUILD_MEMBERS,
    "GUILD_ROLE_CREATE": INTENT_GUILDS,
    "MESSAGE_CREATE": INTENT_GUILD_MESSAGES,
    "MESSAGE_UPDATE": INTENT_GUILD_MESSAGES,
    "MESSAGE_DELETE": INTENT_GUILD_MESSAGES,
}

_FILE_FIELD = re.compile(r"files\[(\d+)\]")
_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_EVERYONE_MENTION = re.compile(r"@(?:everyone|here)\b")


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    json: Any  # the parsed JSON body, or the payload_json of a multipart body
    files: list[UploadedFile]
    headers: dict[str, str]
    status: int = 0  # the status the fake answered with; 0: none (fail_next dropped it)
    received_at: float = field(default_factory=time.monotonic)


class FieldError(NamedTuple):
    path: str  # dotted, as in Discord's "errors" tree: "embeds.0.title"
    code: str
    message: str


class DiscordError(Exception):
    """An error answer in Discord's JSON shape; ``violation`` is recorded when set."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: Json | None = None,
        violation: str | None = None,
        extra: Json | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} (code {code}): {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.violation = violation
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> Json:
        body: Json = {"message": self.message, "code": self.code, **self.extra}
        if self.errors:
            body["errors"] = self.errors
        return body


class _BadBodyError(Exception):
    """A request body the fake cannot parse."""


def form_error(errors: list[FieldError], where: str) -> DiscordError:
    """400 Invalid Form Body (code 50035) with Discord's nested ``errors`` tree."""
    tree: Json = {}
    for error in errors:
        node = tree
        for part in error.path.split("."):
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append({"code": error.code, "message": error.message})
    details = "; ".join(f"{error.path}: {error.message}" for error in errors)
    return DiscordError(
        400, 50035, "Invalid Form Body", errors=tree, violation=f"{where}: {details}"
    )


def _unknown(what: str, code: int) -> DiscordError:
    return DiscordError(404, code, f"Unknown {what}")


def _missing_permissions() -> DiscordError:
    return DiscordError(403, 50013, "Missing Permissions")


def _thread_archived(status: int) -> DiscordError:
    """Discord's answer for writing in an archived thread (400) or a locked one (403)."""
    return DiscordError(status, 50083, "Thread is archived")


# ---------------------------------------------------------------------------------------------
# Payload validation (pure functions returning the problems found)


def _check_length(
    errors: list[FieldError], path: str, value: object, maximum: int, minimum: int = 0
) -> int:
    """Checks the length of an optional string or list; returns it (0 when absent)."""
    if value is None:
        if minimum > 0:
            errors.append(FieldError(path, "BASE_TYPE_REQUIRED", "This field is required"))
        return 0
    if not isinstance(value, str | list):
        errors.append(FieldError(path, "BASE_TYPE_BAD_TYPE", f"Bad type {type(value).__name__}"))
        return 0
    if not minimum <= len(value) <= maximum:
        message = (
            f"Must be {maximum} or fewer in length."
            if minimum == 0
            else f"Must be between {minimum} and {maximum} in length."
        )
        errors.append(FieldError(path, "BASE_TYPE_BAD_LENGTH", message))
    return len(value)


def _check_range(
    errors: list[FieldError], path: str, value: object, minimum: int, maximum: int
) -> None:
    if value is None:
        return
    if not isinstance(value, int) or not minimum <= value <= maximum:
        message = f"Must be between {minimum} and {maximum}."
        errors.append(FieldError(path, "NUMBER_TYPE_OUT_OF_RANGE", message))


def _is_chat_input_name(name: object) -> bool:
    """Discord's ``^[-_\\p{L}\\p{N}]{1,32}$``, lower case where a lower case variant exists."""
    return (
        isinstance(name, str)
        and 1 <= len(name) <= 32
        and all(char in "-_" or char.isalnum() for char in name)
        and name == name.lower()
    )


def validate_commands(commands: object) -> list[FieldError]:
    """Problems in a bulk-overwrite (PUT) application command list."""
    if not isinstance(commands, list):
        return [FieldError("_root", "BASE_TYPE_BAD_TYPE", "Expected a list of commands")]
    errors: list[FieldError] = []
    seen: set[tuple[object, str]] = set()
    for index, command in enumerate(commands):
        path = str(index)
        if not isinstance(command, dict):
            errors.append(FieldError(path, "BASE_TYPE_BAD_TYPE", "Expected an object"))
            continue
        command_type = command.get("type", 1)
        _validate_default_permissions(command.get("default_member_permissions"), path, errors)
        key = (command_type, str(command.get("name")))
        if key in seen:
            message = "Application command names must be unique"
            errors.append(
                FieldError(f"{path}.name", "APPLICATION_COMMANDS_DUPLICATE_NAME", message)
            )
        seen.add(key)
        _validate_reach(command, path, errors)
        if command_type == 1:
            _validate_name_and_description(command, path, errors)
            _validate_options(command.get("options") or [], f"{path}.options", errors)
        elif command_type in (2, 3):
            _validate_context_menu(command, path, errors)
            _validate_localizations(command, "name", path, errors, limit=32, name_rule=False)
        else:
            errors.append(FieldError(f"{path}.type", "BASE_TYPE_CHOICES", "Must be 1, 2 or 3."))
    for command_type, limit in ((1, 100), (2, 5), (3, 5)):
        if sum(1 for kind, _name in seen if kind == command_type) > limit:
            message = f"At most {limit} commands of type {command_type}"
            errors.append(FieldError("_root", "APPLICATION_COMMANDS_TOO_MANY", message))
    return errors


# Discord's locales (docs: Reference, "Locales"): the keys of *_localizations.
LOCALES = frozenset(
    [
        "id",
        "da",
        "de",
        "en-GB",
        "en-US",
        "es-ES",
        "es-419",
        "fr",
        "hr",
        "it",
        "lt",
        "hu",
        "nl",
        "no",
        "pl",
        "pt-BR",
        "ro",
        "fi",
        "sv-SE",
        "vi",
        "tr",
        "cs",
        "el",
        "bg",
        "ru",
        "uk",
        "hi",
        "th",
        "zh-CN",
        "ja",
        "zh-TW",
        "ko",
    ]
)


def _validate_reach(command: Json, path: str, errors: list[FieldError]) -> None:
    """``integration_types`` (0 guild install, 1 user install) and ``contexts`` (0 guild, 1 bot
    DM, 2 private channel): lists of distinct known values, or null for the defaults."""
    for key, known in (("integration_types", {0, 1}), ("contexts", {0, 1, 2})):
        value = command.get(key)
        if value is None:
            continue
        valid = (
            isinstance(value, list)
            and value
            and all(isinstance(v, int) and not isinstance(v, bool) and v in known for v in value)
            and len(set(value)) == len(value)
        )
        if not valid:
            message = f"Invalid {key} {value!r}: distinct values of {sorted(known)}"
            errors.append(FieldError(f"{path}.{key}", "BASE_TYPE_CHOICES", message))


def _validate_localizations(
    item: Json, key: str, path: str, errors: list[FieldError], *, limit: int, name_rule: bool
) -> None:
    """``{key}_localizations``: Discord locales to texts of 1-``limit`` characters, which
    follow the slash command name rules when ``name_rule``."""
    localizations = item.get(f"{key}_localizations")
    where = f"{path}.{key}_localizations"
    if localizations is None:
        return
    if not isinstance(localizations, dict):
        errors.append(FieldError(where, "DICT_TYPE_CONVERT", "Expected an object"))
        return
    for locale, text in localizations.items():
        if locale not in LOCALES:
            message = f"Invalid locale {locale!r}"
            errors.append(FieldError(f"{where}.{locale}", "LOCALE_INVALID", message))
        elif name_rule and not _is_chat_input_name(text):
            message = f"Invalid name {text!r}: 1-32 lower case letters, digits, - or _"
            errors.append(
                FieldError(f"{where}.{locale}", "APPLICATION_COMMAND_INVALID_NAME", message)
            )
        else:
            _check_length(errors, f"{where}.{locale}", text, limit, 1)


def _validate_default_permissions(value: object, path: str, errors: list[FieldError]) -> None:
    """A permission bit set as a string of digits (or an integer), or null."""
    if value is None or (isinstance(value, str) and value.isdigit()):
        return
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return
    message = f"Invalid permissions {value!r}: a bit set as a string of digits"
    errors.append(FieldError(f"{path}.default_member_permissions", "BASE_TYPE_BAD_INT", message))


def _validate_name_and_description(item: Json, path: str, errors: list[FieldError]) -> None:
    if not _is_chat_input_name(item.get("name")):
        message = f"Invalid name {item.get('name')!r}: 1-32 lower case letters, digits, - or _"
        errors.append(FieldError(f"{path}.name", "APPLICATION_COMMAND_INVALID_NAME", message))
    _check_length(errors, f"{path}.description", item.get("description"), 100, 1)
    _validate_localizations(item, "name", path, errors, limit=32, name_rule=True)
    _validate_localizations(item, "description", path, errors, limit=100, name_rule=False)


def _validate_context_menu(command: Json, path: str, errors: list[FieldError]) -> None:
    _check_length(errors, f"{path}.name", command.get("name"), 32, 1)
    if command.get("description"):
        message = "Context menu commands cannot have a description"
        errors.append(FieldError(f"{path}.description", "BASE_TYPE_BAD_LENGTH", message))
    if command.get("options"):
        message = "Context menu commands cannot have options"
        errors.append(FieldError(f"{path}.options", "BASE_TYPE_BAD_LENGTH", message))


def _validate_options(options: object, path: str, errors: list[FieldError]) -> None:
    _check_length(errors, path, options, 25)
    if not isinstance(options, list):
        return
    optional_seen = False
    names: set[str] = set()
    for index, option in enumerate(options):
        option_path = f"{path}.{index}"
        _validate_name_and_description(option, option_path, errors)
        name = str(option.get("name"))
        if name in names:
            message = "Option names must be unique"
            errors.append(FieldError(f"{option_path}.name", "DUPLICATE_OPTION_NAME", message))
        names.add(name)
        if option.get("type") in (1, 2):  # subcommand (group)
            _validate_options(option.get("options") or [], f"{option_path}.options", errors)
            continue
        required = bool(option.get("required"))
        if required and optional_seen:
            message = "Required options must be placed before non-required options"
            code = "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID"
            errors.append(FieldError(f"{option_path}.required", code, message))
        optional_seen = optional_seen or not required
        _validate_choices(option, option_path, errors)
        _check_range(errors, f"{option_path}.min_length", option.get("min_length"), 0, 6000)
        _check_range(errors, f"{option_path}.max_length", option.get("max_length"), 1, 6000)


def _validate_choices(option: Json, path: str, errors: list[FieldError]) -> None:
    choices = option.get("choices") or []
    _check_length(errors, f"{path}.choices", choices, 25)
    for index, choice in enumerate(choices):
        _check_length(errors, f"{path}.choices.{index}.name", choice.get("name"), 100, 1)
        where = f"{path}.choices.{index}"
        _validate_localizations(choice, "name", where, errors, limit=100, name_rule=False)
        if isinstance(choice.get("value"), str):
            _check_length(errors, f"{path}.choices.{index}.value", choice["value"], 100, 1)
    if choices and option.get("autocomplete"):
        message = "Autocomplete options cannot have choices"
        errors.append(FieldError(f"{path}.autocomplete", "BASE_TYPE_BAD_INPUT", message))


def validate_message_payload(payload: Json, *, flags: int) -> list[FieldError]:
    """Problems in a create/edit message body (content, embeds, components, mentions)."""
    errors: list[FieldError] = []
    _check_length(errors, "content", payload.get("content"), 2000)
    embeds = payload.get("embeds")
    if embeds:
        _validate_embeds(embeds, errors)
    components = payload.get("components")
    if components:
        _validate_components(components, errors, v2=bool(flags & FLAG_COMPONENTS_V2))
    _validate_allowed_mentions(payload.get("allowed_mentions"), errors)
    return errors


def _validate_embeds(embeds: object, errors: list[FieldError]) -> None:
    _check_length(errors, "embeds", embeds, 10)
    if not isinstance(embeds, list):
        return
    total = 0
    for index, embed in enumerate(embeds):
        path = f"embeds.{index}"
        total += _check_length(errors, f"{path}.title", embed.get("title"), 256)
        total += _check_length(errors, f"{path}.description", embed.get("description"), 4096)
        fields = embed.get("fields") or []
        _check_length(errors, f"{path}.fields", fields, 25)
        for number, embed_field in enumerate(fields):
            field_path = f"{path}.fields.{number}"
            total += _check_length(errors, f"{field_path}.name", embed_field.get("name"), 256, 1)
            total += _check_length(errors, f"{field_path}.value", embed_field.get("value"), 1024, 1)
        footer = embed.get("footer") or {}
        total += _check_length(errors, f"{path}.footer.text", footer.get("text"), 2048)
        author = embed.get("author") or {}
        total += _check_length(errors, f"{path}.author.name", author.get("name"), 256)
    if total > 6000:
        message = f"Embed size exceeds maximum size of 6000 ({total})"
        errors.append(FieldError("embeds", "MAX_EMBED_SIZE_EXCEEDED", message))


def _validate_allowed_mentions(allowed: object, errors: list[FieldError]) -> None:
    if allowed is None:
        return
    if not isinstance(allowed, dict):
        errors.append(FieldError("allowed_mentions", "BASE_TYPE_BAD_TYPE", "Expected an object"))
        return
    parse = allowed.get("parse") or []
    for kind in ("users", "roles"):
        if kind in parse and allowed.get(kind):
            message = f'parse ["{kind}"] and {kind} [ids] are mutually exclusive'
            errors.append(FieldError(f"allowed_mentions.{kind}", "BASE_TYPE_BAD_INPUT", message))
        _check_length(errors, f"allowed_mentions.{kind}", allowed.get(kind), 100)


def legacy_fields_with_v2(message: Json) -> list[FieldError]:
    """A components-v2 message cannot carry content or embeds."""
    if not message.get("flags", 0) & FLAG_COMPONENTS_V2:
        return []
    code = "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2"
    message_text = "The content and embeds fields cannot be used with components v2"
    return [
        FieldError(key, code, message_text) for key in ("content", "embeds") if message.get(key)
    ]


@dataclass
class _ComponentCheck:
    errors: list[FieldError]
    custom_ids: set[str] = field(default_factory=set)
    count: int = 0
    text_length: int = 0  # every text a member reads: contents, labels, descriptions

    def text(self, value: object) -> None:
        self.text_length += len(value) if isinstance(value, str) else 0

    def custom_id(self, component: Json, path: str) -> None:
        custom_id = component.get("custom_id")
        _check_length(self.errors, f"{path}.custom_id", custom_id, 100, 1)
        if isinstance(custom_id, str):
            if custom_id in self.custom_ids:
                message = f"Duplicate custom_id {custom_id!r}"
                code = "COMPONENT_CUSTOM_ID_DUPLICATED"
                self.errors.append(FieldError(f"{path}.custom_id", code, message))
            self.custom_ids.add(custom_id)


def _validate_components(components: object, errors: list[FieldError], *, v2: bool) -> None:
    if not isinstance(components, list):
        errors.append(FieldError("components", "BASE_TYPE_BAD_TYPE", "Expected a list"))
        return
    check = _ComponentCheck(errors)
    if not v2:
        _check_length(errors, "components", components, 5)
    allowed = V2_TOP_LEVEL_TYPES if v2 else frozenset({1})
    for index, component in enumerate(components):
        path = f"components.{index}"
        if component.get("type") not in allowed:
            message = f"Top-level components must be of type {sorted(allowed)}"
            errors.append(FieldError(f"{path}.type", "UNION_TYPE_CHOICES", message))
            continue
        _validate_component(component, path, check)
    if v2 and check.count > V2_MAX_COMPONENTS:
        message = f"At most {V2_MAX_COMPONENTS} components in total ({check.count})"
        errors.append(FieldError("components", "BASE_TYPE_BAD_LENGTH", message))
    if v2 and check.text_length > V2_MAX_TEXT:
        message = f"Components hold at most {V2_MAX_TEXT} characters of text ({check.text_length})"
        errors.append(FieldError("components", "BASE_TYPE_BAD_LENGTH", message))


def _validate_component(component: Json, path: str, check: _ComponentCheck) -> None:
    check.count += 1
    component_type = component.get("type")
    if component_type == 1:
        _validate_action_row(component, path, check)
    elif component_type == 2:
        _validate_button(component, path, check)
    elif component_type in SELECT_TYPES:
        _validate_select(component, path, check)
    elif component_type == 9:
        _validate_section(component, path, check)
    elif component_type == 10:
        content = component.get("content")
        _check_length(check.errors, f"{path}.content", content, 4000, 1)
        check.text(content)
    elif component_type == 11:
        _validate_media(component, path, check)
    elif component_type == 12:
        items = component.get("items")
        _check_length(check.errors, f"{path}.items", items, 10, 1)
        for index, item in enumerate(items if isinstance(items, list) else []):
            _validate_media(item, f"{path}.items.{index}", check)
    elif component_type == 17:
        _validate_container(component, path, check)
    elif component_type not in (13, 14):  # file, separator: nothing to check
        message = f"Component type {component_type!r} is not valid in a message"
        check.errors.append(FieldError(f"{path}.type", "UNION_TYPE_CHOICES", message))


def _validate_container(container: Json, path: str, check: _ComponentCheck) -> None:
    _check_range(check.errors, f"{path}.accent_color", container.get("accent_color"), 0, 0xFFFFFF)
    children = container.get("components") or []
    _check_length(check.errors, f"{path}.components", children, V2_MAX_COMPONENTS, 1)
    for index, child in enumerate(children):
        child_path = f"{path}.components.{index}"
        if child.get("type") not in CONTAINER_CHILD_TYPES:
            message = f"A container holds components of types {sorted(CONTAINER_CHILD_TYPES)}"
            check.errors.append(FieldError(f"{child_path}.type", "UNION_TYPE_CHOICES", message))
            continue
        _validate_component(child, child_path, check)


def _validate_media(item: Json, path: str, check: _ComponentCheck) -> None:
    """A thumbnail or a media gallery item: an unfurled media item and its alt text."""
    media = item.get("media")
    url = media.get("url") if isinstance(media, dict) else None
    if not isinstance(url, str) or not url:
        message = "A media item needs media.url (a URL or attachment://<filename>)"
        check.errors.append(FieldError(f"{path}.media.url", "BASE_TYPE_REQUIRED", message))
    description = item.get("description")
    _check_length(check.errors, f"{path}.description", description, 1024)
    check.text(description)


def _validate_action_row(row: Json, path: str, check: _ComponentCheck) -> None:
    children = row.get("components") or []
    _check_length(check.errors, f"{path}.components", children, 5, 1)
    types = [child.get("type") for child in children]
    if any(kind in SELECT_TYPES for kind in types) and len(children) > 1:
        message = "A select menu must be alone in its action row"
        check.errors.append(
            FieldError(f"{path}.components", "COMPONENT_LAYOUT_WIDTH_EXCEEDED", message)
        )
    for index, child in enumerate(children):
        child_path = f"{path}.components.{index}"
        if child.get("type") != 2 and child.get("type") not in SELECT_TYPES:
            message = "Action rows in messages hold buttons or select menus"
            check.errors.append(FieldError(f"{child_path}.type", "UNION_TYPE_CHOICES", message))
            continue
        _validate_component(child, child_path, check)


def _validate_button(button: Json, path: str, check: _ComponentCheck) -> None:
    style = button.get("style")
    if style == 5:
        _check_length(check.errors, f"{path}.url", button.get("url"), 512, 1)
        if "custom_id" in button:
            message = "Link buttons cannot have a custom_id"
            check.errors.append(FieldError(f"{path}.custom_id", "BASE_TYPE_BAD_INPUT", message))
    elif style != 6:  # premium buttons carry a sku_id only
        check.custom_id(button, path)
    _check_length(check.errors, f"{path}.label", button.get("label"), 80)
    check.text(button.get("label"))
    if style != 6 and not button.get("label") and not button.get("emoji"):
        message = "A button needs a label or an emoji"
        check.errors.append(FieldError(f"{path}.label", "BUTTON_COMPONENT_NO_LABEL", message))


def _validate_select(select: Json, path: str, check: _ComponentCheck) -> None:
    check.custom_id(select, path)
    _check_length(check.errors, f"{path}.placeholder", select.get("placeholder"), 150)
    check.text(select.get("placeholder"))
    _check_range(check.errors, f"{path}.min_values", select.get("min_values"), 0, 25)
    _check_range(check.errors, f"{path}.max_values", select.get("max_values"), 1, 25)
    if select.get("type") != 3:
        return
    options = select.get("options") or []
    _check_length(check.errors, f"{path}.options", options, 25, 1)
    for index, option in enumerate(options):
        option_path = f"{path}.options.{index}"
        _check_length(check.errors, f"{option_path}.label", option.get("label"), 100, 1)
        _check_length(check.errors, f"{option_path}.value", option.get("value"), 100, 1)
        _check_length(check.errors, f"{option_path}.description", option.get("description"), 100)
        check.text(option.get("label"))
        check.text(option.get("description"))


def _validate_section(section: Json, path: str, check: _ComponentCheck) -> None:
    children = section.get("components") or []
    _check_length(check.errors, f"{path}.components", children, 3, 1)
    for index, child in enumerate(children):
        _validate_component(child, f"{path}.components.{index}", check)
    accessory = section.get("accessory")
    if not isinstance(accessory, dict) or accessory.get("type") not in (2, 11):
        message = "A section needs a button or thumbnail accessory"
        check.errors.append(FieldError(f"{path}.accessory", "BASE_TYPE_REQUIRED", message))
    else:
        _validate_component(accessory, f"{path}.accessory", check)


def validate_choices(choices: object) -> list[FieldError]:
    """An autocomplete answer: at most 25 choices, each named 1-100 characters, a string
    value at most 100 characters."""
    if not isinstance(choices, list):
        return [FieldError("data.choices", "BASE_TYPE_REQUIRED", "This field is required")]
    errors: list[FieldError] = []
    _check_length(errors, "data.choices", choices, 25)
    for index, choice in enumerate(choices):
        _check_length(errors, f"data.choices.{index}.name", choice.get("name"), 100, 1)
        if isinstance(choice.get("value"), str):
            _check_length(errors, f"data.choices.{index}.value", choice["value"], 100)
    return errors


def validate_modal(data: Json) -> list[FieldError]:
    """Problems in the ``data`` of a type-9 (modal) interaction callback."""
    errors: list[FieldError] = []
    check = _ComponentCheck(errors)
    check.custom_id(data, "data")
    _check_length(errors, "data.title", data.get("title"), 45, 1)
    components = data.get("components") or []
    _check_length(errors, "data.components", components, 5, 1)
    for index, component in enumerate(components):
        path = f"data.components.{index}"
        component_type = component.get("type")
        if component_type == 1:
            inner = component.get("components") or []
            if len(inner) != 1 or inner[0].get("type") != 4:
                message = "An action row in a modal holds exactly one text input"
                errors.append(FieldError(f"{path}.components", "MODAL_ROW_INVALID", message))
            else:
                _validate_text_input(inner[0], f"{path}.components.0", check, in_label=False)
        elif component_type == 18:
            _validate_label(component, path, check)
        elif component_type != 10:  # text displays need no check here
            message = f"Component type {component_type!r} is not valid at the top of a modal"
            errors.append(FieldError(f"{path}.type", "UNION_TYPE_CHOICES", message))
    return errors


def _validate_label(label: Json, path: str, check: _ComponentCheck) -> None:
    _check_length(check.errors, f"{path}.label", label.get("label"), 45, 1)
    _check_length(check.errors, f"{path}.description", label.get("description"), 100)
    inner = label.get("component") or {}
    if inner.get("type") == 4:
        _validate_text_input(inner, f"{path}.component", check, in_label=True)
    elif inner.get("type") in SELECT_TYPES:
        _validate_select(inner, f"{path}.component", check)
    else:
        message = "A label holds a text input or a select menu"
        check.errors.append(FieldError(f"{path}.component", "UNION_TYPE_CHOICES", message))


def _validate_text_input(
    text_input: Json, path: str, check: _ComponentCheck, *, in_label: bool
) -> None:
    check.custom_id(text_input, path)
    if not in_label:  # inside a label the label component carries the text
        _check_length(check.errors, f"{path}.label", text_input.get("label"), 45, 1)
    _check_range(check.errors, f"{path}.style", text_input.get("style"), 1, 2)
    _check_range(check.errors, f"{path}.min_length", text_input.get("min_length"), 0, 4000)
    _check_range(check.errors, f"{path}.max_length", text_input.get("max_length"), 1, 4000)
    _check_length(check.errors, f"{path}.value", text_input.get("value"), 4000)
    _check_length(check.errors, f"{path}.placeholder", text_input.get("placeholder"), 100)


def attachment_references(message: Json) -> list[FieldError]:
    """`attachment://name` media in V2 components must name one of the message's files."""
    if not message.get("flags", 0) & FLAG_COMPONENTS_V2:
        return []
    names = {attachment.get("filename") for attachment in message.get("attachments") or []}
    errors = []
    for media in _component_media(message.get("components") or []):
        url = media.get("url", "")
        if url.startswith("attachment://") and url.removeprefix("attachment://") not in names:
            message_text = f"{url} names no attachment of this message"
            errors.append(
                FieldError("components", "UNFURLED_MEDIA_ATTACHMENT_NOT_FOUND", message_text)
            )
    return errors


def _component_media(components: list[Json]) -> Iterator[Json]:
    """The unfurled media items of thumbnails, gallery items and files."""
    for component in walk_components(components):
        if component.get("type") not in MEDIA_TYPES:
            continue
        for holder in [component, *(component.get("items") or [])]:
            media = holder.get("media") if holder.get("type") != 13 else holder.get("file")
            if isinstance(media, dict):
                yield media


def _text_display_contents(components: list[Json]) -> list[str]:
    return [
        str(component.get("content") or "")
        for component in walk_components(components)
        if component.get("type") == 10
    ]


def walk_components(components: list[Json]) -> Iterator[Json]:
    """Every component in a message or modal tree, depth first."""
    for component in components:
        yield component
        yield from walk_components(component.get("components") or [])
        for key in ("component", "accessory"):
            if isinstance(component.get(key), dict):
                yield from walk_components([component[key]])


@dataclass
class _Pings:
    users: list[str]
    roles: list[str]
    everyone: bool
    unintended: list[str]  # pings the sender did not ask for by id


def _pings(content: str, allowed: Json | None, *, can_mention_everyone: bool) -> _Pings:
    """Who a message notifies, given Discord's allowed_mentions rules (absent: parse all)."""
    users = list(dict.fromkeys(_USER_MENTION.findall(content)))
    roles = list(dict.fromkeys(_ROLE_MENTION.findall(content)))
    everyone = bool(_EVERYONE_MENTION.search(content))
    parse = set(ALL_MENTION_KINDS if allowed is None else allowed.get("parse") or [])
    explicit_users = set((allowed or {}).get("users") or [])
    explicit_roles = set((allowed or {}).get("roles") or [])
    users = [user for user in users if "users" in parse or user in explicit_users]
    # Roles here are not mentionable, so only a member with MENTION_EVERYONE pings them.
    roles = [
        role
        for role in roles
        if can_mention_everyone and ("roles" in parse or role in explicit_roles)
    ]
    everyone = everyone and can_mention_everyone and "everyone" in parse
    unintended = [f"<@{user}>" for user in users if user not in explicit_users]
    unintended += [f"<@&{role}>" for role in roles if role not in explicit_roles]
    if everyone:
        unintended.append("@everyone/@here")
    return _Pings(users, roles, everyone, unintended)


def _image_size(data: bytes) -> tuple[int, int] | None:
    if not data.startswith((b"\x89PNG", b"\xff\xd8", b"GIF8", b"RIFF")):
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def _normalized_embeds(embeds: list[Json] | None) -> list[Json]:
    """Copies (media links get rewritten later) with Discord's default type."""
    return [{**embed, "type": embed.get("type", "rich")} for embed in embeds or []]


def _is_empty(message: Json) -> bool:
    keys = ("content", "embeds", "attachments", "components", "poll", "sticker_items")
    return not any(message.get(key) for key in keys)


def _partial_member(member: Json) -> Json:
    return {key: value for key, value in member.items() if key != "user"}


def _user(user_id: str, username: str, *, bot: bool = False) -> Json:
    user: Json = {
        "id": user_id,
        "username": username,
        "global_name": None if bot else username.title(),
        "discriminator": "0",
        "avatar": None,
        "banner": None,
        "accent_color": None,
        "public_flags": 0,
        "flags": 0,
        "avatar_decoration_data": None,
    }
    if bot:
        user["bot"] = True
    return user


def _role(role_id: str, name: str, permissions: int, position: int, **extra: Any) -> Json:
    return {
        "id": role_id,
        "name": name,
        "permissions": str(permissions),
        "position": position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "managed": False,
        "mentionable": False,
        "icon": None,
        "unicode_emoji": None,
        "flags": 0,
        **extra,
    }


def _valid_shard(shard: object) -> bool:
    """IDENTIFY's ``shard``: [shard_id, num_shards], 0 <= shard_id < num_shards."""
    return (
        isinstance(shard, list)
        and len(shard) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) for n in shard)
        and 0 <= shard[0] < shard[1]
    )


def _apply_overwrite(permissions: int, overwrite: Json | None) -> int:
    if overwrite is None:
        return permissions
    return (permissions & ~int(overwrite["deny"])) | int(overwrite["allow"])


def _premium_tier(upload_limit: int) -> int:
    """The boost tier whose upload limit discord.py's ``Guild.filesize_limit`` reports: 10 MiB
    without boosts (and at tier 1), 50 MiB at tier 2, 100 MiB at tier 3."""
    if upload_limit >= BOOSTED_UPLOAD_LIMITS[3]:
        return 3
    return 2 if upload_limit >= BOOSTED_UPLOAD_LIMITS[2] else 0


def _json_response(
    status: int, body: object, headers: dict[str, str] | None = None
) -> web.Response:
    if body is None:
        return web.Response(status=status)
    # Exactly "application/json": discord.py compares the whole header (no charset).
    return web.Response(
        status=status,
        body=_dumps(body).encode(),
        content_type="application/json",
        headers=headers,
    )


def _parse_json(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    if content_type != "application/json":
        raise _BadBodyError(f"body sent as {content_type!r}, not application/json")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise _BadBodyError(f"invalid JSON: {exc}") from None


async def _read_multipart(request: web.Request) -> tuple[Any, dict[int, UploadedFile]]:
    payload: Any = None
    uploads: dict[int, UploadedFile] = {}
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise _BadBodyError("nested multipart bodies are not accepted")
        if part.name == "payload_json":
            payload = _parse_json(bytes(await part.read()), "application/json")
            continue
        match = _FILE_FIELD.fullmatch(part.name or "")
        if match is None or part.filename is None:
            raise _BadBodyError(f"unexpected multipart field {part.name!r}")
        content_type = part.headers.get("Content-Type", "application/octet-stream")
        uploads[int(match[1])] = UploadedFile(part.filename, content_type, bytes(await part.read()))
    return payload, uploads


def _major_value(major: MajorParameter | None, params: Mapping[str, str]) -> str | None:
    """The top-level resource a route's bucket counts per (None: per bot)."""
    if major == "webhook":
        return f"{params['app']}/{params['token']}"
    return params.get(major) if major is not None else None


def _drop_connection(request: web.Request, how: Disconnect) -> web.Response:
    """Closes the client's connection without an answer (the returned response goes nowhere)."""
    transport = request.transport
    if transport is not None:
        if how == "reset":  # linger 0: close() sends RST instead of FIN
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        else:
            transport.close()
    return web.Response(status=204)


def _describe(predicate: Callable[[], object]) -> str:
    try:
        return inspect.getsource(predicate).strip()
    except (OSError, TypeError):
        return repr(predicate)


# ---------------------------------------------------------------------------------------------
# Gateway plumbing


class _Connection:
    """One gateway websocket. Frames are queued, so dispatching never awaits."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.session: _GatewaySession | None = None
        self.closed_by_server = False
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write_loop())

    def send(self, frame: str) -> None:
        self._outbox.put_nowait(frame)

    async def close(self, code: int, reason: str) -> None:
        self.closed_by_server = True
        self._outbox.put_nowait(None)
        await self.ws.close(code=code, message=reason.encode())

    async def finish(self) -> None:
        self._outbox.put_nowait(None)
        await self._writer

    async def _write_loop(self) -> None:
        while (frame := await self._outbox.get()) is not None:
            try:
                await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return


class _GatewaySession:
    """A gateway session. It outlives its connection so the client can RESUME it."""

    def __init__(self, session_id: str, intents: int, shard: tuple[int, int] | None) -> None:
        self.id = session_id
        self.intents = intents
        self.shard = shard  # (shard_id, num_shards); None: every guild
        self.seq = 0
        self.connection: _Connection | None = None
        self._backlog: deque[tuple[int, str]] = deque(maxlen=BACKLOG_EVENTS)

    def receives(self, guild_id: str | None) -> bool:
        """Whether Discord sends this session a guild's events (no guild: shard 0 only)."""
        if self.shard is None:
            return True
        shard_id, count = self.shard
        if guild_id is None:
            return shard_id == 0
        return (int(guild_id) >> SNOWFLAKE_TIME_SHIFT) % count == shard_id

    def dispatch(self, event: str, data: object) -> None:
        self.seq += 1
        frame = _dumps({"op": 0, "t": event, "s": self.seq, "d": data})
        self._backlog.append((self.seq, frame))
        if self.connection is not None:
            self.connection.send(frame)

    def resume(self, connection: _Connection, after_seq: object) -> bool:
        """Attaches ``connection`` and replays what came after ``after_seq``, if still kept."""
        if not isinstance(after_seq, int) or after_seq > self.seq:
            return False
        if self._backlog and self._backlog[0][0] > after_seq + 1:
            return False
        self.connection = connection
        for seq, frame in self._backlog:
            if seq > after_seq:
                connection.send(frame)
        return True


# ---------------------------------------------------------------------------------------------
# Interactions


class FakeInteraction:
    """One interaction the fake dispatched, and everything the bot answered to it."""

    def __init__(
        self,
        *,
        interaction_id: str,
        interaction_type: int,
        user: Json,
        channel_id: str,
        data: Json,
        message: Json | None,
        violations: list[str],
        context: int = 0,
        owners: Json | None = None,
        locale: str = "en-US",
    ) -> None:
        self.id = interaction_id
        self.token = secrets.token_urlsafe(48)
        self.type = interaction_type
        self.user = user
        self.channel_id = channel_id
        self.data = data
        self.message = message  # the message a component sits on
        self.context = context  # 0 a server, 1 the bot's DM, 2 a group DM or another DM
        self.owners: Json = owners or {}  # authorizing_integration_owners
        self.locale = locale  # the member's client language
        self.responded = asyncio.Event()
        self.callback_type: int | None = None
        self.ephemeral = False
        self.original: Json | None = None
        self.original_edits: list[Json] = []
        self.followups: list[Json] = []
        self.modal: Json | None = None
        self.choices: list[Json] | None = None  # an autocomplete's answer
        self.dispatched_at = time.monotonic()
        self._violations = violations

    def describe(self) -> str:
        name = self.data.get("name") or self.data.get("custom_id")
        return f"interaction {self.id} ({name!r}, type {self.type})"

    async def wait_response(self, timeout: float = 5) -> None:
        try:
            await asyncio.wait_for(self.responded.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"no response to {self.describe()} within {timeout}s; "
                f"violations: {self._violations}"
            ) from None


@dataclass
class _ApiCall:
    record: RecordedRequest
    uploads: dict[int, UploadedFile]
    params: dict[str, str] = field(default_factory=dict)
    fault: _Fault | None = None  # armed by fail_next for this call
    rate_headers: dict[str, str] = field(default_factory=dict)  # set once the call is admitted

    @property
    def body(self) -> Json:
        return self.record.json if isinstance(self.record.json, dict) else {}


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[_ApiCall], object]
    needs_auth: bool = True
    limit: str | None = None  # a key of DEFAULT_LIMITS; None: only the global limit applies
    interaction: bool = False  # an interaction endpoint: no bot token, exempt from the global limit


@dataclass
class _Guild:
    """One guild of the fake world: its roles and members (channels carry its id)."""

    id: str
    name: str
    roles: dict[str, Json] = field(default_factory=dict)
    members: dict[str, Json] = field(default_factory=dict)


@dataclass
class _Fault:
    """What ``FakeDiscord.fail_next`` arms: for the next ``remaining`` matching requests, wait
    ``stall`` seconds, then drop the connection or answer with an error (or normally)."""

    method: str
    pattern: re.Pattern[str]
    remaining: int
    status: int | None = None
    code: int = 0
    message: str = ""
    scope: Scope = "user"
    retry_after: float = 0.05
    disconnect: Disconnect | None = None
    handled: bool = False
    stall: float = 0.0

    def matches(self, record: RecordedRequest) -> bool:
        return self.method == record.method and self.pattern.search(record.path) is not None


# ---------------------------------------------------------------------------------------------
# The fake


class FakeDiscord:
    """Discord's REST API, gateway and CDN for a few guilds, on 127.0.0.1."""

    def __init__(
        self,
        *,
        token: str = "test-discord-token",
        message_content_intent: bool = True,
        upload_limit: int = DEFAULT_UPLOAD_LIMIT,
        members_intent: bool = True,
        rate_limits: bool = True,
        relaxed_limits: Collection[str] = RELAXED_BY_DEFAULT,
    ) -> None:
        self.token = token
        self.message_content_intent = message_content_intent
        self.members_intent = members_intent
        self.upload_limit = upload_limit
        self.interaction_deadline = 3.0  # seconds to the initial response
        self.interaction_token_ttl = 15 * 60.0  # seconds the token works for follow-ups
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        # Per-route and global limits, adjustable per test (see discord_rate_limits).
        self.rate_limits = RateLimiter(enabled=rate_limits, relaxed=set(relaxed_limits))
        self.commands: dict[str | None, list[Json]] = {}
        self.threads: dict[str, Json] = {}
        self.interactions: dict[str, FakeInteraction] = {}
        self.intents: int | None = None  # of the last IDENTIFY
        self.identify_count = 0
        self.identified_shards: list[tuple[int, int] | None] = []  # each IDENTIFY's shard
        self.recommended_shards = 1  # what GET /gateway/bot recommends
        self.presence: Json | None = None  # the last presence update (op 3)
        self._last_snowflake = 0
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._channels: dict[str, Json] = {}
        self._deleted_channels: set[str] = set()
        self._guilds: dict[str, _Guild] = {}
        self._general_channels: dict[str, str] = {}  # guild -> its "general" channel
        self._thread_members: dict[str, set[str]] = {}
        self._messages: dict[str, Json] = {}  # every live message, ephemeral ones included
        self._channel_messages: dict[str, dict[str, Json]] = {}  # channel -> id -> message
        self._cdn: dict[str, UploadedFile] = {}
        self._command_ids: dict[tuple[str | None, int, str], str] = {}
        self._interactions_by_token: dict[str, FakeInteraction] = {}
        self._faults: list[_Fault] = []
        self._sessions: dict[str, _GatewaySession] = {}
        self._connections: set[_Connection] = set()
        self._identified = asyncio.Event()
        self._gateway_open = asyncio.Event()  # cleared: new connections wait for their HELLO
        self._gateway_open.set()
        self._stopping = asyncio.Event()  # ends stalled answers when the fake stops
        self._routes = self._build_routes()
        self._seed_world()

    # -- world ---------------------------------------------------------------------------------

    def _snowflake(self, shard: tuple[int, int] | None = None) -> str:
        """((ms - Discord epoch) << 22) | counter, strictly increasing; with ``shard``
        (shard_id, num_shards), an id whose guild would be on that shard."""
        value = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << SNOWFLAKE_TIME_SHIFT
        value = max(value, self._last_snowflake + 1)
        if shard is not None:
            shard_id, count = shard
            ms = -(-value >> SNOWFLAKE_TIME_SHIFT)  # the next whole millisecond at or after
            value = (ms + (shard_id - ms) % count) << SNOWFLAKE_TIME_SHIFT
        self._last_snowflake = value
        return str(value)

    def _seed_world(self) -> None:
        self.application_id = self._snowflake()
        self.bot_user = _user(self.application_id, "fakebot", bot=True)  # bot id == app id
        self.owner = _user(self._snowflake(), "owner")
        self.alice = _user(self._snowflake(), "alice")
        self.bob = _user(self._snowflake(), "bob")
        self.moderator = _user(self._snowflake(), "moderator")
        self.guild_id = self._new_guild("Fake Guild", self._snowflake()).id
        # The first guild's roles and members (most tests need no other guild).
        self._roles = self._guilds[self.guild_id].roles
        self._members = self._guilds[self.guild_id].members
        self.channel_id = self.add_text_channel("general")
        # Places the bot is not in: a server that never installed it and a group DM. Members
        # reach the bot there only through their own installation (``install_for_user``).
        self.foreign_guild_id = self._snowflake()
        self.foreign_channel_id = self._snowflake()
        self._channels[self.foreign_channel_id] = {
            **self._channels[self.channel_id],
            "id": self.foreign_channel_id,
            "guild_id": self.foreign_guild_id,
            "name": "elsewhere",
        }
        self.group_dm_id = self._snowflake()
        self._channels[self.group_dm_id] = {
            "id": self.group_dm_id,
            "type": GROUP_DM_CHANNEL,
            "name": None,
            "icon": None,
            "owner_id": self.alice["id"],
            "recipients": [self.alice, self.bob],
            "last_message_id": None,
            "flags": 0,
        }
        self.user_installs: set[str] = set()  # users who added the app to their account

    def _new_guild(self, name: str, guild_id: str) -> _Guild:
        """A guild with the default roles, the seeded users as members and the bot in it."""
        guild = self._guilds[guild_id] = _Guild(guild_id, name)
        moderator_role = self._snowflake()
        bot_role = self._snowflake()
        guild.roles.update(
            {
                guild_id: _role(guild_id, "@everyone", EVERYONE_PERMISSIONS, 0),
                moderator_role: _role(moderator_role, "Moderator", MODERATOR_PERMISSIONS, 1),
                bot_role: _role(
                    bot_role,
                    "fakebot",
                    BOT_PERMISSIONS,
                    2,
                    managed=True,
                    tags={"bot_id": self.application_id},
                ),
            }
        )
        for user, roles in (
            (self.owner, []),
            (self.alice, []),
            (self.bob, []),
            (self.moderator, [moderator_role]),
            (self.bot_user, [bot_role]),
        ):
            self._add_member(user, roles, guild)
        return guild

    def add_guild(self, name: str, *, shard: tuple[int, int] | None = None) -> str:
        """The bot joins another guild (with the same users, its own roles and a "general"
        channel; ``guild_channel`` names it); with ``shard`` (shard_id, num_shards), one whose
        id puts it on that shard. Returns its id."""
        guild = self._new_guild(name, self._snowflake(shard))
        channel_id = self.add_text_channel("general", guild_id=guild.id)
        self._general_channels[guild.id] = channel_id
        for session in self._sessions.values():
            if session.receives(guild.id):
                session.dispatch("GUILD_CREATE", self._guild_create_payload(guild, session.intents))
        return guild.id

    def guild_channel(self, guild_id: str) -> str:
        """The "general" text channel of a guild."""
        return self.channel_id if guild_id == self.guild_id else self._general_channels[guild_id]

    def _guild_of(self, channel_id: str) -> _Guild:
        """The guild a channel or thread belongs to (outside the bot's guilds: the first one,
        whose members stand for Discord's users there)."""
        channel = self.threads.get(channel_id) or self._channels.get(channel_id)
        if channel is None:
            raise _unknown("Channel", 10003)
        return self._guilds.get(channel.get("guild_id") or "", self._guilds[self.guild_id])

    def _member_anywhere(self, user_id: str) -> Json | None:
        """The user's member object in any guild (users are the same everywhere)."""
        for guild in self._guilds.values():
            if user_id in guild.members:
                return guild.members[user_id]
        return None

    def _add_member(self, user: Json, roles: list[str], guild: _Guild | None = None) -> Json:
        member: Json = {
            "user": user,
            "roles": roles,
            "joined_at": _now(),
            "nick": None,
            "avatar": None,
            "banner": None,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        (guild or self._guilds[self.guild_id]).members[user["id"]] = member
        return member

    def add_member(self, username: str, *, guild_id: str | None = None) -> Json:
        """A new ordinary member (of the first guild unless ``guild_id``); its user object."""
        guild = self._guilds[guild_id or self.guild_id]
        user = _user(self._snowflake(), username)
        member = self._add_member(user, [], guild)
        self._broadcast("GUILD_MEMBER_ADD", {**member, "guild_id": guild.id})
        return user

    def add_role(self, name: str, permissions: int = 0) -> str:
        """A new role (below the bot's); returns its id."""
        role_id = self._snowflake()
        self._roles[role_id] = _role(role_id, name, permissions, len(self._roles))
        self._broadcast(
            "GUILD_ROLE_CREATE", {"guild_id": self.guild_id, "role": self._roles[role_id]}
        )
        return role_id

    def give_role(self, user: Json, role_id: str) -> None:
        """The member gets the role (their next interactions and messages carry it)."""
        member = self._members[user["id"]]
        if role_id not in self._roles:
            raise ValueError(f"{role_id} is not a role of the fake guild")
        member["roles"] = [*member["roles"], role_id]
        self._broadcast("GUILD_MEMBER_UPDATE", {**member, "guild_id": self.guild_id})

    def add_text_channel(self, name: str, *, guild_id: str | None = None) -> str:
        channel_id = self._snowflake()
        guild_id = guild_id or self.guild_id
        channel: Json = {
            "id": channel_id,
            "type": 0,
            "guild_id": guild_id,
            "name": name,
            "position": sum(c.get("guild_id") == guild_id for c in self._channels.values()),
            "permission_overwrites": [],
            "parent_id": None,
            "topic": None,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "default_auto_archive_duration": 1440,
            "flags": 0,
        }
        self._channels[channel_id] = channel
        self._broadcast("CHANNEL_CREATE", channel)
        return channel_id

    def install_for_user(self, user: Json) -> None:
        """The member adds the app to their account (a user installation)."""
        self.user_installs.add(user["id"])

    def dm_channel(self, user: Json) -> str:
        """The DM between ``user`` and the bot (created on first use, like Discord's)."""
        for channel in self._channels.values():
            if channel["type"] == DM_CHANNEL and channel["recipients"][0]["id"] == user["id"]:
                return str(channel["id"])
        channel_id = self._snowflake()
        self._channels[channel_id] = {
            "id": channel_id,
            "type": DM_CHANNEL,
            "recipients": [user],
            "last_message_id": None,
            "flags": 0,
        }
        return channel_id

    def _guild_channels(self, guild_id: str) -> list[Json]:
        return [c for c in self._channels.values() if c.get("guild_id") == guild_id]

    def _in_guild(self, channel: Json) -> bool:
        """A channel (or thread) of one of the fake's guilds, the servers the bot is in."""
        return channel.get("guild_id") in self._guilds

    def _bot_sees(self, channel_id: str) -> bool:
        """Whether the bot gets gateway events of the channel: its guild's, and its own DMs."""
        channel = self.threads.get(channel_id) or self._channels.get(channel_id)
        return channel is not None and (self._in_guild(channel) or channel["type"] == DM_CHANNEL)

    def _permissions_elsewhere(self, user_id: str, channel: Json) -> int:
        """Outside the guild: a DM's recipients (the bot, in its own DMs) get DM permissions;
        in a server the bot is not in, the bot has none (its members have @everyone's)."""
        if channel["type"] in PRIVATE_CHANNEL_TYPES:
            recipients = {user["id"] for user in channel["recipients"]}
            if channel["type"] == DM_CHANNEL:
                recipients.add(self.bot_user["id"])
            return DM_PERMISSIONS if user_id in recipients else 0
        return 0 if user_id == self.bot_user["id"] else EVERYONE_PERMISSIONS

    def set_bot_permissions(self, channel_id: str, *, deny: int = 0, allow: int = 0) -> None:
        """Overwrites the bot's permissions in a text channel (threads inherit them)."""
        channel = self._channels.get(channel_id)
        if channel is None:
            raise ValueError(f"{channel_id} is not a text channel of the fake guild")
        bot_id = self.bot_user["id"]
        overwrites = [ow for ow in channel["permission_overwrites"] if ow["id"] != bot_id]
        if deny or allow:
            overwrites.append({"id": bot_id, "type": 1, "allow": str(allow), "deny": str(deny)})
        channel["permission_overwrites"] = overwrites
        self._broadcast("CHANNEL_UPDATE", channel)

    def set_everyone_permissions(self, permissions: int) -> None:
        """What @everyone may do in the server (Discord's default: EVERYONE_PERMISSIONS)."""
        role = self._roles[self.guild_id]
        role["permissions"] = str(permissions)
        self._broadcast("GUILD_ROLE_UPDATE", {"guild_id": self.guild_id, "role": role})

    def set_upload_limit(self, n: int) -> None:
        """The largest file the server accepts (each file of a request). Interactions report it
        as ``attachment_size_limit``; when it crosses a boost tier, GUILD_UPDATE tells
        discord.py's ``Guild.filesize_limit``. Limits between tiers are for tests only."""
        boosts_changed = _premium_tier(n) != _premium_tier(self.upload_limit)
        self.upload_limit = n
        if boosts_changed:
            for guild in self._guilds.values():
                self._broadcast("GUILD_UPDATE", self._guild_object(guild))

    def fail_next(
        self,
        method: str,
        path_regex: str,
        *,
        status: int | None = None,
        code: int = 0,
        message: str = "",
        times: int = 1,
        scope: Scope = "user",
        retry_after: float = 0.05,
        disconnect: Disconnect | None = None,
        handled: bool = False,
        stall: float = 0.0,
    ) -> None:
        """The next ``times`` REST calls whose path (re.search, no /api/v10) matches misbehave.

        ``status``: answer with that error (a 429 in Discord's shape, with ``scope`` and
        ``retry_after``). ``disconnect``: read the request, then drop the connection without an
        answer, ``"close"`` (FIN) or ``"reset"`` (RST); with ``handled`` the request takes effect
        first (a lost answer), without it the request is lost. ``stall``: wait that many seconds
        before answering (or dropping), to outlast a client's timeout.
        """
        if status is None and disconnect is None and not stall:
            raise ValueError("fail_next needs a status, a disconnect or a stall")
        if status is not None and disconnect is not None:
            raise ValueError("a dropped connection has no status")
        if handled and disconnect is None:
            raise ValueError("handled= only applies to a disconnect")
        self._faults.append(
            _Fault(
                method.upper(),
                re.compile(path_regex),
                times,
                status=status,
                code=code,
                message=message or (http.HTTPStatus(status).phrase if status else ""),
                scope=scope,
                retry_after=retry_after,
                disconnect=disconnect,
                handled=handled,
                stall=stall,
            )
        )

    @property
    def rate_limited(self) -> list[RateLimitEvent]:
        """Every 429 the fake sent (route limit, global limit or injected), oldest first."""
        return self.rate_limits.hits

    def delete_channel(self, channel_id: str) -> None:
        if channel_id in self.threads:
            thread = self.threads.pop(channel_id)
            self._deleted_channels.add(channel_id)
            keys = ("id", "guild_id", "parent_id", "type")
            self._broadcast("THREAD_DELETE", {key: thread[key] for key in keys})
            return
        channel = self._channels.pop(channel_id, None)
        if channel is None:
            raise KeyError(f"unknown channel {channel_id}")
        self._deleted_channels.add(channel_id)
        for thread_id in [t["id"] for t in self.threads.values() if t["parent_id"] == channel_id]:
            del self.threads[thread_id]
            self._deleted_channels.add(thread_id)
        self._broadcast("CHANNEL_DELETE", channel)  # clients drop the threads themselves

    def member_starts_thread(self, message_id: str, name: str, *, author: Json) -> Json:
        """A member starts a thread on a message (right-click, Create Thread)."""
        message = self.message(message_id)
        channel = self._text_channel_for_thread(message["channel_id"])
        thread = self._open_thread(
            channel, {"name": name}, thread_id=message_id, thread_type=11, owner=author["id"]
        )
        message["thread"] = thread
        message["flags"] |= FLAG_HAS_THREAD
        self._announce("MESSAGE_UPDATE", message)
        return thread

    def archive_thread(self, thread_id: str, *, locked: bool = False) -> None:
        """A moderator archives (and with ``locked`` also locks) a thread."""
        self._set_archived(self.threads[thread_id], archived=True, locked=locked)

    def lock_thread(self, thread_id: str) -> None:
        """A moderator locks a thread and leaves it active."""
        self._set_archived(self.threads[thread_id], archived=False, locked=True)

    def _set_archived(self, thread: Json, *, archived: bool, locked: bool | None = None) -> None:
        metadata = thread["thread_metadata"]
        metadata["archived"] = archived
        metadata["archive_timestamp"] = _now()
        if locked is not None:
            metadata["locked"] = locked
        self._broadcast("THREAD_UPDATE", thread)

    def _permissions(self, user_id: str, channel_id: str) -> int:
        """A member's permissions in a channel (threads use their parent's overwrites)."""
        outside = self._channels.get(channel_id)
        if outside is not None and not self._in_guild(outside):
            return self._permissions_elsewhere(user_id, outside)
        if user_id == self.owner["id"]:
            return ALL_PERMISSIONS
        guild = self._guild_of(channel_id)
        member = guild.members.get(user_id)
        if member is None:
            return 0
        permissions = 0
        for role_id in (guild.id, *member["roles"]):
            permissions |= int(guild.roles[role_id]["permissions"])
        if permissions & ADMINISTRATOR:
            return ALL_PERMISSIONS
        thread = self.threads.get(channel_id)
        channel = self._channels[thread["parent_id"] if thread else channel_id]
        overwrites = {ow["id"]: ow for ow in channel["permission_overwrites"]}
        permissions = _apply_overwrite(permissions, overwrites.get(guild.id))
        role_allow = role_deny = 0
        for role_id in member["roles"]:
            if role_id in overwrites:
                role_allow |= int(overwrites[role_id]["allow"])
                role_deny |= int(overwrites[role_id]["deny"])
        permissions = (permissions & ~role_deny) | role_allow
        permissions = _apply_overwrite(permissions, overwrites.get(user_id))
        return permissions if permissions & VIEW_CHANNEL else 0

    def _bot_permissions(self, channel_id: str) -> int:
        return self._permissions(self.bot_user["id"], channel_id)

    def _require(self, channel_id: str, *needed: int) -> None:
        permissions = self._bot_permissions(channel_id)
        if not permissions & VIEW_CHANNEL:
            raise DiscordError(403, 50001, "Missing Access")
        if any(not permissions & bit for bit in needed):
            raise _missing_permissions()

    def _require_send(self, channel: Json, *, with_files: bool) -> None:
        send = SEND_MESSAGES_IN_THREADS if channel["type"] in THREAD_TYPES else SEND_MESSAGES
        self._require(channel["id"], send, *([ATTACH_FILES] if with_files else []))

    # -- recorded state --------------------------------------------------------------------------

    def channel_messages(self, channel_id: str) -> list[Json]:
        return list(self._channel_messages.get(channel_id, {}).values())

    def message(self, message_id: str) -> Json:
        try:
            return self._messages[message_id]
        except KeyError:
            raise KeyError(f"no live message {message_id} in the fake") from None

    def attachment_bytes(self, attachment: Json) -> bytes:
        return self._cdn[attachment["id"]].data

    # -- server --------------------------------------------------------------------------------

    def _require_port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeDiscord.start() has not been awaited")
        return self._port

    @property
    def http_base_url(self) -> str:
        return f"http://127.0.0.1:{self._require_port()}"

    @property
    def api_base_url(self) -> str:
        return self.http_base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._require_port()}/gateway"

    async def start(self, port: int = 0) -> None:
        """Serve on `port` (0: any free one)."""
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_get("/gateway", self._handle_gateway)
        app.router.add_get("/cdn/{attachment_id}/{filename}", self._handle_cdn)
        app.router.add_route("*", "/{tail:.*}", self._handle_http)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", port))
        await web.SockSite(self._runner, sock).start()
        self._port = sock.getsockname()[1]

    async def stop(self) -> None:
        self._gateway_open.set()
        self._stopping.set()
        for connection in list(self._connections):
            await connection.close(1001, "The fake is stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle_cdn(self, request: web.Request) -> web.StreamResponse:
        upload = self._cdn.get(request.match_info["attachment_id"])
        if upload is None or upload.filename != request.match_info["filename"]:
            self._violate(f"CDN request for a missing attachment: {request.path}")
            return web.Response(status=404, text="Not Found")
        return web.Response(body=upload.data, headers={"Content-Type": upload.content_type})

    def _violate(self, message: str) -> None:
        self.violations.append(message)

    # -- REST pipeline -------------------------------------------------------------------------

    def _build_routes(self) -> list[_Route]:
        guild = r"/guilds/(?P<guild>\d+)"
        channel = r"/channels/(?P<channel>\d+)"
        message = channel + r"/messages/(?P<message>\d+)"
        webhook = r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)"
        webhook_message = webhook + r"/messages/(?P<message>@original|\d+)"
        commands = r"/applications/(?P<app>\d+)(?:/guilds/(?P<guild>\d+))?/commands"
        thread_member = channel + r"/thread-members/(?P<user>@me|\d+)"
        callback = r"/interactions/(?P<interaction>\d+)/(?P<token>[^/]+)/callback"

        def route(
            method: str,
            path: str,
            handler: Callable[[_ApiCall], object],
            limit: str | None = None,
            *,
            needs_auth: bool = True,
            interaction: bool = False,
        ) -> _Route:
            return _Route(method, re.compile(path), handler, needs_auth, limit, interaction)

        def interaction_route(
            method: str, path: str, handler: Callable[[_ApiCall], object], limit: str | None
        ) -> _Route:
            return route(method, path, handler, limit, needs_auth=False, interaction=True)

        return [
            route("GET", r"/users/@me", self._get_current_user),
            route("GET", r"/users/(?P<user>\d+)", self._get_user, "user-get"),
            route("GET", r"/oauth2/applications/@me", self._get_application),
            route("GET", r"/gateway", self._get_gateway, needs_auth=False),
            route("GET", r"/gateway/bot", self._get_gateway_bot, "gateway-bot"),
            route("GET", commands, self._get_commands),
            route("PUT", commands, self._put_commands, "command-overwrite"),
            interaction_route("POST", callback, self._interaction_callback, None),
            interaction_route("POST", webhook, self._execute_webhook, "interaction-webhook"),
            interaction_route(
                "GET", webhook_message, self._get_webhook_message, "interaction-webhook"
            ),
            interaction_route(
                "PATCH", webhook_message, self._edit_webhook_message, "interaction-webhook"
            ),
            interaction_route(
                "DELETE", webhook_message, self._delete_webhook_message, "interaction-webhook"
            ),
            route("GET", guild, self._get_guild),
            route("GET", guild + "/channels", self._get_guild_channels),
            route("GET", guild + r"/members/(?P<user>\d+)", self._get_member, "member-get"),
            route("GET", channel, self._get_channel),
            route("PATCH", channel, self._edit_channel, "channel-edit"),
            route("DELETE", channel, self._delete_channel_route),
            route("GET", channel + "/messages", self._get_history, "message-history"),
            route("POST", channel + "/messages", self._create_channel_message, "message-create"),
            route("GET", message, self._get_channel_message, "message-get"),
            route("PATCH", message, self._edit_channel_message, "message-edit"),
            route("DELETE", message, self._delete_channel_message, "message-delete"),
            route("POST", channel + "/typing", self._typing, "typing"),
            route("POST", message + "/threads", self._thread_from_message, "thread-create"),
            route("POST", channel + "/threads", self._thread_without_message, "thread-create"),
            route("PUT", thread_member, self._add_thread_member, "thread-member"),
            route("DELETE", thread_member, self._remove_thread_member, "thread-member"),
        ]

    async def _handle_http(self, request: web.Request) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX + "/"):
            self._violate(f"request outside the API: {request.method} {request.path}")
            return _json_response(404, {"message": "404: Not Found", "code": 0})
        call, error = await self._read_call(request)
        self.requests.append(call.record)
        fault = call.fault = self._take_fault(call.record)
        if fault is not None and fault.stall:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), fault.stall)
            if self._stopping.is_set():  # the fake stopped meanwhile: no answer
                return _drop_connection(request, "close")
        if fault is not None and fault.disconnect and not fault.handled:
            return _drop_connection(request, fault.disconnect)
        status, body, headers = self._answer(call, error)
        if fault is not None and fault.disconnect:
            return _drop_connection(request, fault.disconnect)
        call.record.status = status
        return _json_response(status, body, {**headers, "Via": VIA})

    async def _read_call(self, request: web.Request) -> tuple[_ApiCall, DiscordError | None]:
        path = request.path.removeprefix(API_PREFIX)
        body: Any = None
        uploads: dict[int, UploadedFile] = {}
        error: DiscordError | None = None
        try:
            if request.content_type == "multipart/form-data":
                body, uploads = await _read_multipart(request)
            elif request.can_read_body:
                body = _parse_json(await request.read(), request.content_type)
        except _BadBodyError as exc:
            violation = f"{request.method} {path}: {exc}"
            error = DiscordError(
                400, 50109, "The request body contains invalid JSON.", violation=violation
            )
        record = RecordedRequest(
            request.method,
            path,
            dict(request.query),
            body,
            list(uploads.values()),
            dict(request.headers),
        )
        if error is None and any(len(up.data) > self.upload_limit for up in uploads.values()):
            # Expected to happen: the bot must handle it, so it is not a violation.
            error = DiscordError(413, 40005, "Request entity too large")
        return _ApiCall(record, uploads), error

    def _take_fault(self, record: RecordedRequest) -> _Fault | None:
        fault = next((fault for fault in self._faults if fault.matches(record)), None)
        if fault is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
        return fault

    def _answer(
        self, call: _ApiCall, error: DiscordError | None
    ) -> tuple[int, object, dict[str, str]]:
        """Status, body and headers for a request."""
        try:
            if error is not None:
                raise error
            status, body = self._dispatch_call(call)
        except RateLimitedError as exc:
            return 429, exc.body, exc.headers
        except DiscordError as exc:
            if exc.violation:
                self._violate(exc.violation)
            return exc.status, exc.body(), {**call.rate_headers, **exc.headers}
        except Exception as exc:
            # A body the fake cannot digest fails loudly, but not with a 500: discord.py
            # would retry that for half a minute.
            self._violate(f"{call.record.method} {call.record.path}: the fake failed: {exc!r}")
            return 400, {"message": "400: Bad Request", "code": 0}, call.rate_headers
        return status, body, call.rate_headers

    def _dispatch_call(self, call: _ApiCall) -> tuple[int, object]:
        """Routes one call: its rate limits, an injected error, then the route's handler."""
        route, call.params = self._route_for(call.record)
        call.rate_headers = self._admit(call, route)
        if call.fault is not None and call.fault.status is not None:
            raise self._fault_error(call.record, call.fault, call.rate_headers)
        result = route.handler(call)
        return (204, None) if result is None else (200, result)

    def _route_for(self, record: RecordedRequest) -> tuple[_Route, dict[str, str]]:
        for route in self._routes:
            if route.method != record.method:
                continue
            match = route.pattern.fullmatch(record.path)
            if match is None:
                continue
            if route.needs_auth:
                self._check_auth(record)
            params = {key: value for key, value in match.groupdict().items() if value is not None}
            return route, params
        violation = f"unknown route {record.method} {record.path} (not implemented by the fake?)"
        raise DiscordError(404, 0, "404: Not Found", violation=violation)

    def _admit(self, call: _ApiCall, route: _Route) -> dict[str, str]:
        """Counts the request against its route's bucket and the global limit."""
        major = None
        if route.limit is not None:
            major = _major_value(self.rate_limits.limits[route.limit].major, call.params)
        return self.rate_limits.admit(
            call.record.method,
            call.record.path,
            limit_name=route.limit,
            major=major,
            global_exempt=route.interaction,
        )

    def _fault_error(
        self, record: RecordedRequest, fault: _Fault, rate_headers: dict[str, str]
    ) -> Exception:
        assert fault.status is not None
        if fault.status != 429:
            return DiscordError(fault.status, fault.code, fault.message)
        headers = {} if fault.scope == "global" else dict(rate_headers)
        if fault.scope == "user" and headers:  # the bot's own bucket is empty; a shared limit
            headers["X-RateLimit-Remaining"] = "0"  # leaves the bot's count as it was
        return self.rate_limits.reject(
            record.method,
            record.path,
            scope=fault.scope,
            retry_after=fault.retry_after,
            code=fault.code,
            headers=headers,
        )

    def _check_auth(self, record: RecordedRequest) -> None:
        sent = next((v for k, v in record.headers.items() if k.lower() == "authorization"), None)
        if sent != f"Bot {self.token}":
            violation = (
                f"{record.method} {record.path}: Authorization header {sent!r} is not 'Bot <token>'"
            )
            raise DiscordError(401, 0, "401: Unauthorized", violation=violation)

    def _check_application(self, application_id: str) -> None:
        if application_id != self.application_id:
            violation = f"application id {application_id} is not the bot's ({self.application_id})"
            raise DiscordError(404, 10002, "Unknown Application", violation=violation)

    def _channel_or_404(self, channel_id: str) -> Json:
        channel = self.threads.get(channel_id) or self._channels.get(channel_id)
        if channel is None:
            raise _unknown("Channel", 10003)
        return channel

    def _channel_message_or_404(self, channel: Json, message_id: str) -> Json:
        message = self._channel_messages.get(channel["id"], {}).get(message_id)
        if message is None:
            raise _unknown("Message", 10008)
        return message

    # -- REST: users, application, gateway, guild ------------------------------------------------

    def _get_current_user(self, call: _ApiCall) -> object:
        return {**self.bot_user, "verified": True, "mfa_enabled": False, "locale": "en-US"}

    def _get_user(self, call: _ApiCall) -> object:
        member = self._member_anywhere(call.params["user"])
        if member is None:
            raise _unknown("User", 10013)
        return member["user"]

    def _application_flags(self) -> int:
        flags = APP_FLAG_PRESENCE_LIMITED
        if self.members_intent:
            flags |= APP_FLAG_GUILD_MEMBERS_LIMITED
        if self.message_content_intent:
            flags |= APP_FLAG_MESSAGE_CONTENT_LIMITED
        return flags

    def _get_application(self, call: _ApiCall) -> object:
        return {
            "id": self.application_id,
            "name": "Fake Bot",
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": self._application_flags(),
            "owner": self.owner,
            "team": None,
            "bot": self.bot_user,
            "hook": True,
            "rpc_origins": [],
            "redirect_uris": [],
            "tags": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": len(self._guilds),
            "integration_types_config": {"0": {}},
        }

    def _get_gateway(self, call: _ApiCall) -> object:
        return {"url": self.gateway_url}

    def _get_gateway_bot(self, call: _ApiCall) -> object:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return {
            "url": self.gateway_url,
            "shards": self.recommended_shards,
            "session_start_limit": limit,
        }

    def _guild_object(self, guild: _Guild) -> Json:
        return {
            "id": guild.id,
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": self.owner["id"],
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "roles": list(guild.roles.values()),
            "emojis": [],
            "stickers": [],
            "features": [],
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": _premium_tier(self.upload_limit),
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "max_members": 500_000,
        }

    def _guild_or_404(self, guild_id: str) -> _Guild:
        guild = self._guilds.get(guild_id)
        if guild is None:
            raise _unknown("Guild", 10004)
        return guild

    def _get_guild(self, call: _ApiCall) -> object:
        return self._guild_object(self._guild_or_404(call.params["guild"]))

    def _get_guild_channels(self, call: _ApiCall) -> object:
        guild = self._guild_or_404(call.params["guild"])
        return self._guild_channels(guild.id)

    def _get_member(self, call: _ApiCall) -> object:
        member = self._guild_or_404(call.params["guild"]).members.get(call.params["user"])
        if member is None:
            raise _unknown("Member", 10007)
        return member

    # -- REST: application commands ------------------------------------------------------------

    def _command_scope(self, call: _ApiCall) -> str | None:
        self._check_application(call.params["app"])
        guild = call.params.get("guild")
        if guild is not None and guild not in self._guilds:
            violation = f"commands for guild {guild}, which the bot is not in"
            raise DiscordError(403, 50001, "Missing Access", violation=violation)
        return guild

    def _get_commands(self, call: _ApiCall) -> object:
        return self.commands.get(self._command_scope(call), [])

    def _put_commands(self, call: _ApiCall) -> object:
        scope = self._command_scope(call)
        commands = call.record.json
        errors = validate_commands(commands)
        if errors:
            raise form_error(errors, f"command sync ({'global' if scope is None else 'guild'})")
        self.commands[scope] = [self._registered_command(scope, command) for command in commands]
        return self.commands[scope]

    def _registered_command(self, scope: str | None, command: Json) -> Json:
        command_type = command.get("type", 1)
        key = (scope, command_type, command["name"])
        if key not in self._command_ids:  # ids stay stable across syncs
            self._command_ids[key] = self._snowflake()
        registered: Json = {
            "description": "",
            "default_member_permissions": None,
            "nsfw": False,
            **command,
            "id": self._command_ids[key],
            "application_id": self.application_id,
            "version": self._snowflake(),
            "type": command_type,
        }
        if scope is not None:
            registered["guild_id"] = scope
        return registered

    # -- REST: interactions ----------------------------------------------------------------------

    def _interaction_callback(self, call: _ApiCall) -> object:
        interaction = self.interactions.get(call.params["interaction"])
        if interaction is None or interaction.token != call.params["token"]:
            violation = f"callback for unknown interaction {call.params['interaction']}"
            raise DiscordError(404, 10062, "Unknown interaction", violation=violation)
        if interaction.callback_type is not None:
            violation = f"second initial response to {interaction.describe()}"
            raise DiscordError(
                400, 40060, "Interaction has already been acknowledged.", violation=violation
            )
        age = time.monotonic() - interaction.dispatched_at
        if age > self.interaction_deadline:
            violation = (
                f"initial response to {interaction.describe()} came {age:.2f}s after dispatch "
                f"(limit {self.interaction_deadline}s)"
            )
            raise DiscordError(404, 10062, "Unknown interaction", violation=violation)
        callback_type = call.body.get("type")
        valid = CALLBACK_TYPES[interaction.type]
        if callback_type not in valid or (callback_type in (6, 7) and interaction.message is None):
            problem = f"Callback type {callback_type!r} is invalid for this interaction type"
            error = FieldError("type", "INTERACTION_RESPONSE_TYPE_INVALID", problem)
            raise form_error([error], f"callback to {interaction.describe()}")
        data = call.body.get("data") or {}
        message = self._answer_interaction(interaction, callback_type, data, call.uploads)
        interaction.callback_type = callback_type
        interaction.responded.set()
        return self._callback_body(interaction, callback_type, message)

    def _answer_interaction(
        self,
        interaction: FakeInteraction,
        callback_type: int,
        data: Json,
        uploads: dict[int, UploadedFile],
    ) -> Json | None:
        """Applies an initial response; returns the message it created or touched."""
        if callback_type == 4:
            interaction.original = self._create_interaction_message(
                interaction, data, uploads, followup=False
            )
        elif callback_type == 5:
            interaction.original = self._create_loading_message(interaction, data)
        elif callback_type == 6:
            interaction.original = interaction.message
        elif callback_type == 7:
            assert interaction.message is not None  # checked against CALLBACK_TYPES
            interaction.original = self._edit_message(interaction.message, data, uploads)
        elif callback_type == 8:
            errors = validate_choices(data.get("choices"))
            if errors:
                raise form_error(errors, f"autocomplete answer to {interaction.describe()}")
            interaction.choices = list(data["choices"])
            return None
        else:
            errors = validate_modal(data)
            if errors:
                raise form_error(errors, f"modal for {interaction.describe()}")
            interaction.modal = data
            return None
        interaction.ephemeral = bool(
            interaction.original and interaction.original["flags"] & FLAG_EPHEMERAL
        )
        return interaction.original

    def _callback_body(
        self, interaction: FakeInteraction, callback_type: int, message: Json | None
    ) -> Json:
        """The ``with_response`` answer (a 204 would crash discord.py's defer())."""
        summary: Json = {"id": interaction.id, "type": interaction.type}
        resource: Json = {"type": callback_type}
        if message is not None:
            summary["response_message_id"] = message["id"]
            summary["response_message_loading"] = bool(message["flags"] & FLAG_LOADING)
            summary["response_message_ephemeral"] = bool(message["flags"] & FLAG_EPHEMERAL)
            if callback_type != 6:
                resource["message"] = message
        return {"interaction": summary, "resource": resource}

    def _interaction_metadata(self, interaction: FakeInteraction, *, followup: bool) -> Json:
        metadata: Json = {
            "id": interaction.id,
            "type": interaction.type,
            "user": interaction.user,
            "authorizing_integration_owners": interaction.owners,
        }
        if interaction.type == INTERACTION_COMMAND:
            metadata["name"] = interaction.data["name"]
            metadata["command_type"] = interaction.data.get("type", 1)
        if interaction.message is not None:
            metadata["interacted_message_id"] = interaction.message["id"]
        if followup and interaction.original is not None:
            metadata["original_response_message_id"] = interaction.original["id"]
        return metadata

    def _interaction_message_type(self, interaction: FakeInteraction, *, followup: bool) -> int:
        if followup or interaction.type != INTERACTION_COMMAND:
            return MESSAGE_DEFAULT
        if interaction.data.get("type", 1) == 1:
            return MESSAGE_CHAT_INPUT_COMMAND
        return MESSAGE_CONTEXT_MENU_COMMAND

    def _create_interaction_message(
        self,
        interaction: FakeInteraction,
        payload: Json,
        uploads: dict[int, UploadedFile],
        *,
        followup: bool,
        flags: int | None = None,
    ) -> Json:
        channel = self._channel_or_404(interaction.channel_id)
        if flags is None:
            flags = (payload.get("flags") or 0) & INTERACTION_FLAGS
        message = self._compose(
            channel,
            self.bot_user,
            payload,
            uploads,
            flags=flags,
            message_type=self._interaction_message_type(interaction, followup=followup),
            extra={
                "webhook_id": self.application_id,
                "application_id": self.application_id,
                "interaction_metadata": self._interaction_metadata(interaction, followup=followup),
            },
        )
        self._post(message, ephemeral=bool(flags & FLAG_EPHEMERAL))
        return message

    def _create_loading_message(self, interaction: FakeInteraction, data: Json) -> Json:
        """The "<bot> is thinking..." message a type-5 (deferred) response creates."""
        flags = FLAG_LOADING | ((data.get("flags") or 0) & FLAG_EPHEMERAL)
        return self._create_interaction_message(interaction, {}, {}, followup=False, flags=flags)

    def _interaction_for_webhook(self, call: _ApiCall) -> FakeInteraction:
        self._check_application(call.params["app"])
        interaction = self._interactions_by_token.get(call.params["token"])
        if interaction is None:
            violation = "webhook call with an unknown interaction token"
            raise DiscordError(404, 10015, "Unknown Webhook", violation=violation)
        if time.monotonic() - interaction.dispatched_at > self.interaction_token_ttl:
            violation = f"{interaction.describe()}: token used after {self.interaction_token_ttl}s"
            raise DiscordError(401, 50027, "Invalid Webhook Token", violation=violation)
        if interaction.callback_type is None:
            violation = f"{interaction.describe()}: webhook call before the initial response"
            raise DiscordError(404, 10015, "Unknown Webhook", violation=violation)
        return interaction

    def _webhook_target(self, interaction: FakeInteraction, message_id: str) -> Json:
        if message_id == "@original":
            candidates = [interaction.original]
        else:
            candidates = [
                m
                for m in (interaction.original, *interaction.followups)
                if m and m["id"] == message_id
            ]
        for message in candidates:
            if message is not None and message["id"] in self._messages:
                return message
        raise _unknown("Message", 10008)

    def _execute_webhook(self, call: _ApiCall) -> object:
        interaction = self._interaction_for_webhook(call)
        if (
            GUILD_INSTALL not in interaction.owners
            and len(interaction.followups) >= USER_APP_MAX_FOLLOWUPS
        ):
            violation = (
                f"{interaction.describe()}: more than {USER_APP_MAX_FOLLOWUPS} follow-ups where "
                "only the member's installation authorized it"
            )
            # Discord documents the limit, not its error: the status and wording are the fake's.
            raise DiscordError(400, 0, "Too many follow-up messages", violation=violation)
        original = interaction.original
        if (
            original is not None
            and original["flags"] & FLAG_LOADING
            and original["id"] in self._messages
        ):
            # The first follow-up after a deferral fills in the loading message.
            message = self._edit_message(original, call.body, call.uploads)
        else:
            message = self._create_interaction_message(
                interaction, call.body, call.uploads, followup=True
            )
        interaction.followups.append(message)
        return message if call.record.query.get("wait") in ("1", "true", "True") else None

    def _get_webhook_message(self, call: _ApiCall) -> object:
        return self._webhook_target(self._interaction_for_webhook(call), call.params["message"])

    def _edit_webhook_message(self, call: _ApiCall) -> object:
        interaction = self._interaction_for_webhook(call)
        message = self._webhook_target(interaction, call.params["message"])
        updated = self._edit_message(message, call.body, call.uploads)
        if message is interaction.original:
            interaction.original_edits.append(call.body)
        return updated

    def _delete_webhook_message(self, call: _ApiCall) -> object:
        interaction = self._interaction_for_webhook(call)
        message = self._webhook_target(interaction, call.params["message"])
        self._require_deletable(message)
        self._remove_message(message)
        return None

    # -- REST: channels and messages -------------------------------------------------------------

    def _get_channel(self, call: _ApiCall) -> object:
        channel = self._channel_or_404(call.params["channel"])
        self._require(channel["id"])
        return channel

    def _edit_channel(self, call: _ApiCall) -> object:
        channel = self._channel_or_404(call.params["channel"])
        if channel["type"] in THREAD_TYPES:
            return self._edit_thread(channel, call.body)
        self._require(channel["id"], MANAGE_CHANNELS)
        errors: list[FieldError] = []
        _check_length(errors, "name", call.body.get("name", channel["name"]), 100, 1)
        _check_length(errors, "topic", call.body.get("topic"), 1024)
        if errors:
            raise form_error(errors, f"edit of channel {channel['id']}")
        for key in ("name", "topic", "nsfw", "rate_limit_per_user"):
            if key in call.body:
                channel[key] = call.body[key]
        self._broadcast("CHANNEL_UPDATE", channel)
        return channel

    def _edit_thread(self, thread: Json, body: Json) -> Json:
        metadata = thread["thread_metadata"]
        unarchiving = body.get("archived") is False
        if metadata["archived"] and not unarchiving:  # only active threads change
            raise _thread_archived(400)
        self._require_thread_edit(thread, body, unarchiving=unarchiving)
        errors: list[FieldError] = []
        _check_length(errors, "name", body.get("name", thread["name"]), 100, 1)
        duration = body.get("auto_archive_duration", metadata["auto_archive_duration"])
        if duration not in THREAD_ARCHIVE_DURATIONS:
            message = f"Must be one of {sorted(THREAD_ARCHIVE_DURATIONS)}"
            errors.append(FieldError("auto_archive_duration", "BASE_TYPE_CHOICES", message))
        if errors:
            raise form_error(errors, f"edit of thread {thread['id']}")
        for key in ("name", "rate_limit_per_user", "flags"):
            if key in body:
                thread[key] = body[key]
        for key in ("locked", "auto_archive_duration", "invitable"):
            if key in body:
                metadata[key] = body[key]
        if "archived" in body:
            metadata["archived"] = bool(body["archived"])
            metadata["archive_timestamp"] = _now()
        self._broadcast("THREAD_UPDATE", thread)
        return thread

    def _require_thread_edit(self, thread: Json, body: Json, *, unarchiving: bool) -> None:
        """docs/topics/threads.md, "Editing & Deleting Threads": locked, rate_limit_per_user
        (and invitable, flags) need Manage Threads; name, archiving and auto_archive_duration
        need it or being the thread's creator; unarchiving needs thread membership, and for a
        locked thread being its creator or Manage Threads."""
        bot_id = self.bot_user["id"]
        self._require(thread["id"])
        manages = bool(self._bot_permissions(thread["id"]) & MANAGE_THREADS)
        owns = thread["owner_id"] == bot_id
        moderator_keys = {"locked", "rate_limit_per_user", "invitable", "flags"}
        owner_keys = {"name", "auto_archive_duration"}
        if not manages and moderator_keys & body.keys():
            raise _missing_permissions()
        if not (manages or owns) and (owner_keys & body.keys() or body.get("archived") is True):
            raise _missing_permissions()
        if unarchiving and bot_id not in self._thread_members.get(thread["id"], set()):
            raise _missing_permissions()
        if unarchiving and thread["thread_metadata"]["locked"] and not (manages or owns):
            raise _missing_permissions()

    def _delete_channel_route(self, call: _ApiCall) -> object:
        channel = self._channel_or_404(call.params["channel"])
        is_thread = channel["type"] in THREAD_TYPES
        self._require(channel["id"], MANAGE_THREADS if is_thread else MANAGE_CHANNELS)
        self.delete_channel(channel["id"])
        return channel

    def _get_history(self, call: _ApiCall) -> object:
        channel = self._channel_or_404(call.params["channel"])
        self._require(channel["id"], READ_MESSAGE_HISTORY)
        query = call.record.query
        try:
            limit = int(query.get("limit", "50"))
            before, after = int(query.get("before", "0")), int(query.get("after", "0"))
        except ValueError:
            raise form_error(
                [FieldError("limit", "NUMBER_TYPE_COERCE", "Not an integer")], "history"
            ) from None
        if not 1 <= limit <= 100:
            raise form_error([FieldError("limit", "NUMBER_TYPE_MAX", "Must be 1-100")], "history")
        messages = self.channel_messages(channel["id"])
        if after:  # the oldest `limit` messages after `after`, newest first
            return list(reversed([m for m in messages if int(m["id"]) > after][:limit]))
        if before:
            messages = [m for m in messages if int(m["id"]) < before]
        return list(reversed(messages[-limit:]))

    def _create_channel_message(self, call: _ApiCall) -> object:
        channel = self._channel_or_404(call.params["channel"])
        self._require_send(channel, with_files=bool(call.uploads))
        payload = self._permitted_embeds(channel, call.body)
        if payload is not call.body and _is_empty({**payload, "attachments": call.uploads}):
            raise _missing_permissions()  # an embed-only message without Embed Links
        if payload.get("message_reference") is not None:
            self._require_history_for_reply(channel)
        reference = self._reply_reference(channel, payload.get("message_reference"))
        message = self._compose(
            channel,
            self.bot_user,
            payload,
            call.uploads,
            flags=(payload.get("flags") or 0) & CREATE_FLAGS,
            message_type=MESSAGE_REPLY if reference else MESSAGE_DEFAULT,
            extra=reference,
        )
        if payload.get("nonce") is not None:
            message["nonce"] = payload["nonce"]
        self._post(message)
        return message

    def _permitted_embeds(self, channel: Json, payload: Json) -> Json:
        """Without Embed Links Discord drops a bot's embeds and keeps the rest of the message
        (discord-api-docs#2601, #5648); the payload itself when nothing is dropped."""
        if not payload.get("embeds") or self._bot_permissions(channel["id"]) & EMBED_LINKS:
            return payload
        return {**payload, "embeds": []}

    def _require_history_for_reply(self, channel: Json) -> None:
        if not self._bot_permissions(channel["id"]) & READ_MESSAGE_HISTORY:
            raise DiscordError(
                403, 160002, "Cannot reply without permission to read message history"
            )

    def _reply_reference(self, channel: Json, reference: object) -> Json | None:
        if not isinstance(reference, dict):
            return None
        target = self._messages.get(str(reference.get("message_id")))
        if reference.get("type", 0) != 0:
            message = "The fake supports replies (type 0) only, not forwards"
            raise form_error(
                [FieldError("message_reference.type", "BASE_TYPE_CHOICES", message)], "reply"
            )
        if target is None or target["channel_id"] != channel["id"]:
            if reference.get("fail_if_not_exists") is False:
                return None
            error = FieldError(
                "message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
            )
            raise form_error([error], f"reply in channel {channel['id']}")
        referenced = {key: value for key, value in target.items() if key != "referenced_message"}
        return {
            "message_reference": {
                "type": 0,
                "message_id": target["id"],
                "channel_id": target["channel_id"],
                "guild_id": channel.get("guild_id"),
            },
            "referenced_message": referenced,
        }

    def _get_channel_message(self, call: _ApiCall) -> object:
        channel = self._channel_or_404(call.params["channel"])
        self._require(channel["id"], READ_MESSAGE_HISTORY)
        return self._channel_message_or_404(channel, call.params["message"])

    def _edit_channel_message(self, call: _ApiCall) -> object:
        channel = self._channel_or_404(call.params["channel"])
        self._require(channel["id"])  # a channel the bot cannot see: 403 Missing Access
        message = self._channel_message_or_404(channel, call.params["message"])
        if message["author"]["id"] != self.bot_user["id"]:
            violation = (
                f"edit of message {message['id']} written by {message['author']['username']}"
            )
            raise DiscordError(
                403, 50005, "Cannot edit a message authored by another user", violation=violation
            )
        return self._edit_message(message, self._permitted_embeds(channel, call.body), call.uploads)

    def _delete_channel_message(self, call: _ApiCall) -> object:
        channel = self._channel_or_404(call.params["channel"])
        self._require(channel["id"])
        message = self._channel_message_or_404(channel, call.params["message"])
        if message["author"]["id"] != self.bot_user["id"]:
            self._require(channel["id"], MANAGE_MESSAGES)
        self._require_deletable(message)
        self._remove_message(message)
        return None

    def _typing(self, call: _ApiCall) -> object:
        self._require_send(self._channel_or_404(call.params["channel"]), with_files=False)
        return None

    # -- REST: threads -------------------------------------------------------------------------

    def _text_channel_for_thread(self, channel_id: str) -> Json:
        channel = self._channel_or_404(channel_id)
        if channel["type"] not in (0, 5):
            violation = f"thread creation in channel {channel_id} of type {channel['type']}"
            raise DiscordError(
                400, 50024, "Cannot execute action on this channel type", violation=violation
            )
        return channel

    def _thread_from_message(self, call: _ApiCall) -> object:
        channel = self._text_channel_for_thread(call.params["channel"])
        message = self._channel_message_or_404(channel, call.params["message"])
        self._require(channel["id"], CREATE_PUBLIC_THREADS, READ_MESSAGE_HISTORY)
        if message["id"] in self.threads or message["id"] in self._deleted_channels:
            # Asking again for a thread the bot made itself is a bug; one a member started
            # first is a race the bot must handle.
            earlier = self.threads.get(message["id"])
            mine = earlier is None or earlier["owner_id"] == self.bot_user["id"]
            violation = f"second thread for message {message['id']}" if mine else None
            raise DiscordError(
                400,
                160004,
                "A thread has already been created for this message",
                violation=violation,
            )
        thread = self._open_thread(channel, call.body, thread_id=message["id"], thread_type=11)
        # Documented: "Fires a Thread Create and a Message Update Gateway event"; the message
        # gains the thread (with the creator's thread member) and the HAS_THREAD flag.
        message["thread"] = thread
        message["flags"] |= FLAG_HAS_THREAD
        self._announce("MESSAGE_UPDATE", message)
        return thread

    def _thread_without_message(self, call: _ApiCall) -> object:
        channel = self._text_channel_for_thread(call.params["channel"])
        thread_type = call.body.get("type", 12)
        if thread_type not in (11, 12):
            message = "The fake creates public (11) or private (12) threads"
            raise form_error([FieldError("type", "BASE_TYPE_CHOICES", message)], "thread creation")
        self._require(
            channel["id"], CREATE_PUBLIC_THREADS if thread_type == 11 else CREATE_PRIVATE_THREADS
        )
        return self._open_thread(
            channel, call.body, thread_id=self._snowflake(), thread_type=thread_type
        )

    def _open_thread(
        self,
        parent: Json,
        body: Json,
        *,
        thread_id: str,
        thread_type: int,
        owner: str | None = None,
    ) -> Json:
        errors: list[FieldError] = []
        _check_length(errors, "name", body.get("name"), 100, 1)
        duration = body.get("auto_archive_duration", parent["default_auto_archive_duration"])
        if duration not in THREAD_ARCHIVE_DURATIONS:
            message = f"Must be one of {sorted(THREAD_ARCHIVE_DURATIONS)}"
            errors.append(FieldError("auto_archive_duration", "BASE_TYPE_CHOICES", message))
        _check_range(errors, "rate_limit_per_user", body.get("rate_limit_per_user"), 0, 21600)
        if errors:
            raise form_error(errors, f"thread in channel {parent['id']}")
        now = _now()
        owner_id = owner or self.bot_user["id"]
        metadata: Json = {
            "archived": False,
            "auto_archive_duration": duration,
            "archive_timestamp": now,
            "locked": False,
            "create_timestamp": now,
        }
        if thread_type == 12:
            metadata["invitable"] = body.get("invitable", True)
        thread: Json = {
            "id": thread_id,
            "type": thread_type,
            "guild_id": parent["guild_id"],
            "parent_id": parent["id"],
            "owner_id": owner_id,
            "name": body["name"],
            "last_message_id": None,
            "rate_limit_per_user": body.get("rate_limit_per_user") or 0,
            "message_count": 0,
            "total_message_sent": 0,
            "member_count": 1,
            "flags": 0,
            "thread_metadata": metadata,
        }
        if owner_id == self.bot_user["id"]:  # the current user's thread member, when it is one
            thread["member"] = {"id": thread_id, "user_id": owner_id, "join_timestamp": now}
            thread["member"]["flags"] = 0
        self.threads[thread_id] = thread
        self._thread_members[thread_id] = {owner_id}
        self._broadcast("THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    def _thread_or_404(self, channel_id: str) -> Json:
        thread = self.threads.get(channel_id)
        if thread is None:
            raise _unknown("Channel", 10003)
        return thread

    def _active_thread_or_404(self, channel_id: str) -> Json:
        """Joining, leaving, adding and removing members need an active thread."""
        thread = self._thread_or_404(channel_id)
        if thread["thread_metadata"]["archived"]:
            raise _thread_archived(400)
        return thread

    def _add_thread_member(self, call: _ApiCall) -> object:
        thread = self._active_thread_or_404(call.params["channel"])
        user_id = call.params["user"]
        if user_id == "@me":
            user_id = self.bot_user["id"]
        else:
            self._require(thread["id"], SEND_MESSAGES_IN_THREADS)
        if user_id not in self._guilds[thread["guild_id"]].members:
            raise _unknown("User", 10013)
        self._join_thread(thread, user_id)
        return None

    def _remove_thread_member(self, call: _ApiCall) -> object:
        thread = self._active_thread_or_404(call.params["channel"])
        user_id = self.bot_user["id"] if call.params["user"] == "@me" else call.params["user"]
        if user_id != self.bot_user["id"]:
            self._require(thread["id"], MANAGE_THREADS)
        members = self._thread_members.setdefault(thread["id"], set())
        members.discard(user_id)
        thread["member_count"] = len(members)
        return None

    def _join_thread(self, thread: Json, user_id: str) -> None:
        members = self._thread_members.setdefault(thread["id"], set())
        members.add(user_id)
        thread["member_count"] = len(members)

    # -- message store ---------------------------------------------------------------------------

    def _compose(
        self,
        channel: Json,
        author: Json,
        payload: Json,
        uploads: dict[int, UploadedFile],
        *,
        flags: int,
        message_type: int,
        extra: Json | None = None,
    ) -> Json:
        """A validated new message (not stored yet); uploads go to the CDN."""
        where = f"message in channel {channel['id']}"
        errors = validate_message_payload(payload, flags=flags)
        if errors:
            raise form_error(errors, where)
        message: Json = {
            "id": self._snowflake(),
            "channel_id": channel["id"],
            "type": message_type,
            "content": payload.get("content") or "",
            "author": author,
            "attachments": self._attachments_for(payload, uploads, [], where),
            "embeds": _normalized_embeds(payload.get("embeds")),
            "components": payload.get("components") or [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": bool(payload.get("tts")),
            "timestamp": _now(),
            "edited_timestamp": None,
            "flags": flags,
            "allowed_mentions": payload.get("allowed_mentions"),
            **(extra or {}),
        }
        errors = legacy_fields_with_v2(message) + attachment_references(message)
        if errors:
            raise form_error(errors, where)
        if not flags & FLAG_LOADING and _is_empty(message):
            raise DiscordError(
                400, 50006, "Cannot send an empty message", violation=f"{where}: empty message"
            )
        self._set_mentions(message)
        self._link_embed_attachments(message)
        self._link_component_media(message, where)
        return message

    def _edit_message(self, message: Json, payload: Json, uploads: dict[int, UploadedFile]) -> Json:
        """Applies an edit in place (so every holder sees it) and dispatches MESSAGE_UPDATE."""
        self._require_writable(message, self.bot_user["id"], editing=True)
        where = f"edit of message {message['id']}"
        flags = message["flags"] & ~FLAG_LOADING
        if payload.get("flags") is not None:
            flags = (flags & ~EDITABLE_FLAGS) | (payload["flags"] & EDITABLE_FLAGS)
            flags |= message["flags"] & FLAG_COMPONENTS_V2  # cannot be switched off
        errors = validate_message_payload(payload, flags=flags)
        if errors:
            raise form_error(errors, where)
        changes: Json = {"flags": flags}
        if "content" in payload:
            changes["content"] = payload["content"] or ""
        if "embeds" in payload:
            changes["embeds"] = _normalized_embeds(payload["embeds"])
        if "components" in payload:
            changes["components"] = payload["components"] or []
        if "allowed_mentions" in payload:
            changes["allowed_mentions"] = payload["allowed_mentions"]
        if "attachments" in payload or uploads:
            changes["attachments"] = self._attachments_for(
                payload, uploads, message["attachments"], where
            )
        candidate = {**message, **changes}
        errors = legacy_fields_with_v2(candidate) + attachment_references(candidate)
        if errors:
            raise form_error(errors, where)
        if _is_empty(candidate):
            raise DiscordError(
                400, 50006, "Cannot send an empty message", violation=f"{where}: empty message"
            )
        was_loading = bool(message["flags"] & FLAG_LOADING)
        if not was_loading:
            changes["edited_timestamp"] = _now()
        message.update(changes)
        self._set_mentions(message)
        if was_loading:  # completing a deferred response notifies like a new message
            self._report_pings(message)
        self._link_embed_attachments(message)
        self._link_component_media(message, where)
        if message["id"] in self._channel_messages.get(message["channel_id"], {}):
            self._announce("MESSAGE_UPDATE", message)
        return message

    def _attachments_for(
        self, payload: Json, uploads: dict[int, UploadedFile], existing: list[Json], where: str
    ) -> list[Json]:
        """The attachment list: kept ones by snowflake id, new ones from files[n] by id n."""
        entries = payload.get("attachments")
        kept: list[Json] = []
        new: list[tuple[Json, UploadedFile]] = []
        errors: list[FieldError] = []
        if entries is None:
            kept = list(existing)
            new = [({}, uploads[index]) for index in sorted(uploads)]
        else:
            by_id = {attachment["id"]: attachment for attachment in existing}
            for number, entry in enumerate(entries):
                key = str(entry.get("id"))
                if key in by_id:
                    kept.append(by_id[key])
                elif key.isdigit() and int(key) in uploads:
                    new.append((entry, uploads[int(key)]))
                else:
                    message = f"No uploaded files[{key}] nor existing attachment with this id"
                    errors.append(
                        FieldError(f"attachments.{number}.id", "ATTACHMENT_NOT_FOUND", message)
                    )
            referenced = {str(entry.get("id")) for entry in entries}
            for index in sorted(uploads):
                if str(index) not in referenced:
                    self._violate(
                        f"{where}: files[{index}] is not referenced in payload_json.attachments"
                    )
        if len(kept) + len(new) > 10:
            errors.append(
                FieldError("attachments", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
            )
        if errors:
            raise form_error(errors, where)
        stored = [
            self._store_attachment(
                entry.get("filename") or upload.filename,
                upload.data,
                upload.content_type,
                description=entry.get("description"),
            )
            for entry, upload in new
        ]
        return kept + stored

    def _store_attachment(
        self, filename: str, data: bytes, content_type: str, *, description: str | None = None
    ) -> Json:
        attachment_id = self._snowflake()
        if content_type in ("", "application/octet-stream"):  # what discord.py always sends
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        url = f"{self.http_base_url}/cdn/{attachment_id}/{quote(filename)}"
        attachment: Json = {
            "id": attachment_id,
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        }
        size = _image_size(data)
        if size is not None:
            attachment["width"], attachment["height"] = size
        if description:
            attachment["description"] = description
        self._cdn[attachment_id] = UploadedFile(filename, content_type, data)
        return attachment

    def _link_embed_attachments(self, message: Json) -> None:
        """Points ``attachment://name`` embed media at the uploaded attachment, as Discord does."""
        by_name = {attachment["filename"]: attachment for attachment in message["attachments"]}
        for index, embed in enumerate(message["embeds"]):
            for key in ("image", "thumbnail"):
                media = embed.get(key)
                url = media.get("url", "") if isinstance(media, dict) else ""
                if not url.startswith("attachment://"):
                    continue
                attachment = by_name.get(url.removeprefix("attachment://"))
                if attachment is None:
                    where = f"message {message['id']}: embeds.{index}.{key}.url"
                    self._violate(f"{where} {url!r} names no attachment")
                    continue
                linked = {**media, "url": attachment["url"], "proxy_url": attachment["proxy_url"]}
                for dimension in ("width", "height"):
                    if dimension in attachment:
                        linked[dimension] = attachment[dimension]
                embed[key] = linked

    def _link_component_media(self, message: Json, where: str) -> None:
        """Points `attachment://name` media of V2 components at the attachment, as Discord
        does; an attachment no component shows is invisible in a V2 message (a bot's bug)."""
        if not message["flags"] & FLAG_COMPONENTS_V2:
            return
        by_name = {attachment["filename"]: attachment for attachment in message["attachments"]}
        shown: set[str] = set()
        for media in _component_media(message["components"]):
            url = media.get("url", "")
            attachment = by_name.get(url.removeprefix("attachment://"))
            if not url.startswith("attachment://") or attachment is None:
                continue
            shown.add(attachment["id"])
            media.update(
                url=attachment["url"],
                proxy_url=attachment["proxy_url"],
                content_type=attachment["content_type"],
                attachment_id=attachment["id"],
                **{key: attachment[key] for key in ("width", "height") if key in attachment},
            )
        for attachment in message["attachments"]:
            if attachment["id"] not in shown:
                self._violate(
                    f"{where}: attachment {attachment['filename']!r} is not shown: a components "
                    "v2 message shows attachments only through its components"
                )

    def _pings_of(self, message: Json) -> _Pings:
        author_id = message["author"]["id"]
        permissions = self._permissions(author_id, message["channel_id"])
        texts = [message["content"], *_text_display_contents(message["components"])]
        return _pings(
            "\n".join(texts),
            message.get("allowed_mentions"),
            can_mention_everyone=bool(permissions & MENTION_EVERYONE),
        )

    def _set_mentions(self, message: Json) -> None:
        pings = self._pings_of(message)
        members = self._guild_of(message["channel_id"]).members
        message["mentions"] = [
            {**members[user_id]["user"], "member": _partial_member(members[user_id])}
            for user_id in pings.users
            if user_id in members
        ]
        message["mention_roles"] = pings.roles
        message["mention_everyone"] = pings.everyone

    def _report_pings(self, message: Json) -> None:
        """Records a violation when a bot message notifies people it did not name by id."""
        silent = message["flags"] & (FLAG_LOADING | FLAG_EPHEMERAL)  # these notify nobody
        if silent or message["author"]["id"] != self.bot_user["id"]:
            return
        unintended = self._pings_of(message).unintended
        if unintended:
            self._violate(
                f"message would ping {', '.join(unintended)}: {message['content'][:100]!r} "
                f"in channel {message['channel_id']} "
                f"(allowed_mentions={message.get('allowed_mentions')!r}; send {{'parse': []}})"
            )

    def _require_writable(self, message: Json, user_id: str, *, editing: bool) -> None:
        """docs/topics/threads.md: without Manage Threads nobody creates or updates messages in a
        locked thread (Discord answers 403 50083, discord-api-docs#6884, #7707), and nobody edits
        messages in an archived thread (400 50083). Ephemeral messages are nobody else's."""
        thread = self.threads.get(message["channel_id"])
        if thread is None or message["flags"] & FLAG_EPHEMERAL:
            return
        metadata = thread["thread_metadata"]
        if metadata["locked"] and not self._permissions(user_id, thread["id"]) & MANAGE_THREADS:
            raise _thread_archived(403)
        if editing and metadata["archived"]:
            raise _thread_archived(400)

    def _post(self, message: Json, *, ephemeral: bool = False) -> None:
        """Stores a new message; one in an archived (unlocked) thread unarchives it."""
        self._require_writable(message, message["author"]["id"], editing=False)
        thread = self.threads.get(message["channel_id"])
        if not ephemeral and thread is not None and thread["thread_metadata"]["archived"]:
            self._set_archived(thread, archived=False)
        self._store_message(message, ephemeral=ephemeral)

    def _require_deletable(self, message: Json) -> None:
        """Deleting works in archived threads, and in locked ones only while they are active or
        for Manage Threads (docs/topics/threads.md, "Locked Threads")."""
        thread = self.threads.get(message["channel_id"])
        if thread is None or not thread["thread_metadata"]["archived"]:
            return
        if thread["thread_metadata"]["locked"] and not (
            self._bot_permissions(thread["id"]) & MANAGE_THREADS
        ):
            raise _thread_archived(403)

    def _store_message(self, message: Json, *, ephemeral: bool) -> None:
        self._report_pings(message)
        self._messages[message["id"]] = message
        if ephemeral:
            return
        channel_id = message["channel_id"]
        self._channel_messages.setdefault(channel_id, {})[message["id"]] = message
        channel = self._channel_or_404(channel_id)
        channel["last_message_id"] = message["id"]
        if channel["type"] in THREAD_TYPES:
            channel["message_count"] += 1
            channel["total_message_sent"] += 1
        self._announce("MESSAGE_CREATE", message)

    def _remove_message(self, message: Json) -> None:
        self._messages.pop(message["id"], None)
        if (
            self._channel_messages.get(message["channel_id"], {}).pop(message["id"], None)
            is not None
        ):
            self._announce(
                "MESSAGE_DELETE", {"id": message["id"], "channel_id": message["channel_id"]}
            )

    def _announce(self, event: str, message: Json) -> None:
        """A message event, to the bot where it gets one: in its guild (with the guild id and
        the author's member), in its own DMs (for the Direct Messages intent); nowhere else."""
        channel_id = message["channel_id"]
        if not self._bot_sees(channel_id):
            return
        if channel_id in self._channels and not self._in_guild(self._channels[channel_id]):
            self._broadcast(event, message, intent=INTENT_DIRECT_MESSAGES)
        elif event == "MESSAGE_DELETE":
            self._broadcast(event, {**message, "guild_id": self._guild_of(channel_id).id})
        else:
            self._broadcast(event, self._message_event(message))

    def _message_event(self, message: Json) -> Json:
        guild = self._guild_of(message["channel_id"])
        event = {**message, "guild_id": guild.id}
        member = guild.members.get(message["author"]["id"])
        if member is not None:
            event["member"] = _partial_member(member)
        return event

    # -- gateway -------------------------------------------------------------------------------

    def _broadcast(self, event: str, data: Json, *, intent: int | None = None) -> None:
        needed = EVENT_INTENTS.get(event, 0) if intent is None else intent
        # A guild's own object carries its id as "id"; other guild events say "guild_id".
        guild_id = data.get("id") if event in ("GUILD_CREATE", "GUILD_UPDATE") else None
        guild_id = guild_id or data.get("guild_id")
        for session in self._sessions.values():
            if (not needed or session.intents & needed) and session.receives(guild_id):
                session.dispatch(event, self._visible_to(session, event, data))

    def _visible_to(self, session: _GatewaySession, event: str, data: Json) -> Json:
        """Without the message content intent Discord blanks other people's messages."""
        if (
            event not in ("MESSAGE_CREATE", "MESSAGE_UPDATE")
            or session.intents & INTENT_MESSAGE_CONTENT
        ):
            return data
        bot_id = self.bot_user["id"]
        if data["author"]["id"] == bot_id or any(user["id"] == bot_id for user in data["mentions"]):
            return data
        return {**data, "content": "", "embeds": [], "attachments": [], "components": []}

    def _refresh_identified(self) -> None:
        if any(session.connection is not None for session in self._sessions.values()):
            self._identified.set()
        else:
            self._identified.clear()

    async def _handle_gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        if request.query.get("v") != "10" or request.query.get("encoding") != "json":
            self._violate(
                f"gateway connection with query {dict(request.query)} (want v=10, encoding=json)"
            )
        await self._gateway_open.wait()
        connection = _Connection(ws)
        self._connections.add(connection)
        connection.send(_dumps({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}}))
        try:
            async for frame in ws:
                if frame.type is WSMsgType.TEXT:
                    await self._on_gateway_frame(connection, frame.data)
                elif frame.type is WSMsgType.BINARY:
                    self._violate("binary gateway frame from the client")
                    await connection.close(4002, "Error while decoding payload.")
        finally:
            self._connections.discard(connection)
            self._on_connection_closed(connection, ws.close_code)
            await connection.finish()
        return ws

    def _on_connection_closed(self, connection: _Connection, code: int | None) -> None:
        session = connection.session
        if session is None:
            return
        if session.connection is connection:
            session.connection = None
        clean_close = code in (1000, 1001) and not connection.closed_by_server
        if clean_close:  # the client ended the session, it cannot be resumed
            self._sessions.pop(session.id, None)
        self._refresh_identified()

    async def _on_gateway_frame(self, connection: _Connection, raw: str) -> None:
        try:
            frame = json.loads(raw)
            op, data = frame["op"], frame.get("d")
        except (ValueError, KeyError, TypeError):
            self._violate(f"undecodable gateway frame {raw[:100]!r}")
            await connection.close(4002, "Error while decoding payload.")
            return
        if op == 1:
            connection.send('{"op":11}')
        elif op == 2:
            await self._identify(connection, data)
        elif op == 6:
            await self._resume(connection, data)
        elif connection.session is None:
            self._violate(f"gateway op {op} before IDENTIFY")
            await connection.close(4003, "Not authenticated.")
        elif op == 3:
            self.presence = data
        elif op == 8:
            self._send_member_chunk(connection.session, data)
        elif op != 4:  # voice state updates are accepted and ignored
            self._violate(f"unknown gateway op {op}")
            await connection.close(4001, "Unknown opcode.")

    async def _identify(self, connection: _Connection, data: object) -> None:
        if connection.session is not None:
            self._violate("second IDENTIFY on one gateway connection")
            await connection.close(4005, "Already authenticated.")
            return
        if not isinstance(data, dict) or data.get("token") != self.token:
            self._violate("IDENTIFY with a wrong token")
            await connection.close(4004, "Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int):
            self._violate("IDENTIFY without intents")
            await connection.close(4013, "Invalid intent(s).")
            return
        refused = (
            intents
            & ~self._granted_privileged_intents()
            & (INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT)
        )
        if refused:
            self._violate(f"IDENTIFY asks for privileged intents {refused} the application lacks")
            await connection.close(4014, "Disallowed intent(s).")
            return
        shard = data.get("shard")
        if shard is not None and not _valid_shard(shard):
            self._violate(f"IDENTIFY with shard {shard!r} (want [shard_id, num_shards])")
            await connection.close(4010, "Invalid shard.")
            return
        session = _GatewaySession(
            secrets.token_hex(16), intents, None if shard is None else (shard[0], shard[1])
        )
        self._sessions[session.id] = session
        session.connection = connection
        connection.session = session
        self.intents = intents
        self.identify_count += 1
        self.identified_shards.append(session.shard)
        session.dispatch("READY", self._ready_payload(session, data))
        for guild in self._guilds.values():
            if session.receives(guild.id):
                session.dispatch("GUILD_CREATE", self._guild_create_payload(guild, intents))
        self._refresh_identified()

    def _granted_privileged_intents(self) -> int:
        granted = INTENT_GUILD_PRESENCES
        if self.members_intent:
            granted |= INTENT_GUILD_MEMBERS
        if self.message_content_intent:
            granted |= INTENT_MESSAGE_CONTENT
        return granted

    async def _resume(self, connection: _Connection, data: object) -> None:
        if not isinstance(data, dict) or data.get("token") != self.token:
            self._violate("RESUME with a wrong token")
            await connection.close(4004, "Authentication failed.")
            return
        session = self._sessions.get(str(data.get("session_id")))
        if session is None or not session.resume(connection, data.get("seq")):
            connection.send('{"op":9,"d":false}')  # the client identifies afresh
            return
        connection.session = session
        session.dispatch("RESUMED", {})
        self._refresh_identified()

    def _ready_payload(self, session: _GatewaySession, identify: Json) -> Json:
        ready: Json = {
            "v": 10,
            "user": {**self.bot_user, "verified": True, "mfa_enabled": False},
            "guilds": [
                {"id": guild_id, "unavailable": True}
                for guild_id in self._guilds
                if session.receives(guild_id)
            ],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": self.application_id, "flags": self._application_flags()},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": [],
            "guild_join_requests": [],
        }
        if "shard" in identify:
            ready["shard"] = identify["shard"]
        return ready

    def _guild_create_payload(self, guild: _Guild, intents: int) -> Json:
        bot_member = guild.members[self.bot_user["id"]]
        # Without the members intent Discord only sends the bot's own member.
        members = list(guild.members.values()) if intents & INTENT_GUILD_MEMBERS else [bot_member]
        return {
            **self._guild_object(guild),
            "unavailable": False,
            "lazy": True,
            "large": False,
            "member_count": len(guild.members),
            "joined_at": bot_member["joined_at"],
            "channels": self._guild_channels(guild.id),
            "threads": [
                t
                for t in self.threads.values()
                if t["guild_id"] == guild.id and not t["thread_metadata"]["archived"]
            ],
            "members": members,
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def _send_member_chunk(self, session: _GatewaySession, request: object) -> None:
        request = request if isinstance(request, dict) else {}
        guild = self._guilds.get(str(request.get("guild_id")), self._guilds[self.guild_id])
        members = list(guild.members.values())
        user_ids = request.get("user_ids")
        if user_ids:
            wanted = {
                str(user_id) for user_id in (user_ids if isinstance(user_ids, list) else [user_ids])
            }
            members = [member for member in members if member["user"]["id"] in wanted]
        elif request.get("query"):
            prefix = str(request["query"]).lower()
            members = [
                member for member in members if member["user"]["username"].startswith(prefix)
            ]
        if request.get("limit"):
            members = members[: int(request["limit"])]
        chunk = {
            "guild_id": guild.id,
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
            "nonce": request.get("nonce"),
        }
        session.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    async def wait_until_identified(self, timeout: float = 5) -> None:
        """Waits until a bot session is connected (after IDENTIFY or RESUME)."""
        try:
            await asyncio.wait_for(self._identified.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"no bot session connected within {timeout}s; violations: {self.violations}"
            ) from None

    def hold_gateway(self) -> None:
        """Until `release_gateway`: new gateway connections are accepted but get no HELLO, so
        a client that lost its connection stays disconnected (an outage it waits out)."""
        self._gateway_open.clear()

    def release_gateway(self) -> None:
        self._gateway_open.set()

    async def disconnect_bot(self, *, resumable: bool = True) -> None:
        """Closes the bot's websocket(s); the client resumes (or re-identifies if not resumable)."""
        for connection in list(self._connections):
            session = connection.session
            if session is None:
                continue
            if session.connection is connection:
                session.connection = None
            if not resumable:
                self._sessions.pop(session.id, None)
            self._refresh_identified()
            # 4000 and 4009 are reconnectable close codes; a RESUME of a dropped session gets op 9.
            await connection.close(4000 if resumable else 4009, "Disconnected by the fake")

    async def wait_for(
        self,
        predicate: Callable[[], object],
        timeout: float = 5.0,
    ) -> None:
        """Polls until ``predicate()`` is truthy."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() > deadline:
                recent = [f"{r.method} {r.path} -> {r.status}" for r in self.requests[-5:]]
                raise AssertionError(
                    f"not true within {timeout}s: {_describe(predicate)}\n"
                    f"violations: {self.violations}\nlast requests: {recent}"
                )
            await asyncio.sleep(0.005)

    # -- drivers: acting as users ----------------------------------------------------------------

    def _driver_user(self, user: Json | None, guild: _Guild | None = None) -> Json:
        user = user or self.alice
        members = (guild or self._guilds[self.guild_id]).members
        if user["id"] not in members:
            raise ValueError(f"user {user.get('username')!r} is not a member; use add_member()")
        known: Json = members[user["id"]]["user"]
        return known

    def _driver_channel(self, channel_id: str | None) -> Json:
        channel_id = channel_id or self.channel_id
        channel = self.threads.get(channel_id) or self._channels.get(channel_id)
        if channel is None:
            raise ValueError(f"channel {channel_id} does not exist (or was deleted)")
        return channel

    def _find_command(
        self, name: str, command_type: int, channel: Json | None = None
    ) -> tuple[Json, str | None]:
        """The command members see in ``channel`` (default: the first guild's first channel):
        the guild's own commands there, else the global ones."""
        in_guild = channel is None or self._in_guild(channel)
        guild_id = channel["guild_id"] if channel is not None and in_guild else self.guild_id
        for scope in (guild_id, None) if in_guild else (None,):
            for command in self.commands.get(scope, []):
                if command["name"] == name and command["type"] == command_type:
                    return command, scope
        synced = sorted(
            f"{c['name']} (type {c['type']})" for cs in self.commands.values() for c in cs
        )
        raise AssertionError(
            f"command {name!r} (type {command_type}) is not synced; synced: {synced}"
        )

    def _context_of(self, channel: Json) -> int:
        if channel["type"] == DM_CHANNEL:
            return CONTEXT_BOT_DM
        return CONTEXT_PRIVATE_CHANNEL if channel["type"] == GROUP_DM_CHANNEL else CONTEXT_GUILD

    def _installations(self, user: Json, channel: Json) -> Json:
        """The app's installations that reach ``user`` in ``channel``, as Discord's
        ``authorizing_integration_owners``: the guild's (its id; "0" in the bot's DM with one of
        its members) and the member's own."""
        owners: Json = {}
        if self._in_guild(channel):
            owners[GUILD_INSTALL] = channel["guild_id"]
        elif channel["type"] == DM_CHANNEL and user["id"] in self._members:
            owners[GUILD_INSTALL] = "0"
        if user["id"] in self.user_installs:
            owners[USER_INSTALL] = user["id"]
        return owners

    def _command_owners(self, command: Json, scope: str | None, user: Json, channel: Json) -> Json:
        """Where Discord offers the command to ``user`` in ``channel``, the installations that
        authorize it; PermissionError where it does not (the member would not see it)."""
        where = f"{user['username']} cannot use {command['name']!r} in channel {channel['id']}"
        if scope is not None:  # a guild command exists in its guild only
            if not self._in_guild(channel):
                raise PermissionError(f"{where}: it is registered in the bot's guilds only")
            return {GUILD_INSTALL: channel["guild_id"]}
        contexts = command.get("contexts")
        if contexts is not None and self._context_of(channel) not in contexts:
            raise PermissionError(f"{where}: its contexts are {contexts}")
        types = {str(t) for t in command.get("integration_types") or [0]}
        owners = {k: v for k, v in self._installations(user, channel).items() if k in types}
        if not owners:
            raise PermissionError(f"{where}: no installation of the app reaches them there")
        return owners

    def _dispatch_interaction(
        self,
        interaction_type: int,
        data: Json,
        *,
        user: Json | None,
        channel_id: str | None,
        message: Json | None = None,
        owners: Json | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        if not self._sessions:
            raise AssertionError(
                "no bot session on the fake gateway; await wait_until_identified()"
            )
        channel = self._driver_channel(channel_id)
        user = self._driver_user(user, self._guilds.get(channel.get("guild_id") or ""))
        if owners is None:  # a component or form: the installations of the message's answer
            metadata = (message or {}).get("interaction_metadata") or {}
            owners = metadata.get("authorizing_integration_owners") or self._installations(
                user, channel
            )
        interaction = FakeInteraction(
            interaction_id=self._snowflake(),
            interaction_type=interaction_type,
            user=user,
            channel_id=channel["id"],
            data=data,
            message=message,
            violations=self.violations,
            context=self._context_of(channel),
            owners=owners,
            locale=locale,
        )
        self.interactions[interaction.id] = interaction
        self._interactions_by_token[interaction.token] = interaction
        self._broadcast("INTERACTION_CREATE", self._interaction_payload(interaction, channel))
        return interaction

    def _interaction_payload(self, interaction: FakeInteraction, channel: Json) -> Json:
        user_id = interaction.user["id"]
        permissions = str(self._permissions(user_id, channel["id"]))
        app_permissions = self._bot_permissions(channel["id"])
        if GUILD_INSTALL not in interaction.owners:  # answering for the member alone
            app_permissions = USER_APP_PERMISSIONS
        payload: Json = {
            "id": interaction.id,
            "application_id": self.application_id,
            "type": interaction.type,
            "data": interaction.data,
            "channel": {**channel, "permissions": permissions},
            "channel_id": channel["id"],
            "token": interaction.token,
            "version": 1,
            "app_permissions": str(app_permissions),
            "locale": interaction.locale,
            "entitlements": [],
            "authorizing_integration_owners": interaction.owners,
            "context": interaction.context,
            "attachment_size_limit": self.upload_limit,
        }
        guild_id = channel.get("guild_id")
        if guild_id is None:  # a DM or group DM: the user, no member
            payload["user"] = interaction.user
        else:
            member = (
                self._guilds[guild_id].members[user_id]
                if guild_id in self._guilds
                else {
                    "user": interaction.user,
                    "roles": [],
                    "joined_at": _now(),
                    "deaf": False,
                    "mute": False,
                    "flags": 0,
                }
            )
            payload["guild_id"] = guild_id
            payload["guild"] = {"id": guild_id, "locale": "en-US", "features": []}
            payload["guild_locale"] = "en-US"
            payload["member"] = {**member, "permissions": permissions}
        if interaction.message is not None:
            payload["message"] = interaction.message
        return payload

    async def run_command(
        self,
        name: str,
        options: dict[str, object] | None = None,
        *,
        user: Json | None = None,
        channel_id: str | None = None,
        attachments: dict[str, tuple[str, bytes, str]] | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """A user runs a synced slash command; attachment option values key ``attachments``.
        A subcommand is named in full (``"admin pause"``). PermissionError when Discord would
        not show the command to the member there: they lack its ``default_member_permissions``,
        or its contexts and installation types do not reach them (``install_for_user``).
        ``locale``: the member's client language."""
        top, *path = name.split()
        channel = self._driver_channel(channel_id)
        # Options naming members or roles resolve in the channel's guild (else the first).
        guild = self._guilds.get(channel.get("guild_id") or "", self._guilds[self.guild_id])
        command, scope = self._find_command(top, 1, channel)
        owners = self._command_owners(command, scope, self._driver_user(user, guild), channel)
        self._check_command_permissions(command, user, channel_id)
        chain, target = [], command
        for part in path:
            found = [o for o in target.get("options") or [] if o.get("type") in (1, 2)]
            target = next((o for o in found if o["name"] == part), {})
            if not target:
                raise ValueError(f"/{top} has no subcommand {part!r}")
            chain.append(target)
        if any(o.get("type") in (1, 2) for o in target.get("options") or []):
            raise ValueError(f"/{name} needs a subcommand")
        resolved: Json = {}
        given = self._command_options(target, options or {}, attachments or {}, resolved, guild)
        for sub in reversed(chain):
            given = [{"name": sub["name"], "type": sub["type"], "options": given}]
        data: Json = {"id": command["id"], "name": top, "type": 1, "options": given}
        if resolved:
            data["resolved"] = resolved
        if scope is not None:
            data["guild_id"] = scope
        return self._dispatch_interaction(
            INTERACTION_COMMAND,
            data,
            user=user,
            channel_id=channel_id,
            owners=owners,
            locale=locale,
        )

    async def autocomplete(
        self,
        name: str,
        focused: str,
        typed: str,
        options: dict[str, object] | None = None,
        *,
        user: Json | None = None,
    ) -> list[Json]:
        """A user types `typed` into option `focused` of a synced command (`options`: what is
        filled in already); the choices the bot suggests."""
        top, *path = name.split()
        command, scope = self._find_command(top, 1)
        target = command
        for part in path:
            target = next(o for o in target.get("options") or [] if o["name"] == part)
        definition = next(o for o in target.get("options") or [] if o["name"] == focused)
        if not definition.get("autocomplete"):
            raise ValueError(f"option {focused!r} of /{name} does not autocomplete")
        given = self._command_options(target, options or {}, {}, {}, self._guilds[self.guild_id])
        given.append({"name": focused, "type": definition["type"], "value": typed, "focused": True})
        for part in reversed(path):
            given = [{"name": part, "type": 1, "options": given}]
        data: Json = {"id": command["id"], "name": top, "type": 1, "options": given}
        if scope is not None:
            data["guild_id"] = scope
        interaction = self._dispatch_interaction(
            INTERACTION_AUTOCOMPLETE, data, user=user, channel_id=None
        )
        await interaction.wait_response()
        return interaction.choices or []

    def _check_command_permissions(
        self, command: Json, user: Json | None, channel_id: str | None
    ) -> None:
        raw = command.get("default_member_permissions")
        if raw is None:
            return
        needed = int(raw)
        channel = self._driver_channel(channel_id)
        user = self._driver_user(user, self._guild_of(channel["id"]))
        granted = self._permissions(user["id"], channel["id"])
        # Administrators (and the owner) always can; "0" hides it from everyone else.
        if granted == ALL_PERMISSIONS or (needed and granted & needed == needed):
            return
        raise PermissionError(
            f"{user['username']} cannot use /{command['name']}: Discord shows it only to "
            f"members with permissions {needed}"
        )

    def _command_options(
        self,
        command: Json,
        values: dict[str, object],
        attachments: dict[str, tuple[str, bytes, str]],
        resolved: Json,
        guild: _Guild,
    ) -> list[Json]:
        definitions = command.get("options") or []
        known = {option["name"] for option in definitions}
        unknown = set(values) - known
        if unknown:
            raise ValueError(
                f"/{command['name']} has no options {sorted(unknown)}; it has {sorted(known)}"
            )
        options: list[Json] = []
        for definition in definitions:
            name = definition["name"]
            if name not in values:
                if definition.get("required"):
                    raise ValueError(f"/{command['name']} needs option {name!r}")
                continue
            value = self._option_value(definition, values[name], attachments, resolved, guild)
            options.append({"name": name, "type": definition["type"], "value": value})
        return options

    def _option_value(
        self,
        definition: Json,
        value: object,
        attachments: dict[str, tuple[str, bytes, str]],
        resolved: Json,
        guild: _Guild,
    ) -> object:
        option_type = definition["type"]
        choices = [choice["value"] for choice in definition.get("choices") or []]
        if choices and value not in choices:
            raise ValueError(f"option {definition['name']!r}: {value!r} is not one of {choices}")
        if option_type == 11:
            if str(value) not in attachments:
                raise ValueError(
                    f"option {definition['name']!r}: {value!r} is no key of attachments"
                )
            filename, data, content_type = attachments[str(value)]
            attachment = self._store_attachment(filename, data, content_type)
            attachment["ephemeral"] = True
            resolved.setdefault("attachments", {})[attachment["id"]] = attachment
            return attachment["id"]
        if option_type == 6:
            user = self._driver_user(
                value if isinstance(value, dict) else {"id": str(value)}, guild
            )
            member = guild.members[user["id"]]
            resolved.setdefault("users", {})[user["id"]] = user
            resolved.setdefault("members", {})[user["id"]] = _partial_member(member)
            return user["id"]
        if option_type == 7:
            channel = self._driver_channel(str(value))
            resolved.setdefault("channels", {})[channel["id"]] = channel
            return channel["id"]
        if option_type == 8:
            resolved.setdefault("roles", {})[str(value)] = guild.roles[str(value)]
            return str(value)
        if option_type == 3 and isinstance(value, str):
            minimum = definition.get("min_length") or 0
            maximum = definition.get("max_length") or 6000
            if not minimum <= len(value) <= maximum:
                raise ValueError(
                    f"option {definition['name']!r} must be {minimum}-{maximum} characters"
                )
        return value

    async def run_message_command(
        self, name: str, target_message_id: str, *, user: Json | None = None
    ) -> FakeInteraction:
        """A user picks a message context-menu command on a channel message."""
        target = self.message(target_message_id)
        channel = self._driver_channel(target["channel_id"])
        command, scope = self._find_command(name, 3, channel)
        member = self._driver_user(user, self._guild_of(channel["id"]))
        owners = self._command_owners(command, scope, member, channel)
        if target["flags"] & FLAG_EPHEMERAL:
            raise ValueError("context-menu commands cannot target ephemeral messages")
        data: Json = {
            "id": command["id"],
            "name": name,
            "type": 3,
            "target_id": target["id"],
            "resolved": {"messages": {target["id"]: target}},
        }
        if scope is not None:
            data["guild_id"] = scope
        return self._dispatch_interaction(
            INTERACTION_COMMAND, data, user=user, channel_id=target["channel_id"], owners=owners
        )

    async def run_user_command(
        self, name: str, target: Json, *, user: Json | None = None
    ) -> FakeInteraction:
        """A user picks a user context-menu command on ``target``."""
        command, scope = self._find_command(name, 2)
        owners = self._command_owners(
            command, scope, self._driver_user(user), self._driver_channel(None)
        )
        target_user = self._driver_user(target)
        member = _partial_member(self._members[target_user["id"]])
        data: Json = {
            "id": command["id"],
            "name": name,
            "type": 2,
            "target_id": target_user["id"],
            "resolved": {
                "users": {target_user["id"]: target_user},
                "members": {target_user["id"]: member},
            },
        }
        if scope is not None:
            data["guild_id"] = scope
        return self._dispatch_interaction(
            INTERACTION_COMMAND, data, user=user, channel_id=None, owners=owners
        )

    def _component(
        self, message_id: str, custom_id: str, types: frozenset[int]
    ) -> tuple[Json, Json]:
        message = self.message(message_id)
        for component in walk_components(message["components"]):
            if component.get("custom_id") == custom_id and component.get("type") in types:
                if component.get("disabled"):
                    raise AssertionError(
                        f"component {custom_id!r} of message {message_id} is disabled"
                    )
                return message, component
        present = [
            c.get("custom_id") for c in walk_components(message["components"]) if "custom_id" in c
        ]
        raise AssertionError(
            f"message {message_id} has no component {custom_id!r}; it has {present}"
        )

    async def click(
        self, message_id: str, custom_id: str, *, user: Json | None = None, locale: str = "en-US"
    ) -> FakeInteraction:
        message, _ = self._component(message_id, custom_id, frozenset({2}))
        data = {"custom_id": custom_id, "component_type": 2}
        return self._dispatch_interaction(
            INTERACTION_COMPONENT,
            data,
            user=user,
            channel_id=message["channel_id"],
            message=message,
            locale=locale,
        )

    async def select(
        self, message_id: str, custom_id: str, values: list[str], *, user: Json | None = None
    ) -> FakeInteraction:
        """A user picks ``values`` in a string select menu."""
        message, select = self._component(message_id, custom_id, frozenset({3}))
        offered = [option["value"] for option in select.get("options") or []]
        minimum = 1 if select.get("min_values") is None else select["min_values"]
        maximum = select.get("max_values") or 1
        if not minimum <= len(values) <= maximum or any(value not in offered for value in values):
            raise ValueError(
                f"select {custom_id!r} takes {minimum}-{maximum} of {offered}, not {values}"
            )
        data = {"custom_id": custom_id, "component_type": 3, "values": values}
        return self._dispatch_interaction(
            INTERACTION_COMPONENT,
            data,
            user=user,
            channel_id=message["channel_id"],
            message=message,
        )

    async def submit_modal(
        self,
        opened_by: FakeInteraction,
        values: Mapping[str, str | list[str]],
        *,
        user: Json | None = None,
    ) -> FakeInteraction:
        """A user submits the modal ``opened_by`` was answered with; values by custom_id."""
        modal = opened_by.modal
        if modal is None:
            raise AssertionError(
                f"{opened_by.describe()} was answered with callback type "
                f"{opened_by.callback_type}, not a modal"
            )
        remaining: dict[str, str | list[str]] = dict(values)
        components = [
            _submitted_component(component, remaining) for component in modal["components"]
        ]
        if remaining:
            raise ValueError(f"the modal has no inputs {sorted(remaining)}")
        data = {"custom_id": modal["custom_id"], "components": components}
        return self._dispatch_interaction(
            INTERACTION_MODAL_SUBMIT,
            data,
            user=user or opened_by.user,
            channel_id=opened_by.channel_id,
            message=opened_by.message,
            owners=opened_by.owners,
            locale=opened_by.locale,
        )

    async def post_message(
        self,
        channel_id: str,
        content: str = "",
        *,
        author: Json | None = None,
        attachments: list[tuple[str, bytes, str]] | None = None,
        reply_to: str | None = None,
    ) -> Json:
        """A user posts a message (a reply when ``reply_to`` is given)."""
        channel = self._driver_channel(channel_id)
        author = self._driver_user(author, self._guild_of(channel["id"]))
        uploads = {
            index: UploadedFile(filename, content_type, data)
            for index, (filename, data, content_type) in enumerate(attachments or [])
        }
        reference = self._reply_reference(channel, {"message_id": reply_to}) if reply_to else None
        message = self._compose(
            channel,
            author,
            {"content": content},
            uploads,
            flags=0,
            message_type=MESSAGE_REPLY if reference else MESSAGE_DEFAULT,
            extra=reference,
        )
        try:
            self._require_writable(message, author["id"], editing=False)
        except DiscordError as exc:  # Discord's client does not let them try
            raise AssertionError(
                f"{author['username']} cannot post in {channel_id}: {exc}"
            ) from None
        if channel["type"] in THREAD_TYPES:
            self._join_thread(channel, author["id"])
        self._post(message)
        return message


def _submitted_component(component: Json, values: dict[str, str | list[str]]) -> Json:
    """What Discord sends back for one modal component, taking its value out of ``values``."""
    component_type = component.get("type")
    if component_type == 1:
        return {
            "type": 1,
            "components": [_submitted_input(c, values) for c in component["components"]],
        }
    if component_type == 18:
        return {
            "type": 18,
            "id": component.get("id"),
            "component": _submitted_input(component["component"], values),
        }
    return {"type": component_type, "id": component.get("id")}


def _submitted_input(component: Json, values: dict[str, str | list[str]]) -> Json:
    custom_id = component["custom_id"]
    if component["type"] in SELECT_TYPES:
        picked: str | list[str] = values.pop(custom_id, [])
        return {
            "type": component["type"],
            "custom_id": custom_id,
            "values": [picked] if isinstance(picked, str) else picked,
        }
    value = values.pop(custom_id, component.get("value") or "")
    if not isinstance(value, str):
        raise TypeError(f"text input {custom_id!r} takes a string, not {value!r}")
    minimum, maximum = component.get("min_length") or 0, component.get("max_length") or 4000
    if component.get("required", True) and not value:
        raise ValueError(f"text input {custom_id!r} is required")
    if value and not minimum <= len(value) <= maximum:
        raise ValueError(f"text input {custom_id!r} takes {minimum}-{maximum} characters")
    return {"type": 4, "custom_id": custom_id, "value": value}
