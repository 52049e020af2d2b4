# test/cluster.sh: set-up shared by `make test`, `make demo` and `make bench` (sourced, not run).
#
#   rc_deps                 apt-get what is missing (Debian 12, as root)
#   rc_build_install        build and install the extension
#   rc_cluster_start NAME   a throwaway PostgreSQL 15 cluster on a private port and socket
#                           directory, pg_cron preloaded; exports PGHOST PGPORT PGUSER PGDATABASE;
#                           stopped and removed on exit (extra postgresql.conf lines: $RC_PGCONF)
#   rc_cluster_stop

RC_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RC_PACKAGES="build-essential postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl postgresql-15-cron"

rc_log() { printf '== %s\n' "$*" >&2; }

rc_deps() {
	local missing="" p
	for p in $RC_PACKAGES; do
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

rc_pg_config() {
	if [ -x /usr/lib/postgresql/15/bin/pg_config ]; then
		echo /usr/lib/postgresql/15/bin/pg_config
	else
		command -v pg_config
	fi
}

rc_build_install() {
	local pgc; pgc=$(rc_pg_config)
	rc_log "building with $pgc"
	make -s -C "$RC_TOP" PG_CONFIG="$pgc" >/dev/null || return 1
	make -s -C "$RC_TOP" PG_CONFIG="$pgc" install >/dev/null || return 1
}

# run a server binary as the postgres OS user (PostgreSQL refuses root)
rc_as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

rc_cluster_start() {
	local name=${1:-test} bindir port
	bindir=$("$(rc_pg_config)" --bindir)
	RC_DIR=$(mktemp -d "/tmp/reconcile-$name.XXXXXX")
	chmod 755 "$RC_DIR"
	[ "$(id -u)" = 0 ] && chown postgres "$RC_DIR"
	port=55432
	while [ -e "/tmp/.s.PGSQL.$port" ] || (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null ||
		ls /tmp/reconcile-*/".s.PGSQL.$port" >/dev/null 2>&1; do
		port=$((port + 1))
	done
	rc_as_pg "$bindir/initdb" -D "$RC_DIR/data" -A trust -E UTF8 --no-locale -U postgres >"$RC_DIR/initdb.log" 2>&1 || {
		cat "$RC_DIR/initdb.log" >&2; return 1; }
	cat >> "$RC_DIR/data/postgresql.conf" <<CONF
port = $port
listen_addresses = ''
unix_socket_directories = '$RC_DIR'
shared_preload_libraries = 'pg_cron'
cron.database_name = 'reconcile'
cron.use_background_workers = on
max_worker_processes = 16
fsync = off
synchronous_commit = off
full_page_writes = off
${RC_PGCONF:-}
CONF
	RC_BINDIR=$bindir
	trap rc_cluster_stop EXIT
	trap 'exit 130' INT TERM
	rc_as_pg "$bindir/pg_ctl" -D "$RC_DIR/data" -l "$RC_DIR/server.log" -w -t 60 start >/dev/null || {
		cat "$RC_DIR/server.log" >&2; return 1; }
	export PGHOST=$RC_DIR PGPORT=$port PGUSER=postgres PGDATABASE=reconcile
	psql -X -q -d postgres -c 'CREATE DATABASE reconcile' || return 1
	rc_log "PostgreSQL $(psql -X -At -c 'SHOW server_version') running on port $port, socket $RC_DIR ($name)"
}

rc_cluster_stop() {
	[ -n "${RC_DIR:-}" ] && [ -d "$RC_DIR/data" ] || return 0
	rc_as_pg "$RC_BINDIR/pg_ctl" -D "$RC_DIR/data" -m fast -w stop >/dev/null 2>&1
	rm -rf "$RC_DIR"
	RC_DIR=
}
