"""trio's private attributes, reached from here only (see ``fast_paths.py``).

Written for the trio versions in ``fast_paths.SUPPORTED``: the TLS state of a
``trio.SSLStream`` (its ``ssl.SSLObject``, incoming/outgoing memory BIOs,
state, handshake and transport-read lock), to read the socket and decode
every TLS record already received in one step.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import trio

Receive = Callable[[int], Awaitable[bytes]]

#: Raw bytes asked of the socket per read (trio's SSLStream asks its estimate, 16 KiB+).
_READ_SIZE = 1 << 16

try:
    from trio._highlevel_socket import _translate_socket_errors_to_stream_errors as _translate
    from trio._ssl import _State

    _OK: Any = _State.OK
    _BROKEN: Any = _State.BROKEN
except ImportError:  # pragma: no cover - another trio layout: trio's own reads only
    _OK = _BROKEN = None


def _laid_out(stream: trio.SSLStream[Any]) -> bool:
    """True when ``stream`` holds the private state used here, of the types expected."""
    try:
        return (
            _OK is not None
            and type(stream._ssl_object) is ssl.SSLObject
            and type(stream._incoming) is ssl.MemoryBIO
            and type(stream._outgoing) is ssl.MemoryBIO
            and isinstance(stream._inner_recv_lock, trio.Lock)
            and isinstance(stream._inner_send_lock, trio.StrictFIFOLock)
            and type(stream._inner_recv_count) is int
            and type(stream._handshook.done) is bool
            and stream._state is not None
        )
    except AttributeError:
        return False


def socket_receive(stream: trio.SocketStream) -> Receive:
    """``stream.receive_some``, waiting for the socket before the first ``recv``.

    trio tries ``recv`` first and waits only when it fails: a stream whose
    events arrive one at a time (a paced reply) pays a failing system call
    and its ``BlockingIOError`` on every read. Waiting first costs the same
    one scheduling round when data is already there. Errors are trio's own
    (``BrokenResourceError``, ``ClosedResourceError``); trio's read serves a
    closed socket, a wakeup with nothing to read, and any other layout.
    """
    fallback = stream.receive_some
    raw = getattr(stream.socket, "_sock", None)
    if _OK is None or type(raw) is not socket.socket:
        return fallback
    wait = trio.lowlevel.wait_readable
    recv = raw.recv

    async def receive_some(max_bytes: int) -> bytes:
        if raw.fileno() < 0:
            return await fallback(max_bytes)
        await wait(raw)
        try:
            return recv(max_bytes)
        except BlockingIOError:
            return await fallback(max_bytes)
        except OSError:
            with _translate():
                raise
        raise AssertionError("unreachable")  # pragma: no cover - for the type checker

    return receive_some


def joined(parts: list[bytes]) -> bytes:
    """``b"".join(parts)`` without the copy when there is one part (the usual case)."""
    return parts[0] if len(parts) == 1 else b"".join(parts)


def draining_receive(stream: object) -> Receive | None:
    """A ``receive_some`` for ``stream`` that returns every TLS record already received.

    ``trio.SSLStream.receive_some`` decrypts one TLS record per call, even when
    the socket read brought in dozens (a provider sends each SSE event in its
    own record), so each event would cost its own wakeup and parse; and each
    call takes a lock with a scheduling round and meets OpenSSL's "want read"
    exception before it reads the socket. Once the handshake is done, this
    one first returns what is already buffered (trio's own reads leave
    records behind, and they may be the last the peer sends); only with
    nothing whole buffered does it read the socket itself (holding the
    SSLStream's transport-read lock, as trio does). Either way it decrypts
    every complete record received, up to ``max_bytes``, stopping at the
    first incomplete one. Anything else goes to trio's own
    ``receive_some``, for good once anything but "want read" came up: the
    handshake, a record still incomplete after a read, the end of the stream
    (trio reports it), an alert or close_notify, a send OpenSSL asks for (a
    key update: trio sends it), a transport read another task holds, a
    stream trio closed or broke. A plain ``trio.SocketStream``, and the socket
    under TLS, are read by :func:`socket_receive`; any other stream by its
    own ``receive_some``. None when ``stream`` is an SSLStream not laid out
    as expected.
    """
    if type(stream) is trio.SocketStream:
        return socket_receive(stream)
    receive: Receive = stream.receive_some  # type: ignore[attr-defined]
    if type(stream) is not trio.SSLStream:
        return receive
    if not _laid_out(stream):
        return None
    ssl_object, incoming, outgoing = stream._ssl_object, stream._incoming, stream._outgoing
    handshook: Any = stream._handshook
    recv_lock = stream._inner_recv_lock
    transport: Any = stream.transport_stream
    read_socket = (
        socket_receive(transport)
        if type(transport) is trio.SocketStream
        else transport.receive_some
    )
    read = ssl_object.read
    # Decrypted bytes OpenSSL holds from a record larger than an earlier read asked for.
    decrypted = ssl_object.pending
    want_read = ssl.SSLWantReadError
    trio_only = False

    def decrypt(budget: int, parts: list[bytes]) -> bool:
        """Decrypt what is buffered into ``parts``, up to ``budget`` bytes; False: trio's turn."""
        while budget > 0 and (incoming.pending or decrypted()) and not outgoing.pending:
            try:  # (the loop stops at a send OpenSSL asks for: trio sends it)
                more = read(budget)
            except want_read:  # an incomplete record: the next read completes it
                return True
            except ssl.SSLError:  # an alert, close_notify: trio reports it
                return False
            if not more:
                return False
            parts.append(more)
            budget -= len(more)
        return True

    async def receive_some(max_bytes: int) -> bytes:
        nonlocal trio_only
        if (
            trio_only
            or stream._state is not _OK
            or not handshook.done
            or outgoing.pending
            or recv_lock.locked()
        ):
            return await _trio_read(max_bytes)
        parts: list[bytes] = []
        if incoming.pending or decrypted():
            # What an earlier read left (trio's own reads decrypt one record and
            # leave the rest): it may be all the peer sends, so never wait first.
            trio_only = not decrypt(max_bytes, parts)
            if parts:
                return joined(parts)
            if trio_only:
                return await _trio_read(max_bytes)
        recv_lock.acquire_nowait()
        try:
            raw = await read_socket(_READ_SIZE)
            # trio's count of transport reads: a task of trio's waiting for this
            # lock then knows a read happened and retries OpenSSL before reading.
            stream._inner_recv_count += 1
        finally:
            recv_lock.release()
        if not raw:  # the end of the stream: trio reads it again and reports it
            trio_only = True
            return await _trio_read(max_bytes)
        incoming.write(raw)
        if not decrypt(max_bytes, parts):
            trio_only = True
        if parts:
            return joined(parts)
        return await _trio_read(max_bytes)  # no whole record yet: trio reads on

    async def _trio_read(max_bytes: int) -> bytes:
        data = await receive(max_bytes)
        if not data or not (incoming.pending or decrypted()):
            return data
        parts = [data]
        decrypt(max_bytes - len(data), parts)
        return joined(parts)

    return receive_some


Send = Callable[[bytes], Awaitable[None]]


def tls_send(stream: trio.SSLStream[Any]) -> Send:
    """``stream.send_all`` that puts the bytes on the socket before its first scheduling round.

    trio's ``SSLStream.send_all`` takes its transport-send lock with a
    checkpoint before the bytes leave, so a cancelled request's
    RST_STREAM waits for every task the scheduler runs first. Once the
    handshake is done, this one encrypts, takes the same lock without a
    checkpoint and sends. For one writer at a time (the HTTP/2 connection
    holds its own send lock). Anything unusual goes to trio's
    ``send_all``: the handshake, a stream trio closed or broke, OpenSSL
    needing to read first (a renegotiation), the lock held, another layout.
    """
    send_all: Send = stream.send_all
    if not _laid_out(stream):
        return send_all
    ssl_object, outgoing = stream._ssl_object, stream._outgoing
    handshook: Any = stream._handshook
    send_lock = stream._inner_send_lock
    transport: Any = stream.transport_stream
    write = ssl_object.write

    async def send(data: bytes) -> None:
        if stream._state is not _OK or not handshook.done or send_lock.locked() or not data:
            return await send_all(data)
        try:
            write(data)  # all of it, into the memory BIO (OpenSSL's mode: no partial writes)
        except ssl.SSLError:  # wants to read first, or broken: trio's send_all sorts it out
            return await send_all(data)
        send_lock.acquire_nowait()
        try:
            await transport.send_all(outgoing.read())
        except BaseException:
            stream._state = _BROKEN  # as trio does: a record may be half sent
            raise
        finally:
            send_lock.release()

    return send
