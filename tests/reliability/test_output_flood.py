#!/usr/bin/python3
"""Reliability scenario 27 (docs/guarantees.md#reliability-scenarios): a forged-report
alert flood. 1000 forged failure reports for one watched domain from 100 loopback
addresses over HTTPS, plus forged failures for 40 more domains, with [alerts]
trust_unauthenticated = true and a file sink: at most one alert per domain and kind per
cooldown, at most max_per_hour (20) in the hour plus one "N more suppressed" notice,
every alert labelled unauthenticated. Then extreme counts: one report claiming
failed-session-count 10^15, and 1100 claiming 2^53-1 each (their sum is past SQLite's
signed 64 bits): answered consistently, no SQLite overflow, stats and alerts keep
working.
"""
import datetime
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_support import (TLSRPTD, Poster, as_service_user, hostile_scenario, percentile, run,  # noqa: E402
                             wait_until)

YESTERDAY = (datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=1)).isoformat()
MAX_PER_HOUR = 20


def forged(rid, domain, ok, failed, org="Forger", day=YESTERDAY, kinds=("starttls-not-supported",)):
    per = failed // len(kinds)
    return json.dumps({
        "organization-name": org,
        "date-range": {"start-datetime": day + "T00:00:00Z", "end-datetime": day + "T23:59:59Z"},
        "contact-info": "forger@evil.example", "report-id": rid,
        "policies": [{"policy": {"policy-type": "sts", "policy-domain": domain,
                                 "policy-string": ["version: STSv1", "mode: enforce", f"mx: mx1.{domain}",
                                                   "max_age: 86400"]},
                      "summary": {"total-successful-session-count": ok, "total-failure-session-count": failed},
                      "failure-details": [{"result-type": k, "sending-mta-ip": "192.0.2.1",
                                           "receiving-mx-hostname": f"mx1.{domain}",
                                           "failed-session-count": per} for k in kinds]}],
    }).encode()


def flood(d, jobs, n_sources):
    """jobs: list of bodies; spread over n_sources addresses, 4 threads; returns
    (statuses, latencies)."""
    statuses, lat = [], []
    lock = threading.Lock()
    per_thread = [jobs[i::4] for i in range(4)]

    def worker(k, bodies):
        posters = {}
        for i, b in enumerate(bodies):
            src = f"127.0.{50 + (i * 4 + k) % n_sources // 250}.{(i * 4 + k) % n_sources % 250 + 2}"
            p = posters.get(src) or posters.setdefault(src, Poster(d.port, src))
            t0 = time.monotonic()
            try:
                st, _ = p.post(b)
            except Exception:
                st = None
            with lock:
                statuses.append(st)
                lat.append(time.monotonic() - t0)
        for p in posters.values():
            p.close()

    threads = [threading.Thread(target=worker, args=(k, b)) for k, b in enumerate(per_thread)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    return statuses, lat


def read_jsonl(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


@hostile_scenario(deadline=240, soak_deadline=400)
def forged_alert_flood(s):
    """Scenario 27: a forged-report alert flood and extreme counts."""
    os.chmod(s.tmp, 0o777)
    jsonl = s.path("alerts.jsonl")
    # limits.max_sessions_per_report (10^12 by default, scenario 38) raised to 2^60, so
    # the extreme counts below still reach the store and prove its sums cannot overflow.
    d = s.daemon("flood", sections=(f'[limits]\nmax_sessions_per_report = {2 ** 60}\n'
                                    f'[alerts]\ntrust_unauthenticated = true\nmax_per_hour = {MAX_PER_HOUR}\n'
                                    f'[[alerts.sink]]\ntype = "file"\npath = "{jsonl}"\n'))

    # 1000 forged reports for watched.example: two failure kinds, so two alert kinds.
    jobs = [forged(f"forged-{i}", "watched.example", 10, 90, org=f"Forger {i % 37}",
                   kinds=("starttls-not-supported", "certificate-expired")) for i in range(1000)]
    t0 = time.monotonic()
    statuses, lat = flood(d, jobs, 100)
    secs = time.monotonic() - t0
    ok200 = sum(1 for x in statuses if x == 200)
    wait_until(lambda: len(read_jsonl(jsonl)) > 0, 10)
    time.sleep(1)
    alerts = read_jsonl(jsonl)
    watched = [a for a in alerts if a.get("policy_domain") == "watched.example"]
    per_kind = {}
    for a in watched:
        per_kind[a["kind"]] = per_kind.get(a["kind"], 0) + 1
    labelled = all(a.get("evidence", {}).get("sources") == "unauthenticated" for a in watched)
    s.result("27.1", "1000 forged reports for one domain from 100 addresses -> <= 1 alert per domain and kind",
             ok200 == 1000 and watched and all(n == 1 for n in per_kind.values()) and labelled,
             f"acked={ok200}/1000 in {secs:.1f}s ({1000 / secs:.0f}/s) alerts={per_kind} "
             f"labelled_unauthenticated={labelled} ingest p50={percentile(lat, 50) * 1000:.0f}ms "
             f"p99={percentile(lat, 99) * 1000:.0f}ms")
    s.result("27.2", "ingestion latency under the flood: p99 < 1 s", s.timed(percentile(lat, 99) < 1.0),
             f"p99={percentile(lat, 99) * 1000:.0f}ms max={max(lat) * 1000:.0f}ms")

    # 40 more domains, 5 forged reports each: the global cap holds.
    jobs = [forged(f"many-{dom}-{i}", f"d{dom}.example", 10, 90) for dom in range(40) for i in range(5)]
    statuses2, _ = flood(d, jobs, 200)
    wait_until(lambda: any(a.get("kind") == "alerts-suppressed" for a in read_jsonl(jsonl)), 15)
    time.sleep(1)
    alerts = read_jsonl(jsonl)
    real = [a for a in alerts if a.get("kind") != "alerts-suppressed"]
    notices = [a for a in alerts if a.get("kind") == "alerts-suppressed"]
    keys = {}
    for a in real:
        keys[(a["policy_domain"], a["kind"])] = keys.get((a["policy_domain"], a["kind"]), 0) + 1
    suppressed = d.q("SELECT COALESCE(SUM(suppressed), 0) AS n, count(*) AS alerts FROM alert")[0]
    s.result("27.3", f"forged failures for 40 more domains -> at most {MAX_PER_HOUR} alerts in the hour plus one "
             "'N more suppressed' notice", len(real) <= MAX_PER_HOUR and len(notices) <= 1
             and max(keys.values()) == 1 and all(x == 200 for x in statuses2),
             f"sent={len(real)} notices={len(notices)} ({notices[0].get('summary', '')[:60] if notices else ''}) "
             f"alerts recorded={suppressed['alerts']} suppressed_total={suppressed['n']} "
             f"max per (domain, kind)={max(keys.values())}")

    # Extreme counts.
    p = Poster(d.port, "127.0.0.9")
    st, body15 = p.post(forged("huge-1", "huge.example", 0, 10 ** 15))
    failed15 = d.q("SELECT failed_sessions FROM policy p JOIN report r ON r.id = p.report "
                   "WHERE r.report_id = 'huge-1'")
    s.result("27.4", "one report claiming failed-session-count 10^15 -> answered consistently, stored exactly or "
             "refused", (st == 200 and failed15 == [{"failed_sessions": 10 ** 15}]) or (st == 400 and not failed15),
             f"status={st} stored={failed15} body={body15[:80]!r}")
    st_big, _ = p.post(forged("max-0", "max.example", 0, 2 ** 53))
    jobs = [forged(f"max-{i}", "max.example", 2 ** 53 - 1, 2 ** 53 - 1, org="Max Org") for i in range(1, 1101)]
    statuses3, _ = flood(d, jobs, 20)
    p.close()
    log = d.read_log()
    stats = run(as_service_user([TLSRPTD, "stats", "--db", d.db, "--domain", "max.example", "--format", "json"]),
                timeout=60)
    try:
        doc = json.loads(stats.stdout)
    except ValueError:
        doc = None
    view = d.q("SELECT successful_sessions, failed_sessions, reports FROM policy_daily "
               "WHERE policy_domain = 'max.example'")
    overflow = "overflow" in log.lower()
    alert_failures = log.count("no alert was raised for them")
    s.result("27.5", "1100 reports claiming 2^53-1 each (sum past 2^63): all accepted, 2^53 refused, no SQLite "
             "overflow, stats and alerting keep working",
             st_big == 400 and all(x == 200 for x in statuses3) and not overflow and alert_failures == 0
             and stats.returncode == 0 and doc is not None and d.alive(),
             f"2^53 -> {st_big}; 2^53-1 x1100 -> {sum(1 for x in statuses3 if x == 200)} acked; policy_daily={view} "
             f"stats rc={stats.returncode} {stats.stdout.strip()[:160]!r} overflow_in_log={overflow} "
             f"alert_evaluation_failures={alert_failures}")
    s.result("27", "daemon alive", d.alive() and d.healthy(), f"peak_rss={d.hwm_kib() / 1024:.1f}MiB")

