"""The loopback fakes of Discord and Gemini in a child process, driven over stdin/stdout.

Why a child process: the benchmarks measure the bot's process (its event loop stalls, its
CPU, its RSS). Served from the same process, the fakes would add their own work to the
bot's loop and their own memory (FakeDiscord keeps every uploaded file) to its RSS. Here
they run on the machine's other core, like a remote Discord and Gemini would.

Protocol: one JSON object per line. The parent writes ``{"id": n, "op": name, "args": {}}``;
the child answers ``{"id": n, "ok": true, "result": ...}`` or ``{"id": n, "ok": false,
"error": text}``. Requests run concurrently. Times in answers are ``time.monotonic()``
seconds, which on Linux is one clock for every process of the machine.

Nothing here edits the fakes: subclasses add timing (how long each fake takes to handle a
request) and watchers (the moment Discord's state shows a result), and replies are scripted
with FakeGemini's public ``enqueue``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import struct
import sys
import time
import traceback
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes import fake_discord
from tests.fakes.fake_discord import RELAXED_BY_DEFAULT, FakeDiscord, FakeInteraction
from tests.fakes.fake_gemini import FakeGemini, image_reply

Json = dict[str, Any]
Span = tuple[float, float]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- instrumented fakes


class TimedGemini(FakeGemini):
    """FakeGemini that records how long it takes to handle each request (its own time)."""

    def __init__(self, *, image_px: int) -> None:
        super().__init__(image_px=image_px)
        self.spans: list[Span] = []
        self.unique_image_bytes = 0  # > 0: answer with distinct PNGs of about this size
        self._base_png = b""
        self._serial = itertools.count()

    async def _handle(self, http: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        try:
            return await super()._handle(http)
        finally:
            self.spans.append((started, time.monotonic()))

    def set_unique_images(self, approx_bytes: int) -> None:
        self.unique_image_bytes = approx_bytes
        self._base_png = noisy_png(self.image_px, approx_bytes) if approx_bytes else b""

    def script_replies(self, count: int) -> None:
        """In unique-image mode, queue `count` answers, each a PNG no other answer shares."""
        if not self.unique_image_bytes:
            return
        for _ in range(count):
            png = with_text_chunk(self._base_png, "bench-serial", str(next(self._serial)))
            self.enqueue(image_reply(image=png))


class WatchedDiscord(FakeDiscord):
    """FakeDiscord that times each REST call, records heartbeats and wakes watchers.

    A watcher is called after every REST call the fake handled (when the world may have
    changed); it returns True once it is satisfied and is then dropped.
    """

    def __init__(self) -> None:
        # Discord opens about 50 threads per 5 minutes per bot. Results do not wait for
        # their threads (tests/e2e/test_job_pipeline.py), but a run of hundreds of jobs would
        # then measure Discord's pace, not the bot: threads are counted, not paced, here.
        super().__init__(relaxed_limits=(*RELAXED_BY_DEFAULT, "thread-create"))
        self.call_spans: list[tuple[str, float, float]] = []
        self.heartbeats: list[float] = []
        self.watchers: list[Callable[[], bool]] = []

    def _dispatch_call(self, call: Any) -> tuple[int, object]:
        started = time.monotonic()
        try:
            return super()._dispatch_call(call)
        finally:
            self.call_spans.append((call.record.method, started, time.monotonic()))
            self.watchers[:] = [watcher for watcher in self.watchers if not watcher()]

    async def _on_gateway_frame(self, connection: Any, raw: str) -> None:
        if raw.startswith('{"op":1,'):
            self.heartbeats.append(time.monotonic())
        await super()._on_gateway_frame(connection, raw)


# --------------------------------------------------------------------------- images


def noisy_png(short_edge: int, approx_bytes: int) -> bytes:
    """A square RGB PNG of about `approx_bytes`: random rows (incompressible) then flat rows."""
    width = height = short_edge
    row_bytes = 1 + 3 * width
    noisy_rows = min(height, max(1, approx_bytes // (3 * width)))
    rng_rows = [b"\x00" + os.urandom(3 * width) for _ in range(noisy_rows)]
    flat = b"\x00" + bytes((90, 120, 160)) * width
    raw = b"".join(rng_rows) + flat * (height - noisy_rows)
    assert len(raw) == row_bytes * height
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 1))
        + _chunk(b"IEND", b"")
    )


def with_text_chunk(png: bytes, key: str, value: str) -> bytes:
    """`png` with a tEXt chunk after IHDR: the same picture, different bytes (and sha256)."""
    ihdr_end = len(_PNG_SIGNATURE) + 25
    text = _chunk(b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1"))
    return png[:ihdr_end] + text + png[ihdr_end:]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# --------------------------------------------------------------------------- tracking


@dataclass
class Track:
    """Milestones of one job as Discord's state shows them (monotonic seconds)."""

    started: float
    ref: str = ""  # the interaction's response (= its thread's id), or the member's message
    marks: dict[str, float] = field(default_factory=dict)
    ok: bool | None = None
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, time.monotonic())

    def finish(self, *, ok: bool) -> None:
        self.ok = ok
        if not self.done.done():
            self.done.set_result(None)

    def as_json(self) -> Json:
        return {"started": self.started, "ref": self.ref, "marks": self.marks, "ok": self.ok}


class Server:
    def __init__(self) -> None:
        self.discord = WatchedDiscord()
        self.gemini = TimedGemini(image_px=64)
        self.bot_id = ""

    # -- ops (each takes keyword arguments from "args" and returns JSON-able data)

    async def op_start(
        self, *, heartbeat_ms: int | None = None, image_px: int = 1024, default_delay: float = 0.0
    ) -> Json:
        if heartbeat_ms is not None:
            # Read by FakeDiscord when a gateway connection opens (the HELLO payload).
            fake_discord.HEARTBEAT_INTERVAL_MS = heartbeat_ms
        self.gemini.image_px = image_px
        self.gemini.default_delay = default_delay
        await self.discord.start()
        await self.gemini.start()
        self.bot_id = self.discord.bot_user["id"]
        return {
            "api_base_url": self.discord.api_base_url,
            "gateway_url": self.discord.gateway_url,
            "guild_id": self.discord.guild_id,
            "channel_id": self.discord.channel_id,
            "token": self.discord.token,
            "gemini_base_url": self.gemini.base_url,
            "gemini_api_key": self.gemini.api_key,
            "alice": self.discord.alice,
            "pid": os.getpid(),
        }

    async def op_configure(
        self,
        *,
        default_delay: float | None = None,
        image_px: int | None = None,
        unique_image_bytes: int | None = None,
        real_images: bool | None = None,
        output_mime: str | None = None,
    ) -> None:
        """`real_images`: answer as Gemini does (1K: ~1.5 MB JPEG or ~2.7 MB PNG, photo-like);
        otherwise solid-colour images of `image_px`. `output_mime`: always this format
        ("" for each model's own)."""
        if default_delay is not None:
            self.gemini.default_delay = default_delay
        if real_images is not None:
            self.gemini.real_images = real_images
        if output_mime is not None:
            self.gemini.output_mime = output_mime or None
        if image_px is not None:
            self.gemini.image_px = image_px
        if unique_image_bytes is not None:
            self.gemini.set_unique_images(unique_image_bytes)

    async def op_wait_identified(self, *, timeout: float = 10.0) -> None:
        await self.discord.wait_until_identified(timeout)

    async def op_add_members(self, *, count: int, prefix: str = "member") -> list[Json]:
        return [self.discord.add_member(f"{prefix}{n}") for n in range(count)]

    async def op_imagine(
        self,
        *,
        prompt: str,
        user: Json | None = None,
        options: Json | None = None,
        timeout: float = 30.0,
    ) -> Json:
        """One /imagine (`options`: more of its options, e.g. {"count": "4"})."""
        (result,) = await self._imagine_all([(prompt, user, None)], timeout, options)
        return self._with_fake_times(result)

    async def op_imagine_many(
        self,
        *,
        prompts: list[str],
        users: list[Json | None],
        channel_ids: list[str | None] | None = None,
        timeout: float = 60.0,
    ) -> list[Json]:
        """Dispatch every /imagine at once (in one go, no await between them)."""
        channels = channel_ids or [None] * len(prompts)
        return await self._imagine_all(list(zip(prompts, users, channels, strict=True)), timeout)

    async def op_add_channels(self, *, count: int, prefix: str = "images") -> list[str]:
        return [self.discord.add_text_channel(f"{prefix}-{n}") for n in range(count)]

    async def op_refine(
        self, *, thread_id: str, content: str, user: Json | None = None, timeout: float = 30.0
    ) -> Json:
        (result,) = await self._refine_all([(thread_id, content, user)], timeout)
        return self._with_fake_times(result)

    async def op_refine_many(
        self,
        *,
        thread_ids: list[str],
        contents: list[str],
        users: list[Json | None],
        timeout: float = 60.0,
    ) -> list[Json]:
        return await self._refine_all(list(zip(thread_ids, contents, users, strict=True)), timeout)

    async def op_heartbeats(self) -> list[float]:
        beats, self.discord.heartbeats = self.discord.heartbeats, []
        return beats

    async def op_stats(self) -> Json:
        return {
            "discord_violations": list(self.discord.violations),
            "gemini_violations": list(self.gemini.violations),
            "discord_requests": len(self.discord.call_spans),
            "gemini_requests": len(self.gemini.spans),
        }

    async def op_spans(self) -> Json:
        """The fakes' request spans: Gemini (start, end) and Discord (method, start, end)."""
        return {"gemini": self.gemini.spans, "discord": self.discord.call_spans}

    async def op_forget(self) -> None:
        """Drop request records (FakeDiscord keeps every uploaded file in them)."""
        self.discord.requests.clear()
        self.discord.call_spans.clear()
        self.gemini.spans.clear()
        self.gemini.requests.clear()

    async def op_stop(self) -> None:
        await self.discord.stop()
        await self.gemini.stop()

    # -- helpers

    async def _imagine_all(
        self,
        jobs: list[tuple[str, Json | None, str | None]],
        timeout: float,
        options: Json | None = None,
    ) -> list[Json]:
        self.gemini.script_replies(len(jobs))
        tracks: list[Track] = []
        for prompt, user, channel_id in jobs:
            interaction = await self.discord.run_command(
                "imagine", {"prompt": prompt, **(options or {})}, user=user, channel_id=channel_id
            )
            track = Track(started=interaction.dispatched_at)
            self._watch(self._imagine_watcher(interaction, track))
            tracks.append(track)
        await self._wait(tracks, timeout)
        return [track.as_json() for track in tracks]

    def _imagine_watcher(self, interaction: FakeInteraction, track: Track) -> Callable[[], bool]:
        def check() -> bool:
            if interaction.callback_type is not None:
                track.mark("ack")
            original = interaction.original
            if any(f.get("flags", 0) & 64 for f in interaction.followups):
                track.mark("result")
                track.finish(ok=False)
                return True
            if original is None or not _is_card(original):
                return False
            track.mark("result")
            track.ref = original["id"]
            if not original.get("attachments"):  # a block or failure: no thread follows
                track.finish(ok=False)
                return True
            if original["id"] not in self.discord.threads:
                return False
            track.mark("thread")
            track.finish(ok=True)
            return True

        return check

    async def _refine_all(
        self, jobs: list[tuple[str, str, Json | None]], timeout: float
    ) -> list[Json]:
        self.gemini.script_replies(len(jobs))
        tracks: list[Track] = []
        for thread_id, content, user in jobs:
            started = time.monotonic()
            message = await self.discord.post_message(thread_id, content, author=user)
            track = Track(started=started, ref=message["id"])
            self._watch(self._refine_watcher(message, track))
            tracks.append(track)
        await self._wait(tracks, timeout)
        return [track.as_json() for track in tracks]

    def _refine_watcher(self, message: Json, track: Track) -> Callable[[], bool]:
        def check() -> bool:
            for reply in self.discord.channel_messages(message["channel_id"]):
                reference = reply.get("message_reference") or {}
                if reference.get("message_id") != message["id"]:
                    continue
                track.mark("ack")
                if _is_card(reply):
                    track.mark("result")
                    track.finish(ok=bool(reply.get("attachments")))
                    return True
            return False

        return check

    def _watch(self, watcher: Callable[[], bool]) -> None:
        if not watcher():
            self.discord.watchers.append(watcher)

    async def _wait(self, tracks: list[Track], timeout: float) -> None:
        try:
            await asyncio.wait_for(asyncio.gather(*(t.done for t in tracks)), timeout)
        except TimeoutError:
            missing = sum(1 for t in tracks if not t.done.done())
            raise RuntimeError(
                f"{missing} of {len(tracks)} jobs not final within {timeout}s; "
                f"violations: {self.discord.violations[:3]} {self.gemini.violations[:3]}"
            ) from None

    def _with_fake_times(self, result: Json) -> Json:
        """Add the fakes' own handling time inside the job's window (sequential jobs only)."""
        start = result["started"]
        end = max(result["marks"].values(), default=start)
        gemini = [(a, b) for a, b in self.gemini.spans if a >= start and b <= end]
        discord = [(a, b) for _, a, b in self.discord.call_spans if a >= start and b <= end]
        result["gemini_s"] = sum(b - a for a, b in gemini)
        result["gemini_requests"] = len(gemini)
        result["gemini_last_answer"] = max((b for _, b in gemini), default=start)
        result["discord_s"] = sum(b - a for a, b in discord)
        result["discord_requests"] = len(discord)
        return result


def _is_card(message: Json) -> bool:
    """The message shows an outcome: a Components V2 result card, or an embed."""
    return bool(message.get("embeds")) or bool(message.get("flags", 0) & _COMPONENTS_V2)


_COMPONENTS_V2 = 1 << 15


# --------------------------------------------------------------------------- main loop


async def _serve() -> None:
    server = Server()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    pending: set[asyncio.Task[None]] = set()

    def answer(message: Json) -> None:
        out.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        out.flush()

    async def handle(request: Json) -> None:
        handler: Callable[..., Awaitable[Any]] = getattr(server, f"op_{request['op']}")
        try:
            result = await handler(**request.get("args", {}))
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            answer({"id": request["id"], "ok": False, "error": f"{type(exc).__name__}: {exc}"})
        else:
            answer({"id": request["id"], "ok": True, "result": result})

    while line := await reader.readline():
        request = json.loads(line)
        if request["op"] == "stop":
            with contextlib.suppress(Exception):
                await server.op_stop()
            answer({"id": request["id"], "ok": True, "result": None})
            break
        task = asyncio.create_task(handle(request))
        pending.add(task)
        task.add_done_callback(pending.discard)
    for task in list(pending):
        task.cancel()


def main() -> None:
    asyncio.run(_serve())


if __name__ == "__main__":
    main()
