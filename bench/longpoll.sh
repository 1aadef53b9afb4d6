#!/usr/bin/env bash
# bench/longpoll.sh: 10,000 agents long-polling bulwarkd's check-in (`Prefer: wait=60`), each on
# its own keep-alive connection: bulwarkd's RSS with all of them parked, and the time from a
# policy change published through the API until every one has its `update` answer (PERF.md
# targets: RSS < 150 MB, all answered < 2 s). Reference in the same run: the RSS of the idle
# server just before the connections open.
#
# Builds bulwarkd (see bench/common.sh; or set BULWARKD) and bench/longpoll_agents.c, starts a
# throwaway PostgreSQL (port 5447) and bulwarkd (127.0.0.1:18007, log level warn, connection
# limits raised for N connections from one address), creates an org, a policy and an enroll
# secret, enrolls an agent, then runs longpoll_agents, waits until the server has read every
# parked request (ss: Recv-Q 0 on all N sockets), reads VmRSS, publishes a second org-wide
# policy and waits for the N answers.
#
# Environment: AGENTS (default 1): distinct enrolled agents, connection i using agent i mod
# AGENTS (each userless agent is its own subject with its own head; bulwarkd accepts ~20
# enrollments/s after a burst of 200, so large counts take a while); N (default 10000); RUNS (default 1; a fresh bulwarkd each run); WAIT (Prefer: wait, default 60);
# BENCH_PERF=FILE records bulwarkd with `perf record` from the change until every answer is in.
# Other BULWARK_* variables in the environment reach bulwarkd (e.g. BULWARK_CONNECTION_MEMORY).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

readonly N=${N:-10000}
readonly AGENTS=${AGENTS:-1}
readonly RUNS=${RUNS:-1}
readonly WAIT=${WAIT:-60}
readonly CONN_SLACK=1000          # connections allowed beyond N (the API calls, wrk, ...)
readonly PARK_TIMEOUT_S=180       # opening and parking all N connections
readonly SETTLE_S=1               # after the server has read every request, before VmRSS
readonly ANSWER_TIMEOUT_S=60      # after the change, for the N answers
readonly TARGET_RSS_MB=150
readonly TARGET_MS=2000

[[ $AGENTS =~ ^[1-9][0-9]*$ && $AGENTS -le $N ]] || die "AGENTS must be 1..$N, got $AGENTS"

ensure_packages curl jq openssl libjansson-dev iproute2
build_bulwarkd
say "building longpoll_agents"
# shellcheck disable=SC2046 # pkg-config's flags are words
"${CC:-cc}" -std=c11 -O2 -Wall -Wextra $(pkg-config --cflags jansson) \
  "$ROOT/bench/longpoll_agents.c" $(pkg-config --libs jansson) -o "$TMP/longpoll_agents"
start_postgres

# parked_on_server: how many of the server's established connections have nothing unread.
parked_on_server ()
{
  ss -Htn state established "( sport = :$PORT )" | awk '$1 == 0 { n++ } END { print n + 0 }'
}

# enroll_more COUNT: enroll COUNT more agents with $ENROLL_SECRET, appending their credentials
# to $TMP/credentials; a 429 is retried after its Retry-After, as an agent would.
enroll_more ()
{
  local i body status retry
  body=$(jq -cn --arg s "$ENROLL_SECRET" \
    '{enroll_secret: $s, hostname: "bench-host", platform: "linux", agent_version: "bench/1"}')
  for ((i = 0; i < $1; )); do
    status=$(curl -sS -o "$TMP/enroll.out" -D "$TMP/enroll.hdr" -w '%{http_code}' \
      -H 'Content-Type: application/json' --data-binary "$body" "$BASE/api/v1/agent/enroll")
    if [[ $status == 429 ]]; then
      retry=$(tr -d '\r' < "$TMP/enroll.hdr" | awk -F': ' 'tolower($1) == "retry-after" { print $2 }')
      sleep "${retry:-1}"
      continue
    fi
    [[ $status == 201 ]] || die "enroll: $status $(cat "$TMP/enroll.out")"
    jq -r .credential "$TMP/enroll.out" >> "$TMP/credentials"
    i=$((i + 1))
  done
}

ms_between ()
{
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) / 1e6 }'
}

declare -a IDLE PARKED PER_CONN LAST P50 P99 POST AFTER
for ((run = 1; run <= RUNS; run++)); do
  start_bulwarkd BULWARK_MAX_CONNECTIONS=$((N + CONN_SLACK)) \
    BULWARK_PER_IP_CONNECTIONS=$((N + CONN_SLACK)) BULWARK_CONNECTION_TIMEOUT=$((WAIT * 3))
  setup_agent
  printf '%s\n' "$CREDENTIAL" > "$TMP/credentials"
  if ((AGENTS > 1)); then
    say "enrolling $((AGENTS - 1)) more agents"
    enroll_more $((AGENTS - 1))
  fi
  sleep "$SETTLE_S"
  idle_kb=$(rss_kb "$BULWARKD_PID")
  say "run $run: idle bulwarkd RSS $((idle_kb / 1024)) MiB; opening $N connections (AGENTS=$AGENTS)"

  "$TMP/longpoll_agents" -p "$PORT" -n "$N" -w "$WAIT" -t "$ANSWER_TIMEOUT_S" -C "$TMP/credentials" > "$TMP/client.out" 2> "$TMP/client.err" &
  client_pid=$!
  EXTRA_PIDS+=("$client_pid")
  t_open=$(date +%s%N)
  for ((i = 0; i < PARK_TIMEOUT_S * 10; i++)); do
    grep -q '^parked' "$TMP/client.out" && break
    kill -0 "$client_pid" 2> /dev/null \
      || die "longpoll_agents exited early: $(cat "$TMP/client.out" "$TMP/client.err")"
    sleep 0.1
  done
  grep -q '^parked' "$TMP/client.out" || die "not all $N connections parked in ${PARK_TIMEOUT_S}s"
  read -r _ nparked t_parked < <(grep '^parked' "$TMP/client.out")
  [[ $nparked -eq $N ]] || die "only $nparked of $N connections parked: $(head -n 5 "$TMP/client.err")"
  say "all $N check-ins sent in $(ms_between "$t_open" "$t_parked") ms; waiting for the server to read them"
  for ((i = 0; i < 300; i++)); do
    [[ $(parked_on_server) -ge $N ]] && break
    sleep 0.1
  done
  [[ $(parked_on_server) -ge $N ]] || die "the server holds only $(parked_on_server) idle connections"
  sleep "$SETTLE_S"
  ! grep -q '^result' "$TMP/client.out" || die "client finished before the change: $(cat "$TMP/client.out")"
  parked_kb=$(rss_kb "$BULWARKD_PID")
  say "run $run: bulwarkd RSS with $N parked: $((parked_kb / 1024)) MiB"

  perf_pid=''
  if [[ -n ${BENCH_PERF:-} ]]; then
    perf record -q -F 2000 --call-graph dwarf,16384 -p "$BULWARKD_PID" -o "$BENCH_PERF" &
    perf_pid=$!
    sleep 1
  fi
  t0=$(date +%s%N)
  api POST "/api/v1/orgs/$ORG_ID/policies" "$(policy_doc "Change $run")"
  t1=$(date +%s%N)
  expect 201 'publish a policy change'
  wait "$client_pid" || say "longpoll_agents: $(head -n 5 "$TMP/client.err")"
  EXTRA_PIDS=()
  if [[ -n $perf_pid ]]; then
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
  fi
  result=$(grep '^result' "$TMP/client.out") || die "longpoll_agents printed no result"
  say "run $run: $result"
  declare -A R=()
  for kv in ${result#result }; do R[${kv%%=*}]=${kv#*=}; done
  [[ ${R[answered]} -eq $N && ${R[update]} -eq $N ]] \
    || die "not every connection got an update: $result; $(head -n 5 "$TMP/client.err")"
  after_kb=$(rss_kb "$BULWARKD_PID")

  IDLE+=("$idle_kb"); PARKED+=("$parked_kb"); AFTER+=("$after_kb")
  PER_CONN+=("$(awk -v a="$idle_kb" -v b="$parked_kb" -v n="$N" 'BEGIN { printf "%.2f", (b - a) * 1.024 / n }')")
  LAST+=("$(ms_between "$t0" "${R[last_ns]}")")
  P50+=("$(ms_between "$t0" "${R[p50_ns]}")")
  P99+=("$(ms_between "$t0" "${R[p99_ns]}")")
  POST+=("$(ms_between "$t0" "$t1")")
  stop_bulwarkd
done

mb ()
{
  awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'
}
idle=$(median "${IDLE[@]}"); parked=$(median "${PARKED[@]}"); after=$(median "${AFTER[@]}")
last=$(median "${LAST[@]}")
echo
echo "$N long-polling agents (AGENTS=$AGENTS, Prefer: wait=$WAIT), median of $RUNS run(s)"
load_note
printf '  %-52s %9s MiB\n' 'bulwarkd RSS, idle (reference)' "$(mb "$idle")"
printf '  %-52s %9s MiB   target < %d MB: %s\n' "bulwarkd RSS, $N parked" "$(mb "$parked")" \
  "$TARGET_RSS_MB" "$(awk -v k="$parked" -v t="$TARGET_RSS_MB" 'BEGIN { print (k * 1024 < t * 1e6) ? "met" : "MISSED" }')"
printf '  %-52s %9s KB\n' 'per parked connection ((parked - idle) / N)' "$(median "${PER_CONN[@]}")"
printf '  %-52s %9s MiB\n' 'bulwarkd RSS after all answered' "$(mb "$after")"
printf '  %-52s %9s ms\n' 'policy POST round trip (change committed)' "$(median "${POST[@]}")"
printf '  %-52s %9s ms\n' 'change -> half the agents answered' "$(median "${P50[@]}")"
printf '  %-52s %9s ms\n' 'change -> 99% answered' "$(median "${P99[@]}")"
printf '  %-52s %9s ms   target < %d ms: %s\n' "change -> all $N answered (update)" "$last" \
  "$TARGET_MS" "$( ((last < TARGET_MS)) && echo met || echo MISSED)"
echo "(times from just before the policy POST is sent, curl included, to each answer's arrival)"
