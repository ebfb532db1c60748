"""The systemd integration without a running systemd (PID 1 here is not systemd):
the unit files pass `systemd-analyze verify` and `security --offline` with an
exposure of at most 2.0; socket activation works with systemd-socket-activate
passing a named socket; Type=notify readiness and stopping reach NOTIFY_SOCKET."""
import os
import shutil
import signal
import socket
import subprocess
import time
import unittest

from support import SOURCE, TLSRPTD, Daemon, TempDirTest, curl, ensure_service_user, main

UNITS = os.path.join(SOURCE, "systemd")


class Units(TempDirTest):
    def unit_copy(self, name):
        with open(os.path.join(UNITS, name)) as f:
            text = f.read().replace("/usr/local/bin/tlsrptd", TLSRPTD)
        dst = self.path(name)
        with open(dst, "w") as f:
            f.write(text)
        return dst

    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze missing")
    def test_verify_and_security_exposure(self):
        service = self.unit_copy("tlsrptd.service")
        sockets = [self.unit_copy("tlsrptd.socket"), self.unit_copy("tlsrptd-smtp.socket")]
        p = subprocess.run(["systemd-analyze", "verify", "--man=no", service, *sockets], capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        # --threshold is exposure x 10: 20 means "2.0 or better".
        p = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--threshold=20", service],
                           capture_output=True, timeout=60)
        out = p.stdout.decode()
        self.assertEqual(p.returncode, 0, out)
        level = float(out.strip().splitlines()[-1].split("tlsrptd.service:")[1].split()[0])
        self.assertLessEqual(level, 2.0)


def wait_listening(port, proc, timeout=20):
    """Waits until 127.0.0.1:port is in LISTEN state, without connecting to it."""
    entry = f"0100007F:{port:04X}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open("/proc/net/tcp") as f:
            # columns: sl local_address rem_address st ...; st 0A is LISTEN
            if any(cols[1] == entry and cols[3] == "0A" for cols in (line.split() for line in f)):
                return
        if proc.poll() is not None:
            raise AssertionError(f"systemd-socket-activate exited {proc.returncode}: {proc.stderr.read()!r}")
        time.sleep(0.02)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class SocketActivationAndNotify(TempDirTest):
    def test_adopts_named_sockets_and_notifies(self):
        if not shutil.which("systemd-socket-activate"):
            self.skipTest("systemd-socket-activate missing")
        d = Daemon(self.tmp)  # config and ports; started through systemd-socket-activate below
        notify_path = self.path("notify.sock")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        if os.geteuid() == 0:
            shutil.chown(notify_path, "tlsrptd")
        notify.settimeout(20)
        env = dict(os.environ, NOTIFY_SOCKET=notify_path)
        # The configured https address is NOT used: the inherited socket replaces it.
        port = d.port + 0
        from support import free_port
        activated = free_port()
        proc = subprocess.Popen(["systemd-socket-activate", "-l", f"127.0.0.1:{activated}", "--fdname=https",
                                 "-E", "NOTIFY_SOCKET", TLSRPTD, "serve", "--config", d.config],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=self.tmp)
        try:
            # Connect only once systemd-socket-activate listens: Popen returns before it
            # has bound, and a connection refused in that window failed this test under
            # load. Its /proc/net/tcp entry is read, not probed: a probe connection would
            # be the one that starts the service.
            wait_listening(activated, proc)
            # systemd-socket-activate starts the service at the first connection, as
            # socket activation does; that connection is then served by it.
            report = (b'{"organization-name":"O","date-range":{"start-datetime":"2026-01-01T00:00:00Z",'
                      b'"end-datetime":"2026-01-02T00:00:00Z"},"report-id":"sa","policies":[]}')
            status, _, body = curl(f"https://127.0.0.1:{activated}/", report, "application/json")
            self.assertEqual(status, 200, body)
            messages = []
            deadline = time.time() + 20
            while not any("READY=1" in m for m in messages) and time.time() < deadline:
                messages.append(notify.recv(4096).decode())
            self.assertTrue(any("READY=1" in m for m in messages), messages)
            # Nothing listens on the configured address.
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=30), 0)
            rest = []
            notify.settimeout(1)
            try:
                while True:
                    rest.append(notify.recv(4096).decode())
            except socket.timeout:
                pass
            self.assertTrue(any("STOPPING=1" in m for m in rest), rest)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stderr.close()
            notify.close()


if __name__ == "__main__":
    main()
