#!/bin/sh
# Configures and builds tlsrptd into build/ (or $BUILD_DIR). Arguments go to
# `cmake --build` (e.g. --target tlsrptd); CMAKE_ARGS to the configure step.
set -eu
cd "$(dirname "$0")/.."
build_dir="${BUILD_DIR:-build}"
# shellcheck disable=SC2086
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir" -j"$(nproc)" "$@"
