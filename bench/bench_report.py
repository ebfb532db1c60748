#!/usr/bin/python3
"""Prints the table of bench_https.sh from its results file and decides PASS/MISS and
the integrity checks. Reads only that file; exits 1 when an integrity check failed
(a non-2xx answer, a lost or unexpected report, wrk reusing a body, a wrong handshake).

Result lines: "<kind> key=value ..." with kind info, check, run or rss.
"""
import sys

TARGET_KEEPALIVE = 0.5
TARGET_CLOSE = 0.8
TARGET_RSS_MIB = 64


def parse(path):
    info, check, runs, rss = {}, {}, {}, None
    with open(path) as f:
        for line in f:
            kind, *pairs = line.split()
            kv = dict(p.split("=", 1) for p in pairs if "=" in p)
            if kind == "info":
                info.update(kv)
            elif kind == "check":
                check.update(kv)
            elif kind == "run":
                runs[(kv["server"], kv["mode"])] = kv
            elif kind == "rss":
                rss = kv
    return info, check, runs, rss


def num(d, k):
    return float(d.get(k, 0) or 0)


def cpu_us(run, tck):
    """Server CPU time (user + system, all threads or workers) per completed request."""
    return num(run, "cpu_ticks") / tck * 1e6 / num(run, "requests") if num(run, "requests") else 0


def main():
    info, check, runs, rss = parse(sys.argv[1])
    failures = []
    tck = num(info, "clk_tck") or 100
    out = []
    p = out.append

    p(f"Machine: {info.get('nproc')} cores, {info.get('cpu', '?').replace('_', ' ')}; "
      f"load average (1/5/15 min) before {info.get('uptime_before')}, after {info.get('uptime_after')}")
    p(f"Versions: {info.get('nginx')}, wrk {info.get('wrk')}, OpenSSL {info.get('openssl')}, "
      f"tlsrptd {info.get('tlsrptd')}")
    p(f"Load: wrk -t{info.get('wrk_threads')} -c{info.get('connections')}, {info.get('duration')} s per run; "
      f"{info.get('server_threads')} tlsrptd network threads = {info.get('server_threads')} nginx workers; "
      f"{info.get('reports')} distinct reports (JSON {info.get('avg_json_bytes')} B, "
      f"gzip {info.get('avg_gzip_bytes')} B on average)")
    n, fresh, resumed = (int(num(check, k)) for k in ("handshake_requests", "one_request_per_connection", "resumed"))
    ok = n > 0 and fresh == n and resumed == 0
    p(f"Handshake check (nginx log, new-connection mode): {n} requests, {fresh} alone on their connection, "
      f"{resumed} resumed sessions, {check.get('protocol')}: {'OK' if ok else 'FAILED'}")
    if not ok:
        failures.append("wrk did not open one fresh, fully negotiated TLS connection per request")
    p("")

    names = {"keepalive": "keep-alive", "close": "new TLS connection per report"}
    targets = {"keepalive": TARGET_KEEPALIVE, "close": TARGET_CLOSE}
    p("| run | nginx req/s | tlsrptd req/s | tlsrptd ÷ nginx | target | result | CPU µs/request nginx ÷ tlsrptd |")
    p("|---|---:|---:|---:|---:|---|---:|")
    for mode in ("keepalive", "close"):
        ng, tl = runs.get(("nginx", mode)), runs.get(("tlsrptd", mode))
        if not ng or not tl:
            failures.append(f"{mode}: a run is missing")
            continue
        ratio = num(tl, "rps") / num(ng, "rps") if num(ng, "rps") else 0
        verdict = "PASS" if ratio >= targets[mode] else "MISS"
        # The same ratio from CPU time per request: much less sensitive to what else
        # runs on a shared machine than requests/second are.
        cpu_ng, cpu_tl = cpu_us(ng, tck), cpu_us(tl, tck)
        cpu_ratio = f"{cpu_ng:.0f} ÷ {cpu_tl:.0f} = {cpu_ng / cpu_tl:.2f}" if cpu_tl else "?"
        p(f"| {names[mode]} | {num(ng, 'rps'):,.0f} | {num(tl, 'rps'):,.0f} | {ratio:.2f} | "
          f"≥ {targets[mode]:.1f} | {verdict} | {cpu_ratio} |")
    p("")

    p("| tlsrptd run | acknowledged (2xx) | non-2xx | socket errors | in flight at stop | in database | check |")
    p("|---|---:|---:|---:|---:|---:|---|")
    for mode in ("keepalive", "close"):
        tl = runs.get(("tlsrptd", mode))
        if not tl:
            continue
        acked, non2xx, sent, db = (int(num(tl, k)) for k in ("acked", "non2xx", "sent", "db_reports"))
        errors = sum(int(num(tl, k)) for k in ("err_connect", "err_read", "err_write"))
        unanswered = sent - acked - non2xx
        # wrk stops after its duration with one request in flight on each connection:
        # those the daemon committed are in the database without a 2xx wrk counted.
        # So: every acknowledged report is stored (db >= acked), nothing else is
        # (db <= acked + unanswered), and no body was sent twice (wrapped = 0).
        ok = non2xx == 0 and int(num(tl, "wrapped")) == 0 and acked <= db <= acked + unanswered
        if non2xx:
            failures.append(f"tlsrptd {mode}: {non2xx} non-2xx responses")
        if int(num(tl, "wrapped")):
            failures.append(f"tlsrptd {mode}: wrk ran out of distinct reports; raise REPORTS")
        if db < acked:
            failures.append(f"tlsrptd {mode}: {acked - db} acknowledged reports are not in the database")
        if db > acked + unanswered:
            failures.append(f"tlsrptd {mode}: {db - acked - unanswered} more reports in the database than sent")
        p(f"| {names[mode]} | {acked:,} | {non2xx} | {errors} | {unanswered} | {db:,} | "
          f"{'OK' if ok else 'FAILED'} |")
    p("")

    if rss:
        mib = num(rss, "vmhwm_kib") / 1024
        p("| memory | value | target | result |")
        p("|---|---:|---:|---|")
        p(f"| tlsrptd peak RSS (VmHWM) under wrk -c{info.get('rss_connections', '1000')} keep-alive "
          f"(open connections, sampled every 0.5 s: up to {int(num(rss, 'peak_open_connections'))}) | {mib:.1f} MiB | "
          f"≤ {TARGET_RSS_MIB} MiB | {'PASS' if mib <= TARGET_RSS_MIB else 'MISS'} |")
        p(f"(idle after start: {num(rss, 'idle_vmhwm_kib') / 1024:.1f} MiB; during that run "
          f"{num(rss, 'rps'):,.0f} req/s, {int(num(rss, 'non2xx'))} non-2xx, "
          f"{int(num(rss, 'err_connect'))} connect errors)")
        if num(rss, "non2xx"):
            failures.append(f"memory run: {int(num(rss, 'non2xx'))} non-2xx responses")
        if num(rss, "db_reports") < num(rss, "acked"):
            failures.append("memory run: acknowledged reports missing from the database")
        p("")

    p("Details per run:")
    p("| server | mode | req/s | p50 ms | p99 ms | connections/request | server CPU µs/request |")
    p("|---|---|---:|---:|---:|---:|---:|")
    for mode in ("keepalive", "close"):
        for server in ("nginx", "tlsrptd"):
            r = runs.get((server, mode))
            if not r:
                continue
            reqs = num(r, "server_requests") or num(r, "requests")
            cpr = num(r, "server_connections") / reqs if reqs else 0
            p(f"| {server} | {names[mode]} | {num(r, 'rps'):,.0f} | {num(r, 'lat_p50_ms'):.2f} | "
              f"{num(r, 'lat_p99_ms'):.2f} | {cpr:.3f} | {cpu_us(r, tck):.0f} |")
    close_tl = runs.get(("tlsrptd", "close"))
    if close_tl and num(close_tl, "server_requests"):
        if num(close_tl, "server_connections") / num(close_tl, "server_requests") < 0.99:
            failures.append("tlsrptd close: fewer connections than requests (wrk did not reconnect)")

    print("\n".join(out))
    if failures:
        print("\nFAILED:\n- " + "\n- ".join(failures))
        return 1
    print("\nIntegrity checks: all OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
