"""Graceful restart under load (scenario 9, docs/guarantees.md#reliability-scenarios):
SIGTERM while 8 senders (HTTPS and SMTP) submit. Requests in flight finish or are told
to try later; nothing acknowledged is lost; the daemon exits 0 within shutdown_timeout;
the next start needs no manual step and the senders' retries are counted once."""
import collections
import signal
import socket
import ssl
import threading
import time

from common import report_json, report_mail, scenario
from durability import Ledger, SUCCESS, TEMPFAIL, stored_state, submit_once, verify


@scenario(deadline=150, soak_deadline=600)
def graceful_restart_under_load(ctx):
    rounds = 3 if ctx.fast else 10
    shutdown_timeout = 10
    d = ctx.daemon(smtp=True, top_config=f'shutdown_timeout = "{shutdown_timeout}s"\n',
                   extra_config='max_connections_per_client = 64\n', smtp_extra="max_connections_per_client = 64\n")
    ctx.figure("shutdown_timeout_s", shutdown_timeout)
    ledger = Ledger()
    done = threading.Event()
    attempts = []  # (channel, started, ended, status)
    lock = threading.Lock()

    def sender(c):
        channel = "https" if c % 2 == 0 else "smtp"
        i = 0
        rid = f"term-{c}-{i}"
        while not done.is_set():
            t0 = time.monotonic()
            r = submit_once(d, rid, channel, timeout=30)
            ledger.note(rid, channel, r.status)
            with lock:
                attempts.append((channel, t0, time.monotonic(), r.status, r))
            if r.status in SUCCESS[channel]:
                i += 1
                rid = f"term-{c}-{i}"
            else:
                time.sleep(0.1)

    threads = [threading.Thread(target=sender, args=(c,)) for c in range(8)]
    for t in threads:
        t.start()
    exits, in_flight = [], collections.Counter()
    for k in range(rounds):
        time.sleep(3)
        term_at = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        rc = d.proc.wait(timeout=shutdown_timeout + 20)
        exit_s = time.monotonic() - term_at
        d.logf.close()
        exits.append((rc, exit_s))
        # Requests in flight at SIGTERM: how were they answered?
        with lock:
            for channel, t0, t1, status, r in attempts:
                if t0 < term_at < t1:
                    # A connect() that came after the listener closed is refused: no
                    # connection existed, nothing was sent, and the sender retries as
                    # after any refused connection. Every connection that was made must
                    # be answered.
                    refused = status is None and r.local_port is None and r.body.startswith(b"ConnectionRefusedError")
                    kind = ("finished" if status in SUCCESS[channel] else
                            "try-later" if status in TEMPFAIL[channel] else
                            "refused-before-connecting" if refused else
                            "no-reply" if status is None else f"other-{status}")
                    in_flight[f"{channel}:{kind}"] += 1
                    if status is None and not refused:
                        print(f"  no reply on {channel} (local port {r.local_port}): {r.body!r}"[:300])
        time.sleep(0.5)
        d.start()  # the next start needs no manual step
    time.sleep(3)
    done.set()
    for t in threads:
        t.join()
    # What the senders still hold they retry until acknowledged.
    for rid in sorted(ledger.submitted - set(ledger.acked)):
        channel = ledger.history[rid][-1][2]
        for _ in range(20):
            r = submit_once(d, rid, channel)
            ledger.note(rid, channel, r.status)
            if r.status in SUCCESS[channel]:
                break
            time.sleep(0.5)
    rc = d.stop()
    ctx.figure("sigterm_rounds", rounds)
    ctx.figure("exit_codes", [e[0] for e in exits])
    ctx.figure("exit_s_max", f"{max(e[1] for e in exits):.2f}")
    ctx.figure("in_flight_at_sigterm", dict(in_flight))
    ctx.figure("replies", ledger.summary())
    ctx.check(all(e[0] == 0 for e in exits) and rc == 0, f"exit codes {exits}, final {rc}")
    ctx.check(all(e[1] <= shutdown_timeout + 1 for e in exits), f"exit took {max(e[1] for e in exits):.1f} s")
    ctx.check(sum(in_flight.values()) > 0, "no request was in flight at SIGTERM (the test did not test)")
    bad = {k: v for k, v in in_flight.items()
           if k.split(":")[1] not in ("finished", "try-later", "refused-before-connecting")}
    ctx.check(not bad, f"requests in flight at SIGTERM neither finished nor told to try later: {bad}")
    ctx.check(set(ledger.acked) == ledger.submitted, "some reports were never acknowledged after the restart")
    verify(ctx, d.db, ledger)


def recv_until(sock, needle, timeout=10):
    sock.settimeout(timeout)
    data = b""
    try:
        while needle not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    return data


@scenario(deadline=60)
def graceful_stop_answers_open_connections(ctx):
    """Deterministic: connections open at SIGTERM in each state get an answer."""
    d = ctx.daemon(smtp=True)
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE
    # HTTPS: accepted, TLS handshake not started yet.
    fresh = socket.create_connection(("127.0.0.1", d.port))
    # SMTP: greeted and waiting for a command.
    idle = socket.create_connection(("127.0.0.1", d.smtp_port))
    recv_until(idle, b"220 ")
    idle.sendall(b"EHLO client.example\r\n")
    recv_until(idle, b"250 ")
    # SMTP: in the middle of DATA.
    rid = "graceful-data"
    mail = report_mail(report_json(rid), rid)
    busy = socket.create_connection(("127.0.0.1", d.smtp_port))
    recv_until(busy, b"220 ")
    busy.sendall(b"EHLO client.example\r\n")
    recv_until(busy, b"250 ")
    busy.sendall(b"MAIL FROM:<r@sender.example>\r\nRCPT TO:<tlsrpt@example.com>\r\nDATA\r\n")
    ctx.require(b"354 " in recv_until(busy, b"354 "), "no 354 after DATA")
    busy.sendall(mail[:len(mail) // 2])
    time.sleep(0.3)
    d.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    # The HTTPS request sent after the stop began is answered.
    body = report_json("graceful-https")
    try:
        s = tls.wrap_socket(fresh)
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/tlsrpt+json\r\nConnection: close\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        https_reply = recv_until(s, b"}")
    except OSError as e:
        https_reply = repr(e).encode()
    # The mail being received is finished and stored.
    try:
        busy.sendall(mail[len(mail) // 2:] + b"\r\n.\r\n")
        data_reply = recv_until(busy, b"\r\n")
    except OSError as e:
        data_reply = repr(e).encode()
    idle_reply = recv_until(idle, b"\r\n")
    rc = d.proc.wait(timeout=30)
    d.logf.close()
    ctx.figure("https_fresh_connection", https_reply.split(b"\r\n")[0])
    ctx.figure("smtp_waiting_for_a_command", idle_reply.strip())
    ctx.figure("smtp_in_data", data_reply.strip())
    ctx.figure("exit_code", rc)
    ctx.check(https_reply.startswith(b"HTTP/1.1 200"), f"fresh HTTPS connection: {https_reply[:80]!r}")
    ctx.check(idle_reply.startswith(b"421 4.3.2"), f"idle SMTP session: {idle_reply!r}")
    ctx.check(data_reply.startswith(b"250 2.0.0"), f"SMTP session in DATA: {data_reply!r}")
    ctx.check(rc == 0, f"exit code {rc}")
    d.start()
    st = stored_state(d.db)
    ctx.check(set(st["counted"]) == {"graceful-https", rid}, f"stored: {dict(st['counted'])}")
