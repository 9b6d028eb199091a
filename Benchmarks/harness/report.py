#!/usr/bin/env python3
"""Turns one scripts/bench run's raw results into the tables it prints (and docs/performance.md quotes).

Usage: report.py RESULTS_DIR

Reads, from RESULTS_DIR:
  results.tsv   one line per load run: target, concurrency, round, and wrk's figures (see scripts/bench)
  targets.tsv   target, status ("ok" or why it was not measured), description
  probes.jsonl  {"probe": name, ...figures} per memory / latency probe
  machine.txt   the machine and the run's settings
Writes report.txt there and prints it.

Per target and concurrency the round with the most requests per second is reported (best of N: on a shared
machine, interference only ever slows a run down); "spread" is how far the other rounds fell below it. Errors are
summed over every round: non-2xx responses, socket errors, wrk timeouts, and stalled connections (a connection that
got no response in the last 2 s of a run, which wrk itself does not count).
"""

import json
import os
import sys
from collections import defaultdict

PEERS = ["python-modern", "python-legacy", "swift-sdk"]


def load(results_dir):
    runs = defaultdict(list)
    with open(os.path.join(results_dir, "results.tsv")) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            for k in list(row):
                if k not in ("target",):
                    row[k] = float(row[k]) if row[k] not in ("", "-") else None
            runs[(row["target"], int(row["c"]))].append(row)
    targets = []
    with open(os.path.join(results_dir, "targets.tsv")) as f:
        for line in f:
            name, status, desc = line.rstrip("\n").split("\t")
            targets.append((name, status, desc))
    probes = {}
    path = os.path.join(results_dir, "probes.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                p = json.loads(line)
                probes[p.pop("probe")] = p
    machine = open(os.path.join(results_dir, "machine.txt")).read().strip()
    return runs, targets, probes, machine


def summarize(runs):
    out = {}
    for key, rs in runs.items():
        best = max(rs, key=lambda r: r["rps"])
        errors = sum(int(r["non2xx"] + r["socket_errors"] + r["timeouts"] + r["stalled"]) for r in rs)
        stalled = sum(int(r["stalled"]) for r in rs)
        worst = min(r["rps"] for r in rs)
        out[key] = {
            "rps": best["rps"], "p50": best["p50_us"] / 1000, "p99": best["p99_us"] / 1000,
            "errors": errors, "stalled": stalled, "requests": sum(int(r["requests"]) for r in rs),
            "spread": (best["rps"] - worst) / best["rps"] * 100 if best["rps"] else 0,
            "srv_cpu": best["server_cpu_pct"], "load_cpu": best["load_cpu_pct"], "aux_cpu": best["aux_cpu_pct"],
            "rss": max(r["rss_kib"] for r in rs) / 1024, "rounds": len(rs), "csw": best.get("ctx_switches_per_req"),
        }
    return out


def fmt(x, digits=2):
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.{digits}f}"


def table(headers, rows, align=None):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h)) for i, h in enumerate(headers)]
    align = align or ["<"] + [">"] * (len(headers) - 1)
    line = lambda cells: "| " + " | ".join(f"{str(c):{a}{w}}" for c, a, w in zip(cells, align, widths)) + " |"
    sep = "|" + "|".join(("-" * (w + 1) + ":" if a == ">" else "-" * (w + 2)) for a, w in zip(align, widths)) + "|"
    return "\n".join([line(headers), sep] + [line(r) for r in rows])


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}"


def main():
    results_dir = sys.argv[1]
    runs, targets, probes, machine = load(results_dir)
    s = summarize(runs)
    measured = [t for t, status, _ in targets if status == "ok"]
    conc = sorted({c for (_, c) in s})
    out = []
    w = out.append
    w(machine)
    w("")
    w("Targets:")
    for name, status, desc in targets:
        w(f"  {name:<14} {desc}" + ("" if status == "ok" else f"  -- NOT MEASURED: {status}"))
    w("")
    w("Columns: req/s, p50 and p99 from the best round; ×raw = ratio to raw at the same concurrency; errors = non-2xx")
    w("+ socket errors + wrk timeouts + stalled connections, summed over all rounds; RSS = the server's VmRSS after")
    w("load; srv CPU% / store CPU% (redis-server, or PostgreSQL's postmaster and backends) / wrk CPU% = CPU time over wall time (100% = one core); ctx sw/req = context")
    w("switches of all server threads per request; spread = how far the slowest round fell below the best.")
    w("")
    for c in conc:
        w(f"## concurrency {c}")
        w("")
        rows = []
        for t in measured:
            if (t, c) not in s:
                continue
            m = s[(t, c)]
            raw = s.get(("raw", c))
            err = f"{m['errors']}" + (f" ({m['stalled']} stalled)" if m["stalled"] else "")
            rows.append([
                t, fmt(m["rps"]), ratio(m["rps"], raw and raw["rps"]), fmt(m["p50"], 3), fmt(m["p99"], 3),
                ratio(m["p99"], raw and raw["p99"]), err, fmt(m["rss"], 1), fmt(m["srv_cpu"], 0),
                fmt(m["aux_cpu"], 0) if m["aux_cpu"] is not None else "-", fmt(m["load_cpu"], 0),
                fmt(m["csw"], 2), f"{m['spread']:.0f}%",
            ])
        w(table(["target", "req/s", "×raw", "p50 ms", "p99 ms", "p99 ×raw", "errors", "RSS MiB", "srv CPU%",
                 "store CPU%", "wrk CPU%", "ctx sw/req", "spread"], rows))
        w("")
    # A plot: throughput as a share of raw, per concurrency.
    w("### req/s as a share of raw (same run)")
    w("")
    w("```")
    for c in conc:
        raw = s.get(("raw", c))
        if not raw:
            continue
        w(f"concurrency {c}")
        for t in measured:
            if (t, c) in s:
                share = s[(t, c)]["rps"] / raw["rps"]
                w(f"  {t:<14} {'█' * max(1, round(share * 40)):<40} {share:4.0%}  {fmt(s[(t, c)]['rps'])} req/s")
    w("```")
    w("")
    # Ratio matrices: every figure against raw and each peer, same concurrency, same run.
    cols = [t for t in ["raw", "raw-nio", "raw-el"] + PEERS if t in measured]
    for label, key, better in [("req/s", "rps", "higher"), ("p50 latency", "p50", "lower"),
                               ("p99 latency", "p99", "lower")]:
        w(f"### {label}: row ÷ column, same concurrency ({better} is better)")
        w("")
        rows = []
        for c in conc:
            for t in measured:
                if (t, c) not in s:
                    continue
                rows.append([f"{t} @{c}"] + [ratio(s[(t, c)][key], s.get((p, c), {}).get(key)) for p in cols])
        w(table(["target"] + [f"÷ {p}" for p in cols], rows))
        w("")
    w("### server RSS after load: row ÷ column (lower is better)")
    w("")
    rss = {t: max(s[(t, c)]["rss"] for c in conc if (t, c) in s) for t in measured if any((t, c) in s for c in conc)}
    w(table(["target", "RSS MiB"] + [f"÷ {p}" for p in cols],
            [[t, fmt(rss[t], 1)] + [ratio(rss[t], rss.get(p)) for p in cols] for t in rss]))
    w("")

    # The targets.
    checks = []

    def check(name, value, target_text, ok, note=""):
        checks.append([name, value, target_text, "-" if ok is None else ("pass" if ok else "MISS"), note])

    def rel(t, p, c, key="rps"):
        a, b = s.get((t, c)), s.get((p, c))
        return (a[key] / b[key]) if a and b and b[key] else None

    for c in conc:
        # Each configuration against `raw`, configured like the demo server (one event loop per CPU it may run
        # on), and against `raw-nio`, SwiftNIO's own sizing (one loop per online CPU, all on the pinned core): both
        # are checked and reported. The -el rows also against raw-el, the same stack configured the same way.
        for suffix in ["", "-el"]:
            refs = ["raw", "raw-nio"] + (["raw-el"] if suffix else [])
            for ref in (r for r in refs if (r, c) in s):
                for ours, need in [("modern", 0.6), ("legacy", 0.5), ("legacy+redis", 0.3), ("legacy+postgres", 0.25)]:
                    t = ours + suffix
                    if (t, c) not in s:
                        continue
                    r = rel(t, ref, c)
                    check(f"{t} throughput @{c} vs {ref}", f"{r:.0%} of {ref}" if r is not None else "-",
                          f"≥ {need:.0%} of raw", r >= need if r is not None else None,
                          f"short by {need - r:.0%} of {ref}" if r is not None and r < need else "")
                    if ours == "modern":
                        r = rel(t, ref, c, "p99")
                        check(f"{t} p99 @{c} vs {ref}", f"{r:.2f}× {ref} p99" if r is not None else "-",
                              "≤ 2× raw p99", r <= 2 if r is not None else None,
                              f"{r / 2:.1f}× over" if r is not None and r > 2 else "")
        for ours, peer, need in [("modern", "python-modern", 10), ("legacy", "python-legacy", 10),
                                 ("legacy", "swift-sdk", 5), ("modern-el", "python-modern", 10),
                                 ("legacy-el", "python-legacy", 10), ("legacy-el", "swift-sdk", 5)]:
            if (ours, c) not in s:
                continue
            r = rel(ours, peer, c)
            check(f"{ours} vs {peer} @{c}", f"{r:.1f}×" if r is not None else "not measured", f"≥ {need}×",
                  r >= need if r is not None else None,
                  f"{need / r:.1f}× short" if r is not None and r < need else "")
    p = probes.get("sessions")
    if p:
        mib = p["rss_growth_kib"] / 1024
        check(f"{p['sessions']:,} idle legacy sessions (Redis): replica RSS", f"+{mib:.2f} MiB", "≤ 5 MiB", mib <= 5)
        check("  Redis bytes per session", f"{p['redis_bytes_per_session']:.0f} B "
              f"({p['redis_keys_delta'] / max(p['sessions'], 1):.1f} keys/session)", "≤ 1 KiB",
              p["redis_bytes_per_session"] <= 1024)
    p = probes.get("listen")
    if p:
        check(f"{p['streams']:,} open listen streams: RSS per stream", f"{p['rss_per_stream_kib']:.1f} KiB"
              + (f", {p['errors']} failed" if p["errors"] else ""), "≤ 16 KiB", p["rss_per_stream_kib"] <= 16,
              f"{p['rss_per_stream_kib'] / 16:.1f}× the target" if p["rss_per_stream_kib"] > 16 else "")
    for name, what in (("idle-raw", "raw"), ("idle-modern", "modern")):
        p = probes.get(name)
        if p:
            check(f"  for scale: {p['connections']:,} idle keep-alive connections on {what}: RSS per connection",
                  f"{p['rss_per_connection_kib']:.1f} KiB" + (f", {p['errors']} failed" if p["errors"] else ""), "-", None)
    p = probes.get("ask")
    if p:
        check("cross-replica ask: added p50", f"{p['added_p50_ms']:.2f} ms (same {p['same_p50_ms']:.2f}, "
              f"other {p['other_p50_ms']:.2f})", "≤ 1 ms", p["added_p50_ms"] <= 1)
    for name in ("replay-memory", "replay-redis"):
        p = probes.get(name)
        if p:
            check(f"Last-Event-ID replay of {p['steps']:,} events ({name.split('-')[1]})",
                  f"{p['replay_p50_ms']:.1f} ms p50 ({p['replayed_events'][0]} events)", "≤ 20 ms",
                  p["replay_p50_ms"] <= 20)
    w("## targets (issue 5)")
    w("")
    w(table(["measure", "measured", "target", "verdict", "by how much"], checks, ["<", "<", "<", "<", "<"]))
    w("")
    if probes:
        w("Probe details:")
        for k, v in probes.items():
            w(f"  {k}: {json.dumps(v)}")
    text = "\n".join(out)
    with open(os.path.join(results_dir, "report.txt"), "w") as f:
        f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
