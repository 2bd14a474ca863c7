"""Discord's REST rate limits as the fake Discord enforces them: per-route buckets and the global
limit, with the headers and 429 answers real Discord sends.

What is documented (discord/discord-api-docs, docs/topics/rate-limits.md):

- An answer of a rate-limited route carries ``X-RateLimit-Limit``, ``-Remaining``, ``-Reset``
  (epoch seconds), ``-Reset-After`` (seconds, with decimals) and ``-Bucket`` (a hash naming the
  limit, "non-inclusive of top-level resources"). Limits count per route *and* top-level resource
  (major parameter): ``channel_id``, ``guild_id``, ``webhook_id`` (+ token).
- A 429 carries JSON ``{"message", "retry_after", "global"}`` (+ ``code`` for some limits),
  ``Retry-After`` (whole seconds, rounded up in the documented examples) and
  ``X-RateLimit-Scope``: ``user`` (this bot's route limit), ``global`` (this bot's global limit,
  also ``X-RateLimit-Global: true``; the example has no per-route headers) or ``shared`` (a limit
  on the resource, shared with everyone).
- Global limit: 50 requests per second per bot. Interaction endpoints (the callback and
  ``/webhooks/{application}/{token}...``) are not bound to it
  (docs/interactions/receiving-and-responding.mdx, "Endpoints"); "Interactions webhooks share the
  same rate limit properties as normal webhooks".
- Discord answers 429s through Google's load balancer: the ``Via`` header is always there;
  discord.py 2.7 (http.py, ``HTTPClient.request``) treats a 429 without it as a Cloudflare ban
  and raises instead of waiting.

What is not documented is the limit of each route ("we do not typically document rate limits, as
they can (and do) change without notice", discord-api-docs#2760). The numbers in
``DEFAULT_LIMITS`` are what library authors observed on the real API:

- hata ``hata/discord/http/rate_limit_groups.py`` (HuyaneMatsu/hata), a per-route table of
  observed limits: message get / history / typing 5 per 5 s per channel, message delete 3 per 1 s
  per channel, channel edit 5 per 15 s per channel, thread creation (from a message or not, one
  shared group) 50 per 300 s per bot, thread member actions 5 per 5 s per bot, interaction
  follow-ups and edits of ``@original`` 5 per 2 s per interaction token, bulk command overwrite
  2 per 60 s (per guild for guild commands), ``GET /gateway/bot`` 2 per 5 s, guild member get
  5 per 1 s per guild, user get 30 per 30 s, the interaction callback unlimited,
  ``GET /users/@me``, ``GET /oauth2/applications/@me`` and guild/channel reads without a
  per-route limit.
- Message create and edit: 5 per 5 s per channel, under one ``X-RateLimit-Bucket`` hash but
  counted separately (discord-api-docs#1442, #2761 "5/5", #8073; DSharpPlus#658 "5/5 being
  shared with post messages and edited messages"). hata saw a 4 s window for them; the fake uses
  the 5 s most reports give.
- Routes without a per-route limit answer without the headers ("if the route doesn't return a
  x-ratelimit-bucket, there is no ratelimit (aside from global)", discord-api-docs#1135).

Not modelled: sub-limits (channel name/topic edits 2 per 10 min, deleting old messages, edits of
messages older than an hour, code 30046), per-resource ``shared`` limits (only injected ones, see
``FakeDiscord.fail_next``), the invalid-request limit (10,000 401/403/429 per 10 min) and the
gateway's own send limit.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

Scope = Literal["user", "global", "shared"]
MajorParameter = Literal["channel", "guild", "webhook"]

GLOBAL_PER_SECOND = 50
RATE_LIMITED_MESSAGE = "You are being rate limited."
# Discord's answers pass Google's load balancer; discord.py needs this on a 429.
VIA = "1.1 google"


@dataclass(frozen=True)
class RouteLimit:
    """One route limit: ``limit`` requests per ``per`` seconds for each major parameter value
    (``major`` None: one counter for the whole bot). Routes whose limit has the same ``group``
    answer with the same ``X-RateLimit-Bucket`` hash."""

    limit: int
    per: float
    group: str
    major: MajorParameter | None = None

    @property
    def bucket(self) -> str:
        return hashlib.md5(self.group.encode(), usedforsecurity=False).hexdigest()


DEFAULT_LIMITS: Mapping[str, RouteLimit] = {
    "message-create": RouteLimit(5, 5.0, "message-write", "channel"),
    "message-edit": RouteLimit(5, 5.0, "message-write", "channel"),
    "message-delete": RouteLimit(3, 1.0, "message-delete", "channel"),
    "message-get": RouteLimit(5, 5.0, "message-get", "channel"),
    "message-history": RouteLimit(5, 5.0, "message-history", "channel"),
    "typing": RouteLimit(5, 5.0, "typing", "channel"),
    "channel-edit": RouteLimit(5, 15.0, "channel-edit", "channel"),
    "thread-create": RouteLimit(50, 300.0, "thread-create"),
    "thread-member": RouteLimit(5, 5.0, "thread-member"),
    "interaction-webhook": RouteLimit(5, 2.0, "interaction-webhook", "webhook"),
    "command-overwrite": RouteLimit(2, 60.0, "command-overwrite", "guild"),
    "gateway-bot": RouteLimit(2, 5.0, "gateway-bot"),
    "member-get": RouteLimit(5, 1.0, "member-get", "guild"),
    "user-get": RouteLimit(30, 30.0, "user-get"),
}


@dataclass(frozen=True)
class RateLimitEvent:
    """A 429 the fake sent, or an answer that left a bucket empty (``Remaining: 0``)."""

    at: float  # the limiter's clock (time.monotonic() unless a test replaced it)
    method: str
    path: str
    limit: str  # the DEFAULT_LIMITS key, "global", or "injected" for a fault from fail_next
    bucket: str  # the X-RateLimit-Bucket hash ("" for the global limit)
    scope: Scope
    wait: float  # retry_after of a 429, Reset-After of an emptied bucket


class RateLimitedError(Exception):
    """A 429 answer in Discord's shape."""

    def __init__(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        super().__init__(f"429: {body}")
        self.body = body
        self.headers = headers


@dataclass
class _Window:
    remaining: int
    resets_at: float


@dataclass
class RateLimiter:
    """Fixed windows per (route limit, major parameter value) and one global window per bot.

    ``clock`` drives the windows (a test may pass its own); ``wall_clock`` only writes
    ``X-RateLimit-Reset``. ``hits`` records every 429, ``drained`` every answer that emptied a
    bucket: discord.py then sleeps ``Reset-After`` before that call returns (``Ratelimit``'s
    ``__aexit__``), or before the next call with the same interaction token (webhook adapter).

    A ``relaxed`` limit is counted but neither answered with headers nor enforced; ``overruns``
    records each request that would have emptied or overrun it.
    """

    limits: dict[str, RouteLimit] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    global_per_second: int = GLOBAL_PER_SECOND
    enabled: bool = True
    relaxed: set[str] = field(default_factory=set)
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    hits: list[RateLimitEvent] = field(default_factory=list)
    drained: list[RateLimitEvent] = field(default_factory=list)
    overruns: list[RateLimitEvent] = field(default_factory=list)
    _windows: dict[tuple[str, str | None], _Window] = field(
        default_factory=dict, init=False, repr=False
    )

    def set(self, name: str, *, limit: int | None = None, per: float | None = None) -> None:
        """Changes one route limit (tests of the fake use short windows)."""
        current = self.limits[name]
        self.limits[name] = replace(
            current,
            limit=current.limit if limit is None else limit,
            per=current.per if per is None else per,
        )
        self._windows = {key: w for key, w in self._windows.items() if key[0] != name}

    def reset(self) -> None:
        """Every limit as Discord's, every window fresh (a new test on a shared fake)."""
        self.limits = dict(DEFAULT_LIMITS)
        self._windows.clear()

    def admit(
        self,
        method: str,
        path: str,
        *,
        limit_name: str | None,
        major: str | None,
        global_exempt: bool,
    ) -> dict[str, str]:
        """Counts one request; returns the headers its answer carries, or raises a 429."""
        if not self.enabled:
            return {}
        now = self.clock()
        if not global_exempt:
            self._take_global(method, path, now)
        if limit_name is None:
            return {}
        return self._take_route(method, path, limit_name, major, now)

    def reject(
        self,
        method: str,
        path: str,
        *,
        scope: Scope,
        retry_after: float,
        code: int = 0,
        limit: str = "injected",
        headers: dict[str, str] | None = None,
    ) -> RateLimitedError:
        """A recorded 429 answer (also used for the faults tests inject)."""
        body: dict[str, Any] = {
            "message": RATE_LIMITED_MESSAGE,
            "retry_after": round(retry_after, 3),
            "global": scope == "global",
        }
        if code:
            body["code"] = code
        answer = {
            **(headers or {}),
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Scope": scope,
            "Via": VIA,
        }
        if scope == "global":
            answer["X-RateLimit-Global"] = "true"
        bucket = answer.get("X-RateLimit-Bucket", "")
        self.hits.append(
            RateLimitEvent(self.clock(), method, path, limit, bucket, scope, retry_after)
        )
        return RateLimitedError(body, answer)

    def _window(self, key: tuple[str, str | None], limit: int, per: float, now: float) -> _Window:
        window = self._windows.get(key)
        if window is None or now >= window.resets_at:
            window = self._windows[key] = _Window(limit, now + per)
        return window

    def _take_global(self, method: str, path: str, now: float) -> None:
        window = self._window(("global", None), self.global_per_second, 1.0, now)
        if window.remaining <= 0:
            raise self.reject(
                method, path, scope="global", retry_after=window.resets_at - now, limit="global"
            )
        window.remaining -= 1

    def _take_route(
        self, method: str, path: str, name: str, major: str | None, now: float
    ) -> dict[str, str]:
        route = self.limits[name]
        window = self._window((name, major), route.limit, route.per, now)
        wait = window.resets_at - now
        event = RateLimitEvent(now, method, path, name, route.bucket, "user", wait)
        if name in self.relaxed:
            window.remaining -= 1
            if window.remaining <= 0:
                self.overruns.append(event)
            return {}
        if window.remaining <= 0:
            headers = self._headers(route, window, wait)
            raise self.reject(
                method, path, scope="user", retry_after=wait, limit=name, headers=headers
            )
        window.remaining -= 1
        if window.remaining == 0:
            self.drained.append(event)
        return self._headers(route, window, wait)

    def _headers(self, route: RouteLimit, window: _Window, wait: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(route.limit),
            "X-RateLimit-Remaining": str(window.remaining),
            "X-RateLimit-Reset": f"{self.wall_clock() + wait:.3f}",
            "X-RateLimit-Reset-After": f"{wait:.3f}",
            "X-RateLimit-Bucket": route.bucket,
        }
