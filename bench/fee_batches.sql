-- bench/fee_batches.sql (from bench/run, part 4): fees within payout batches (0.5.1), in the worst
-- shape: no key, so all :rows orders are one group, at ~2,000 common prices, 20 orders a payout.
-- 30% of the payouts deduct 1.40% where the fee schedule expects 1.00%.  Both ways round:
--   fbo: the orders (ledger, with their batch and expected fee) against the payouts (statement,
--        the fee deducted in total): ledger batches, one tolerance for the batch;
--   fbl: one expected payout a batch (ledger, expected fee in total) against the platform's lines
--        (statement, each with the fee charged), with a relative tolerance: the one rows are
--        looked up in runs of equal tolerance bits.
-- Each is read with its fees mapped and, as the baseline in the same invocation, without (the same
-- tables compared by net amount only, 0.5.0's way), median of :runs reads.  Prints one line per
-- read and one ratio line per shape:
--   fee batches <name>: median <ms> ms over <n> reads, <groups> fee_difference batches of <payouts>
--   fee batches <shape> = <ratio> x its net-only read
-- and the time of the worst shape for batches, 20,000 of one sum (no bar: see the README).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT reconcile.drop(name) FROM reconcile.reconciliations WHERE name IN ('fbo', 'fbo_net', 'fbl', 'fbl_net', 'fbe') \g /dev/null
DROP SCHEMA IF EXISTS bench_fee CASCADE;
CREATE SCHEMA bench_fee;
SELECT setseed(0.17) \g /dev/null

CREATE TABLE bench_fee.orders AS
SELECT 'O' || lpad(i::text, 9, '0') AS id, g AS gross, g - round(g * 0.01, 2) AS amount, round(g * 0.01, 2) AS fee,
       date '2026-01-01' + (i / 20) % 365 AS tx_date, 'PO' || lpad((i / 20)::text, 7, '0') AS batch,
       CASE WHEN abs(hashint4(i / 20)) % 10 < 3 THEN 0.014 ELSE 0.010 END AS rate
FROM (SELECT i, round((9.90 + floor(random() * 2000) * 0.5)::numeric, 2) AS g
      FROM generate_series(0, :rows - 1) i) x;
CREATE TABLE bench_fee.payouts AS
SELECT o.batch AS id, sum(o.gross - round(o.gross * o.rate, 2)) AS amount, sum(round(o.gross * o.rate, 2)) AS fee,
       max(o.tx_date) + 2 AS tx_date
FROM bench_fee.orders o GROUP BY o.batch;
CREATE TABLE bench_fee.lines AS
SELECT 'L' || substr(o.id, 2) AS id, o.gross - round(o.gross * o.rate, 2) AS amount, round(o.gross * o.rate, 2) AS fee,
       o.tx_date + 2 AS tx_date, o.batch
FROM bench_fee.orders o;
CREATE TABLE bench_fee.expected AS
SELECT o.batch AS id, sum(o.amount) AS amount, sum(o.fee) AS fee, max(o.tx_date) AS tx_date
FROM bench_fee.orders o GROUP BY o.batch;
ANALYZE bench_fee.orders;
ANALYZE bench_fee.payouts;
ANALYZE bench_fee.lines;
ANALYZE bench_fee.expected;

SELECT reconcile.create('fbo', 'bench_fee.orders', 'bench_fee.payouts', reconcile.rule(abs_tol => 0.01, days_after => 3),
                        '{"ledger": {"fee": "fee"}, "statement": {"fee": "fee"}}') \g /dev/null
SELECT reconcile.create('fbo_net', 'bench_fee.orders', 'bench_fee.payouts', reconcile.rule(abs_tol => 0.01, days_after => 3)) \g /dev/null
SELECT reconcile.create('fbl', 'bench_fee.expected', 'bench_fee.lines', reconcile.rule(rel_tol => 0.0001, days_after => 3),
                        '{"ledger": {"fee": "fee"}, "statement": {"fee": "fee"}}') \g /dev/null
SELECT reconcile.create('fbl_net', 'bench_fee.expected', 'bench_fee.lines', reconcile.rule(rel_tol => 0.0001, days_after => 3)) \g /dev/null

-- median wall time of :runs reads of a view whole, and its fee_difference groups
CREATE FUNCTION pg_temp.time_view(v text, runs int, OUT ms numeric, OUT groups bigint)
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz;
    times numeric[] := '{}';
BEGIN
    FOR k IN 1 .. runs LOOP
        t := clock_timestamp();
        EXECUTE format('SELECT count(DISTINCT group_id) FILTER (WHERE category = ''fee_difference''), count(note), count(score)
                        FROM %I', v) INTO groups;
        times := times || round(extract(epoch FROM clock_timestamp() - t)::numeric * 1000, 1);
    END LOOP;
    SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x) INTO ms FROM unnest(times) x;
END
$$;
SELECT (r).ms AS fbo_ms, (r).groups AS fbo_groups FROM (SELECT pg_temp.time_view('fbo_matches', :runs) r) x \gset
SELECT (r).ms AS fbo_net_ms FROM (SELECT pg_temp.time_view('fbo_net_matches', :runs) r) x \gset
SELECT (r).ms AS fbl_ms, (r).groups AS fbl_groups FROM (SELECT pg_temp.time_view('fbl_matches', :runs) r) x \gset
SELECT (r).ms AS fbl_net_ms FROM (SELECT pg_temp.time_view('fbl_net_matches', :runs) r) x \gset
SELECT count(*) AS payouts, count(*) FILTER (WHERE abs(hashint4(substr(id, 3)::int)) % 10 < 3) AS raised
FROM bench_fee.payouts \gset
\echo fee batches fbo (orders against payouts, fees): median :fbo_ms ms over :runs reads, :fbo_groups fee_difference batches of :payouts payouts (:raised deduct 1.40%)
\echo fee batches fbo_net (the same by net amount): median :fbo_net_ms ms
\echo fee batches fbl (expected payouts against lines, fees, rel_tol): median :fbl_ms ms over :runs reads, :fbl_groups fee_difference batches of :payouts payouts (:raised deduct 1.40%)
\echo fee batches fbl_net (the same by net amount): median :fbl_net_ms ms
-- and where it gets slow: 20,000 batches of two orders that all sum to one amount, against 20,000
-- payouts of that amount on one day; each batch looks at every payout left of that amount (pass 3
-- and its gross twin alike), so the time grows with the square of such rows (README)
CREATE TABLE bench_fee.equal_orders AS
SELECT 'E' || i AS id, 9.90::numeric(12,2) AS amount, 0.10::numeric(12,2) AS fee, date '2026-01-05' AS tx_date, 'B' || (i / 2) AS batch
FROM generate_series(0, 39999) i;
CREATE TABLE bench_fee.equal_payouts AS
SELECT 'P' || i AS id, 19.60::numeric(12,2) AS amount, 0.40::numeric(12,2) AS fee, date '2026-01-06' AS tx_date
FROM generate_series(0, 19999) i;
SELECT reconcile.create('fbe', 'bench_fee.equal_orders', 'bench_fee.equal_payouts', reconcile.rule(abs_tol => 0.01),
                        '{"ledger": {"fee": "fee"}, "statement": {"fee": "fee"}}') \g /dev/null
SELECT (r).ms AS fbe_ms, (r).groups AS fbe_groups FROM (SELECT pg_temp.time_view('fbe_matches', :runs) r) x \gset
\echo fee batches fbe (20000 batches of one sum against 20000 payouts of it, the worst shape): median :fbe_ms ms, :fbe_groups fee_difference batches
SELECT round(:fbo_ms / :fbo_net_ms, 2) AS r1, round(:fbl_ms / :fbl_net_ms, 2) AS r2 \gset
\echo fee batches orders = :r1 x its net-only read
\echo fee batches lines = :r2 x its net-only read
