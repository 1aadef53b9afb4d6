#!/usr/bin/env bash
# pgcluster.sh: a private PostgreSQL 15 cluster in a directory, on a unix socket only.
#
# Used by ./dev run (the development cluster under var/pg), ./dev test (a throwaway cluster
# in a temporary directory) and the API tests (which stop and restart the cluster under a
# running bulwarkd through $BULWARK_TEST_PGCLUSTER).
#
# Usage: pgcluster.sh [-D DIR] COMMAND [OPTIONS] [DIR]
#   init [--port N] [--throwaway] DIR   create the cluster (fails if DIR already holds one)
#   start DIR                           start it and wait until it accepts connections
#   stop DIR                            stop it (fast shutdown: sessions are disconnected)
#   restart DIR                         stop, then start
#   status DIR                          exit 0 running, 3 stopped, 4 no cluster in DIR
#   url DIR [DBNAME]                    print the superuser libpq URL (database postgres)
#   destroy DIR                         stop it and remove everything init created
# "-D DIR" before the command lets a caller keep a prefix: "pgcluster.sh -D DIR" stop.
#
# Layout: DIR/pgcluster.conf records where things are (owner, home, sockdir, port).
# The cluster home (data/ and postgres.log) is DIR/cluster, owned by the OS user that runs
# the server. PostgreSQL's initdb refuses to run as root, so when this script runs as root the
# server runs as the "postgres" OS user (created by the postgresql-15 package); if that user
# cannot reach DIR (say the repo sits under /root, mode 0700), the home moves to
# /var/lib/bulwark-dev/<hash of DIR> and DIR/cluster is a symlink to it.
# The socket directory is the home itself when its socket path fits the 107-byte limit of
# sun_path, else /tmp/bwpg-<hash>. It is mode 0700 and owned by the server's user: only that
# user and root can connect, so "trust" authentication on the socket stays private. There is
# no TCP listener (listen_addresses = '').
set -euo pipefail

readonly PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
readonly DEFAULT_PORT=5433
readonly SUPERUSER=postgres          # the database superuser's name, whoever runs the server
readonly ROOT_RUN_USER=postgres      # OS user that runs the server when we are root
readonly RELOCATE_BASE=/var/lib/bulwark-dev
readonly SUN_PATH_MAX=107            # sizeof (sun_path) - 1 on Linux
readonly START_TIMEOUT=60            # seconds pg_ctl waits for start and stop

die ()
{
  echo "pgcluster: $*" >&2
  exit 1
}

usage ()
{
  sed -n '/^# Usage:/,/^# "-D DIR"/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
}

short_hash ()
{
  printf '%s' "$1" | sha256sum | cut -c1-12
}

# Run a command as the OS user that owns the cluster (ourselves unless we are root).
# From / so that a cwd the postgres user cannot read does not bother pg_ctl.
as_owner ()
{
  if [[ $(id -u) -eq 0 && $OWNER != root ]]; then
    (cd / && runuser -u "$OWNER" -- "$@")
  else
    "$@"
  fi
}

# Percent-encode a value for a libpq URL query parameter.
urlencode ()
{
  local LC_ALL=C s=$1 out='' c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [A-Za-z0-9/._~-]) out+=$c ;;
      *) out+=$(printf '%%%02X' "'$c") ;;
    esac
  done
  printf '%s' "$out"
}

# Set DIR (absolute) from the argument, without requiring it to exist yet.
set_dir ()
{
  [[ -n $1 ]] || die "missing DIR"
  if [[ -d $1 ]]; then
    DIR=$(cd "$1" && pwd -P)
  else
    DIR=$(realpath -m -- "$1")
  fi
}

# Load DIR/pgcluster.conf into OWNER HOME_DIR SOCKDIR PORT. Returns 1 when there is none.
load_conf ()
{
  local key value
  OWNER='' HOME_DIR='' SOCKDIR='' PORT=''
  [[ -f $DIR/pgcluster.conf ]] || return 1
  while IFS='=' read -r key value; do
    case $key in
      owner) OWNER=$value ;;
      home) HOME_DIR=$value ;;
      sockdir) SOCKDIR=$value ;;
      port) PORT=$value ;;
    esac
  done < "$DIR/pgcluster.conf"
  [[ -n $OWNER && -n $HOME_DIR && -n $SOCKDIR && -n $PORT ]] \
    || die "$DIR/pgcluster.conf is incomplete"
}

require_conf ()
{
  load_conf || die "no cluster in $DIR (run: $0 init $DIR)"
}

# Create the socket directory when it lives in /tmp (it may have been cleaned since init).
# Refuses one that is not ours, so nobody can plant a socket there for us.
ensure_sockdir ()
{
  [[ $SOCKDIR == "$HOME_DIR" ]] && return 0
  if [[ ! -e $SOCKDIR ]]; then
    as_owner mkdir -m 0700 "$SOCKDIR"
  fi
  [[ -d $SOCKDIR && ! -L $SOCKDIR ]] || die "$SOCKDIR is not a directory"
  [[ $(stat -c '%U %a' "$SOCKDIR") == "$OWNER 700" ]] \
    || die "$SOCKDIR must be owned by $OWNER with mode 0700"
}

cmd_init ()
{
  local port=$DEFAULT_PORT throwaway=0 sock
  while [[ $# -gt 0 ]]; do
    case $1 in
      --port) [[ $# -ge 2 ]] || usage; port=$2; shift 2 ;;
      --port=*) port=${1#--port=}; shift ;;
      --throwaway) throwaway=1; shift ;;
      -*) usage ;;
      *) [[ -z ${DIR:-} ]] || usage; set_dir "$1"; shift ;;
    esac
  done
  [[ -n ${DIR:-} ]] || usage
  [[ $port =~ ^[0-9]+$ && $port -ge 1024 && $port -le 65535 ]] || die "bad port: $port"
  [[ -x $PGBIN/initdb ]] || die "$PGBIN/initdb not found: install postgresql-15"
  ! load_conf || die "$DIR already holds a cluster"

  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd -P)
  PORT=$port
  if [[ $(id -u) -eq 0 ]]; then
    OWNER=$ROOT_RUN_USER
    id -u "$OWNER" > /dev/null 2>&1 || die "OS user $OWNER missing: install postgresql-15"
  else
    OWNER=$(id -un)
  fi

  HOME_DIR=$DIR/cluster
  if [[ $OWNER != "$(id -un)" ]] && ! runuser -u "$OWNER" -- test -x "$DIR"; then
    HOME_DIR=$RELOCATE_BASE/$(short_hash "$DIR")
    echo "pgcluster: $OWNER cannot reach $DIR; the cluster lives in $HOME_DIR" >&2
    mkdir -p -m 0755 "$RELOCATE_BASE"
    [[ ! -e $HOME_DIR ]] || die "$HOME_DIR already exists (left over? remove it)"
    mkdir -m 0700 "$HOME_DIR"
    chown "$OWNER:" "$HOME_DIR"
    ln -sfn "$HOME_DIR" "$DIR/cluster"
  else
    [[ ! -e $HOME_DIR ]] || die "$HOME_DIR already exists"
    mkdir -m 0700 "$HOME_DIR"
    [[ $OWNER == "$(id -un)" ]] || chown "$OWNER:" "$HOME_DIR"
  fi

  sock=$HOME_DIR/.s.PGSQL.$PORT
  if [[ ${#sock} -le $SUN_PATH_MAX ]]; then
    SOCKDIR=$HOME_DIR
  else
    SOCKDIR=/tmp/bwpg-$(short_hash "$DIR")
  fi
  ensure_sockdir

  as_owner "$PGBIN/initdb" --pgdata="$HOME_DIR/data" --username="$SUPERUSER" \
    --auth-local=trust --auth-host=reject --encoding=UTF8 --locale=C.UTF-8 \
    --no-instructions > "$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; rm -rf -- "$HOME_DIR" "$DIR/cluster"; die "initdb failed"; }
  rm -f -- "$DIR/initdb.log"

  {
    echo
    echo "# Added by tests/pgcluster.sh"
    echo "listen_addresses = ''"
    echo "port = $PORT"
    echo "unix_socket_directories = '$SOCKDIR'"
    echo "unix_socket_permissions = 0700"
    echo "max_connections = 200"
    echo "log_line_prefix = '%m [%p] %q%u@%d '"
    if [[ $throwaway -eq 1 ]]; then
      echo "# Throwaway test cluster: durability is not wanted here."
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
  } | as_owner tee -a "$HOME_DIR/data/postgresql.conf" > /dev/null

  printf 'owner=%s\nhome=%s\nsockdir=%s\nport=%s\n' \
    "$OWNER" "$HOME_DIR" "$SOCKDIR" "$PORT" > "$DIR/pgcluster.conf.tmp"
  mv "$DIR/pgcluster.conf.tmp" "$DIR/pgcluster.conf"
  echo "pgcluster: initialized $HOME_DIR/data (run by $OWNER, socket in $SOCKDIR, port $PORT)" >&2
}

pg_ctl_status ()
{
  local rc=0
  as_owner "$PGBIN/pg_ctl" status -D "$HOME_DIR/data" > /dev/null 2>&1 || rc=$?
  return "$rc"
}

cmd_start ()
{
  require_conf
  ensure_sockdir
  if pg_ctl_status; then
    echo "pgcluster: already running" >&2
    return 0
  fi
  as_owner "$PGBIN/pg_ctl" start -D "$HOME_DIR/data" -l "$HOME_DIR/postgres.log" \
    -w -t "$START_TIMEOUT" > /dev/null \
    || { tail -n 20 "$HOME_DIR/postgres.log" >&2; die "could not start the cluster in $HOME_DIR"; }
}

cmd_stop ()
{
  require_conf
  if ! pg_ctl_status; then
    return 0
  fi
  as_owner "$PGBIN/pg_ctl" stop -D "$HOME_DIR/data" -m fast -w -t "$START_TIMEOUT" > /dev/null
}

cmd_status ()
{
  local rc=0
  load_conf || return 4
  pg_ctl_status || rc=$?
  case $rc in
    0) echo "running" ;;
    3) echo "stopped" ;;
    *) echo "not a cluster (pg_ctl status exit $rc)" ;;
  esac
  return "$rc"
}

cmd_url ()
{
  local db=${1:-postgres}
  require_conf
  printf 'postgresql:///%s?host=%s&port=%s&user=%s\n' \
    "$(urlencode "$db")" "$(urlencode "$SOCKDIR")" "$PORT" "$SUPERUSER"
}

cmd_destroy ()
{
  load_conf || { echo "pgcluster: no cluster in $DIR" >&2; return 0; }
  cmd_stop || echo "pgcluster: stop failed; removing anyway" >&2
  # Only what init created: the home (possibly relocated), its symlink, a /tmp socket dir.
  rm -rf -- "$HOME_DIR"
  [[ ! -L $DIR/cluster ]] || rm -f -- "$DIR/cluster"
  [[ $SOCKDIR == "$HOME_DIR" ]] || rm -rf -- "$SOCKDIR"
  rm -f -- "$DIR/pgcluster.conf"
  rmdir -- "$DIR" 2> /dev/null || true
}

main ()
{
  local cmd dir_opt=''
  if [[ ${1:-} == -D ]]; then
    [[ $# -ge 2 ]] || usage
    dir_opt=$2
    shift 2
  fi
  [[ $# -ge 1 ]] || usage
  cmd=$1
  shift
  DIR=''
  [[ -z $dir_opt ]] || set_dir "$dir_opt"

  if [[ $cmd == init ]]; then
    cmd_init "$@"
    return
  fi
  if [[ -z $DIR ]]; then
    [[ $# -ge 1 ]] || usage
    set_dir "$1"
    shift
  fi
  case $cmd in
    start) [[ $# -eq 0 ]] || usage; cmd_start ;;
    stop) [[ $# -eq 0 ]] || usage; cmd_stop ;;
    restart) [[ $# -eq 0 ]] || usage; cmd_stop; cmd_start ;;
    status) [[ $# -eq 0 ]] || usage; cmd_status ;;
    url) [[ $# -le 1 ]] || usage; cmd_url "$@" ;;
    destroy) [[ $# -eq 0 ]] || usage; cmd_destroy ;;
    *) usage ;;
  esac
}

main "$@"
