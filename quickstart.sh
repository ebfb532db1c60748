#!/bin/sh
# The README's two commands:
#   ./quickstart.sh run    installs what is missing, builds, runs `tlsrptd serve` on its embedded defaults
#   ./quickstart.sh test   installs what is missing, builds, runs the whole test suite
set -eu
cd "$(dirname "$0")"
case "${1:-}" in
  run)
    scripts/deps.sh build
    scripts/build.sh --target tlsrptd
    echo "tlsrptd serve: HTTPS on 127.0.0.1:8443, metrics on 127.0.0.1:9464, database var/tlsrptd.sqlite" >&2
    echo "  try: curl -k -H 'Content-Type: application/tlsrpt+json' --data-binary @examples/reports/google-2026-11-27-example.com.json https://127.0.0.1:8443/" >&2
    echo "  then: ./build/daemon/tlsrptd stats    (Ctrl-C stops the daemon)" >&2
    if [ "$(id -u)" -eq 0 ]; then
      # tlsrptd refuses to run as root: it binds, then drops to its own user.
      id -u tlsrptd >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin tlsrptd
      # var/ is this checkout's state folder: the daemon's user writes its database there
      # (files root made in it, e.g. by `tlsrptd stats` run first, the daemon hands over).
      mkdir -p var && chown tlsrptd:tlsrptd var
      exec ./build/daemon/tlsrptd serve --user tlsrptd
    fi
    exec ./build/daemon/tlsrptd serve
    ;;
  test)
    scripts/deps.sh test
    scripts/build.sh
    cd build
    exec ctest --output-on-failure -j"$(nproc)" --timeout 900
    ;;
  *)
    echo "usage: $0 run|test" >&2
    exit 64
    ;;
esac
