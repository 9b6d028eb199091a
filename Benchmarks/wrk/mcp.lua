-- wrk script for scripts/bench: POSTs one fixed JSON-RPC body with fixed headers on every connection, checks
-- every response's status, and prints one machine-readable summary line.
--
-- Environment (read once per wrk thread):
--   BENCH_BODY_FILE     file holding the request body
--   BENCH_HEADERS_FILE  file with one "Name: value" header per line
--   BENCH_SESSIONS_FILE optional: one Mcp-Session-Id per line; thread n sends the n-th (scripts/bench runs one
--                       connection per thread, so each connection is one legacy client with its own session)
--
-- The summary line, printed by done():
--   BENCH_RESULT requests=<n> duration_us=<n> rps=<x> mean_us=<x> p50_us=<n> p99_us=<n> non2xx=<n> socket_errors=<n> timeouts=<n> stalled=<n>

local function read_file(path)
    local f = assert(io.open(path, "rb"), "cannot open " .. tostring(path))
    local s = f:read("*a")
    f:close()
    return s
end

wrk.method = "POST"
wrk.body = read_file(os.getenv("BENCH_BODY_FILE"))
for line in read_file(os.getenv("BENCH_HEADERS_FILE")):gmatch("[^\r\n]+") do
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    if name then wrk.headers[name] = value end
end

-- Every thread counts the responses outside 2xx (wrk's own status counter only sees >= 400).
local threads = {}
local sessions = {}
if os.getenv("BENCH_SESSIONS_FILE") then
    for id in read_file(os.getenv("BENCH_SESSIONS_FILE")):gmatch("[^\r\n]+") do table.insert(sessions, id) end
end

function setup(thread)
    table.insert(threads, thread)
    if #sessions > 0 then
        thread:set("session", sessions[(#threads - 1) % #sessions + 1])
    end
end

function init(args)
    if session then wrk.headers["Mcp-Session-Id"] = session end
end

-- wrk counts no timeout for a request that never gets an answer, so every thread (one connection) also notes
-- when its last response came: a connection silent for the last 2 s of the run counts as stalled.
non2xx = 0
last = 0
function response(status, headers, body)
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
    end
    last = os.time()
end

function done(summary, latency, requests)
    local bad, stalled, now = 0, 0, os.time()
    for _, t in ipairs(threads) do
        bad = bad + (t:get("non2xx") or 0)
        if (t:get("last") or 0) < now - 2 then stalled = stalled + 1 end
    end
    local e = summary.errors
    io.write(string.format(
        "BENCH_RESULT requests=%d duration_us=%d rps=%.1f mean_us=%.1f p50_us=%d p99_us=%d non2xx=%d socket_errors=%d timeouts=%d stalled=%d\n",
        summary.requests, summary.duration, summary.requests / (summary.duration / 1e6), latency.mean,
        latency:percentile(50), latency:percentile(99), bad, e.connect + e.read + e.write, e.timeout, stalled))
end
