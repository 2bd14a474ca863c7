"""The monitoring endpoints, served by aiohttp on the bot's own event loop:

- `GET /healthz`: 200 "ok" while healthy, else 503 with one reason per line;
- `GET /metrics`: the Prometheus text format (or OpenMetrics, if the scraper asks for it),
  written by prometheus_client.

Both are cheap: the health probe is one short transaction, the metrics a few dozen series
rendered in memory (`benchmarks/observability.py` measures them). No access log: a scrape
every few seconds would drown the job lines.
"""

from __future__ import annotations

import logging
import os

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from bot.errors import ConfigError
from bot.observability.health import Health
from bot.observability.metrics import Metrics

log = logging.getLogger(__name__)


class OpsServer:
    def __init__(self, host: str, port: int, *, health: Health, metrics: Metrics) -> None:
        self._host = host
        self._port = port
        self._health = health
        self._metrics = metrics
        self._render_metrics = make_aiohttp_handler(metrics.registry)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen; ConfigError (naming the setting) when the address cannot be used."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics_page)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except OSError as exc:
            await runner.cleanup()
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise ConfigError(
                f"Cannot serve health and metrics on {self._host}:{self._port} ({reason}). "
                "Choose another [observability] http_port or http_host, or stop what uses "
                "that port."
            ) from None
        self._runner = runner
        log.info("health and metrics at http://%s:%d/healthz and /metrics", self._host, self._port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        problems = await self._health.problems()
        if problems:
            return web.Response(status=503, text="\n".join(problems) + "\n")
        return web.Response(text="ok\n")

    async def _metrics_page(self, request: web.Request) -> web.StreamResponse:
        await self._metrics.refresh()
        return await self._render_metrics(request)
