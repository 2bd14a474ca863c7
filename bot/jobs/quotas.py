"""Quotas and spend caps: which limits apply to a member, what a day is, and whether one more
job fits. Pure: the store gathers the usage and calls `check` inside the transaction that
records the job, so the check and the reservation cannot be separated by another job.

A job counts against the day in which it was accepted (or put back in line by Retry): while
it waits or runs, with its estimated cost and images; once delivered, with its actual cost
and the images it showed; otherwise (blocked, failed, cancelled, interrupted) with nothing.
0 means no limit throughout.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Literal

from bot.config import QuotaSettings

_DAY_S = 86_400.0


class Limit(StrEnum):
    """Every limit, named as its setting in `[quotas]`."""

    MEMBER_IMAGES = "member_daily_images"
    MEMBER_USD = "member_daily_usd"
    GUILD_USD = "guild_daily_usd"
    BOT_USD = "bot_daily_usd"
    WAITING = "member_max_waiting"
    COOLDOWN = "cooldown_s"


# The limits set per member or per role (by `[quotas.roles]` and `/admin quota`).
MEMBER_LIMITS = (Limit.MEMBER_IMAGES, Limit.MEMBER_USD, Limit.WAITING, Limit.COOLDOWN)

LIMIT_LABELS = {
    Limit.MEMBER_IMAGES: "images per day",
    Limit.MEMBER_USD: "spend per day (USD)",
    Limit.GUILD_USD: "server spend per day (USD)",
    Limit.BOT_USD: "bot spend per day (USD)",
    Limit.WAITING: "requests waiting at once",
    Limit.COOLDOWN: "seconds between requests",
}


@dataclass(frozen=True)
class Limits:
    """The limits that apply to one member's next job (0: none)."""

    member_daily_images: float = 0
    member_daily_usd: float = 0.0
    guild_daily_usd: float = 0.0
    bot_daily_usd: float = 0.0
    member_max_waiting: float = 0
    cooldown_s: float = 0.0

    @classmethod
    def from_settings(cls, quotas: QuotaSettings) -> Limits:
        """The limits `[quotas]` sets for every member (before roles and overrides)."""
        return cls(
            member_daily_images=quotas.member_daily_images,
            member_daily_usd=quotas.member_daily_usd,
            guild_daily_usd=quotas.guild_daily_usd,
            bot_daily_usd=quotas.bot_daily_usd,
            member_max_waiting=quotas.member_max_waiting,
            cooldown_s=quotas.cooldown_s,
        )

    def of(self, limit: Limit) -> float:
        value: float = getattr(self, limit.value)
        return value

    @property
    def any(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))


@dataclass(frozen=True)
class Override:
    """A limit an admin set for one member or for everyone with a role, in one server."""

    target: Literal["member", "role"]
    target_id: int
    limit: Limit
    value: float


def most_generous(limit: Limit, values: Iterable[float]) -> float:
    """No limit (0) beats any; otherwise the highest, except for a cooldown: the shortest."""
    values = list(values)
    if limit is Limit.COOLDOWN:
        return min(values)
    return 0 if 0 in values else max(values)


def limits_for(
    quotas: QuotaSettings, overrides: Sequence[Override], user_id: int, role_ids: Iterable[int]
) -> Limits:
    """The limits of one member: an override set for the member wins; else, among the roles
    the member has that set a limit (`/admin quota` before `[quotas.roles]`), the most
    generous; else the default."""
    roles = set(role_ids)
    limits = Limits.from_settings(quotas)
    for limit in MEMBER_LIMITS:
        own = [o.value for o in overrides if _for(o, limit, "member", {user_id})]
        if own:
            limits = replace(limits, **{limit.value: own[-1]})
            continue
        by_role: dict[int, float] = {}
        for role_id, role in quotas.roles.items():
            value = getattr(role, limit.value)
            if int(role_id) in roles and value is not None:
                by_role[int(role_id)] = value
        for override in overrides:
            if _for(override, limit, "role", roles):
                by_role[override.target_id] = override.value
        if by_role:
            limits = replace(limits, **{limit.value: most_generous(limit, by_role.values())})
    return limits


def _for(override: Override, limit: Limit, target: str, ids: set[int]) -> bool:
    return override.limit is limit and override.target == target and override.target_id in ids


@dataclass(frozen=True)
class Window:
    """[start, end) in epoch seconds, on whole hours (the store keeps hourly totals)."""

    start: float
    end: float


def day_window(now: float, reset_hour_utc: int) -> Window:
    """The "day" `now` is in: from the last `reset_hour_utc`:00 UTC, for 24 hours."""
    shift = reset_hour_utc * 3600
    start = math.floor((now - shift) / _DAY_S) * _DAY_S + shift
    return Window(start, start + _DAY_S)


def month_window(now: float, reset_hour_utc: int) -> Window:
    """The calendar month of the day `now` is in, each end at `reset_hour_utc`:00 UTC."""
    day = datetime.datetime.fromtimestamp(day_window(now, reset_hour_utc).start, datetime.UTC)
    first = day.replace(day=1)
    following = (first + datetime.timedelta(days=32)).replace(day=1)
    return Window(first.timestamp(), following.timestamp())


@dataclass(frozen=True)
class Usage:
    """What counts against the limits in one day's window (and right now)."""

    member_images: int = 0
    member_usd: float = 0.0
    guild_usd: float = 0.0
    bot_usd: float = 0.0
    member_waiting: int = 0  # waiting or running, whatever day they were accepted
    member_last_at: float | None = None  # when the member's latest job was accepted


@dataclass(frozen=True)
class Admission:
    """One job asking to be accepted: what it reserves, for whom, under which limits."""

    user_id: int
    guild_id: int | None
    usd: float  # the estimate
    images: int
    limits: Limits
    window: Window
    now: float


@dataclass(frozen=True)
class LimitHit:
    """Why a job was refused: which limit, how much is used of how much, what the job needed,
    and when it frees up (None: when a waiting request finishes)."""

    limit: Limit
    used: float
    allowed: float
    needed: float
    resets_at: float | None

    def explain(self, now: float) -> str:
        """The member's answer, e.g. "You have used 10 of your 10 images today; more at
        00:00 UTC (in 3 h)."."""
        when = "" if self.resets_at is None else f"; more at {at_and_in(self.resets_at, now)}"
        used, allowed, needed = self.used, self.allowed, self.needed
        if self.limit is Limit.MEMBER_IMAGES:
            if used >= allowed:
                return f"You have used {used:g} of your {allowed:g} images today{when}."
            left = allowed - used
            return (
                f"This makes {needed:g} images, and you have {left:g} of your {allowed:g} "
                f"images left today{when}."
            )
        if self.limit in _SPENDERS:
            subject, whose = _SPENDERS[self.limit]
            if used >= allowed:
                return f"{subject} used {usd(used)} of {whose} {usd(allowed)} for today{when}."
            return (
                f"This would cost about {usd(needed)}, and {subject.lower()} only "
                f"{usd(allowed - used)} of {whose} {usd(allowed)} left today{when}."
            )
        if self.limit is Limit.WAITING:
            return (
                f"You already have {used:g} requests waiting or being made, the most you can "
                "have at once. Try again when one of them has finished."
            )
        assert self.resets_at is not None
        return (
            f"Please wait {duration(self.resets_at - now)} before your next request (one "
            f"every {duration(allowed)})."
        )


_SPENDERS = {
    Limit.MEMBER_USD: ("You have", "your"),
    Limit.GUILD_USD: ("This server has", "its"),
    Limit.BOT_USD: ("The bot has", "its"),
}


def check(admission: Admission, usage: Usage) -> LimitHit | None:
    """The first limit the job would go past, or None when it fits under all of them."""
    limits, now = admission.limits, admission.now
    reset = admission.window.end
    if limits.member_max_waiting and usage.member_waiting >= limits.member_max_waiting:
        return LimitHit(Limit.WAITING, usage.member_waiting, limits.member_max_waiting, 1, None)
    if limits.cooldown_s and usage.member_last_at is not None:
        free_at = usage.member_last_at + limits.cooldown_s
        if now < free_at:
            return LimitHit(
                Limit.COOLDOWN, now - usage.member_last_at, limits.cooldown_s, 0, free_at
            )
    images = (Limit.MEMBER_IMAGES, usage.member_images, admission.images)
    spends = [
        (Limit.MEMBER_USD, usage.member_usd, admission.usd),
        (Limit.GUILD_USD, usage.guild_usd, admission.usd),
        (Limit.BOT_USD, usage.bot_usd, admission.usd),
    ]
    for limit, used, needed in (images, *spends):
        allowed = limits.of(limit)
        if limit is Limit.GUILD_USD and admission.guild_id is None:
            continue
        if allowed and used + needed > allowed + _EPSILON:
            return LimitHit(limit, used, allowed, needed, reset)
    return None


_EPSILON = 1e-9  # sums of floats: $0.1 + $0.2 must fit under $0.3


def usd(amount: float) -> str:
    return f"${amount:.2f}" if amount >= 0.1 or amount == 0 else f"${amount:.3f}"


def duration(seconds: float) -> str:
    """ "45 s", "12 min", "3 h", "2 h 5 min" (rounded up, so the member is never early)."""
    seconds = max(math.ceil(seconds), 1)
    if seconds < 60:
        return f"{seconds} s"
    minutes = math.ceil(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h" if not minutes else f"{hours} h {minutes} min"


def at_and_in(moment: float, now: float) -> str:
    """ "00:00 UTC (in 3 h)"."""
    clock = datetime.datetime.fromtimestamp(moment, datetime.UTC).strftime("%H:%M")
    return f"{clock} UTC (in {duration(moment - now)})"
