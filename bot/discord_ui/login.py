"""Logging in while Discord cannot be reached: one line naming the host and the cause, then
again after a pause that grows, as a service should (a restart of the machine often starts
the bot before its network). discord.py reconnects the gateway by itself, but a failed login
ends `start` with a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging

import aiohttp
import discord
import yarl

log = logging.getLogger(__name__)

RETRY_DELAYS_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)  # then every minute


async def log_in(client: discord.Client, token: str, stop: asyncio.Event) -> bool:
    """`client.login(token)`, tried until Discord answers. False when `stop` is set first.
    A refused token (`discord.LoginFailure`) and other HTTP errors are raised as they are."""
    host = yarl.URL(discord.http.Route.BASE).host
    delays = itertools.chain(RETRY_DELAYS_S, itertools.repeat(RETRY_DELAYS_S[-1]))
    while not stop.is_set():
        try:
            await client.login(token)
            return True
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            cause = _cause(exc)
        delay = next(delays)
        log.warning("cannot reach Discord at %s (%s); trying again in %g s", host, cause, delay)
        # The next login opens a new session on a new connector; close the old ones.
        await client.http.close()
        client.http.connector = discord.utils.MISSING
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
    return False


def _cause(exc: BaseException) -> str:
    """What went wrong, in the words of the operating system where it has them."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return exc.os_error.strerror or str(exc.os_error)
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return str(exc) or type(exc).__name__
