#!/bin/sh
# The README's two commands:
#   ./quickstart.sh run    installs what is missing, builds, runs tlsrptd on its embedded defaults
#   ./quickstart.sh test   installs what is missing, builds, runs the whole test suite
set -eu
cd "$(dirname "$0")"
case "${1:-}" in
  run)
    scripts/deps.sh build
    scripts/build.sh -DTLSRPT_BUILD_TESTS=OFF -DTLSRPT_BUILD_BENCH=OFF
    ./build/daemon/tlsrptd report import examples/reports
    exec ./build/daemon/tlsrptd stats
    ;;
  test)
    scripts/deps.sh test
    scripts/build.sh -DTLSRPT_BUILD_TESTS=ON
    cd build
    exec ctest --output-on-failure -j"$(nproc)" --timeout 900
    ;;
  *)
    echo "usage: $0 run|test" >&2
    exit 64
    ;;
esac
