-- bench/data.sql: the benchmark's data, deterministic (setseed), :rows rows per side.
--
-- 90% of ledger rows have a statement counterpart: the same amount (9 in 10) or a cent more,
-- 0-3 days later; amounts come from ~2,000 price points, so many rows share an amount;
-- three currencies are the keys (or :shops shops when -v shops=N is given); about half the rows carry a reference (the statement's memo
-- quotes the order number inside a longer text); the other 10% on each side have no counterpart.
-- With -v shards=N (bench/citus.sh) both tables are distributed by the key over N shards, co-located.
\set ON_ERROR_STOP on
\if :{?shops}
\else
\set shops 0
\endif
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT reconcile.drop(name) FROM reconcile.reconciliations WHERE name = 'b' \g /dev/null
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;
SELECT setseed(0.42);

CREATE TABLE bench.ledger (id text, key text, amount numeric(12,2), tx_date date, ref text, batch text);
CREATE TABLE bench.statement (id text, key text, amount numeric(12,2), tx_date date, ref text, batch text);

CREATE TEMP TABLE g AS
SELECT i,
       CASE WHEN :shops > 0 THEN 'shop' || lpad(floor(random() * :shops)::int::text, 3, '0')
            ELSE (ARRAY['CNY', 'USD', 'EUR'])[1 + floor(random() * 3)::int] END AS key,
       round((9.90 + floor(random() * 2000) * 0.5)::numeric, 2) AS price,
       date '2026-01-01' + floor(random() * 365)::int AS day,
       random() < 0.5 AS has_ref,
       random() < 0.9 AS paired,
       random() < 0.1 AS cent_off,
       floor(random() * 4)::int AS lag
FROM generate_series(1, :rows) i;

\if :{?shards}
SELECT create_distributed_table('bench.ledger', 'key', shard_count => :shards);
SELECT create_distributed_table('bench.statement', 'key', colocate_with => 'bench.ledger');
\endif

INSERT INTO bench.ledger
SELECT 'ORD' || lpad(i::text, 9, '0'), key, price, day,
       CASE WHEN has_ref THEN 'ORD' || lpad(i::text, 9, '0') END, NULL
FROM g;

INSERT INTO bench.statement
SELECT 'BNK' || lpad(i::text, 9, '0'), key,
       CASE WHEN NOT paired THEN price + 1000 + (i % 997) WHEN cent_off THEN price + 0.01 ELSE price END,
       day + lag,
       CASE WHEN has_ref AND paired THEN 'SETTLEMENT ORD' || lpad(i::text, 9, '0') || ' PAYOUT' END,
       NULL
FROM g;

ANALYZE bench.ledger;
ANALYZE bench.statement;
SELECT reconcile.create('b', 'bench.ledger', 'bench.statement',
                        reconcile.rule(abs_tol => 0.01, days_after => 3));
