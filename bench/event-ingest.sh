#!/usr/bin/env bash
# bench/event-ingest.sh [EVENTS] [AGENTS] [ROUNDS]: decision-event ingest over HTTP, acknowledged =
# committed, against raw COPY FROM STDIN of the same rows into the same table, in the same
# run (PERF.md target: >= 0.5x COPY). EVENTS defaults to 200000, AGENTS (concurrent
# connections) to 4, ROUNDS (alternating HTTP and COPY; medians compared) to 3; batches of
# 1000. See bench/event_ingest.mjs.
#
# Environment:
#   BULWARKD                 bulwarkd to measure (build it without sanitizers: -O2)
#   BENCH_DATABASE_URL       superuser URL of a running PostgreSQL 15 cluster; without it a
#                            throwaway cluster is made in a temporary directory on
#                            BENCH_PG_PORT (default 5449) and destroyed at the end
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$HERE/.." && pwd -P)
: "${BULWARKD:?set BULWARKD to a bulwarkd built without sanitizers}"
[[ -x $BULWARKD ]] || { echo "event-ingest: $BULWARKD is not executable" >&2; exit 2; }

URL=${BENCH_DATABASE_URL:-}
if [[ -z $URL ]]; then
  CLUSTER=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-bench-pg.XXXXXX")
  rmdir "$CLUSTER"
  trap '"$ROOT/tests/pgcluster.sh" destroy "$CLUSTER" > /dev/null 2>&1 || true' EXIT
  "$ROOT/tests/pgcluster.sh" init --port "${BENCH_PG_PORT:-5449}" --throwaway "$CLUSTER" > /dev/null
  "$ROOT/tests/pgcluster.sh" start "$CLUSTER" > /dev/null
  URL=$("$ROOT/tests/pgcluster.sh" url "$CLUSTER")
fi

cd "$ROOT"
BULWARKD=$BULWARKD BULWARK_TEST_DATABASE_URL=$URL node bench/event_ingest.mjs "${1:-200000}" "${2:-4}" "${3:-3}"
