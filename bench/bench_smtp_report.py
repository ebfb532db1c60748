#!/usr/bin/python3
"""Prints the table of bench_smtp.sh from its results file, decides PASS/MISS for the
mail-versus-HTTPS target and the integrity checks. Reads only that file; exits 1 when
an integrity check failed (a mail or report acknowledged but not in the database,
more stored than sent, a non-2xx/non-250 answer, a lost connection, a resumed TLS
session, held or unauthenticated reports where DKIM was required).

Result lines: "<kind> key=value ..." with kind info or run (one per run, in order).
"""
import sys

TARGET = 0.8  # bench/README.md: SMTP fresh connection >= 0.8 x HTTPS new connection

LABELS = {
    "https": ("HTTPS POST, new TLS connection per report (wrk)", "-"),
    "smtp": ("SMTP, new connection per mail", None),
    "lmtp": ("LMTP over TCP, one connection", None),
    "lmtp-unix": ("LMTP over a unix socket, one connection", None),
}


def parse(path):
    info, runs = {}, []
    with open(path) as f:
        for line in f:
            kind, *pairs = line.split()
            kv = dict(p.split("=", 1) for p in pairs if "=" in p)
            if kind == "info":
                info.update(kv)
            elif kind == "run":
                runs.append(kv)
    return info, runs


def num(d, k):
    try:
        return float(d.get(k, 0) or 0)
    except ValueError:
        return 0.0


def acked(r):
    return int(num(r, "acked"))


def seconds(r):
    return num(r, "duration_us") / 1e6 if r["kind"] == "https" else num(r, "elapsed_s")


def rate(r):
    return acked(r) / seconds(r) if seconds(r) else 0.0


def label(r):
    if r["kind"] == "smtp":
        return "SMTP + STARTTLS, new connection and full TLS handshake per mail" if r.get("mode") == "starttls" \
            else "SMTP, new connection per mail"
    return LABELS[r["kind"]][0]


def group(r):
    """Runs of the same configuration, whose figures are pooled."""
    if r["kind"] == "smtp":
        return ("starttls" if r.get("mode") == "starttls" else "smtp") + "/" + r["dkim"]
    return r["kind"] + "/" + r["dkim"]


def main():
    info, runs = parse(sys.argv[1])
    tck = num(info, "clk_tck") or 100
    failures = [] if runs else ["no run finished"]
    out = []
    p = out.append

    p(f"Machine: {info.get('nproc')} cores, {info.get('cpu', '?').replace('_', ' ')}, Linux {info.get('kernel')}; "
      f"database on {info.get('fs')}")
    p(f"Load average (1/5/15 min, `uptime`): before {info.get('uptime_before')}, after {info.get('uptime_after')}")
    p(f"Versions: tlsrptd {info.get('tlsrptd')}, OpenSSL {info.get('openssl')}, wrk {info.get('wrk')}")
    p(f"Load: {info.get('connections')} concurrent clients (SMTP, HTTPS) in {info.get('client_threads')} client threads, "
      f"{info.get('duration')} s per run, a fresh tlsrptd and database per run ({info.get('server_threads')} network "
      f"threads, WAL + synchronous=FULL, reply only after the commit)")
    p(f"Mails: {info.get('mails')} distinct DKIM-signed report mails, {info.get('avg_mail_bytes')} B on average "
      f"({info.get('min_mail_bytes')}-{info.get('max_mail_bytes')}), gzipped report {info.get('avg_gzip_bytes')} B")
    p("")
    p("| # | run | DKIM | conns | mails/s | p50 / p99 ms | server CPU µs/mail | client CPU µs/mail | "
      "load at start |")
    p("|---|---|---|---:|---:|---:|---:|---:|---|")
    for k, r in enumerate(runs, 1):
        a = acked(r)
        cpu = num(r, "cpu_ticks") / tck * 1e6 / a if a else 0
        # (wrk's own CPU time is mostly loading its 300 000 reports, so none is given for it)
        client = f"{num(r, 'client_cpu_s') * 1e6 / a:.0f}" if a and "client_cpu_s" in r else "-"
        dkim = {"off": "off", "require": "require, signed", "-": "-"}.get(r["dkim"], r["dkim"])
        p(f"| {k} | {label(r)} | {dkim} | {r.get('connections', '?')} | {rate(r):,.0f} | "
          f"{num(r, 'lat_p50_ms'):.1f} / {num(r, 'lat_p99_ms'):.1f} | {cpu:.0f} | {client} | "
          f"{r.get('load', '?').split(',')[0]} |")
    p("")

    # Pooled per configuration: all acknowledged / all seconds, and CPU per mail.
    pooled = {}
    for r in runs:
        g = pooled.setdefault(group(r), {"acked": 0, "seconds": 0.0, "ticks": 0.0, "runs": 0})
        g["acked"] += acked(r)
        g["seconds"] += seconds(r)
        g["ticks"] += num(r, "cpu_ticks")
        g["runs"] += 1

    def pooled_rate(key):
        g = pooled.get(key)
        return g["acked"] / g["seconds"] if g and g["seconds"] else 0.0

    def pooled_cpu(key):
        g = pooled.get(key)
        return g["ticks"] / tck * 1e6 / g["acked"] if g and g["acked"] else 0.0

    https = pooled_rate("https/-")
    https_cpu = pooled_cpu("https/-")
    nh = pooled.get("https/-", {}).get("runs", 0)
    p("| ratio (rates pooled over the runs of each kind) | mails/s ÷ reports/s | by server CPU per item | target | result |")
    p("|---|---:|---:|---:|---|")
    for key, text, target in (
            ("smtp/off", "SMTP new connection per mail (DKIM off) ÷ HTTPS new connection", TARGET),
            ("starttls/off", "SMTP + STARTTLS new connection (DKIM off) ÷ HTTPS new connection", TARGET),
            ("smtp/require", "SMTP new connection, DKIM required and verified ÷ HTTPS new connection", TARGET),
            ("lmtp/off", "LMTP one TCP connection ÷ HTTPS new connection", None),
            ("lmtp-unix/off", "LMTP one unix-socket connection ÷ HTTPS new connection", None)):
        if key not in pooled or not https:
            continue
        ratio = pooled_rate(key) / https
        cpu_ratio = https_cpu / pooled_cpu(key) if pooled_cpu(key) else 0
        verdict = ("PASS" if ratio >= target else "MISS") if target else "-"
        p(f"| {text} ({pooled_rate(key):,.0f} ÷ {https:,.0f}) | {ratio:.2f} | {cpu_ratio:.2f} | "
          f"{f'≥ {target:.1f}' if target else '-'} | {verdict} |")
    p(f"(HTTPS: {nh} run(s) of wrk with `Connection: close`, no session resumption, as in bench_https.sh; "
      f"\"by server CPU\" = HTTPS CPU µs per report ÷ the run's CPU µs per mail, which other processes on a "
      f"shared machine disturb much less than the rates)")
    p("")

    p("| # | run | acknowledged | refused (4xx/5xx) | errors | in database | authenticated | held | check |")
    p("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for k, r in enumerate(runs, 1):
        a, db = acked(r), int(num(r, "db_reports"))
        authed, held = int(num(r, "db_authenticated")), int(num(r, "db_held"))
        problems = []
        if r["kind"] == "https":
            refused = int(num(r, "non2xx"))
            errors = sum(int(num(r, k2)) for k2 in ("err_connect", "err_read", "err_write", "err_timeout"))
            # wrk stops with up to one request in flight per connection; those the daemon
            # committed are stored without a 2xx counted (as in bench_https.sh).
            in_flight = int(num(r, "sent")) - a - refused
            if int(num(r, "wrapped")):
                problems.append("wrk ran out of distinct reports (raise REPORTS)")
            if db > a + in_flight:
                problems.append(f"{db - a - in_flight} more reports in the database than sent")
            conns, reqs = num(r, "server_connections"), num(r, "server_requests")
            if reqs and conns / reqs < 0.99:
                problems.append("fewer connections than requests (wrk reused connections)")
        else:
            refused = int(num(r, "temporary") + num(r, "permanent") + num(r, "other_reply"))
            errors = int(num(r, "conn_errors"))
            lost = int(num(r, "lost"))
            # The client lets every mail in flight finish, so each one it sent has an
            # answer: the database holds exactly the acknowledged ones (plus any whose
            # answer was lost with its connection).
            if db > a + lost:
                problems.append(f"{db - a - lost} more reports in the database than acknowledged")
            if int(num(r, "exhausted")):
                problems.append("the client ran out of distinct mails before the duration (raise MAILS)")
            if r.get("mode") == "starttls":
                hs, resumed = int(num(r, "tls_handshakes")), int(num(r, "tls_resumed"))
                if resumed or hs < a:
                    problems.append(f"{hs} TLS handshakes ({resumed} resumed) for {a} mails")
            if r["kind"] == "smtp" and int(num(r, "tcp_connections")) < a:
                problems.append("fewer connections than mails")
            if r["dkim"] == "require" and (authed != db or held):
                problems.append(f"DKIM: {authed} of {db} stored reports authenticated, {held} held")
            if r.get("first_error_code", "0") != "0" or r.get("first_error", "-") != "-":
                problems.append(f"first error: {r.get('first_error_code')} {r.get('first_error')}")
        if db < a:
            problems.append(f"{a - db} acknowledged reports are not in the database")
        if refused:
            problems.append(f"{refused} refused")
        if errors:
            problems.append(f"{errors} connection errors")
        for prob in problems:
            failures.append(f"run {k} ({label(r)}): {prob}")
        p(f"| {k} | {label(r)} | {a:,} | {refused} | {errors} | {db:,} | {authed:,} | {held} | "
          f"{'OK' if not problems else 'FAILED'} |")
    tls = [r for r in runs if r.get("mode") == "starttls"]
    if tls:
        r = tls[0]
        p(f"(STARTTLS: {int(num(r, 'tls_handshakes')):,} full handshakes, {int(num(r, 'tls_resumed'))} resumed, "
          f"{r.get('tls_version')})")

    print("\n".join(out))
    if failures:
        print("\nFAILED:\n- " + "\n- ".join(failures))
        return 1
    print("\nIntegrity checks: all OK (every acknowledged mail and report is in the database after SIGKILL)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
