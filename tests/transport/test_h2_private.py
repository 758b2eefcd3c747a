"""The quiet h2 connection behaves as h2's own, byte for byte, event for event.

Each case drives a stock ``h2`` server connection to produce the bytes a
server sends, feeds the same bytes to h2's stock client connection and to
``QuietH2Connection``, and compares what each reports (events, or the
exception) and what each would send back (WINDOW_UPDATE, RST_STREAM, GOAWAY).
h2 itself is the reference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import pytest
from hyperframe.frame import DataFrame

from synapsis_actors.transport import _h2_private

REQUEST = [(b":method", b"POST"), (b":authority", b"x"), (b":scheme", b"https"), (b":path", b"/")]
RESPONSE = [(b":status", b"200"), (b"content-type", b"text/event-stream")]


def _client(kind: type[h2.connection.H2Connection]) -> h2.connection.H2Connection:
    conn = kind(h2.config.H2Configuration(client_side=True, header_encoding=None))
    conn.initiate_connection()
    return conn


def _server() -> h2.connection.H2Connection:
    server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
    server.initiate_connection()
    return server


Script = Callable[[h2.connection.H2Connection, h2.connection.H2Connection], list[bytes]]


def _replay(kind: type[h2.connection.H2Connection], script: Script) -> list[Any]:
    """What a client of ``kind`` reports for each chunk the scripted server sends."""
    client, server = _client(kind), _server()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    client.data_to_send()
    seen: list[Any] = []
    for chunk in script(client, server):
        try:
            events = client.receive_data(chunk)
        except h2.exceptions.ProtocolError as exc:
            seen.append(("raised", type(exc).__name__))
            seen.append(("sent", client.data_to_send()))
            break
        for event in events:  # acknowledged as the transport does: WINDOW_UPDATEs follow
            if isinstance(event, h2.events.DataReceived):
                client.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        seen.append([repr(event) for event in events])
        seen.append(("sent", client.data_to_send()))
    return seen


def _sent_frames(seen: list[Any]) -> list[tuple[int, bytes]]:
    """(frame type, payload) of every frame the client would have sent."""
    frames = []
    for item in seen:
        if isinstance(item, tuple) and item[0] == "sent":
            data = item[1]
            while data:
                length = int.from_bytes(data[:3], "big")
                frames.append((data[3], data[9 : 9 + length]))
                data = data[9 + length :]
    return frames


WINDOW_UPDATE, RST_STREAM, GOAWAY = 0x8, 0x3, 0x7


def _open_stream(client: Any, server: Any, end_stream: bool = True) -> None:
    client.send_headers(1, REQUEST, end_stream=end_stream)
    server.receive_data(client.data_to_send())
    server.send_headers(1, RESPONSE)


def _events_stream(client: Any, server: Any) -> list[bytes]:
    _open_stream(client, server)
    chunks = [server.data_to_send()]
    for i in range(300):  # past half the stream window: WINDOW_UPDATEs come back
        server.send_data(1, b"data: %d\n\n" % i + b"x" * 200, end_stream=i == 299)
        chunks.append(server.data_to_send())
    return chunks


def _padded(client: Any, server: Any) -> list[bytes]:
    _open_stream(client, server)
    server.send_data(1, b"data: padded\n\n", pad_length=17)
    server.send_data(1, b"", end_stream=True)
    return [server.data_to_send()]


def _request_body_still_open(client: Any, server: Any) -> list[bytes]:
    _open_stream(client, server, end_stream=False)  # the stream is OPEN, not half closed
    server.send_data(1, b"data: early\n\n")
    return [server.data_to_send()]


def _after_reset(client: Any, server: Any) -> list[bytes]:
    _open_stream(client, server)
    head = server.data_to_send()
    client.receive_data(head)
    client.reset_stream(1, error_code=h2.errors.ErrorCodes.CANCEL)
    client.data_to_send()
    server.send_data(1, b"data: in flight\n\n")  # crossed the reset on the wire
    return [server.data_to_send()]


def _after_end_stream(client: Any, server: Any) -> list[bytes]:
    _open_stream(client, server)
    server.send_data(1, b"data: last\n\n", end_stream=True)
    good = server.data_to_send()
    # A broken server: DATA on the stream it ended (built by hand: h2 refuses).
    bad = DataFrame(1, data=b"data: more\n\n").serialize()
    return [good, bad]


def _over_the_window(client: Any, server: Any) -> list[bytes]:
    _open_stream(client, server)
    head = server.data_to_send()
    # More than the stream's 65,535-byte window, sent by a server ignoring it.
    frames = b"".join(DataFrame(1, data=b"x" * 16384).serialize() for _ in range(5))
    return [head, frames]


def _unknown_stream(client: Any, server: Any) -> list[bytes]:
    _open_stream(client, server)
    return [server.data_to_send(), DataFrame(7, data=b"data: stray\n\n").serialize()]


CASES = {
    "events": _events_stream,
    "padded": _padded,
    "request body still open": _request_body_still_open,
    "data after our reset": _after_reset,
    "data after end of stream": _after_end_stream,
    "over the flow-control window": _over_the_window,
    "data on a stream never opened": _unknown_stream,
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_the_quiet_connection_reports_and_sends_what_h2_does(case: str) -> None:
    stock = _replay(h2.connection.H2Connection, CASES[case])
    quiet = _replay(_h2_private.QuietH2Connection, CASES[case])
    assert quiet == stock
    assert len(stock) >= 2  # something was compared


def test_the_cases_take_h2s_different_ways() -> None:
    # The comparison above is only worth something if the cases reach h2's
    # different handling: data and window updates, a stream reset, a
    # connection error with GOAWAY.
    seen = {case: _replay(h2.connection.H2Connection, script) for case, script in CASES.items()}
    stream_closed = (RST_STREAM, (h2.errors.ErrorCodes.STREAM_CLOSED).to_bytes(4, "big"))
    assert sum("DataReceived" in str(item) for item in seen["events"]) == 300
    assert WINDOW_UPDATE in [kind for kind, _ in _sent_frames(seen["events"])]
    assert stream_closed in _sent_frames(seen["data after our reset"])
    assert stream_closed in _sent_frames(seen["data after end of stream"])
    assert ("raised", "FlowControlError") in seen["over the flow-control window"]
    assert GOAWAY in [kind for kind, _ in _sent_frames(seen["over the flow-control window"])]
    assert ("raised", "NoSuchStreamError") in seen["data on a stream never opened"]


def test_data_frames_are_not_formatted(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = DataFrame.__repr__

    def counting(self: DataFrame) -> str:
        calls.append(1)
        return original(self)

    monkeypatch.setattr(DataFrame, "__repr__", counting)
    _replay(h2.connection.H2Connection, _events_stream)
    assert len(calls) == 300  # h2 formats every DATA frame
    calls.clear()
    _replay(_h2_private.QuietH2Connection, _events_stream)
    assert calls == []


def test_the_transport_uses_the_quiet_connection_on_the_supported_h2() -> None:
    assert _h2_private.H2Connection is _h2_private.QuietH2Connection
