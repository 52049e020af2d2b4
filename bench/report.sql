-- bench/report.sql (from bench/run, part 6): reconcile.report of a run with :open (100,000) open
-- items, in every format, in three shapes:
--   one_key    one reconciliation key: 2 x :open ledger rows, :open of them paid (matched), the rest
--              open, dated over 150 days so that every aging bucket holds some;
--   keys       the same rows over 10,000 keys (the proof lists 50, the open items 500 groups);
--   big_run    one key, a first run over years of history: :big (1,000,000) ledger rows, all but
--              :open of them paid;
--   history    one key after eleven monthly runs of :open pairs each, a tenth of each month's bank
--              lines arriving the next month (items opened, then cleared): the run reported has
--              ~1.2 M cleared rows and ~110,000 cleared items of earlier runs beside it, and twelve
--              runs for the match-rate chart.
-- Median of :runs of each report, against the baseline of reading the same run's open items whole
-- (COPY (SELECT * FROM reconcile.open_items WHERE name = ...) TO '/dev/null', what a BI tool does).
-- Prints one line per shape and format:
--   report <shape> <format>: <open> open items, <keys> keys, <bytes> bytes: median <ms> ms; open_items by COPY <ms> ms = <ratio> x
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT reconcile.drop(name) FROM reconcile.reconciliations WHERE name IN ('rpt_one_key', 'rpt_keys', 'rpt_big_run', 'rpt_history') \g /dev/null
-- the history of earlier invocations (the bench runs as a superuser, on a throwaway cluster)
DELETE FROM reconcile.results WHERE name LIKE 'rpt\_%';
DELETE FROM reconcile.items WHERE name LIKE 'rpt\_%';
DELETE FROM reconcile.cleared WHERE name LIKE 'rpt\_%';
DELETE FROM reconcile.runs WHERE name LIKE 'rpt\_%';
DROP SCHEMA IF EXISTS rpt CASCADE;
CREATE SCHEMA rpt;
SELECT setseed(0.3) \g /dev/null

-- rows lo .. hi of a shape: ledger rows keyed over keys keys; bank lines for those below
-- paid_below, but every tenth when late (it comes with the next batch), and the late ones of the
-- batch prev_lo .. prev_hi
CREATE FUNCTION pg_temp.add(shape text, lo bigint, hi bigint, paid_below bigint, keys int, as_of date, late boolean,
                            prev_lo bigint, prev_hi bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($q$
        INSERT INTO rpt.%1$I (id, key, amount, tx_date, ref)
        SELECT 'ORD' || lpad(i::text, 9, '0'), CASE WHEN %2$s = 1 THEN 'CNY' ELSE 'K' || lpad((i %% %2$s)::text, 5, '0') END,
               round((9.90 + floor(random() * 2000) * 0.5)::numeric, 2), %3$L::date - (i %% 150)::int, 'ORD' || lpad(i::text, 9, '0')
        FROM generate_series(%4$s, %5$s) i$q$, shape || '_ledger', keys, as_of, lo, hi);
    EXECUTE format($q$
        INSERT INTO rpt.%1$I (id, key, amount, tx_date, ref)
        SELECT 'BNK' || substr(l.id, 4), l.key, l.amount, l.tx_date + 1, 'PAYOUT ' || l.id
        FROM rpt.%2$I l CROSS JOIN LATERAL (SELECT substr(l.id, 4)::bigint AS i) x
        WHERE (x.i BETWEEN %3$s AND %4$s AND x.i < %5$s AND NOT (%6$L AND x.i %% 10 = 0))
           OR (x.i BETWEEN %7$s AND %8$s AND x.i %% 10 = 0)$q$,
        shape || '_statement', shape || '_ledger', lo, hi, paid_below, late, prev_lo, prev_hi);
END
$$;
CREATE FUNCTION pg_temp.shape(shape text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE rpt.%I (n bigserial, id text PRIMARY KEY, key text, amount numeric(12,2), tx_date date, ref text)', shape || '_ledger');
    EXECUTE format('CREATE TABLE rpt.%I (n bigserial, id text PRIMARY KEY, key text, amount numeric(12,2), tx_date date, ref text)', shape || '_statement');
    EXECUTE format('CREATE INDEX ON rpt.%I (n)', shape || '_ledger');
    EXECUTE format('CREATE INDEX ON rpt.%I (n)', shape || '_statement');
    PERFORM reconcile.create('rpt_' || shape, format('rpt.%I', shape || '_ledger')::regclass,
                             format('rpt.%I', shape || '_statement')::regclass, reconcile.rule(abs_tol => 0.01, days_after => 3),
                             '{"ledger": {"seq": "n"}, "statement": {"seq": "n"}}');
END
$$;

-- one key, and 10,000 keys: one run each
SELECT pg_temp.shape('one_key'), pg_temp.shape('keys') \g /dev/null
SELECT pg_temp.add('one_key', 1, 2 * :open, :open + 1, 1, '2026-12-31', false, 0, 0),
       pg_temp.add('keys', 1, 2 * :open, :open + 1, 10000, '2026-12-31', false, 0, 0) \g /dev/null
ANALYZE rpt.one_key_ledger, rpt.one_key_statement, rpt.keys_ledger, rpt.keys_statement;
SELECT reconcile.run('rpt_one_key', '2026-12-31') AS run_one_key \gset
SELECT reconcile.run('rpt_keys', '2026-12-31') AS run_keys \gset
SELECT pg_temp.shape('big_run') \g /dev/null
SELECT pg_temp.add('big_run', 1, :big, :big - :open + 1, 1, '2026-12-31', false, 0, 0) \g /dev/null
ANALYZE rpt.big_run_ledger, rpt.big_run_statement;
SELECT reconcile.run('rpt_big_run', '2026-12-31') AS run_big_run \gset

-- the history: eleven months of :open pairs, a tenth of each month's bank lines late, then the month
-- reported, as one_key
SELECT pg_temp.shape('history') \g /dev/null
SELECT pg_temp.add('history', (m - 1) * :open + 1, m * :open, m * :open + 1, 1, date '2026-01-31' + (m - 1) * 30, true,
                   (m - 2) * :open + 1, (m - 1) * :open),
       reconcile.run('rpt_history', date '2026-01-31' + (m - 1) * 30)
FROM generate_series(1, 11) m \g /dev/null
SELECT pg_temp.add('history', 11 * :open + 1, 13 * :open, 12 * :open + 1, 1, '2026-12-31', false, 10 * :open + 1, 11 * :open) \g /dev/null
SELECT reconcile.run('rpt_history', '2026-12-31') AS run_history \gset

-- the median of runs timings of sql, in ms
CREATE FUNCTION pg_temp.median_ms(sql text, runs int) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz;
    times numeric[] := '{}';
BEGIN
    FOR k IN 1 .. runs LOOP
        t := clock_timestamp();
        EXECUTE sql;
        times := times || round(extract(epoch FROM clock_timestamp() - t)::numeric * 1000, 1);
    END LOOP;
    RETURN (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(times) x);
END
$$;

CREATE TEMP TABLE figures (shape text, format text, open bigint, keys bigint, bytes bigint, ms numeric, copy_ms numeric);
INSERT INTO figures
SELECT s.shape, f.format,
       (SELECT count(*) FROM reconcile.open_items o WHERE o.name = 'rpt_' || s.shape AND o.last_run_id = s.run_id),
       (SELECT count(DISTINCT key) FROM reconcile.results x WHERE x.run_id = s.run_id),
       length(reconcile.report(s.run_id, f.format)),
       pg_temp.median_ms(format('SELECT length(reconcile.report(%s, %L))', s.run_id, f.format), :runs),
       pg_temp.median_ms(format('COPY (SELECT * FROM reconcile.open_items WHERE name = %L) TO %L', 'rpt_' || s.shape, '/dev/null'), :runs)
FROM (VALUES ('one_key', :run_one_key), ('keys', :run_keys), ('big_run', :run_big_run), ('history', :run_history)) s(shape, run_id),
     (VALUES ('html'), ('markdown'), ('text')) f(format);

SELECT format('report %s %s: %s open items, %s keys, %s bytes: median %s ms; open_items by COPY %s ms = %s x',
              shape, format, open, keys, bytes, ms, copy_ms, round(ms / copy_ms, 2))
FROM figures ORDER BY array_position(ARRAY['one_key', 'keys', 'big_run', 'history'], shape), format \g (format=unaligned tuples_only=on)
