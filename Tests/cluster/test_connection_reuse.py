"""HTTP/1.1 persistence on a replica's own port (clients that talk to a replica directly, or a balancer that keeps
upstream connections alive): after a complete response the connection either stays usable or the response said
`Connection: close`. A server that silently closes it makes the client's next request on it fail ("server
disconnected without sending a response") whenever the request is sent before the close arrives.

Raw sockets, so that exactly one connection is used. Every response is checked for being complete before the next
request goes out.
"""

from __future__ import annotations

import json
import socket

import pytest

from interop_wire import MODERN

LEGACY = "2025-11-25"


def send(sock: socket.socket, body: dict, headers: dict[str, str]) -> None:
    raw = json.dumps(body).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall(f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(raw)}\r\n{head}\r\n".encode() + raw)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One whole HTTP/1.1 response (Content-Length or chunked)."""
    sock.settimeout(10)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response head: {buf!r}"
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(rest) < n:
            chunk = sock.recv(65536)
            assert chunk, "connection closed inside a body"
            rest += chunk
        return status, headers, rest[:n]
    assert headers.get("transfer-encoding", "").lower() == "chunked", headers
    body = b""
    while True:
        while b"\r\n" not in rest:
            chunk = sock.recv(65536)
            assert chunk, "connection closed inside a chunked body"
            rest += chunk
        size_line, rest = rest.split(b"\r\n", 1)
        size = int(size_line.split(b";")[0], 16)
        while len(rest) < size + 2:
            chunk = sock.recv(65536)
            assert chunk, "connection closed inside a chunk"
            rest += chunk
        body += rest[:size]
        rest = rest[size + 2:]
        if size == 0:
            return status, headers, body


def ask_again(sock: socket.socket, headers: dict[str, str], body: dict) -> tuple[int, bytes] | None:
    """The next request on the same connection: (status, body), or None when the server had closed it."""
    try:
        send(sock, body, headers)
        sock.settimeout(5)
        first = sock.recv(65536)
    except (BrokenPipeError, ConnectionResetError):
        return None
    if not first:
        return None
    return int(first.split(b" ", 2)[1]), first


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_connection_is_reusable_after_an_sse_response_unless_announced(cluster, era):
    port = cluster.a.port
    with socket.create_connection(("127.0.0.1", port)) as sock:
        base = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
        if era == "legacy":
            send(sock, {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                        "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "reuse", "version": "1"}}}, base)
            status, h, _ = read_response(sock)
            assert status == 200 and "mcp-session-id" in h, (status, h)
            headers = dict(base, **{"mcp-session-id": h["mcp-session-id"], "mcp-protocol-version": LEGACY})
            params = {"name": "countdown", "arguments": {"steps": 2, "intervalMs": 20}, "_meta": {"progressToken": "reuse"}}
            ping = {"jsonrpc": "2.0", "id": 3, "method": "ping"}
        else:
            headers = dict(base, **{"mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": "countdown"})
            meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {}, "progressToken": "reuse"}
            params = {"name": "countdown", "arguments": {"steps": 2, "intervalMs": 20}, "_meta": meta}
            ping = {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                    "params": {"name": "countdown", "arguments": {"steps": 0}, "_meta": {k: v for k, v in meta.items() if k != "progressToken"}}}
        send(sock, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": params}, headers)
        status, h, body = read_response(sock)
        assert status == 200 and h.get("content-type", "").startswith("text/event-stream"), (status, h)
        assert b'"result"' in body, body
        if "close" in h.get("connection", "").lower():
            return  # announced: a client opens a new connection
        again = ask_again(sock, headers, ping)
        assert again is not None, (
            f"replica {cluster.a.name} closed the connection after a complete SSE response whose headers did not say "
            f"`Connection: close` ({h}); a client's next request on it fails"
        )
        assert again[0] == 200, again
