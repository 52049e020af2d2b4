#!/usr/bin/env bash
# test/sh/citus.sh: the Citus suite (test/citus/*.sql, pgTAP) against a local Citus cluster it starts
# itself: one coordinator and two workers, citus preloaded on all three, pg_cron on the
# coordinator, private ports and socket directories, stopped and removed at the end.
# Run by test/sh/run after the single-node suite; prints TAP. When Citus is not installed and cannot
# be built (no ../shared/vendor/citus/build.sh), prints one "# SKIP" line saying why and exits 0.
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/sh/cluster.sh

why=$(rc_citus_install)
case $? in
	0) ;;
	2) echo "# SKIP Citus suite: $why"; exit 0 ;;
	*) echo "not ok - Citus could not be installed: $why"; exit 1 ;;
esac
rc_citus_start citus || { echo "not ok - the Citus cluster did not start"; exit 1; }

# what every test file finds: reconcile and pgTAP, created once on the coordinator
psql -X -q -c 'CREATE EXTENSION reconcile' -c 'CREATE EXTENSION pgtap' >/dev/null || {
	echo "not ok - CREATE EXTENSION on the coordinator failed"; exit 1; }

status=0
for f in $(ls test/citus/*.sql | sort); do
	pg_prove -v "$f" 2>&1 || status=1
done

# make sanitize: the three servers ran with ASan and UBSan
[ "${RC_SANITIZE:-}" = 1 ] && RC_DIR=$RC_CITUS_DIR rc_sanitizer_tap "the Citus nodes"
exit $status
