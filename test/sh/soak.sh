#!/usr/bin/env bash
# test/sh/soak.sh: pgbench, 8 clients for SOAK_SECONDS (60): runs of the same and of different
# reconciliations, new rows arriving, follow-up actions and reads, all at once.  Then: no
# deadlock, no client aborted, no row lost or doubled, every run and action in audit_log.
# Run by test/sh/suite against its cluster; prints TAP.
set -uo pipefail
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
secs=${SOAK_SECONDS:-60}
dir=$(mktemp -d)

psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS reconcile;
DROP SCHEMA IF EXISTS soak CASCADE;
CREATE SCHEMA soak;
CREATE SEQUENCE soak.ids;
CREATE TABLE soak.l (id text PRIMARY KEY, key text, amount numeric(12,2), tx_date date, ref text);
CREATE TABLE soak.s (id text PRIMARY KEY, key text, amount numeric(12,2), tx_date date, ref text);
INSERT INTO soak.l SELECT 'L' || i, (ARRAY['a', 'b'])[1 + i % 2], 10 + i % 97, date '2026-01-01' + i % 60, 'R' || lpad(i::text, 8, '0')
FROM generate_series(1, 20000) i;
INSERT INTO soak.s SELECT 'S' || i, (ARRAY['a', 'b'])[1 + i % 2], 10 + i % 97 + CASE WHEN i % 9 = 0 THEN 1 ELSE 0 END,
       date '2026-01-01' + i % 60 + 1, 'PAY R' || lpad(i::text, 8, '0')
FROM generate_series(1, 20000) i WHERE i % 13 <> 0;
SELECT setval('soak.ids', 100000);
SELECT reconcile.create('soak_' || k, 'soak.l', 'soak.s', reconcile.rule(abs_tol => 0.01)) FROM generate_series(0, 2) k;
SQL

cat >"$dir/run.sql" <<'SQL'
\set k random(0, 2)
DO $$ BEGIN PERFORM reconcile.run('soak_' || :k, '2026-06-30'); EXCEPTION WHEN lock_not_available THEN NULL; END $$;
SQL
cat >"$dir/arrive.sql" <<'SQL'
WITH i AS (SELECT nextval('soak.ids') AS i)
INSERT INTO soak.l SELECT 'L' || i, (ARRAY['a', 'b'])[1 + i % 2], 10 + i % 97, date '2026-03-01', 'R' || lpad(i::text, 8, '0') FROM i;
WITH i AS (SELECT currval('soak.ids') AS i)
INSERT INTO soak.s SELECT 'S' || i, (ARRAY['a', 'b'])[1 + i % 2], 10 + i % 97, date '2026-03-02', 'PAY R' || lpad(i::text, 8, '0') FROM i;
SQL
cat >"$dir/followup.sql" <<'SQL'
\set k random(0, 2)
DO $$
DECLARE it bigint;
BEGIN
    SELECT item_id INTO it FROM reconcile.items WHERE name = 'soak_' || :k AND status IN ('open', 'resolved')
    ORDER BY random() LIMIT 1;
    IF it IS NULL THEN RETURN; END IF;
    CASE (random() * 3)::int
        WHEN 0 THEN PERFORM reconcile.assign(it, 'clerk');
        WHEN 1 THEN PERFORM reconcile.resolve(it, 'chased', NULL);
        WHEN 2 THEN PERFORM reconcile.reopen(it, 'again');
        ELSE PERFORM reconcile.assign(it, 'senior');
    END CASE;
EXCEPTION WHEN object_not_in_prerequisite_state OR undefined_object THEN NULL;
END $$;
SQL
cat >"$dir/read.sql" <<'SQL'
\set k random(0, 2)
SELECT count(*) FROM reconcile.open_items WHERE name = 'soak_' || :k;
SELECT count(*) FROM reconcile.run_summary WHERE name = 'soak_' || :k;
SELECT count(*) FROM reconcile.proof((SELECT max(run_id) FROM reconcile.runs WHERE name = 'soak_' || :k));
SQL

pgbench -n -c 8 -j 2 -T "$secs" -f "$dir/run.sql@2" -f "$dir/arrive.sql@5" -f "$dir/followup.sql@3" \
	-f "$dir/read.sql@3" >"$dir/out" 2>&1
status=$?
grep -E 'number of transactions actually processed|number of failed|aborted|tps' "$dir/out" | sed 's/^/# /'
ok $([ "$status" = 0 ] && ! grep -qE 'aborted in command|client [0-9]+ aborted' "$dir/out"; echo $?) \
	"pgbench: 8 clients for ${secs}s, no client aborted (no deadlock or other error)"
runs=$(q "SELECT count(*) FROM reconcile.runs WHERE name LIKE 'soak\_%'")
echo "# runs: $runs"
ok $([ "$runs" -gt 3 ]; echo $?) "runs happened under load"

# one final run of each, then every source row is cleared or in that run's results, once
q "SELECT reconcile.run('soak_' || k, '2026-06-30') FROM generate_series(0, 2) k" >/dev/null
lost=$(q "SELECT count(*) FROM generate_series(0, 2) k,
                 LATERAL (SELECT id, true AS l FROM soak.l UNION ALL SELECT id, false FROM soak.s) src
          WHERE NOT EXISTS (SELECT FROM reconcile.cleared c WHERE c.name = 'soak_' || k AND c.is_ledger = src.l AND c.id = src.id)
            AND NOT EXISTS (SELECT FROM reconcile.results r WHERE r.run_id = (SELECT max(run_id) FROM reconcile.runs WHERE name = 'soak_' || k)
                            AND (CASE WHEN src.l THEN r.ledger_id ELSE r.statement_id END) = src.id)")
ok $([ "$lost" = 0 ]; echo $?) "no source row lost: each is cleared or in the latest run's results"
dup=$(q "SELECT count(*) FROM (SELECT r.run_id, r.ledger_id FROM reconcile.results r WHERE r.name LIKE 'soak\_%' AND r.ledger_id IS NOT NULL
                              AND r.category <> 'one_to_many' GROUP BY 1, 2 HAVING count(*) > 1
                              UNION ALL
                              SELECT r.run_id, r.statement_id FROM reconcile.results r WHERE r.name LIKE 'soak\_%' AND r.statement_id IS NOT NULL
                              AND r.category <> 'many_to_one' GROUP BY 1, 2 HAVING count(*) > 1) d")
ok $([ "$dup" = 0 ]; echo $?) "no row twice in one run's results"
twice=$(q "SELECT count(*) FROM reconcile.results r JOIN reconcile.cleared c
             ON c.name = r.name AND c.run_id < r.run_id AND c.is_ledger AND c.id = r.ledger_id
           WHERE r.name LIKE 'soak\_%'")
ok $([ "$twice" = 0 ]; echo $?) "no cleared row matched again by a later run"
unaudited=$(q "SELECT count(*) FROM reconcile.runs r WHERE r.name LIKE 'soak\_%' AND NOT EXISTS
                 (SELECT FROM reconcile.audit_log a WHERE a.action = 'run' AND (a.details ->> 'run_id')::bigint = r.run_id)")
ok $([ "$unaudited" = 0 ]; echo $?) "every run is in audit_log"
unaudited=$(q "SELECT count(*) FROM reconcile.items i WHERE i.name LIKE 'soak\_%' AND i.resolved_by IS NOT NULL AND NOT EXISTS
                 (SELECT FROM reconcile.audit_log a WHERE a.action = 'resolve' AND a.item_id = i.item_id)")
ok $([ "$unaudited" = 0 ]; echo $?) "every resolution is in audit_log"
proofs=$(q "SELECT count(*) FROM reconcile.runs u, LATERAL (SELECT sum(amount) FILTER (WHERE item <> 'statement total')
                 - sum(amount) FILTER (WHERE item = 'statement total') AS gap FROM reconcile.proof(u.run_id) GROUP BY key) p
            WHERE u.name LIKE 'soak\_%' AND p.gap <> 0")
ok $([ "$proofs" = 0 ]; echo $?) "the proof of every run adds up"

psql -X -q >/dev/null 2>&1 <<'SQL'
SELECT reconcile.drop('soak_' || k) FROM generate_series(0, 2) k;
DELETE FROM reconcile.results WHERE name LIKE 'soak\_%';
DELETE FROM reconcile.items WHERE name LIKE 'soak\_%';
DELETE FROM reconcile.runs WHERE name LIKE 'soak\_%';
DROP SCHEMA soak CASCADE;
SQL
rm -rf "$dir"
echo "1..$n"
