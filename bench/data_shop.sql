-- bench/data_shop.sql: data shaped like a real shop's, deterministic (setseed), :rows ledger rows.
--
-- keys: three currencies holding 80%, 15% and 5% of the rows (one group of 0.8 * :rows rows);
-- ledger refs: sequential order numbers INV-00000001, INV-00000002, ..., all distinct;
-- amounts: 10% from 20 common prices with Zipf weights (99.00 alone about 2.8% of the rows), the
-- rest uniform between 1.00 and 5,000.00; integer ids.
-- 95% of ledger rows have a statement row: the same amount (9 in 10) or a cent more or less, 0-3
-- days later; half of their memos quote the ledger's ref inside other text
-- ('PAYMENT INV-00021060 416B9FEB'), the rest carry none.  Statement ids follow the bank's order
-- (by date), not the ledger's.  bench.shop_truth says which statement row belongs to which ledger
-- row.  The reconciliation is 'shop'.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT reconcile.drop(name) FROM reconcile.reconciliations WHERE name = 'shop' \g /dev/null
CREATE SCHEMA IF NOT EXISTS bench;
DROP TABLE IF EXISTS bench.shop_ledger, bench.shop_statement, bench.shop_truth;
SELECT setseed(0.17);

CREATE TEMP TABLE prices (k int, price numeric(12,2), upto float8);
INSERT INTO prices
SELECT k, p, sum(1.0 / k) OVER (ORDER BY k) / sum(1.0 / k) OVER ()
FROM unnest('{99.00,199.00,49.90,9.90,29.90,59.00,79.00,129.00,149.00,19.90,39.90,69.00,89.00,159.00,199.90,249.00,299.00,399.00,499.00,599.00}'::numeric[])
     WITH ORDINALITY AS u(p, k);

CREATE TEMP TABLE g AS
SELECT i,
       CASE WHEN r1 < 0.80 THEN 'CNY' WHEN r1 < 0.95 THEN 'USD' ELSE 'EUR' END AS key,
       CASE WHEN r2 < 0.10 THEN (SELECT price FROM prices WHERE upto >= r3 ORDER BY k LIMIT 1)
            ELSE round((1 + r3 * 4999)::numeric, 2) END AS price,
       date '2026-01-01' + floor(random() * 365)::int AS day,
       random() < 0.95 AS paired,
       random() < 0.5 AS quotes,
       CASE WHEN random() < 0.9 THEN 0 WHEN random() < 0.5 THEN 0.01 ELSE -0.01 END AS off,
       floor(random() * 4)::int AS lag,
       random() AS noise
FROM (SELECT i, random() AS r1, random() AS r2, random() AS r3 FROM generate_series(1, :rows) i) x;

CREATE TABLE bench.shop_ledger (id bigint, key text, amount numeric(12,2), tx_date date, ref text, batch text);
CREATE TABLE bench.shop_statement (id bigint, key text, amount numeric(12,2), tx_date date, ref text, batch text);
CREATE TABLE bench.shop_truth (statement_id bigint, ledger_id bigint);

INSERT INTO bench.shop_ledger
SELECT i, key, price, day, 'INV-' || lpad(i::text, 8, '0'), NULL FROM g;

CREATE TEMP TABLE s AS
SELECT row_number() OVER (ORDER BY day + lag, noise) AS sid, g.* FROM g WHERE paired;
INSERT INTO bench.shop_statement
SELECT sid, key, price + off, day + lag,
       CASE WHEN quotes THEN 'PAYMENT INV-' || lpad(i::text, 8, '0') || ' ' || upper(substr(md5(i::text), 1, 8)) END,
       NULL
FROM s;
INSERT INTO bench.shop_truth SELECT sid, i FROM s;

ANALYZE bench.shop_ledger;
ANALYZE bench.shop_statement;
ANALYZE bench.shop_truth;
SELECT reconcile.create('shop', 'bench.shop_ledger', 'bench.shop_statement',
                        reconcile.rule(abs_tol => 0.01, days_after => 3));
