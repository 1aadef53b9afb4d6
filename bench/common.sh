# shellcheck shell=bash
# bench/common.sh: shared set-up of the check-in benchmarks (sourced by bench/checkin.sh and
# bench/longpoll.sh; not run on its own).
#
# Provides: say/die, ensure_packages, build_bulwarkd (sets BULWARKD), start_postgres,
# start_bulwarkd ENV..., stop_bulwarkd, load_note, api METHOD PATH [BODY] [TOKEN], rss_kb PID, setup_agent (one org, an
# org-wide policy, an enroll secret, one enrolled agent and its nothing-changed check-in body),
# and an EXIT trap that stops everything the script started (by PID) and removes $TMP.
#
# Environment: BULWARKD (use this binary, skip the build), BENCH_BUILD_DIR (default
# <repo>/build/bench, configured without sanitizers, -O2), BENCH_PG_PORT (5447), BENCH_PORT
# (bulwarkd, 18007).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
readonly ROOT
readonly PG_PORT=${BENCH_PG_PORT:-5447}
readonly PORT=${BENCH_PORT:-18007}
readonly READY_TIMEOUT_S=30
readonly BASE=http://127.0.0.1:$PORT

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-bench.XXXXXX")
chmod 0755 "$TMP" # nginx workers (user nobody when we are root) read files under it
BULWARKD_PID=''
PG_STARTED=0
EXTRA_PIDS=()      # other processes to stop at exit (nginx, clients)

say ()
{
  printf '==> %s\n' "$*" >&2
}

die ()
{
  printf '%s: %s\n' "$(basename "$0")" "$*" >&2
  exit 1
}

cleanup ()
{
  local pid
  for pid in "${EXTRA_PIDS[@]}"; do
    kill -TERM "$pid" 2> /dev/null || true
  done
  if [[ -n $BULWARKD_PID ]]; then
    kill -TERM "$BULWARKD_PID" 2> /dev/null || true
    wait "$BULWARKD_PID" 2> /dev/null || true
  fi
  if [[ $PG_STARTED -eq 1 ]]; then
    "$ROOT/tests/pgcluster.sh" destroy "$TMP/pg" > /dev/null 2>&1 || true
  fi
  if [[ -n ${BENCH_KEEP_TMP:-} ]]; then
    say "kept $TMP"
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

as_root ()
{
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo > /dev/null; then
    sudo "$@"
  else
    die "need root to run: $* (install sudo, or run this as root)"
  fi
}

# ensure_packages PKG...: install the Debian packages that are missing (as ./dev does).
ensure_packages ()
{
  local pkg missing=()
  for pkg in "$@"; do
    [[ $(dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null) == 'install ok installed' ]] \
      || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  say "installing missing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
}

# build_bulwarkd: set BULWARKD, building it (optimized, no sanitizers) unless it is set.
build_bulwarkd ()
{
  if [[ -n ${BULWARKD:-} ]]; then
    [[ -x $BULWARKD ]] || die "BULWARKD=$BULWARKD is not an executable"
    return 0
  fi
  local dir=${BENCH_BUILD_DIR:-$ROOT/build/bench}
  [[ ! -f $ROOT/config.status ]] \
    || die "the source tree was configured in place; run 'make distclean' in $ROOT first"
  if [[ ! -x $ROOT/configure ]]; then
    say "autoreconf -fi"
    (cd "$ROOT" && autoreconf -fi)
  fi
  mkdir -p "$dir"
  if [[ ! -f $dir/Makefile ]]; then
    say "configure in $dir (optimized, no sanitizers)"
    (cd "$dir" && "$ROOT/configure" -q CFLAGS='-O2 -g')
  fi
  say "make in $dir"
  make -C "$dir" -j"$(nproc)" -s > "$TMP/make.log" 2>&1 \
    || { tail -n 40 "$TMP/make.log" >&2; die "build failed (log above)"; }
  BULWARKD=$dir/server/bulwarkd
}

# load_note: the load average at the start and now, printed with the figures (other work on
# the machine skews them).
LOAD_AT_START=$(cut -d' ' -f1 /proc/loadavg)
load_note ()
{
  echo "load average (1 min) at the start: $LOAD_AT_START, at the end: $(cut -d' ' -f1 /proc/loadavg); $(nproc) CPUs"
}

# start_postgres: a throwaway cluster under $TMP; sets DATABASE_URL.
start_postgres ()
{
  say "PostgreSQL on port $PG_PORT (throwaway cluster)"
  "$ROOT/tests/pgcluster.sh" init --port "$PG_PORT" --throwaway "$TMP/pg" > "$TMP/pg.log" 2>&1 \
    || { cat "$TMP/pg.log" >&2; die "pgcluster init failed"; }
  PG_STARTED=1
  "$ROOT/tests/pgcluster.sh" start "$TMP/pg" >> "$TMP/pg.log" 2>&1 \
    || { cat "$TMP/pg.log" >&2; die "pgcluster start failed"; }
  DATABASE_URL=$("$ROOT/tests/pgcluster.sh" url "$TMP/pg")
}

# start_bulwarkd [NAME=VALUE...]: bulwarkd on 127.0.0.1:$PORT, log level warn (a log line per
# request would dominate), the extra environment given; waits for /readyz. Sets ADMIN_TOKEN and
# BULWARKD_PID. The platform token and master key stay the same across restarts.
ADMIN_TOKEN=bwk_$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=\n')
MASTER_KEY=$(openssl rand -hex 32)
start_bulwarkd ()
{
  [[ -d $TMP/data ]] || mkdir -m 0700 "$TMP/data"
  say "bulwarkd on $BASE ($BULWARKD)"
  env BULWARK_DATABASE_URL="$DATABASE_URL" BULWARK_LISTEN="127.0.0.1:$PORT" \
    BULWARK_DATA_DIR="$TMP/data" BULWARK_LOG_LEVEL=warn BULWARK_BOOTSTRAP_TOKEN="$ADMIN_TOKEN" \
    BULWARK_MASTER_KEY="$MASTER_KEY" "$@" \
    "$BULWARKD" serve >> "$TMP/bulwarkd.log" 2>&1 &
  BULWARKD_PID=$!
  local i
  for ((i = 0; i < READY_TIMEOUT_S * 10; i++)); do
    if curl -fsS -o /dev/null "$BASE/readyz" 2> /dev/null; then
      return 0
    fi
    kill -0 "$BULWARKD_PID" 2> /dev/null \
      || { tail -n 20 "$TMP/bulwarkd.log" >&2; die "bulwarkd exited"; }
    sleep 0.1
  done
  tail -n 20 "$TMP/bulwarkd.log" >&2
  die "bulwarkd not ready after ${READY_TIMEOUT_S}s"
}

# stop_bulwarkd: SIGTERM and wait (graceful shutdown).
stop_bulwarkd ()
{
  [[ -n $BULWARKD_PID ]] || return 0
  kill -TERM "$BULWARKD_PID" 2> /dev/null || true
  wait "$BULWARKD_PID" 2> /dev/null || true
  BULWARKD_PID=''
}

# api METHOD PATH [BODY] [TOKEN]: set STATUS and BODY (the reply's). TOKEN defaults to the
# platform admin token; "-" sends none.
api ()
{
  local method=$1 path=$2 body=${3:-} token=${4:-$ADMIN_TOKEN}
  local args=(-sS -X "$method" -o "$TMP/api.out" -w '%{http_code}' -H 'Accept: application/json')
  [[ $token == - ]] || args+=(-H "Authorization: Bearer $token")
  [[ -z $body ]] || args+=(-H 'Content-Type: application/json' --data-binary "$body")
  STATUS=$(curl "${args[@]}" "$BASE$path") || die "curl $method $path failed"
  BODY=$(< "$TMP/api.out")
}

# expect STATUS WHAT: die unless the last api call answered STATUS.
expect ()
{
  [[ $STATUS == "$1" ]] || die "$2: expected $1, got $STATUS: ${BODY:0:600}"
}

# rss_kb PID: resident set size in KiB (VmRSS of /proc/PID/status).
rss_kb ()
{
  awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# policy_doc NAME: the body creating an org-wide policy with a few network rules.
policy_doc ()
{
  jq -cn --arg name "$1" '{document: {schema: "bulwark.policy/v1", name: $name, mode: "enforce",
    scope: {org_wide: true},
    network: [{id: "npm", decision: "allow", hosts: ["registry.npmjs.org"], ports: [443]},
              {id: "metadata", decision: "deny", cidrs: ["169.254.0.0/16"]}]}}'
}

# setup_agent: an org with an org-wide policy, an enroll secret (ENROLL_SECRET), one enrolled
# agent (CREDENTIAL) and its first check-in; CHECKIN_BODY is then the nothing-changed check-in
# body and CHECKIN_REPLY the reply to it (state current).
setup_agent ()
{
  local slug keyset_version
  slug=bench-$(openssl rand -hex 4)
  api POST /api/v1/orgs "$(jq -cn --arg s "$slug" '{slug: $s, name: "Bench"}')"
  expect 201 'create org'
  ORG_ID=$(jq -r .id <<< "$BODY")
  api POST "/api/v1/orgs/$ORG_ID/policies" "$(policy_doc Baseline)"
  expect 201 'create policy'
  api POST "/api/v1/orgs/$ORG_ID/enroll-secrets" '{"name":"bench","max_uses":1000000}'
  expect 201 'create enroll secret'
  ENROLL_SECRET=$(jq -r .secret <<< "$BODY")
  api POST /api/v1/agent/enroll "$(jq -cn --arg s "$ENROLL_SECRET" \
    '{enroll_secret: $s, hostname: "bench-host", platform: "linux", agent_version: "bench/1"}')" -
  expect 201 'enroll'
  CREDENTIAL=$(jq -r .credential <<< "$BODY")
  keyset_version=$(jq -r .keyset_version <<< "$BODY")
  api POST /api/v1/agent/checkin "$(jq -cn --argjson k "$keyset_version" '{agent_version:
    "bench/1", keyset_version: $k, bundle: null, last_error: null, stale: false,
    events: {spooled: 0, dropped: 0, last_seq: 0}}')" "$CREDENTIAL"
  expect 200 'first check-in'
  [[ $(jq -r .bundle.state <<< "$BODY") == update ]] || die "first check-in: expected update: $BODY"
  CHECKIN_BODY=$(jq -c '{agent_version: "bench/1", keyset_version: .keyset_version,
    bundle: {version: .bundle.version, sha256: .bundle.sha256, head_serial: .bundle.head_serial},
    last_error: null, stale: false, events: {spooled: 0, dropped: 0, last_seq: 0}}' <<< "$BODY")
  api POST /api/v1/agent/checkin "$CHECKIN_BODY" "$CREDENTIAL"
  expect 200 'nothing-changed check-in'
  CHECKIN_REPLY=$BODY
  [[ $(jq -r .bundle.state <<< "$CHECKIN_REPLY") == current ]] \
    || die "nothing-changed check-in: expected current: $CHECKIN_REPLY"
}

# median N...: the median of the numbers (the lower middle one of an even count).
median ()
{
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
