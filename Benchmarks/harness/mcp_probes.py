#!/usr/bin/env python3
"""Memory and latency probes for scripts/bench (docs/performance.md), on raw HTTP/1.1 over asyncio.

Standard library only. Each subcommand prints progress to stderr and one line to stdout:
    PROBE_RESULT {"...": ...}                 (JSON)

  sessions  --url U --server-pid P --redis H:P [--count 10000] [--warmup 500] [--connections 32]
            creates idle legacy sessions (initialize + notifications/initialized, as a 2025-11-25 client does),
            reports the replica's RSS growth and Redis used_memory / keys per session
  listen    --url U --server-pid P [--count 10000] [--warmup 200] [--hold 3]
            opens 2026-07-28 subscriptions/listen streams, waits for every acknowledgement, reports RSS per stream
  idle      --url U --server-pid P [--count 10000] [--warmup 200] [--hold 3]
            opens keep-alive connections that each serve one 2026-07-28 tools/call echo and then stay open, idle;
            reports RSS per connection (against `raw`: the HTTP stack's own cost of an open connection)
  ask       --url-a A --url-b B [--rounds 200] [--warmup 20]
            a 2025-11-25 session; tools/call `ask` on replica A, whose elicitation request is answered on A (same)
            or on B (other), alternately; reports the round-trip p50/p90 of both and the added latency
  replay    --url U [--steps 1000] [--repeat 10]
            tools/call `countdown` (steps, intervalMs 0, a progressToken) on a 2025-11-25 session, read to the end;
            then GET with Last-Event-ID of the priming event, timed until the final response arrives
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
import urllib.parse

MODERN = "2026-07-28"
LEGACY = "2025-11-25"


def log(*args):
    print("probe:", *args, file=sys.stderr, flush=True)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


class HTTPError(Exception):
    pass


class Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = u.hostname, u.port or 80, u.path or "/"
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        return self

    def close(self):
        if self.writer:
            self.writer.close()

    def send(self, method, headers, body=b""):
        lines = [f"{method} {self.path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    async def head(self):
        status_line = await self.reader.readline()
        if not status_line:
            raise HTTPError("connection closed")
        status = int(status_line.split()[1])
        headers = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, headers

    async def chunks(self, headers):
        """Yields the body's pieces as they arrive (chunked or Content-Length)."""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readline()
                    return
                data = await self.reader.readexactly(size)
                await self.reader.readexactly(2)
                yield data
        else:
            n = int(headers.get("content-length", "0"))
            if n:
                yield await self.reader.readexactly(n)

    async def body(self, headers):
        return b"".join([c async for c in self.chunks(headers)])

    async def request(self, method, headers, body=b""):
        self.send(method, headers, body)
        await self.writer.drain()
        status, h = await self.head()
        return status, h, await self.body(h)


async def sse_events(conn, headers):
    """Yields (id, data) for each SSE event of a response body."""
    buf = b""
    async for chunk in conn.chunks(headers):
        buf += chunk
        while b"\n\n" in buf:
            raw, buf = buf.split(b"\n\n", 1)
            ev_id, data = None, []
            for line in raw.split(b"\n"):
                if line.startswith(b"id:"):
                    ev_id = line[3:].strip().decode()
                elif line.startswith(b"data:"):
                    data.append(line[5:].lstrip(b" "))
            if ev_id is None and not data:
                continue  # a comment (keep-alive)
            yield ev_id, b"\n".join(data)


def json_headers(extra=None):
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    h.update(extra or {})
    return h


def legacy_headers(session):
    return json_headers({"Mcp-Session-Id": session, "MCP-Protocol-Version": LEGACY})


async def new_session(conn, capabilities=None):
    body = json.dumps({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": LEGACY, "capabilities": capabilities or {},
                   "clientInfo": {"name": "mcp-probes", "version": "1.0"}},
    }).encode()
    status, h, _ = await conn.request("POST", json_headers(), body)
    session = h.get("mcp-session-id")
    if status != 200 or not session:
        raise HTTPError(f"initialize: HTTP {status}")
    status, _, _ = await conn.request("POST", legacy_headers(session),
                                      b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
    if status != 202:
        raise HTTPError(f"notifications/initialized: HTTP {status}")
    return session


def redis_cmd(addr, *args):
    host, port = addr.rsplit(":", 1)
    import socket
    with socket.create_connection((host, int(port))) as s:
        s.sendall(("*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a), a) for a in args)).encode())
        f = s.makefile("rb")
        line = f.readline()
        if line[:1] == b"$":
            return f.read(int(line[1:]) + 2)[:-2].decode()
        if line[:1] == b":":
            return int(line[1:])
        return line.decode().strip()


def redis_used_memory(addr):
    for line in redis_cmd(addr, "INFO", "memory").splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    raise RuntimeError("no used_memory in INFO memory")


async def make_sessions(url, count, connections):
    done = 0
    errors = 0

    async def worker(n):
        nonlocal done, errors
        conn = await Conn(url).open()
        try:
            for _ in range(n):
                try:
                    await new_session(conn)
                    done += 1
                except HTTPError:
                    errors += 1
        finally:
            conn.close()

    per = [count // connections + (1 if i < count % connections else 0) for i in range(connections)]
    await asyncio.gather(*(worker(n) for n in per if n))
    return done, errors


async def cmd_sessions(a):
    await make_sessions(a.url, a.warmup, a.connections)
    await asyncio.sleep(1)
    rss0, mem0, keys0 = rss_kib(a.server_pid), redis_used_memory(a.redis), redis_cmd(a.redis, "DBSIZE")
    t0 = time.monotonic()
    done, errors = await make_sessions(a.url, a.count, a.connections)
    elapsed = time.monotonic() - t0
    await asyncio.sleep(2)
    rss1, mem1, keys1 = rss_kib(a.server_pid), redis_used_memory(a.redis), redis_cmd(a.redis, "DBSIZE")
    result = {
        "sessions": done, "errors": errors, "seconds": round(elapsed, 2),
        "rss_before_kib": rss0, "rss_after_kib": rss1, "rss_growth_kib": rss1 - rss0,
        "redis_used_memory_delta": mem1 - mem0, "redis_bytes_per_session": round((mem1 - mem0) / max(done, 1), 1),
        "redis_keys_delta": keys1 - keys0,
    }
    print("PROBE_RESULT " + json.dumps(result), flush=True)


LISTEN_BODY = json.dumps({
    "jsonrpc": "2.0", "id": "listen-1", "method": "subscriptions/listen",
    "params": {"notifications": {"resourceSubscriptions": ["demo://counter"], "toolsListChanged": True},
               "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN,
                         "io.modelcontextprotocol/clientCapabilities": {}}},
}).encode()
LISTEN_HEADERS = json_headers({"MCP-Protocol-Version": MODERN, "Mcp-Method": "subscriptions/listen"})


async def open_listen(url, sem):
    async with sem:
        conn = await Conn(url).open()
        conn.send("POST", LISTEN_HEADERS, LISTEN_BODY)
        await conn.writer.drain()
        status, h = await conn.head()
        if status != 200 or not h.get("content-type", "").startswith("text/event-stream"):
            raise HTTPError(f"listen: HTTP {status}")
        async for _, data in sse_events(conn, h):
            if b"notifications/subscriptions/acknowledged" in data:
                return conn
        raise HTTPError("listen: stream ended before the acknowledgement")


ECHO_BODY = json.dumps({
    "jsonrpc": "2.0", "id": 1, "method": "tools/call",
    "params": {"name": "echo", "arguments": {"text": "hello"},
               "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN,
                         "io.modelcontextprotocol/clientCapabilities": {}}},
}).encode()
ECHO_HEADERS = json_headers({"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": "echo"})


async def open_idle(url, sem):
    """A keep-alive connection that has served one 2026-07-28 `tools/call echo` and stays open, idle."""
    async with sem:
        conn = await Conn(url).open()
        status, _, _ = await conn.request("POST", ECHO_HEADERS, ECHO_BODY)
        if status != 200:
            raise HTTPError(f"echo: HTTP {status}")
        return conn


async def open_many(opener, url, count):
    sem = asyncio.Semaphore(256)
    results = await asyncio.gather(*(opener(url, sem) for _ in range(count)), return_exceptions=True)
    conns = [r for r in results if isinstance(r, Conn)]
    errors = [r for r in results if not isinstance(r, Conn)]
    if errors:
        log(f"{len(errors)} connections failed, e.g. {errors[0]!r}")
    return conns, len(errors)


async def rss_per_connection(a, opener, noun):
    """Warms up, then opens --count connections with `opener` and reports the server's RSS growth per connection."""
    warm, _ = await open_many(opener, a.url, a.warmup)
    for c in warm:
        c.close()
    await asyncio.sleep(1)
    rss0 = rss_kib(a.server_pid)
    t0 = time.monotonic()
    conns, errors = await open_many(opener, a.url, a.count)
    elapsed = time.monotonic() - t0
    await asyncio.sleep(a.hold)
    rss1 = rss_kib(a.server_pid)
    for c in conns:
        c.close()
    result = {
        noun: len(conns), "errors": errors, "seconds_to_open": round(elapsed, 2),
        "rss_before_kib": rss0, "rss_after_kib": rss1,
        f"rss_per_{noun[:-1]}_kib": round((rss1 - rss0) / max(len(conns), 1), 2),
    }
    print("PROBE_RESULT " + json.dumps(result), flush=True)


async def cmd_listen(a):
    await rss_per_connection(a, open_listen, "streams")


async def cmd_idle(a):
    await rss_per_connection(a, open_idle, "connections")


async def ask_round(url_a, answer_conn, session, n):
    """One elicitation round trip: returns seconds from the call to its final response.

    The call gets a fresh connection each time: the server closes a connection once an SSE response has ended.
    """
    body = json.dumps({"jsonrpc": "2.0", "id": 1000 + n, "method": "tools/call",
                       "params": {"name": "ask", "arguments": {"question": f"q{n}?"}}}).encode()
    conn_a = await Conn(url_a).open()
    t0 = time.perf_counter()
    conn_a.send("POST", legacy_headers(session), body)
    await conn_a.writer.drain()
    status, h = await conn_a.head()
    if status != 200:
        raise HTTPError(f"ask: HTTP {status}")
    elapsed = None
    async for _, data in sse_events(conn_a, h):  # read to the end of the body, so the connection can be reused
        if not data:
            continue
        msg = json.loads(data)
        if msg.get("method") == "elicitation/create":
            answer = json.dumps({"jsonrpc": "2.0", "id": msg["id"],
                                 "result": {"action": "accept", "content": {"answer": "yes"}}}).encode()
            st, _, _ = await answer_conn.request("POST", legacy_headers(session), answer)
            if st != 202:
                raise HTTPError(f"answer: HTTP {st}")
        elif msg.get("id") == 1000 + n:
            elapsed = time.perf_counter() - t0
            text = msg["result"]["content"][0]["text"]
            if text != "answer: yes":
                raise HTTPError(f"unexpected result {text!r}")
    conn_a.close()
    if elapsed is None:
        raise HTTPError("ask: stream ended without a response")
    return elapsed


async def cmd_ask(a):
    setup = await Conn(a.url_a).open()
    session = await new_session(setup, capabilities={"elicitation": {}})
    setup.close()
    same = await Conn(a.url_a).open()
    other = await Conn(a.url_b).open()
    for n in range(a.warmup):
        await ask_round(a.url_a, same if n % 2 else other, session, n)
    times = {"same": [], "other": []}
    for n in range(a.warmup, a.warmup + 2 * a.rounds):
        which = "same" if n % 2 == 0 else "other"
        times[which].append(await ask_round(a.url_a, same if which == "same" else other, session, n))
    p = lambda xs, q: statistics.quantiles(xs, n=100)[q - 1] * 1000
    result = {
        "rounds_each": a.rounds,
        "same_p50_ms": round(statistics.median(times["same"]) * 1000, 3),
        "other_p50_ms": round(statistics.median(times["other"]) * 1000, 3),
        "same_p90_ms": round(p(times["same"], 90), 3),
        "other_p90_ms": round(p(times["other"], 90), 3),
    }
    result["added_p50_ms"] = round(result["other_p50_ms"] - result["same_p50_ms"], 3)
    print("PROBE_RESULT " + json.dumps(result), flush=True)


async def cmd_replay(a):
    conn = await Conn(a.url).open()
    session = await new_session(conn)
    body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                       "params": {"name": "countdown", "arguments": {"steps": a.steps, "intervalMs": 0},
                                  "_meta": {"progressToken": 7}}}).encode()
    t0 = time.perf_counter()
    conn.send("POST", legacy_headers(session), body)
    await conn.writer.drain()
    status, h = await conn.head()
    if status != 200 or not h.get("content-type", "").startswith("text/event-stream"):
        raise HTTPError(f"countdown: HTTP {status} {h.get('content-type')}")
    priming, live_events = None, 0
    async for ev_id, data in sse_events(conn, h):
        if priming is None:
            priming = ev_id
        if data:
            live_events += 1
    live_seconds = time.perf_counter() - t0
    conn.close()
    times, counts = [], set()
    for _ in range(a.repeat):
        c = await Conn(a.url).open()
        t0 = time.perf_counter()
        hdrs = {"Accept": "text/event-stream", "Mcp-Session-Id": session, "MCP-Protocol-Version": LEGACY,
                "Last-Event-ID": priming}
        c.send("GET", hdrs)
        await c.writer.drain()
        status, h = await c.head()
        if status != 200:
            raise HTTPError(f"replay: HTTP {status}")
        n = 0
        async for _, data in sse_events(c, h):
            if not data:
                continue
            n += 1
            if b'"id":7' in data and b'"result"' in data:
                break
        times.append(time.perf_counter() - t0)
        counts.add(n)
        c.close()
    result = {
        "steps": a.steps, "live_events": live_events, "live_seconds": round(live_seconds, 3),
        "replayed_events": sorted(counts), "repeat": a.repeat,
        "replay_p50_ms": round(statistics.median(times) * 1000, 2),
        "replay_min_ms": round(min(times) * 1000, 2), "replay_max_ms": round(max(times) * 1000, 2),
    }
    print("PROBE_RESULT " + json.dumps(result), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sessions")
    s.add_argument("--url", required=True)
    s.add_argument("--server-pid", type=int, required=True)
    s.add_argument("--redis", required=True, help="host:port")
    s.add_argument("--count", type=int, default=10000)
    s.add_argument("--warmup", type=int, default=500)
    s.add_argument("--connections", type=int, default=32)
    for name in ("listen", "idle"):
        s = sub.add_parser(name)
        s.add_argument("--url", required=True)
        s.add_argument("--server-pid", type=int, required=True)
        s.add_argument("--count", type=int, default=10000)
        s.add_argument("--warmup", type=int, default=200)
        s.add_argument("--hold", type=float, default=3)
    s = sub.add_parser("ask")
    s.add_argument("--url-a", required=True)
    s.add_argument("--url-b", required=True)
    s.add_argument("--rounds", type=int, default=200)
    s.add_argument("--warmup", type=int, default=20)
    s = sub.add_parser("replay")
    s.add_argument("--url", required=True)
    s.add_argument("--steps", type=int, default=1000)
    s.add_argument("--repeat", type=int, default=10)
    a = p.parse_args()
    asyncio.run({"sessions": cmd_sessions, "listen": cmd_listen, "idle": cmd_idle, "ask": cmd_ask,
                 "replay": cmd_replay}[a.cmd](a))


if __name__ == "__main__":
    main()
