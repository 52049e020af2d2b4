#!/usr/bin/env bash
# bench/citus.sh (make bench-citus): the same reconciliation of BENCH_ROWS rows per side on
# single-node PostgreSQL and on a local Citus cluster (a coordinator and two workers, the sources
# distributed by the key over BENCH_SHARDS co-located shards), in one invocation.
#
#   BENCH_ROWS=1000000  BENCH_SHOPS=32 (keys)  BENCH_SHARDS=8  BENCH_RUNS=3 (best kept)
#
# Prints both times and their ratio, then where the Citus time goes: each shard task's execution
# time (EXPLAIN ANALYZE with citus.explain_all_tasks, one task per worker at a time, so a task's
# time is its own cost, not a share of a core), per worker and in all, and the coordinator's part;
# and, from the measured cost per row, what 10 workers and 1,000,000,000 rows per side predict.
set -euo pipefail
cd "$(dirname "$0")/.."
source test/sh/cluster.sh

ROWS=${BENCH_ROWS:-1000000}
SHOPS=${BENCH_SHOPS:-32}
SHARDS=${BENCH_SHARDS:-8}
RUNS=${BENCH_RUNS:-3}
export RC_PGCONF=$RC_BENCH_PGCONF
VIEW='SELECT count(*), count(ledger_id), count(statement_id), count(category), sum(amount_diff), count(note) FROM public.b_matches'

rc_deps
rc_build_install
why=$(rc_citus_install) || { echo "cannot run: $why"; exit 1; }

# best_ms SQL: "MS ANSWER": the best of RUNS wall times in ms (psql \timing) and the query's
# answer (its last row), so that the two clusters' answers can be compared without another run
best_ms() {
	local best="" ms out
	for _ in $(seq "$RUNS"); do
		out=$(psql -X -At -c '\timing on' -c "$1")
		ms=$(awk '/^Time: / {print $2}' <<<"$out" | tail -n 1)
		if [ -z "$best" ] || awk -v a="$ms" -v b="$best" 'BEGIN {exit !(a < b)}'; then best=$ms; fi
	done
	echo "$best $(grep -v -e '^Time: ' -e '^Timing is on' -e '^SET$' <<<"$out" | tail -n 1)"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo); $ROWS rows per side, $SHOPS shops (keys)"

rc_cluster_start bench-single
echo "single node: loading ..."
psql -X -q -v rows="$ROWS" -v shops="$SHOPS" -f bench/data.sql >/dev/null
read -r single single_check <<<"$(best_ms "$VIEW")"
read -r single_serial _ <<<"$(best_ms "SET max_parallel_workers_per_gather = 0; $VIEW")"
rc_cluster_stop

rc_citus_start bench-citus
psql -X -q -c 'CREATE EXTENSION reconcile'
echo "Citus: loading into $SHARDS shards ..."
psql -X -q -v rows="$ROWS" -v shops="$SHOPS" -v shards="$SHARDS" -f bench/data.sql >/dev/null
read -r citus citus_check <<<"$(best_ms "$VIEW")"

# where the time goes: every task's execution time, one task per worker at a time
tasks=$(psql -X -At -c "SET citus.explain_all_tasks = on" -c "SET citus.max_adaptive_executor_pool_size = 1" \
	-c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) $VIEW" |
	awk '/Node: host=/ {sub(/.*host=/, ""); sub(/ .*/, ""); node = $0}
	     /Execution Time:/ && node != "" {print node, $(NF - 1); node = ""; next}
	     /Execution Time:/ && node == "" {coord = $(NF - 1)}
	     END {print "coordinator", coord}')
rc_citus_stop

echo
[ "$single_check" = "$citus_check" ] && echo "same answer on both: $citus_check" ||
	echo "DIFFERENT answers: single $single_check, Citus $citus_check"
printf '%-34s %10s\n' "" "best ms"
printf '%-34s %10.0f\n' "single node (parallel plan)" "$single"
printf '%-34s %10.0f\n' "single node (serial)" "$single_serial"
printf '%-34s %10.0f\n' "Citus, 2 workers, $SHARDS shards" "$citus"
printf 'ratio Citus / single node: %.2f (Citus / serial single node: %.2f)\n' \
	"$(awk -v a="$citus" -v b="$single" 'BEGIN {print a / b}')" "$(awk -v a="$citus" -v b="$single_serial" 'BEGIN {print a / b}')"
echo
echo "where the Citus time goes (EXPLAIN ANALYZE, one task per worker at a time):"
echo "$tasks" | awk -v rows="$ROWS" '
	$1 == "coordinator" {coord = $2; next}
	{n[$1]++; t[$1] += $2; all += $2; k++; if ($2 > mx) mx = $2}
	END {
		for (w in t) printf "  %s: %d tasks, %.0f ms\n", w, n[w], t[w]
		printf "  all %d tasks: %.0f ms of work; the longest task %.0f ms; the statement %.0f ms on the coordinator\n", k, all, mx, coord
		per = all / (2 * rows)
		printf "  cost per row matched: %.2f us (shard work / %d rows on both sides)\n", per * 1000, 2 * rows
		w1b = per * 2e9 / 1000
		printf "prediction, 1,000,000,000 rows per side: %.0f s of shard work (%.2f us x 2e9 rows);\n", w1b, per * 1000
		printf "  on 10 workers of 2 cores (20 tasks at a time, like these): %.0f s = %.1f min;", w1b / 20, w1b / 20 / 60
		printf " of 8 cores (80 at a time): %.0f s\n", w1b / 80
		printf "  assuming groups (keys) of the same size as here, shards >= cores, and the coordinator only collecting counts\n"
	}'
