#!/bin/sh
# Configures and builds tlsrptd into build/ (or $BUILD_DIR). Extra arguments go to cmake.
set -eu
cd "$(dirname "$0")/.."
build_dir="${BUILD_DIR:-build}"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
