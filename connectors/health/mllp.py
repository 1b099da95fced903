"""MLLP: the Minimal Lower Layer Protocol that carries HL7 v2 over TCP.

Each message travels as ``0x0B <message> 0x1C 0x0D`` and is answered with an
acknowledgement in the same framing, on the same connection, in order. Real
peers are untidy, so the server here is defensive by design:

* bytes outside a frame (line noise, a half-sent frame from a restarted
  peer) are skipped and counted, never allowed to block the next frame;
* a frame larger than ``max_frame_bytes`` is refused with a NAK (AR) and the
  connection is closed cleanly (write side shut first, the rest drained, so
  the peer reads the NAK instead of a reset);
* a peer that goes silent mid-frame gets a NAK after ``frame_timeout``; an
  idle connection is closed after ``idle_timeout``;
* a start block inside a frame means the sender gave up on the previous
  frame: the partial frame is NAKed, never silently dropped;
* a handler failure becomes a NAK (AE), never a dropped connection.

The server is asyncio (one task per connection, handlers run in a thread
pool because they may block on the broker); ``ThreadedMllpServer`` runs it
in a background thread for tests, the simulator and the demo. ``MllpClient``
is a blocking client that keeps its connection for many messages.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog
from pydantic import BaseModel, ConfigDict, Field

from .hl7_ack import AckCode, AckError, build_ack
from ...mapping.paths.hl7_er7 import peek_header

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"

log = structlog.get_logger("mashlink.connectors.health.mllp")

#: Turns one received message (raw bytes) into the acknowledgement to send back.
MessageHandler = Callable[[bytes], "str | bytes"]


class MllpSettings(BaseModel):
    """Limits of one MLLP endpoint; safe defaults for a trust integration engine feed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_frame_bytes: int = Field(default=1_048_576, ge=256, description="Largest message accepted")
    idle_timeout: float = Field(default=300.0, gt=0, description="Seconds without a frame before closing")
    frame_timeout: float = Field(default=30.0, gt=0, description="Seconds allowed to finish a started frame")
    linger: float = Field(default=2.0, ge=0, description="Seconds to drain input after refusing a frame")
    max_connections: int = Field(default=64, ge=1)
    handler_threads: int = Field(default=4, ge=1)


class MllpError(Exception):
    """Transport failure on the client side (timeout, connection closed, bad framing)."""


def frame(message: str | bytes, encoding: str = "utf-8") -> bytes:
    """Wrap one message in MLLP start and end blocks."""
    data = message.encode(encoding) if isinstance(message, str) else message
    return START_BLOCK + data + END_BLOCK


@dataclass(frozen=True, slots=True)
class Frame:
    data: bytes


@dataclass(frozen=True, slots=True)
class Interrupted:
    """A frame cut short by a new start block."""

    partial: bytes


@dataclass(frozen=True, slots=True)
class Oversize:
    """A frame over the size cap; ``head`` is its first bytes, to address the NAK."""

    head: bytes


class FrameDecoder:
    """Incremental MLLP de-framer: feed bytes, get frames (and anomalies) back."""

    def __init__(self, max_frame_bytes: int) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.buffer = bytearray()
        self.in_frame = False
        self.discarded = 0
        self._scan_from = 0

    def feed(self, data: bytes) -> list[Frame | Interrupted | Oversize]:
        buf = self.buffer
        buf += data
        events: list[Frame | Interrupted | Oversize] = []
        while True:
            if not self.in_frame:
                start = buf.find(START_BLOCK)
                if start < 0:
                    self.discarded += len(buf)
                    buf.clear()
                    break
                self.discarded += start
                del buf[: start + 1]
                self.in_frame = True
                self._scan_from = 0
            end = buf.find(END_BLOCK, self._scan_from)
            restart = buf.find(START_BLOCK, self._scan_from)
            if restart >= 0 and (end < 0 or restart < end):
                events.append(Interrupted(bytes(buf[:restart])))
                del buf[:restart]
                self.in_frame = False
                continue
            if end < 0:
                if len(buf) > self.max_frame_bytes:
                    events.append(Oversize(bytes(buf[:4096])))
                    buf.clear()
                    self.in_frame = False
                    break
                self._scan_from = max(0, len(buf) - 1)
                break
            if end > self.max_frame_bytes:
                events.append(Oversize(bytes(buf[:4096])))
                del buf[: end + 2]
                self.in_frame = False
                continue
            events.append(Frame(bytes(buf[:end])))
            del buf[: end + 2]
            self.in_frame = False
        return events

    @property
    def partial(self) -> bytes:
        return bytes(self.buffer[:4096]) if self.in_frame else b""


def nak_for_head(head: bytes, code: AckCode, error: AckError) -> bytes:
    """A NAK addressed as well as the (possibly broken) message head allows."""
    control_id, _mtype, trigger, version = peek_header(head)
    return build_ack(code, control_id=control_id, version=version, trigger=trigger, error=error).encode("utf-8")


class MllpServer:
    """Asyncio MLLP listener. ``handler`` returns the ACK for each message."""

    def __init__(
        self,
        handler: MessageHandler,
        host: str = "127.0.0.1",
        port: int = 0,
        settings: MllpSettings | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.host = host
        self.requested_port = port
        self.settings = settings or MllpSettings()
        self._server: asyncio.AbstractServer | None = None
        self._executor = ThreadPoolExecutor(self.settings.handler_threads, thread_name_prefix="mllp-handler")
        self._connections = 0
        self._tasks: set[asyncio.Task] = set()
        self.port: int | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connection, self.host, self.requested_port,
                                                  ssl=self.ssl_context, ssl_handshake_timeout=30.0
                                                  if self.ssl_context is not None else None)
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        log.info("mllp.listening", host=self.host, port=self.port, tls=self.ssl_context is not None)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        peer = writer.get_extra_info("peername")
        try:
            if self._connections >= self.settings.max_connections:
                log.warning("mllp.too_many_connections", limit=self.settings.max_connections)
                writer.close()
                return
            self._connections += 1
            try:
                await self._serve(reader, writer)
            finally:
                self._connections -= 1
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:  # never let one connection take the listener down
            log.exception("mllp.connection_failed", peer=str(peer))
        finally:
            try:
                writer.close()
                await asyncio.wait_for(writer.wait_closed(), 2)
            except Exception:
                pass
            if task is not None:
                self._tasks.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        settings = self.settings
        decoder = FrameDecoder(settings.max_frame_bytes)
        received = 0
        while True:
            timeout = settings.frame_timeout if decoder.in_frame else settings.idle_timeout
            try:
                data = await asyncio.wait_for(reader.read(65536), timeout)
            except (asyncio.TimeoutError, TimeoutError):
                if decoder.in_frame:
                    log.warning("mllp.frame_timeout", seconds=settings.frame_timeout)
                    await self._send(writer, nak_for_head(
                        decoder.partial, AckCode.REJECT,
                        AckError(100, f"incomplete MLLP frame: no end block within {settings.frame_timeout:g} s"),
                    ))
                    await self._close_gracefully(reader, writer)
                else:
                    log.info("mllp.idle_close", seconds=settings.idle_timeout, messages=received)
                return
            if not data:
                if decoder.in_frame:
                    log.warning("mllp.eof_mid_frame", partial_bytes=len(decoder.buffer))
                    await self._send(writer, nak_for_head(
                        decoder.partial, AckCode.REJECT,
                        AckError(100, "connection closed before the MLLP end block"),
                    ))
                return
            before = decoder.discarded
            for event in decoder.feed(data):
                if isinstance(event, Frame):
                    received += 1
                    await self._send(writer, await self._handle(event.data))
                elif isinstance(event, Interrupted):
                    log.warning("mllp.frame_interrupted", partial_bytes=len(event.partial))
                    await self._send(writer, nak_for_head(
                        event.partial, AckCode.REJECT,
                        AckError(100, "MLLP frame interrupted by a new start block; message not processed"),
                    ))
                else:
                    log.warning("mllp.oversize_frame", limit=settings.max_frame_bytes)
                    await self._send(writer, nak_for_head(
                        event.head, AckCode.REJECT,
                        AckError(
                            104, f"message exceeds the {settings.max_frame_bytes} byte limit; connection closed"
                        ),
                    ))
                    await self._close_gracefully(reader, writer)
                    return
            if decoder.discarded != before:
                log.warning("mllp.bytes_outside_frame", count=decoder.discarded - before)
                if decoder.discarded > settings.max_frame_bytes:
                    log.warning("mllp.too_much_noise", discarded=decoder.discarded)
                    await self._close_gracefully(reader, writer)
                    return

    async def _handle(self, data: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        try:
            reply = await loop.run_in_executor(self._executor, self.handler, data)
        except Exception as exc:  # the handler should NAK itself; this is the safety net
            log.error("mllp.handler_failed", error_type=type(exc).__name__)
            return nak_for_head(data, AckCode.ERROR, AckError(207, "application internal error"))
        return reply.encode("utf-8") if isinstance(reply, str) else reply

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, message: bytes) -> None:
        writer.write(frame(message))
        await writer.drain()

    async def _close_gracefully(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Shut our write side, then drain what the peer still sends so it reads our NAK, not a reset."""
        try:
            if writer.can_write_eof():
                writer.write_eof()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.settings.linger
            drained = 0
            while drained < 64 * self.settings.max_frame_bytes:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                chunk = await asyncio.wait_for(reader.read(65536), remaining)
                if not chunk:
                    break
                drained += len(chunk)
        except (asyncio.TimeoutError, TimeoutError, ConnectionError):
            pass


class ThreadedMllpServer:
    """An ``MllpServer`` on its own event loop in a daemon thread (tests, simulator, demo)."""

    def __init__(
        self,
        handler: MessageHandler,
        host: str = "127.0.0.1",
        port: int = 0,
        settings: MllpSettings | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.server = MllpServer(handler, host, port, settings, ssl_context)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="mllp-server", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.server.start())
        except BaseException as exc:  # report bind failures to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self.server.close())
        self._loop.close()

    def start(self) -> "ThreadedMllpServer":
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    @property
    def port(self) -> int:
        assert self.server.port is not None, "server not started"
        return self.server.port

    @property
    def host(self) -> str:
        return self.server.host

    def __enter__(self) -> "ThreadedMllpServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MllpClient:
    """Blocking MLLP client; one connection carries many messages, each answered in turn."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 10.0,
        max_frame_bytes: int = 4_194_304,
        encoding: str = "utf-8",
        ssl_context: ssl.SSLContext | None = None,
        server_name: str | None = None,
    ) -> None:
        self.ssl_context = ssl_context
        self.server_name = server_name
        self.host = host
        self.port = port
        self.timeout = timeout
        self.encoding = encoding
        self._decoder = FrameDecoder(max_frame_bytes)
        self._pending: deque[bytes] = deque()
        self._sock: socket.socket | None = None

    def connect(self) -> "MllpClient":
        if self._sock is None:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
                if self.ssl_context is not None:
                    try:
                        sock = self.ssl_context.wrap_socket(sock, server_hostname=self.server_name or self.host)
                    except BaseException:
                        sock.close()
                        raise
                self._sock = sock
            except ssl.SSLError as exc:  # before OSError: SSLError is one
                raise MllpError(f"TLS handshake with MLLP peer {self.host}:{self.port} failed: "
                                f"{exc.reason or exc}") from exc
            except OSError as exc:
                raise MllpError(f"cannot connect to MLLP peer {self.host}:{self.port}: {exc}") from exc
            self._sock.settimeout(self.timeout)
        return self

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def __enter__(self) -> "MllpClient":
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_bytes(self, data: bytes) -> None:
        """Send raw bytes (already framed, or deliberately not: tests use this for noise)."""
        sock = self.connect()._sock
        assert sock is not None
        try:
            sock.sendall(data)
        except OSError as exc:
            self.close()
            raise MllpError(f"send failed: {exc}") from exc

    def receive(self, timeout: float | None = None) -> str:
        """The next framed message from the peer."""
        sock = self.connect()._sock
        assert sock is not None
        sock.settimeout(self.timeout if timeout is None else timeout)
        while not self._pending:
            try:
                chunk = sock.recv(65536)
            except socket.timeout as exc:
                raise MllpError("timed out waiting for an acknowledgement") from exc
            except OSError as exc:
                self.close()
                raise MllpError(f"receive failed: {exc}") from exc
            if not chunk:
                self.close()
                raise MllpError("connection closed by peer before an acknowledgement")
            for event in self._decoder.feed(chunk):
                if isinstance(event, Frame):
                    self._pending.append(event.data)
                else:
                    raise MllpError("peer sent a malformed or oversize MLLP frame")
        return self._pending.popleft().decode(self.encoding, errors="replace")

    def send(self, message: str | bytes, timeout: float | None = None) -> str:
        """Send one message and return the peer's acknowledgement (ER7 text)."""
        self.send_bytes(frame(message, self.encoding))
        return self.receive(timeout)

    @property
    def connected(self) -> bool:
        return self._sock is not None
