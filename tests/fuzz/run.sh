#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS [TARGET]: build the libFuzzer targets of tests/fuzz/ with clang
# (-fsanitize=fuzzer,address,undefined) straight from the lib/ sources into a temporary
# directory, and run each (or only TARGET, e.g. fuzz_policy) for SECONDS seconds over its seed
# corpus tests/fuzz/corpus/<name>/ (fuzz_policy -> corpus/policy), with the dictionary
# tests/fuzz/<name without fuzz_>.dict when there is one. New inputs go to the
# temporary directory, never into the committed corpus. Exits non-zero when a target crashes,
# leaks or breaks an invariant; the reproducer is copied to ./fuzz-crash-<target>-*.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$HERE/../.." && pwd -P)
SECONDS_EACH=${1:?usage: tests/fuzz/run.sh SECONDS [TARGET]}
ONLY=${2:-}
CC=${CC:-clang}

command -v "$CC" > /dev/null || { echo "run.sh: $CC not found (Debian: apt-get install clang)" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-fuzz.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# lib/ sources include "config.h" but use none of its macros.
: > "$TMP/config.h"
CFLAGS=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
  -I"$TMP" -I"$ROOT" $(pkg-config --cflags jansson openssl))
LIBS=($(pkg-config --libs jansson openssl))

status=0
for src in "$HERE"/fuzz_*.c; do
  name=$(basename "$src" .c)
  [[ -n $ONLY && $ONLY != "$name" ]] && continue
  corpus=$HERE/corpus/${name#fuzz_}
  echo "==> building $name"
  "$CC" "${CFLAGS[@]}" "$src" "$ROOT"/lib/*.c "${LIBS[@]}" -o "$TMP/$name"
  mkdir -p "$TMP/$name.corpus"
  dict=()
  [[ -f $HERE/${name#fuzz_}.dict ]] && dict=(-dict="$HERE/${name#fuzz_}.dict")
  echo "==> running $name for ${SECONDS_EACH}s"
  if ! (cd "$TMP" && ./"$name" -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" "$TMP/$name.corpus" "$corpus"); then
    status=1
    for f in "$TMP"/crash-* "$TMP"/leak-* "$TMP"/timeout-* "$TMP"/oom-*; do
      [[ -e $f ]] && cp "$f" "./fuzz-crash-$name-$(basename "$f")" && echo "reproducer: ./fuzz-crash-$name-$(basename "$f")"
    done
  fi
done
exit $status
