#!/usr/bin/env bash
# bench/builds.sh [BASE] (make bench-builds BASE=...): the working tree's build against the build of
# git revision BASE (default HEAD), on the same data in one invocation, in one throwaway cluster.
#
#   answers: the rows of b_matches (bench/data.sql, BENCH_ROWS per side) and of inv_matches
#            (test/data/invariants.sql), every group's result array in its own order, and the
#            results of a first reconcile.run of each, byte for byte;
#   speed:   reading b_matches whole, a first reconcile.run of it and a second run after 10,000 new
#            rows per side (a daily run), BENCH_RUNS rounds with the
#            builds alternated (base, tree, base, tree, ...); the median of each and the median of
#            the per-round ratios tree / base.
#
#   BENCH_ROWS=1000000  BENCH_RUNS=3  BENCH_BAR=1.10 (the largest ratio that passes)
#   BENCH_ANSWERS=report: print the answers that differ without failing (against a build from
#   before a change that means to change results)
#
# Bars: identical answers, and each median ratio at most BENCH_BAR; exits non-zero when one fails.
# Each build is installed into a staging directory first (make install DESTDIR=...), then copied
# into the server's directories before its round; the tree's build is installed again at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source test/sh/cluster.sh

BASE=${1:-${BASE:-HEAD}}
ROWS=${BENCH_ROWS:-1000000}
RUNS=${BENCH_RUNS:-3}
BAR=${BENCH_BAR:-1.10}
export RC_PGCONF=$RC_BENCH_PGCONF

# outside the cluster: build both, then run this script again inside a throwaway cluster
if [ -z "${RC_BUILDS_WORK:-}" ]; then
	rc_deps
	work=$(mktemp -d /tmp/reconcile-builds.XXXXXX)
	# whatever happens, the tree's build is what stays installed
	trap 'rc_build_install; git worktree remove --force "$work/base-src" >/dev/null 2>&1; rm -rf "$work"' EXIT
	pgc=$(rc_pg_config)
	git worktree add --detach "$work/base-src" "$BASE" >/dev/null 2>&1
	echo "base: $(git -C "$work/base-src" log -1 --format='%h %s' | cut -c1-80)"
	echo "tree: $(git log -1 --format='%h' HEAD) with the working tree's changes"
	for b in base tree; do
		dir=$work/base-src
		[ "$b" = tree ] && dir=$PWD
		make -s -C "$dir" PG_CONFIG="$pgc" >/dev/null
		make -s -C "$dir" PG_CONFIG="$pgc" install DESTDIR="$work/$b" >/dev/null
	done
	status=0
	RC_BUILDS_WORK=$work rc_with_cluster builds "$0" "$BASE" || status=$?
	exit $status
fi

work=$RC_BUILDS_WORK
pgc=$(rc_pg_config)
libdir=$("$pgc" --pkglibdir)
sharedir=$("$pgc" --sharedir)

# activate BUILD: its library and scripts in the server's directories, nothing of the other's
activate() {
	rm -rf "$sharedir"/extension/reconcile[.-]* "$libdir/reconcile.so" "$libdir/bitcode/reconcile" "$libdir/bitcode/reconcile.index.bc"
	cp -a --remove-destination "$work/$1$libdir/." "$libdir/"
	cp -a --remove-destination "$work/$1$sharedir/extension/." "$sharedir/extension/"
}

q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# the data scripts create the extension: some build must be in place (a fresh machine has none)
activate tree
echo "loading $ROWS rows per side of bench data and the invariants data ..."
q -v rows="$ROWS" -f bench/data.sql >/dev/null
q -c 'SET client_min_messages = warning' -f test/data/invariants.sql >/dev/null
q -c 'ANALYZE'

RULE="reconcile.rule(abs_tol => 0.01, days_after => 3)"
VIEW='SELECT count(*), count(key), count(ledger_id), count(statement_id), count(category), count(amount_diff), count(days_diff), count(score), count(group_id), count(note), count(ledger_amount), count(statement_amount), count(ledger_date), count(statement_date) FROM b_matches'
ARRAYS="SELECT g.key, m.* FROM (SELECT key, reconcile.match_detail_agg(is_ledger, id, amount, tx_date, ref, batch, $RULE) AS ms
        FROM (SELECT key, true AS is_ledger, id, amount, tx_date, ref, batch FROM public.inv_l
              UNION ALL SELECT key, false, id, amount, tx_date, ref, batch FROM public.inv_s) u GROUP BY key) g
        CROSS JOIN LATERAL unnest(g.ms) WITH ORDINALITY m ORDER BY g.key, m.ordinality"
RESULTS="SELECT name, key, ledger_id, statement_id, category, amount_diff, days_diff, score, group_id, note, ledger_amount,
         statement_amount, ledger_date, statement_date FROM reconcile.results ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14"

# the new rows of a daily run: copies of the first 10,000 rows per side under new ids
NEW_ROWS="INSERT INTO bench.ledger SELECT 'NEW' || id, key, amount, tx_date, ref, batch FROM bench.ledger
          WHERE id <= 'ORD000010000'; INSERT INTO bench.statement SELECT 'NEW' || id, key, amount, tx_date,
          ref, batch FROM bench.statement WHERE id <= 'BNK000010000'"

# fresh: the extension of the active build, with the two reconciliations
fresh() {
	q -c 'SET client_min_messages = warning' -c 'DROP EXTENSION IF EXISTS reconcile CASCADE' \
		-c 'CREATE EXTENSION reconcile' \
		-c "SELECT reconcile.create('b', 'bench.ledger', 'bench.statement', $RULE)" \
		-c "SELECT reconcile.create('inv', 'public.inv_l', 'public.inv_s', $RULE)" >/dev/null
	q -c "SELECT extversion FROM pg_extension WHERE extname = 'reconcile'"
}

# ms SQL: the wall time of SQL in ms (psql \timing)
ms() {
	psql -X -At -v ON_ERROR_STOP=1 -c '\timing on' -c "$1" | awk '/^Time: / {t = $2} END {print t}'
}

times=$work/times
: >"$times"
for round in $(seq "$RUNS"); do
	for b in base tree; do
		activate "$b"
		v=$(fresh)
		if [ "$round" = 1 ]; then
			echo "$b: reconcile $v"
			q -c "COPY (SELECT * FROM b_matches ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13) TO STDOUT" >"$work/$b.b_matches"
			q -c "COPY (SELECT * FROM inv_matches ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13) TO STDOUT" >"$work/$b.inv_matches"
			q -c "COPY ($ARRAYS) TO STDOUT" >"$work/$b.inv_arrays"
		fi
		view=$(ms "$VIEW")
		run=$(ms "SELECT reconcile.run('b', '2027-01-10')")
		# a daily run: 10,000 new rows per side after the first run, then taken out again
		q -c 'VACUUM ANALYZE reconcile.cleared' -c 'VACUUM ANALYZE reconcile.results' -c "$NEW_ROWS" \
			-c 'ANALYZE bench.ledger' -c 'ANALYZE bench.statement'
		second=$(ms "SELECT reconcile.run('b', '2027-01-10')")
		q -c "DELETE FROM bench.ledger WHERE id LIKE 'NEW%'" -c "DELETE FROM bench.statement WHERE id LIKE 'NEW%'" \
			-c 'VACUUM ANALYZE bench.ledger' -c 'VACUUM ANALYZE bench.statement'
		echo "$round $b $view $run $second" >>"$times"
		if [ "$round" = 1 ]; then
			q -c "SELECT reconcile.run('inv', '2026-12-31')" >/dev/null
			q -c "COPY ($RESULTS) TO STDOUT" >"$work/$b.results"
		fi
	done
done

fails=0
differ=0
echo
echo "answers (byte for byte):"
for f in b_matches inv_matches inv_arrays results; do
	rows=$(wc -l <"$work/tree.$f")
	if cmp -s "$work/base.$f" "$work/tree.$f" && [ "$rows" -gt 0 ]; then
		echo "  $f: identical ($rows rows)"
	else
		echo "  $f: DIFFERENT (base $(wc -l <"$work/base.$f") rows, tree $rows rows)"
		diff "$work/base.$f" "$work/tree.$f" >"$work/$f.diff" || true
		head -n 10 "$work/$f.diff" | sed 's/^/    /'
		echo "    ($(grep -c '^[<>]' "$work/$f.diff" || true) lines differ)"
		differ=$((differ + 1))
		[ "${BENCH_ANSWERS:-same}" = report ] || fails=$((fails + 1))
	fi
done

# median of the numbers on stdin
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo
printf '%-26s %12s %12s %12s\n' "median of $RUNS rounds" "base ms" "tree ms" "tree / base"
for col in 3 4 5; do
	case $col in
		3) label="b_matches, whole view" ;;
		4) label="first reconcile.run" ;;
		5) label="second run (10,000 new)" ;;
	esac
	base=$(awk -v c="$col" '$2 == "base" {print $c}' "$times" | median)
	tree=$(awk -v c="$col" '$2 == "tree" {print $c}' "$times" | median)
	ratio=$(join <(awk -v c="$col" '$2 == "base" {print $1, $c}' "$times" | sort) \
		<(awk -v c="$col" '$2 == "tree" {print $1, $c}' "$times" | sort) | awk '{print $3 / $2}' | median)
	printf '%-26s %12.0f %12.0f %12.3f\n' "$label" "$base" "$tree" "$ratio"
	if ! awk -v r="$ratio" -v b="$BAR" 'BEGIN {exit !(r <= b)}'; then
		echo "  FAIL: $label takes $ratio times the base's (bar $BAR)"
		fails=$((fails + 1))
	fi
done
echo
if [ "$fails" -eq 0 ]; then
	if [ "$differ" -eq 0 ]; then
		echo "PASS: the same answers, and no figure slower than $BAR times the base's ($ROWS rows per side, $RUNS rounds)"
	else
		echo "PASS: $differ answers differ (reported: BENCH_ANSWERS=report), no figure slower than $BAR times the base's ($ROWS rows per side, $RUNS rounds)"
	fi
else
	echo "FAIL: $fails bars failed"
fi
[ "$fails" -eq 0 ]
