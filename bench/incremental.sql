-- bench/incremental.sql: a daily run costs what the new and the open rows cost, whatever the history.
-- :rows rows per side, each with its counterpart but for 0.1% of the bank lines 1.00 off (open
-- items, whose rows every later run reads again), cleared by a first run; then three times :new new rows
-- per side arrive and a daily run matches them.  Then the history grows to :history times :rows
-- rows per side, month by month (a run of :rows new rows each, as a reconciliation kept for years
-- gets it), and three more daily runs.  Both sources map seq to a bigserial column with an index,
-- and their ids are primary keys.  Prints the runs' times, the first run against reading the view
-- over the same rows, the median daily run's share of the first run, and the median daily run over
-- the long history against the one over :rows.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT reconcile.drop(name) FROM reconcile.reconciliations WHERE name = 'inc' \g /dev/null
-- the history of earlier invocations (the bench runs as a superuser, on a throwaway cluster)
DELETE FROM reconcile.results WHERE name = 'inc';
DELETE FROM reconcile.items WHERE name = 'inc';
DELETE FROM reconcile.cleared WHERE name = 'inc';
DELETE FROM reconcile.runs WHERE name = 'inc';
DROP SCHEMA IF EXISTS inc CASCADE;
CREATE SCHEMA inc;
SELECT setseed(0.7) \g /dev/null

CREATE TABLE inc.ledger (n bigserial, id text PRIMARY KEY, key text, amount numeric(12,2), tx_date date, ref text);
CREATE TABLE inc.statement (n bigserial, id text PRIMARY KEY, key text, amount numeric(12,2), tx_date date, ref text);
CREATE INDEX ON inc.ledger (n);
CREATE INDEX ON inc.statement (n);

-- rows lo .. hi of both sides (ids ORD/BNK and the number); every 1000th bank line of the first
-- :rows is 1.00 off
CREATE FUNCTION pg_temp.add(lo bigint, hi bigint, open_below bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE g AS
    SELECT i, (ARRAY['CNY', 'USD', 'EUR'])[1 + floor(random() * 3)::int] AS key,
           round((9.90 + floor(random() * 2000) * 0.5)::numeric, 2) AS price,
           date '2026-01-01' + floor(random() * 365)::int AS day, floor(random() * 4)::int AS lag
    FROM generate_series(lo, hi) i;
    INSERT INTO inc.ledger (id, key, amount, tx_date, ref)
    SELECT 'ORD' || lpad(i::text, 9, '0'), key, price, day, 'ORD' || lpad(i::text, 9, '0') FROM g ORDER BY i;
    INSERT INTO inc.statement (id, key, amount, tx_date, ref)
    SELECT 'BNK' || lpad(i::text, 9, '0'), key, price + CASE WHEN i < open_below AND i % 1000 = 0 THEN 1 ELSE 0 END,
           day + lag, 'PAYOUT ORD' || lpad(i::text, 9, '0') FROM g ORDER BY i;
    DROP TABLE g;
END
$$;
SELECT pg_temp.add(1, :rows, :rows + 1) \g /dev/null
ANALYZE inc.ledger;
ANALYZE inc.statement;
SELECT reconcile.create('inc', 'inc.ledger', 'inc.statement', reconcile.rule(abs_tol => 0.01, days_after => 3),
                        '{"ledger": {"seq": "n"}, "statement": {"seq": "n"}}') \g /dev/null

CREATE TEMP TABLE timing (run text, ms numeric, ledger_rows bigint, statement_rows bigint, open_items bigint);
-- the view over the same rows, read whole, against which the first run is held
CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t;
SELECT count(*) FROM public.inc_matches \g /dev/null
INSERT INTO timing SELECT 'view, read whole', round(extract(epoch FROM clock_timestamp() - t) * 1000), NULL, NULL, NULL FROM t0;
UPDATE t0 SET t = clock_timestamp();
SELECT reconcile.run('inc', '2027-01-10') AS first_run \gset
INSERT INTO timing SELECT 'first run', round(extract(epoch FROM clock_timestamp() - t) * 1000), ledger_rows, statement_rows,
       (SELECT count(*) FROM reconcile.items i WHERE i.name = 'inc' AND i.status = 'open')
FROM t0, reconcile.runs WHERE run_id = :first_run;

-- what autovacuum does between two nightly runs: the first run wrote 2M cleared rows
VACUUM ANALYZE reconcile.cleared;
VACUUM ANALYZE reconcile.results;
VACUUM ANALYZE reconcile.items;

-- three daily runs, each with :new new rows per side
\set next :rows
\set label 'daily run, history 1x,'
\set day 1
\ir incremental_day.sql
\set day 2
\ir incremental_day.sql
\set day 3
\ir incremental_day.sql

-- the history grows to :history times :rows rows per side, a run per :rows new rows
SELECT clock_timestamp() AS grow_start \gset
\o /dev/null
SELECT format('SELECT pg_temp.add(%s, %s, 0); SELECT reconcile.run(''inc'', ''2027-01-10'');',
              :next + 1 + (m - 1) * :rows, :next + m * :rows)
FROM generate_series(1, :history - 1) m \gexec
\o
SELECT :history - 1 AS months \gset
\set next :next + (:history - 1) * :rows
SELECT round(extract(epoch FROM clock_timestamp() - :'grow_start'::timestamptz)) AS grow_s \gset
VACUUM ANALYZE inc.ledger;
VACUUM ANALYZE inc.statement;
VACUUM ANALYZE reconcile.cleared;
VACUUM ANALYZE reconcile.results;
VACUUM ANALYZE reconcile.items;
SELECT count(*) AS history_rows FROM inc.ledger \gset
\echo history grown to :history_rows ledger rows (and as many bank lines) by :months monthly runs in :grow_s s

\set label 'daily run, history ' :history 'x,'
\set day 1
\ir incremental_day.sql
\set day 2
\ir incremental_day.sql
\set day 3
\ir incremental_day.sql

\pset footer off
SELECT run, ms, ledger_rows, statement_rows, open_items FROM timing ORDER BY run;
SELECT round(100.0 * (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) FROM timing WHERE run LIKE 'daily run, history 1x%')
             / (SELECT ms FROM timing WHERE run = 'first run'), 2) AS daily_pct \gset
SELECT round((SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) FROM timing WHERE run LIKE 'daily run, history ' || :history || 'x%')
             / (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) FROM timing WHERE run LIKE 'daily run, history 1x%'), 2)
       AS history_ratio \gset
SELECT round((SELECT ms FROM timing WHERE run = 'first run') / (SELECT ms FROM timing WHERE run = 'view, read whole'), 2)
       AS first_ratio \gset
\echo first run = :first_ratio x the view read whole (bar 1.5x)
\echo daily run = :daily_pct % of the first (the median of three daily runs; bar 2 %)
\echo daily run over :history x history = :history_ratio x the daily run over 1x (medians; bar 1.5x)

-- reconcile.candidates of open items over the long history, most of whose rows are cleared
\set cname inc
\set cself inc.ledger
\set cother inc.statement
\set clabel 'of open items over ' :history_rows ' rows per side'
\set cids 'SELECT ledger_id FROM reconcile.items WHERE name = ''inc'' AND status = ''open'' AND ledger_id IS NOT NULL ORDER BY ledger_id LIMIT 21'
\ir candidates.sql
