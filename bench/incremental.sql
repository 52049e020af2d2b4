-- bench/incremental.sql: a daily run costs what the new rows cost.
-- :rows rows per side, every one with its counterpart, cleared by a first run; then three times
-- :new new rows per side arrive and a daily run matches them.  Prints the run times and the
-- median daily run's share of the first (one daily run alone varies by half on these machines).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT reconcile.drop(name) FROM reconcile.reconciliations WHERE name = 'inc' \g /dev/null
DELETE FROM reconcile.results WHERE name = 'inc';
DELETE FROM reconcile.items WHERE name = 'inc';
DELETE FROM reconcile.cleared WHERE name = 'inc';
DELETE FROM reconcile.runs WHERE name = 'inc';
DROP SCHEMA IF EXISTS inc CASCADE;
CREATE SCHEMA inc;
SELECT setseed(0.7) \g /dev/null

CREATE TABLE inc.ledger (id text, key text, amount numeric(12,2), tx_date date, ref text);
CREATE TABLE inc.statement (id text, key text, amount numeric(12,2), tx_date date, ref text);
CREATE TEMP TABLE g AS
SELECT i, (ARRAY['CNY', 'USD', 'EUR'])[1 + floor(random() * 3)::int] AS key,
       round((9.90 + floor(random() * 2000) * 0.5)::numeric, 2) AS price,
       date '2026-01-01' + floor(random() * 365)::int AS day, floor(random() * 4)::int AS lag
FROM generate_series(1, :rows + 3 * :new) i;
INSERT INTO inc.ledger SELECT 'ORD' || lpad(i::text, 9, '0'), key, price, day, 'ORD' || lpad(i::text, 9, '0') FROM g WHERE i <= :rows;
INSERT INTO inc.statement SELECT 'BNK' || lpad(i::text, 9, '0'), key, price, day + lag, 'PAYOUT ORD' || lpad(i::text, 9, '0') FROM g WHERE i <= :rows;
ANALYZE inc.ledger;
ANALYZE inc.statement;
SELECT reconcile.create('inc', 'inc.ledger', 'inc.statement', reconcile.rule(abs_tol => 0.01, days_after => 3)) \g /dev/null

CREATE TEMP TABLE timing (run text, ms numeric, ledger_rows bigint, statement_rows bigint, counts jsonb);
CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t;
SELECT reconcile.run('inc', '2027-01-10') AS first_run \gset
INSERT INTO timing SELECT 'first run', round(extract(epoch FROM clock_timestamp() - t) * 1000), ledger_rows, statement_rows, counts
FROM t0, reconcile.runs WHERE run_id = :first_run;

-- what autovacuum does between two nightly runs: the first run wrote 2M cleared rows
VACUUM ANALYZE reconcile.cleared;
VACUUM ANALYZE reconcile.results;

-- three daily runs, each with :new new rows per side
\set day 1
\ir incremental_day.sql
\set day 2
\ir incremental_day.sql
\set day 3
\ir incremental_day.sql

\pset footer off
SELECT run, ms, ledger_rows, statement_rows, counts FROM timing ORDER BY run;
SELECT round(100.0 * (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) FROM timing WHERE run LIKE 'daily run%')
             / (SELECT ms FROM timing WHERE run = 'first run'), 2) AS second_as_pct_of_first \gset
\echo second run = :second_as_pct_of_first % of the first (the median of three daily runs; bar 5 %)
