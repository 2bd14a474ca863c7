"""Is the bot able to do its work right now? Connected to Discord's gateway, and its database
takes writes. What is wrong comes back as plain sentences, for the body of a 503.

The database probe (a write transaction started and rolled back) waits for the database
lock; a health check gives it `probe_timeout_s` and then answers without it. The probe itself
is never abandoned half-way (shielded), so it always ends its transaction, and checks that
arrive while one is still running share it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

PROBE_TIMEOUT_S = 2.0


class Health:
    def __init__(
        self,
        *,
        gateway_connected: Callable[[], bool],
        store_problem: Callable[[], Awaitable[str | None]],
        probe_timeout_s: float = PROBE_TIMEOUT_S,
    ) -> None:
        self._gateway_connected = gateway_connected
        self._store_problem = store_problem
        self._timeout = probe_timeout_s
        self._probe: asyncio.Future[str | None] | None = None
        self._stopping = False

    def stopping(self) -> None:
        """The bot is shutting down: from now on it is not healthy."""
        self._stopping = True

    async def problems(self) -> list[str]:
        """Empty when healthy."""
        problems = []
        if self._stopping:
            problems.append("the bot is shutting down")
        if not self._gateway_connected():
            problems.append("not connected to Discord's gateway")
        store = await self._probe_store()
        if store is not None:
            problems.append(store)
        return problems

    async def _probe_store(self) -> str | None:
        if self._probe is None or self._probe.done():
            self._probe = asyncio.ensure_future(self._store_problem())
        try:
            return await asyncio.wait_for(asyncio.shield(self._probe), self._timeout)
        except TimeoutError:
            return (
                f"the database did not take a write within {self._timeout:g} s (is another "
                "process holding it?)"
            )

    async def close(self) -> None:
        """Wait for a probe still running (it ends in the database's busy timeout)."""
        if self._probe is not None:
            await asyncio.gather(self._probe, return_exceptions=True)
