"""Where and by whom the bot may be used (`[access]`), and prompts it refuses. Pure.

The Discord side passes plain data: the server, the channel (and, for a thread, the channel
it is in) and the member's role ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from bot.config import AccessSettings

NOT_ENABLED = (
    "The bot is not enabled here. Ask the server's admins where it can be used, or whether "
    "your role may use it."
)
BLOCKED_TERM = (
    "Your prompt contains a word or phrase this bot does not accept, so nothing was made. "
    "Change the wording and try again."
)


@dataclass(frozen=True)
class Place:
    """Where something was asked: a server, a channel, and the channel a thread is in."""

    guild_id: int | None
    channel_id: int
    parent_id: int | None = None


def server_allowed(access: AccessSettings, guild_id: int | None) -> bool:
    """Whether the bot answers in this server at all (`[access] guild_ids`)."""
    return not access.guild_ids or guild_id in access.guild_ids


def allowed(access: AccessSettings, place: Place, role_ids: Iterable[int]) -> bool:
    """Whether a member with `role_ids` may use the bot at `place`: an allowed server, an
    allowed channel (a thread counts as the channel it is in), one of the allowed roles."""
    if not server_allowed(access, place.guild_id):
        return False
    channels = {place.channel_id, place.parent_id}
    if access.channel_ids and not channels & set(access.channel_ids):
        return False
    return not access.role_ids or bool(set(role_ids) & set(access.role_ids))


def has_blocked_term(prompt: str, terms: Sequence[str]) -> bool:
    """Whether `prompt` contains one of `terms` as whole words, ignoring case (a term of
    several words matches with any spacing between them)."""
    words = tuple(term for term in terms if term.split())
    return bool(words) and _pattern(words).search(prompt) is not None


@lru_cache(maxsize=4)
def _pattern(terms: tuple[str, ...]) -> re.Pattern[str]:
    words = (r"\s+".join(re.escape(word) for word in term.split()) for term in terms)
    return re.compile(rf"(?<!\w)(?:{'|'.join(words)})(?!\w)", re.IGNORECASE)
