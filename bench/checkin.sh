#!/usr/bin/env bash
# bench/checkin.sh: the nothing-changed agent check-in (POST /api/v1/agent/checkin, keep-alive,
# reply `current` from memory) under wrk at 64 and 256 connections, side by side in the same run
# with nginx answering a conditional GET of a file of the check-in reply's size with 304
# (PERF.md target: >= 0.5x nginx's requests/s at both counts, p99 < 10 ms).
#
# Installs wrk and nginx-light if missing, builds bulwarkd (see bench/common.sh; or set
# BULWARKD), starts a throwaway PostgreSQL (port 5447) and bulwarkd (127.0.0.1:18007, log level
# warn), creates an org, a policy and an enroll secret, enrolls one agent and learns its current
# bundle {version, sha256, head_serial} from a first check-in.
#
# Environment: RUNS (default 1; the median of the runs is reported), DURATION (s per wrk run,
# default 10), THREADS (wrk threads, default 2), CONNS (default "64 256"), BENCH_NGINX_PORT
# (default 18107), BULWARK_POOL_SIZE (passed to bulwarkd; its default otherwise).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

readonly RUNS=${RUNS:-1}
readonly DURATION=${DURATION:-10}
readonly THREADS=${THREADS:-2}
readonly CONNS=${CONNS:-64 256}
readonly NGINX_PORT=${BENCH_NGINX_PORT:-18107}
readonly WARMUP_S=2
readonly TARGET_RATIO=0.5
readonly TARGET_P99_MS=10

ensure_packages wrk nginx-light curl jq openssl
build_bulwarkd
start_postgres
server_env=()
[[ -z ${BULWARK_POOL_SIZE:-} ]] || server_env+=(BULWARK_POOL_SIZE="$BULWARK_POOL_SIZE")
start_bulwarkd "${server_env[@]}"
setup_agent

url=$BASE/api/v1/agent/checkin
reply_bytes=$(printf '%s' "$CHECKIN_REPLY" | wc -c)
say "check-in reply: $reply_bytes bytes: $CHECKIN_REPLY"

# The connection must survive a reply (PERF.md: libmicrohttpd drops keep-alive when a response
# is queued on the first access-handler call).
curl -sv -o /dev/null -o /dev/null -X POST -H "Authorization: Bearer $CREDENTIAL" \
  -H 'Content-Type: application/json' --data-binary "$CHECKIN_BODY" "$url" "$url" \
  2> "$TMP/keepalive.log" || die "curl keep-alive check failed"
grep -q 'Re-using existing connection' "$TMP/keepalive.log" \
  || die "bulwarkd closed the connection after a check-in (keep-alive lost); see curl -v: $(grep -E '^[<*]' "$TMP/keepalive.log" | tail -n 15)"

# wrk's request: static method, body and headers (built once, no Lua per request).
cat > "$TMP/checkin.lua" << EOF
wrk.method = "POST"
wrk.body = [[$CHECKIN_BODY]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $CREDENTIAL"
EOF

# nginx: the same number of bytes as a static file, etag on, keep-alive, no access log.
mkdir -p "$TMP/nginx/logs" "$TMP/www"
head -c "$reply_bytes" /dev/zero | tr '\0' 'x' > "$TMP/www/checkin.json"
cat > "$TMP/nginx/nginx.conf" << EOF
worker_processes auto;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  etag on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  default_type application/json;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $TMP/www;
  }
}
EOF
nginx -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" &
NGINX_PID=$!
EXTRA_PIDS+=("$NGINX_PID")
nginx_url=http://127.0.0.1:$NGINX_PORT/checkin.json
for ((i = 0; i < 50; i++)); do
  etag=$(curl -sfI "$nginx_url" 2> /dev/null | tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { print $2 }') \
    && [[ -n $etag ]] && break
  sleep 0.1
done
[[ -n ${etag:-} ]] || die "nginx did not start: $(cat "$TMP/nginx/logs/error.log")"
[[ $(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$nginx_url") == 304 ]] \
  || die "nginx does not answer 304 to If-None-Match: $etag"
say "nginx $(nginx -v 2>&1 | sed 's/.*\///') on 127.0.0.1:$NGINX_PORT, $reply_bytes-byte file, ETag $etag"

# cpu_ticks PID...: utime + stime of the processes (and, for nginx, its workers), clock ticks.
cpu_ticks ()
{
  local pid sum=0 t
  for pid in "$@"; do
    t=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2> /dev/null) || t=0
    sum=$((sum + t))
  done
  echo "$sum"
}
nginx_pids ()
{
  echo "$NGINX_PID" "$(pgrep -P "$NGINX_PID" | tr '\n' ' ')"
}
HZ=$(getconf CLK_TCK)
readonly HZ

# run_wrk NAME CONNS PIDS -- WRK_ARGS...: one wrk run; prints "req/s p99_ms cpu_us_per_req non2xx".
run_wrk ()
{
  local name=$1 conns=$2 pids=$3
  shift 4
  local before after out rps p99 reqs non2xx errs
  read -ra pids <<< "$pids"
  before=$(cpu_ticks "${pids[@]}")
  out=$(wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" --latency "$@")
  after=$(cpu_ticks "${pids[@]}")
  printf '%s\n' "$out" > "$TMP/wrk-$name-$conns.last"
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<< "$out")
  p99=$(awk '$1 == "99%" { v = $2; u = v; sub(/[a-z]+$/, "", v); sub(/^[0-9.]+/, "", u);
              if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000;
              print v }' <<< "$out")
  reqs=$(awk '/requests in/ { print $1 }' <<< "$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<< "$out")
  errs=$(awk '/Socket errors:/ { print }' <<< "$out")
  [[ -z $errs ]] || say "$name, $conns connections: $errs"
  awk -v r="$rps" -v p="$p99" -v n="$reqs" -v t=$((after - before)) -v hz="$HZ" -v x="${non2xx:-0}" \
    'BEGIN { printf "%s %s %.1f %d\n", r, p, (n > 0 ? t / hz * 1e6 / n : 0), x }'
}

bulwarkd_wrk=(-s "$TMP/checkin.lua" "$url")
nginx_wrk=(-H "If-None-Match: $etag" "$nginx_url")

say "warm-up (${WARMUP_S}s each)"
wrk -t"$THREADS" -c64 -d"${WARMUP_S}s" "${nginx_wrk[@]}" > /dev/null
wrk -t"$THREADS" -c64 -d"${WARMUP_S}s" "${bulwarkd_wrk[@]}" > /dev/null

declare -A RPS P99 CPU BAD RATIO
for ((run = 1; run <= RUNS; run++)); do
  for c in $CONNS; do
    # Alternate which goes first, so a drift during the run does not favour one side.
    if ((run % 2)); then order=(nginx bulwarkd); else order=(bulwarkd nginx); fi
    for who in "${order[@]}"; do
      if [[ $who == nginx ]]; then
        read -r r p u x < <(run_wrk nginx "$c" "$(nginx_pids)" -- "${nginx_wrk[@]}")
      else
        read -r r p u x < <(run_wrk bulwarkd "$c" "$BULWARKD_PID" -- "${bulwarkd_wrk[@]}")
      fi
      say "run $run, $c connections, $who: $r req/s, p99 $p ms, $u us CPU/request, non-2xx/3xx $x"
      RPS[$who,$c]+="$r "
      P99[$who,$c]+="$p "
      CPU[$who,$c]+="$u "
      BAD[$who,$c]=$((${BAD[$who,$c]:-0} + x))
      eval "last_$who=\$r"
    done
    # shellcheck disable=SC2154 # set by the eval above
    RATIO[$c]+="$(awk -v a="$last_bulwarkd" -v b="$last_nginx" 'BEGIN { printf "%.3f", a / b }') "
  done
done

echo
echo "Check-in, nothing changed, keep-alive: wrk -t$THREADS -d${DURATION}s, median of $RUNS run(s)"
load_note
echo "(bulwarkd: POST $((${#CHECKIN_BODY})) B -> 200 ${reply_bytes} B; nginx: conditional GET -> 304)"
printf '%-6s %12s %9s %9s %12s %9s %9s %7s %7s  %s\n' conns 'nginx req/s' 'p99 ms' 'CPU us' \
  'bulwarkd r/s' 'p99 ms' 'CPU us' ratio 'CPU r.' "target: ratio >= $TARGET_RATIO, p99 < $TARGET_P99_MS ms"
status=0
for c in $CONNS; do
  # shellcheck disable=SC2086 # the runs' figures, space-separated
  {
    nr=$(median ${RPS[nginx,$c]}); np=$(median ${P99[nginx,$c]}); nu=$(median ${CPU[nginx,$c]})
    br=$(median ${RPS[bulwarkd,$c]}); bp=$(median ${P99[bulwarkd,$c]})
    bu=$(median ${CPU[bulwarkd,$c]})
    ratio=$(median ${RATIO[$c]})
  }
  ratio=$(awk -v r="$ratio" 'BEGIN { printf "%.2f", r }')
  cpu_ratio=$(awk -v n="$nu" -v b="$bu" 'BEGIN { printf "%.2f", (b > 0) ? n / b : 0 }')
  verdict=$(awk -v r="$ratio" -v p="$bp" -v tr="$TARGET_RATIO" -v tp="$TARGET_P99_MS" \
              'BEGIN { print (r >= tr && p < tp) ? "met" : "MISSED" }')
  [[ ${BAD[bulwarkd,$c]} -eq 0 ]] || verdict="MISSED (${BAD[bulwarkd,$c]} non-2xx replies)"
  [[ $verdict == met ]] || status=1
  printf '%-6s %12.0f %9.2f %9.1f %12.0f %9.2f %9.1f %7s %7s  %s\n' "$c" "$nr" "$np" "$nu" "$br" \
    "$bp" "$bu" "$ratio" "$cpu_ratio" "$verdict"
done
echo "ratio: bulwarkd req/s / nginx req/s within each run (median over runs);"
echo "CPU us: server CPU time per request (bulwarkd's process; nginx's master + workers);"
echo "CPU r.: nginx CPU us / bulwarkd CPU us, the ratio to expect when both get the same CPU."
exit "$status"
