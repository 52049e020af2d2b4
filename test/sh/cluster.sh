# test/sh/cluster.sh: set-up shared by `make test`, `make demo` and `make bench` (sourced, not run).
#
#   rc_deps                 apt-get what is missing (Debian 12, as root)
#   rc_build_install        build and install the extension
#   rc_with_cluster NAME CMD...
#                           run CMD against a throwaway PostgreSQL 15 cluster on a private port and
#                           socket directory, pg_cron preloaded, database "reconcile" created, the
#                           libpq variables set (PGHOST, PGPORT, PGUSER, PGDATABASE, and PGPASSWORD
#                           under pg_virtualenv); the cluster is removed when CMD ends (extra
#                           postgresql.conf lines: $RC_PGCONF, one setting a line).
#                           Debian's pg_virtualenv makes it, except under make sanitize
#                           (RC_SANITIZE=1): pg_virtualenv cannot give the server an environment
#                           of its own, and the sanitizer runtimes must be in it (LD_PRELOAD), so
#                           that cluster is made by hand (rc_cluster_start)
#   rc_cluster_start NAME   the by-hand cluster: initdb, settings, start; exports the same
#                           variables; stopped and removed on exit
#   rc_cluster_stop
#   rc_sanitizer_tap WHAT   with RC_SANITIZE=1 (make sanitize): a TAP line on the sanitizer
#                           reports of the cluster's servers
#   rc_tally OUTPUT STATUS  print OUTPUT; count its TAP results into rc_passed and rc_failed

RC_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RC_PACKAGES="build-essential postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl postgresql-15-cron"
# the server settings every benchmark runs with (bench/run, bench/citus.sh, bench/builds.sh)
RC_BENCH_PGCONF="shared_buffers = 256MB
work_mem = 64MB
max_parallel_workers_per_gather = 2
jit = off
max_wal_size = 8GB"
# printing the reconciliation statement and reading it back (make test: test/sh/report.sh)
RC_PACKAGES_REPORT="chromium poppler-utils fonts-noto-cjk fonts-dejavu-core"
# building and checking the Debian package (make test, make deb)
RC_PACKAGES_DEB="debhelper dpkg-dev postgresql-server-dev-all"

rc_log() { printf '== %s\n' "$*" >&2; }

# rc_deps [PACKAGES]: install the packages (by default $RC_PACKAGES) that are missing
rc_deps() {
	local missing="" p
	for p in ${1:-$RC_PACKAGES}; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		rc_log "missing packages:$missing (run as root to install them)"
		return 1
	fi
	rc_log "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	# do not let the package start Debian's own cluster
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
	local rc=$?
	rm -f /usr/sbin/policy-rc.d
	return $rc
}

# rc_duckdb: a directory holding node_modules/@duckdb/node-api (installed there with npm, Node.js
# with apt-get, when missing; outside the checkout: nothing fetched is committed); prints its path
rc_duckdb() {
	local dir=${RC_DUCKDB_DIR:-/var/tmp/reconcile-duckdb}
	command -v node >/dev/null && command -v npm >/dev/null || rc_deps "nodejs npm" >&2 || return 1
	if [ ! -d "$dir/node_modules/@duckdb/node-api" ]; then
		rc_log "installing @duckdb/node-api in $dir"
		mkdir -p "$dir" && (cd "$dir" && npm install --silent --no-audit --no-fund @duckdb/node-api >&2) || return 1
	fi
	echo "$dir"
}

rc_pg_config() {
	if [ -x /usr/lib/postgresql/15/bin/pg_config ]; then
		echo /usr/lib/postgresql/15/bin/pg_config
	else
		command -v pg_config
	fi
}

# RC_SANITIZE=1 builds with ASan and UBSan; a marker file makes the next plain build start clean
rc_build_install() {
	local pgc san="" marker="$RC_TOP/.sanitize-build"
	pgc=$(rc_pg_config)
	if [ "${RC_SANITIZE:-}" = 1 ]; then
		san="SANITIZE=1"
		[ -f "$marker" ] || { make -s -C "$RC_TOP" clean >/dev/null; touch "$marker"; }
	elif [ -f "$marker" ]; then
		make -s -C "$RC_TOP" clean >/dev/null; rm -f "$marker"
	fi
	rc_log "building with $pgc${san:+ ($san)}"
	make -s -C "$RC_TOP" PG_CONFIG="$pgc" $san >/dev/null || return 1
	make -s -C "$RC_TOP" PG_CONFIG="$pgc" $san install >/dev/null || return 1
}

# With RC_SANITIZE=1 the server runs with the sanitizer runtimes preloaded. Under LD_PRELOAD,
# libraries' constructors run before ASan's: libgpg-error's calls bindtextdomain, whose first
# malloc then initialises ASan inside glibc's _nl_state_lock, and ASan's own dlerror() call
# deadlocks on it (postgres -V hangs). test/c/asan_preload.c wraps bindtextdomain to allocate once
# before taking the lock. Reports go to $RC_DIR/san; rc_sanitizer_tap prints and judges them.
rc_sanitizer_env() {
	[ "${RC_SANITIZE:-}" = 1 ] || return 0
	mkdir -p "$RC_DIR/san" && chmod 777 "$RC_DIR/san"
	make -s -C "$RC_TOP" test/c/asan_preload.so >&2 || return 1
	install -m 755 "$RC_TOP/test/c/asan_preload.so" "$RC_DIR/asan_preload.so" || return 1
	echo "LD_PRELOAD=$(cc -print-file-name=libasan.so):$RC_DIR/asan_preload.so" \
		"ASAN_OPTIONS=detect_leaks=0:log_path=$RC_DIR/san/asan:log_exe_name=1" \
		"UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=0:log_path=$RC_DIR/san/ubsan"
}

# rc_sanitizer_tap WHAT: one TAP line, ok when no server of the cluster wrote a report (each
# report is printed on stderr)
rc_sanitizer_tap() {
	local f n=0
	if [ -z "${RC_DIR:-}" ] || [ ! -d "$RC_DIR/san" ]; then
		echo "not ok - no sanitizer report directory for $1 (RC_DIR=${RC_DIR:-unset})"
		return
	fi
	for f in "$RC_DIR"/san/*; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		echo "== sanitizer report $f" >&2
		cat "$f" >&2
	done
	if [ "$n" -eq 0 ]; then
		echo "ok - no AddressSanitizer or UndefinedBehaviorSanitizer report from $1"
	else
		echo "not ok - $n sanitizer reports from $1"
	fi
}

# run a server binary as the postgres OS user (PostgreSQL refuses root)
rc_as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# rc_node_start DIR PORT PRELOAD [EXTRA]: initdb a node in DIR/data and start it, its socket in
# DIR, no TCP, throwaway durability, EXTRA and $RC_PGCONF last; runs $RC_BINDIR's binaries with
# $RC_SANENV (the sanitizer runtimes, under make sanitize)
rc_node_start() {
	mkdir -p "$1" && chmod 755 "$1"
	[ "$(id -u)" = 0 ] && chown postgres "$1"
	rc_as_pg "$RC_BINDIR/initdb" -D "$1/data" -A trust -E UTF8 --no-locale -U postgres >"$1/initdb.log" 2>&1 || {
		cat "$1/initdb.log" >&2; return 1; }
	{
		printf "port = %s\nlisten_addresses = ''\nunix_socket_directories = '%s'\n%s\n" "$2" "$1" "${4:-}"
		rc_settings "$3"
	} >>"$1/data/postgresql.conf"
	# shellcheck disable=SC2086
	rc_as_pg env ${RC_SANENV:-} "$RC_BINDIR/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 start >/dev/null || {
		cat "$1/server.log" >&2; return 1; }
}

rc_cluster_start() {
	local name=${1:-test} port
	RC_BINDIR=$("$(rc_pg_config)" --bindir)
	# exported: the suite, a process of its own, reads the sanitizer reports from it
	export RC_DIR=$(mktemp -d "/tmp/reconcile-$name.XXXXXX")
	port=$(rc_free_port 55432)
	trap rc_cluster_stop EXIT
	trap 'exit 130' INT TERM
	RC_SANENV=$(rc_sanitizer_env) || return 1
	rc_node_start "$RC_DIR" "$port" pg_cron || return 1
	export PGHOST=$RC_DIR PGPORT=$port PGUSER=postgres PGDATABASE=reconcile
	psql -X -q -d postgres -c 'CREATE DATABASE reconcile' || return 1
	rc_log "PostgreSQL $(psql -X -At -c 'SHOW server_version') running on port $port, socket $RC_DIR ($name)"
}

# The settings every throwaway cluster gets: pg_cron for the database "reconcile", throwaway
# durability, then $RC_PGCONF.
rc_settings() {
	cat <<CONF
shared_preload_libraries = '${1:-pg_cron}'
cron.database_name = 'reconcile'
cron.use_background_workers = on
max_worker_processes = 16
fsync = off
synchronous_commit = off
full_page_writes = off
${RC_PGCONF:-}
CONF
}

rc_with_cluster() {
	local name=$1 dir port opts=() line
	shift
	if [ "${RC_SANITIZE:-}" = 1 ]; then
		(rc_cluster_start "$name" && "$@")
		return
	fi
	dir=$(mktemp -d "/tmp/reconcile-$name.XXXXXX")
	chmod 755 "$dir" && chown postgres "$dir"
	while IFS= read -r line; do
		[ -n "$line" ] && opts+=(-o "$(sed -E "s/ *= */=/; s/^([^=]*)='(.*)'$/\1=\2/" <<<"$line")")
	done < <(rc_settings)
	port=$(rc_free_port 55432)
	# -t: the cluster in a temporary directory even as root, its socket in a directory of its own;
	# clients reach it as pg_virtualenv sets them up, over TCP on localhost with a password.
	# Locale C, as the by-hand clusters (initdb --no-locale): the environment's (C.UTF-8, say)
	# would sort and group text through strcoll, three times slower on the benchmarks.
	PGPORT=$port pg_virtualenv -t -c "--locale=C --encoding=UTF8" -o "unix_socket_directories=$dir" "${opts[@]}" \
		bash -c 'export PGDATABASE=reconcile
			psql -X -q -d postgres -c "CREATE DATABASE reconcile" || exit 1
			echo "== PostgreSQL $(psql -X -At -c "SHOW server_version") running on port $PGPORT (pg_virtualenv)" >&2
			"$@"' rc "$@"
	local status=$?
	rm -rf "$dir"
	return $status
}

rc_cluster_stop() {
	[ -n "${RC_DIR:-}" ] && [ -d "$RC_DIR/data" ] || return 0
	rc_as_pg "$RC_BINDIR/pg_ctl" -D "$RC_DIR/data" -m fast -w stop >/dev/null 2>&1
	rm -rf "$RC_DIR"
	RC_DIR=
}

# ---- Citus: one coordinator and two workers (test/sh/citus.sh, bench/citus.sh) ----
# By hand: pg_virtualenv makes independent clusters, not nodes that know each other.
#
#   rc_citus_install        install Citus with ../shared/vendor/citus/build.sh when it is missing;
#                           returns 2 (and says why on stdout) when it cannot
#   rc_citus_start NAME     coordinator + 2 workers, citus preloaded on all three and pg_cron on
#                           the coordinator, each on a private port and socket directory (the
#                           nodes reach each other through those sockets); exports PGHOST/PGPORT
#                           of the coordinator; stopped and removed on exit

rc_citus_install() {
	local pkglib build="$RC_TOP/../shared/vendor/citus/build.sh"
	pkglib=$("$(rc_pg_config)" --pkglibdir)
	[ -f "$pkglib/citus.so" ] && return 0
	if [ ! -f "$build" ]; then
		echo "Citus is not installed and $build is absent"
		return 2
	fi
	if [ "$(id -u)" != 0 ]; then
		echo "Citus is not installed and $build must run as root"
		return 2
	fi
	rc_log "building Citus with $build"
	PG_CONFIG=$(rc_pg_config) bash "$build" >&2 || { echo "$build failed"; return 2; }
}

rc_free_port() {
	local port=${1:-55432}
	while [ -e "/tmp/.s.PGSQL.$port" ] || (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null ||
		ls /tmp/reconcile-*/".s.PGSQL.$port" /tmp/reconcile-*/*/".s.PGSQL.$port" >/dev/null 2>&1; do
		port=$((port + 1))
	done
	echo "$port"
}

# Under make sanitize, no parallel workers on the Citus nodes: Citus's own assign hook of
# citus.node_conninfo (NodeConninfoGucAssignHook) reads a string that RestoreGUCState has just
# freed when a parallel worker starts, and ASan aborts the worker (a heap-use-after-free in Citus,
# not in reconcile; the single-node suite still runs parallel plans under ASan).
rc_citus_sanitize_conf() {
	[ "${RC_SANITIZE:-}" = 1 ] && echo "max_parallel_workers_per_gather = 0"
	return 0
}

rc_citus_start() {
	local name=${1:-citus} node port=55532 preload dir workers=""
	RC_BINDIR=$("$(rc_pg_config)" --bindir)
	RC_CITUS_DIR=$(mktemp -d "/tmp/reconcile-$name.XXXXXX")
	chmod 755 "$RC_CITUS_DIR"
	trap rc_citus_stop EXIT
	trap 'exit 130' INT TERM
	RC_SANENV=$(RC_DIR=$RC_CITUS_DIR rc_sanitizer_env) || return 1
	for node in coordinator worker1 worker2; do
		dir=$RC_CITUS_DIR/$node
		port=$(rc_free_port "$port")
		preload=citus
		[ "$node" = coordinator ] && preload=citus,pg_cron
		rc_node_start "$dir" "$port" "$preload" "max_connections = 200
citus.node_conninfo = 'sslmode=disable'
$(rc_citus_sanitize_conf)" || return 1
		psql -X -q -h "$dir" -p "$port" -U postgres -d postgres -c 'CREATE DATABASE reconcile' \
			-c '\c reconcile' -c 'CREATE EXTENSION citus' >/dev/null || return 1
		if [ "$node" = coordinator ]; then
			export PGHOST=$dir PGPORT=$port PGUSER=postgres PGDATABASE=reconcile
			psql -X -q -c "SELECT citus_set_coordinator_host('$dir', $port)" >/dev/null || return 1
		else
			workers="$workers, $dir:$port"
			psql -X -q -c "SELECT citus_add_node('$dir', $port)" >/dev/null || return 1
		fi
		port=$((port + 1))
	done
	rc_log "Citus $(psql -X -At -c "SELECT extversion FROM pg_extension WHERE extname = 'citus'") coordinator on port $PGPORT, workers ${workers#, } ($name)"
}

rc_citus_stop() {
	local dir
	[ -n "${RC_CITUS_DIR:-}" ] && [ -d "$RC_CITUS_DIR" ] || return 0
	for dir in "$RC_CITUS_DIR"/*/data; do
		rc_as_pg "$RC_BINDIR/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1
	done
	rm -rf "$RC_CITUS_DIR"
	RC_CITUS_DIR=
}

# ---- counting TAP ----

rc_passed=0
rc_failed=0

# rc_tally OUTPUT STATUS: print OUTPUT and add its TAP results (TODO failures pass); a non-zero
# STATUS, or no result at all, with no failure shown is one failure (died, bailed out, planned
# another number of tests)
rc_tally() {
	local p f
	echo "$1"
	p=$(grep -cE '^ok( [0-9]+| -)|^not ok [0-9]+ .*# TODO' <<<"$1")
	f=$(grep -E '^not ok' <<<"$1" | grep -vc '# TODO')
	if [ "$f" -eq 0 ] && { [ "$2" -ne 0 ] || [ "$p" -eq 0 ]; }; then
		echo "not ok - exited with status $2 after $p results"
		f=1
	fi
	rc_passed=$((rc_passed + p))
	rc_failed=$((rc_failed + f))
}
