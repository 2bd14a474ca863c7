"""Gemini calls in worker processes, so their CPU work runs on other cores.

A call's own work (building the request: base64 of every image in the history; reading the
answer: JSON, base64 and the SDK's pydantic models of a multi-megabyte body) takes tens of
milliseconds of CPU. In worker processes it neither stalls the bot's event loop nor competes
with it for a core. The bot sends plain inputs and receives plain results (`bot.generation`
works with picklable data only).

Each worker is a process with its own event loop and long-lived genai client, serving many
calls at once (they mostly wait for Gemini). Messages are length-prefixed pickles over a unix
socket pair: (call id, (request, inputs, previews wanted)) in, (call id, results) out, and
before the results, for a call that shows them, (call id, _Preview) with each thought
image. A worker reads a few answers at a time (`bot.answer_gate`), each holding its place
until its result has gone to the bot, and sends one message at a time: in a burst the
answers wait in their sockets, not in memory. A call the bot stops waiting for (a cancelled
job) finishes in the worker and its result is ignored, as in the bot's own process (see
`generation.shielded`). A worker that dies fails its calls (members see a failure with
Retry) and is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import pickle
import signal
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from bot.answer_gate import AnswerGate, gated_session
from bot.calls import call_model
from bot.config import GeminiSettings
from bot.credentials import GeminiAuth
from bot.errors import GenerationError
from bot.generation import CallInputs, GenerationResult, PreviewSink
from bot.jobs.records import JobRequest
from bot.media import Media
from bot.observability.logs import LogFormat, configure_logging

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!Q")
_READY = -1  # the call id of the message a worker sends once it can take calls
_ENDED = object()  # what a link receives after the connection's last message
_START_TIMEOUT_S = 120.0
Results = list[GenerationResult | GenerationError]


@dataclass(frozen=True)
class _Crash:
    """A bug inside a worker: its description, raised again in the bot."""

    description: str


@dataclass(frozen=True)
class _Preview:
    """An interim thought image of a call still running (sent before its results)."""

    image: Media


class _Link(asyncio.BufferedProtocol):
    """One end of a socket pair carrying length-prefixed pickles both ways.

    Each message is read by the kernel straight into one buffer of its size and unpickled
    from there (a StreamReader copies every chunk into a growing buffer and out again: a few
    milliseconds of the bot's CPU per image)."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._header = bytearray(_HEADER.size)
        self._body: bytearray | None = None  # the message being read, once its size is known
        self._filled = 0
        self._messages: asyncio.Queue[object] = asyncio.Queue()
        self._writable = asyncio.Event()  # the transport's buffer is below its high mark
        self._writable.set()
        self._sending = asyncio.Lock()

    @classmethod
    async def over(cls, sock: socket.socket) -> _Link:
        _, link = await asyncio.get_running_loop().create_unix_connection(cls, sock=sock)
        return link

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        target = self._header if self._body is None else self._body
        return memoryview(target)[self._filled :]

    def buffer_updated(self, nbytes: int) -> None:
        self._filled += nbytes
        if self._body is None and self._filled == _HEADER.size:
            (size,) = _HEADER.unpack(self._header)
            self._body, self._filled = bytearray(size), 0
        if self._body is not None and self._filled == len(self._body):
            body, self._body, self._filled = self._body, None, 0
            self._messages.put_nowait(pickle.loads(body))

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self._messages.put_nowait(_ENDED)  # after every message that came before the end
        self._writable.set()

    async def send(self, message: object) -> None:
        """Send once the messages before it are on their way: in a burst, the results waiting
        their turn are not also held pickled and copied into the transport's buffer."""
        async with self._sending:
            await self._writable.wait()
            if self._transport is None or self._transport.is_closing():
                raise ConnectionError("the connection is closed")
            payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
            self._transport.write(_HEADER.pack(len(payload)))
            self._transport.write(payload)

    async def receive(self) -> Any:
        """The next message; ConnectionError once the connection has ended."""
        message = await self._messages.get()
        if message is _ENDED:
            self._messages.put_nowait(_ENDED)  # for any later call too
            raise ConnectionError("the connection has ended")
        return message

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


# The worker process ------------------------------------------------------------------------


def _worker_main(
    sock: socket.socket, settings: GeminiSettings, auth: GeminiAuth, log_format: LogFormat
) -> None:
    # The bot says when a worker stops (it closes the socket). Ctrl-C in a terminal reaches
    # every process of the group and systemd signals the whole unit, but the calls under way
    # must go on through the bot's shutdown grace period.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure_logging(log_format, [auth.api_key or ""])
    with contextlib.suppress(KeyboardInterrupt):  # one that came before the lines above
        asyncio.run(_serve(sock, settings, auth))


async def _serve(sock: socket.socket, settings: GeminiSettings, auth: GeminiAuth) -> None:
    from bot.gemini import build_client  # the SDK client lives only in the worker

    gate = AnswerGate()
    session = None if auth.vertexai else gated_session()
    client = build_client(settings, auth, session)
    link = await _Link.over(sock)
    calls: dict[int, asyncio.Task[None]] = {}
    await link.send((_READY, None))  # imports done, client built: calls may come

    async def answer(call_id: int, request: JobRequest, inputs: CallInputs, previews: bool) -> None:
        async def preview(image: Media) -> None:
            await link.send((call_id, _Preview(image)))

        async with gate.call():  # its answer is read when the gate lets it; handed on here
            try:
                on_preview = preview if previews else None
                results: Results | _Crash = await call_model(client, request, inputs, on_preview)
            except Exception as exc:
                log.exception("call %d failed", call_id)
                results = _Crash(f"{type(exc).__name__}: {exc}")
            finally:
                calls.pop(call_id, None)
            await link.send((call_id, results))

    try:
        while True:
            try:
                call_id, payload = await link.receive()
            except ConnectionError:
                return  # the bot closed its end: time to stop
            calls[call_id] = asyncio.create_task(answer(call_id, *payload))
    finally:
        for task in calls.values():
            task.cancel()
        await asyncio.gather(*calls.values(), return_exceptions=True)
        await client.aio.aclose()
        if session is not None:
            await session.close()
        link.close()


# The bot's side ----------------------------------------------------------------------------


def _worker_lost() -> GenerationError:
    return GenerationError(
        "The bot's connection to Gemini broke off while your image was being made. Press Retry.",
        kind="worker_lost",
    )


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    link: _Link
    reader_task: asyncio.Task[None] | None = None
    pending: dict[int, asyncio.Future[Results]] = field(default_factory=dict)
    previews: dict[int, PreviewSink] = field(default_factory=dict)  # calls that show them


class WorkerPool:
    """`generate(request, inputs)` as `bot.calls.call_model`, run in `count`
    worker processes."""

    def __init__(
        self,
        count: int,
        settings: GeminiSettings,
        auth: GeminiAuth,
        log_format: LogFormat = "text",
    ) -> None:
        self._count = count
        self._settings = settings
        self._auth = auth
        self._log_format = log_format
        self._workers: list[_Worker] = []  # the live ones
        self._changed = asyncio.Condition()
        self._ids = itertools.count()
        self._closing = False
        self._replacing: asyncio.Task[None] | None = None
        self._preview_tasks: set[asyncio.Future[None]] = set()

    async def start(self) -> None:
        """Start every worker and wait until each can take calls (importing the SDK takes a
        few seconds), so the first jobs never wait for a worker to boot."""
        started = await asyncio.gather(
            *(self._spawn() for _ in range(self._count)), return_exceptions=True
        )
        for outcome in started:
            if isinstance(outcome, _Worker):
                await self._add(outcome)
            elif isinstance(outcome, RuntimeError):
                log.warning("%s", outcome)
            else:
                raise outcome
        if not self._workers:
            raise RuntimeError("no Gemini worker process started")

    async def _add(self, worker: _Worker) -> None:
        async with self._changed:
            self._workers.append(worker)
            self._changed.notify_all()

    async def _spawn(self) -> _Worker:
        ours, theirs = socket.socketpair()
        process = multiprocessing.get_context("spawn").Process(
            target=_worker_main,
            args=(theirs, self._settings, self._auth, self._log_format),
            name="gemini-worker",
            daemon=True,
        )
        await asyncio.to_thread(process.start)
        theirs.close()
        link = await _Link.over(ours)
        try:
            ready = await asyncio.wait_for(link.receive(), _START_TIMEOUT_S)
        except (TimeoutError, ConnectionError) as exc:
            link.close()
            process.kill()
            raise RuntimeError(
                f"a Gemini worker process did not start (exit code {process.exitcode})"
            ) from exc
        assert ready == (_READY, None), ready
        worker = _Worker(process, link)
        worker.reader_task = asyncio.create_task(self._read(worker), name="worker-read")
        return worker

    async def generate(
        self, request: JobRequest, inputs: CallInputs, on_preview: PreviewSink | None = None
    ) -> Results:
        async with self._changed:  # while a lost worker is being replaced, there may be none
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: bool(self._workers)), _START_TIMEOUT_S
                )
            except TimeoutError:
                return [_worker_lost()]
            worker = min(self._workers, key=lambda w: len(w.pending))
        call_id = next(self._ids)
        future: asyncio.Future[Results] = asyncio.get_running_loop().create_future()
        worker.pending[call_id] = future
        if on_preview is not None:
            worker.previews[call_id] = on_preview
        try:
            try:
                payload = (request, inputs, on_preview is not None)
                await worker.link.send((call_id, payload))
            except (ConnectionError, OSError):
                return [_worker_lost()]  # its reader notices the end and replaces it
            return await future
        finally:
            worker.pending.pop(call_id, None)  # a late result is ignored
            worker.previews.pop(call_id, None)

    async def _read(self, worker: _Worker) -> None:
        try:
            while True:
                call_id, results = await worker.link.receive()
                if isinstance(results, _Preview):
                    self._show_preview(worker, call_id, results.image)
                    continue
                future = worker.pending.pop(call_id, None)
                if future is None or future.done():
                    continue
                if isinstance(results, _Crash):
                    future.set_exception(RuntimeError(f"in a Gemini worker: {results.description}"))
                else:
                    future.set_result(results)
        except ConnectionError:
            pass
        self._lost(worker)

    def _show_preview(self, worker: _Worker, call_id: int, image: Media) -> None:
        """Hand a preview to its call's sink without holding up the reading of answers."""
        sink = worker.previews.get(call_id)
        if sink is None:
            return
        task = asyncio.ensure_future(sink(image))
        self._preview_tasks.add(task)
        task.add_done_callback(self._preview_tasks.discard)

    def _lost(self, worker: _Worker) -> None:
        """The worker's connection ended: fail its calls; replace it unless closing."""
        for future in worker.pending.values():
            if not future.done():
                future.set_result([_worker_lost()])
        worker.pending.clear()
        if self._closing or worker not in self._workers:
            return
        self._workers.remove(worker)
        self._replacing = asyncio.get_running_loop().create_task(self._replace(worker))

    async def _replace(self, old: _Worker) -> None:
        await asyncio.to_thread(old.process.join, 5)
        log.warning(
            "a Gemini worker process ended (exit code %s); starting another",
            old.process.exitcode,
        )
        delay = 1.0
        while not self._closing:
            try:
                await self._add(await self._spawn())
                return
            except RuntimeError as exc:
                log.warning("%s; trying again in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)

    async def close(self) -> None:
        self._closing = True
        if self._replacing is not None:
            self._replacing.cancel()
            await asyncio.gather(self._replacing, return_exceptions=True)
        for worker in self._workers:
            worker.link.close()
        for worker in self._workers:
            await asyncio.to_thread(worker.process.join, 10)
            if worker.process.is_alive():
                worker.process.kill()
            if worker.reader_task is not None:
                worker.reader_task.cancel()
                await asyncio.gather(worker.reader_task, return_exceptions=True)
