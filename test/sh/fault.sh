#!/usr/bin/env bash
# test/sh/fault.sh: a backend killed with SIGKILL in the middle of reconcile.run leaves no partial
# run; after crash recovery the next run succeeds and equals a run that was never interrupted.
# Run by test/sh/suite against its cluster (PGHOST, PGPORT, PGUSER, PGDATABASE set); prints TAP.
set -uo pipefail
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }

psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS reconcile;
DROP SCHEMA IF EXISTS fault CASCADE;
CREATE SCHEMA fault;
CREATE TABLE fault.l AS
SELECT 'L' || i AS id, (ARRAY['CNY', 'USD'])[1 + i % 2] AS key, (10 + i % 3000)::numeric(12,2) AS amount,
       date '2026-01-01' + i % 200 AS tx_date, NULL::text AS ref
FROM generate_series(1, 400000) i;
CREATE TABLE fault.s AS
SELECT 'S' || i AS id, key, amount + CASE WHEN i % 10 = 0 THEN 0.01 ELSE 0 END AS amount,
       tx_date + (i % 3)::int AS tx_date, NULL::text AS ref
FROM (SELECT row_number() OVER () AS i, * FROM fault.l) x WHERE i % 20 <> 0;
SELECT reconcile.create('fault_a', 'fault.l', 'fault.s', reconcile.rule(abs_tol => 0.01));
SELECT reconcile.create('fault_b', 'fault.l', 'fault.s', reconcile.rule(abs_tol => 0.01));
SELECT reconcile.run('fault_b', '2026-12-31');
SQL

# start a run of fault_a and kill its backend while it works
out=$(mktemp)
psql -X -At -c 'SELECT pg_backend_pid()' -c "SELECT reconcile.run('fault_a', '2026-12-31')" >"$out" 2>&1 &
client=$!
pid=""
for _ in $(seq 100); do
	pid=$(head -n 1 "$out" | grep -E '^[0-9]+$' || true)
	[ -n "$pid" ] && break
	sleep 0.05
done
sleep 1
active=$(q "SELECT count(*) FROM pg_stat_activity WHERE pid = ${pid:-0} AND state = 'active' AND query LIKE '%reconcile.run%'")
ok $([ "$active" = 1 ]; echo $?) "the run is under way when its backend is killed"
kill -9 "$pid" 2>/dev/null
wait "$client"
rm -f "$out"
for _ in $(seq 60); do
	psql -X -At -c 'SELECT 1' >/dev/null 2>&1 && break
	sleep 0.5
done
ok $(q 'SELECT 1' >/dev/null 2>&1; echo $?) "the server recovers"
left=$(q "SELECT (SELECT count(*) FROM reconcile.runs WHERE name = 'fault_a') + (SELECT count(*) FROM reconcile.results WHERE name = 'fault_a')
              + (SELECT count(*) FROM reconcile.items WHERE name = 'fault_a') + (SELECT count(*) FROM reconcile.cleared WHERE name = 'fault_a')
              + (SELECT count(*) FROM reconcile.audit_log WHERE name = 'fault_a' AND action = 'run')")
ok $([ "$left" = 0 ]; echo $?) "the killed run left nothing in runs, results, items, cleared or audit_log"
q "SELECT reconcile.run('fault_a', '2026-12-31')" >/dev/null
ok $? "the next run succeeds"
diff=$(q "SELECT count(*) FROM (
            (SELECT key, ledger_id, statement_id, category, amount_diff, days_diff, score, group_id, note
             FROM reconcile.results WHERE name = 'fault_a'
             EXCEPT ALL
             SELECT key, ledger_id, statement_id, category, amount_diff, days_diff, score, group_id, note
             FROM reconcile.results WHERE name = 'fault_b')
            UNION ALL
            (SELECT key, ledger_id, statement_id, category, amount_diff, days_diff, score, group_id, note
             FROM reconcile.results WHERE name = 'fault_b'
             EXCEPT ALL
             SELECT key, ledger_id, statement_id, category, amount_diff, days_diff, score, group_id, note
             FROM reconcile.results WHERE name = 'fault_a')) d")
ok $([ "$diff" = 0 ]; echo $?) "its results equal those of a run that was never interrupted"

psql -X -q >/dev/null 2>&1 <<'SQL'
SELECT reconcile.drop('fault_a');
SELECT reconcile.drop('fault_b');
DELETE FROM reconcile.results WHERE name IN ('fault_a', 'fault_b');
DELETE FROM reconcile.items WHERE name IN ('fault_a', 'fault_b');
DELETE FROM reconcile.runs WHERE name IN ('fault_a', 'fault_b');
DROP SCHEMA fault CASCADE;
SQL
echo "1..$n"
