#!/usr/bin/env bash
# bench/policy-decision.sh [DECISIONS]: time policy decisions against a generated 250-rule policy
# on one core (PERF.md target: median < 5 µs), with a strcmp scan and jansson's json_loads as
# references measured in the same run (see bench/policy_decision.c). Builds the benchmark with
# -O2 straight from the lib/ sources into a temporary directory; no configure needed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$HERE/.." && pwd -P)
CC=${CC:-cc}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# lib/ sources include "config.h" but use none of its macros.
: > "$TMP/config.h"
"$CC" -std=c11 -D_GNU_SOURCE -O2 -DNDEBUG -I"$TMP" -I"$ROOT" $(pkg-config --cflags jansson openssl) \
  "$HERE/policy_decision.c" "$ROOT"/lib/*.c $(pkg-config --libs jansson openssl) \
  -o "$TMP/policy_decision"

PIN=()
if command -v taskset > /dev/null; then
  PIN=(taskset -c 0)
fi
"${PIN[@]}" "$TMP/policy_decision" "${1:-1000000}"
