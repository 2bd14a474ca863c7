"""The guard rails at the door: who may start work where, and what a job may reserve.

`screen` refuses before anything is recorded or sent (the server or channel is not enabled,
the member lacks an allowed role or is banned, the server is paused, the prompt has a
blocked term). `admission` describes what a job would reserve under the member's limits; the
store checks and records it atomically (`Store.add_job`, `Store.transition`). Every refusal
is an InputError whose text the member sees privately (or as a reply in a thread).
The clock is injected, so tests move the day without sleeping.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace

from bot.config import Settings
from bot.errors import InputError
from bot.jobs import access
from bot.jobs.access import Place
from bot.jobs.moderation import Moderation
from bot.jobs.pricing import estimate_usd, images_made
from bot.jobs.quotas import Admission, LimitHit, Limits, check, day_window, limits_for
from bot.jobs.records import JobRequest
from bot.store import Store

log = logging.getLogger(__name__)

Clock = Callable[[], float]

BANNED = (
    "You can no longer use this bot in this server. Ask the server's admins if you think "
    "this is a mistake."
)
DEFAULT_PAUSE = "The server's admins have paused the bot for now."


def paused_text(message: str) -> str:
    return f"⏸️ The bot is paused in this server: {message}"


class Guard:
    def __init__(
        self,
        *,
        store: Store,
        settings: Settings,
        clock: Clock,
        moderation: Moderation | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._moderation = moderation

    def now(self) -> float:
        return self._clock()

    async def screen(
        self, user_id: int, role_ids: Iterable[int], place: Place, prompt: str | None = None
    ) -> None:
        """InputError when this member may not start work here now (nothing is recorded)."""
        if not access.allowed(self._settings.access, place, role_ids):
            raise InputError(access.NOT_ENABLED)
        standing = await self._store.standing(place.guild_id, user_id)
        if standing.banned:
            raise InputError(BANNED)
        if standing.paused is not None:
            raise InputError(paused_text(standing.paused))
        if prompt is not None:
            await self.check_prompt(user_id, place, prompt)

    async def check_prompt(self, user_id: int, place: Place, prompt: str) -> None:
        """InputError (and a copy for the moderators) when `prompt` has a blocked term."""
        if not access.has_blocked_term(prompt, self._settings.access.blocked_terms):
            return
        log.info("a prompt of user %s was refused for a blocked term", user_id)
        if self._moderation is not None:
            await self._moderation.refused_prompt(user_id, place, prompt)
        raise InputError(access.BLOCKED_TERM)

    async def limits(self, user_id: int, guild_id: int | None, role_ids: Iterable[int]) -> Limits:
        """The member's limits in this server; outside the bot's servers (`guild_id` None)
        the settings' member limits and the bot's, no server's."""
        if guild_id is None:
            limits = limits_for(self._settings.quotas, [], user_id, role_ids)
            return replace(limits, guild_daily_usd=0.0)
        overrides = await self._store.quota_overrides(guild_id)
        return limits_for(self._settings.quotas, overrides, user_id, role_ids)

    async def admission(
        self, user_id: int, guild_id: int | None, role_ids: Iterable[int], request: JobRequest
    ) -> Admission:
        """What `request` would reserve for this member today, under their limits."""
        now = self.now()
        return Admission(
            user_id=user_id,
            guild_id=guild_id,
            usd=estimate_usd(request, self._settings),
            images=images_made(request),
            limits=await self.limits(user_id, guild_id, role_ids),
            window=day_window(now, self._settings.quotas.reset_hour_utc),
            now=now,
        )

    async def precheck(self, admission: Admission) -> None:
        """InputError when the job would be refused now (nothing reserved): a job shown for
        confirmation first is refused at once rather than offered a Generate that fails."""
        if not admission.limits.any:
            return
        usage = await self._store.usage(admission.user_id, admission.guild_id, admission.window)
        hit = check(admission, usage)
        if hit is not None:
            raise self.refusal(hit)

    def refusal(self, hit: LimitHit) -> InputError:
        return InputError(hit.explain(self.now()))

    def asks_first(self, request: JobRequest) -> bool:
        """Whether the job's price is shown with Generate / Cancel before it runs."""
        threshold = self._settings.quotas.confirm_above_usd
        return bool(threshold) and estimate_usd(request, self._settings) > threshold
