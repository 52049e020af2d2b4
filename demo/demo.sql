-- demo/demo.sql: a month of a multi-platform online shop, reconciled against its bank statement.
--
-- `make demo` runs this in a throwaway cluster.  It doubles as a worked example: the ledger is a
-- view that computes what each order should bring in after platform fees, the statement is a
-- plain table, and reconcile.create() turns the pair into three views.  The data is
-- deterministic (hash-derived, no random()), so every run shows the same figures.
\set ON_ERROR_STOP on
\pset null ''
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT reconcile.drop(name) FROM reconcile.reconciliations WHERE name = 'demo' \g /dev/null
DROP SCHEMA IF EXISTS shop CASCADE;
CREATE SCHEMA shop;

-- Fee schedule per platform: the platform keeps fee_rate of the gross and a fixed fee per order,
-- and pays out settle_lag_days later, either per order or in one payout batch per day.
CREATE TABLE shop.platform_fees (
    platform        text PRIMARY KEY,
    currency        text NOT NULL,
    fee_rate        numeric NOT NULL,
    fixed_fee       numeric NOT NULL,
    settle_lag_days int NOT NULL,
    batched         boolean NOT NULL
);
INSERT INTO shop.platform_fees VALUES
    ('tmall',    'CNY', 0.0060, 0,    7, true),   -- T+7, one payout per settlement day
    ('douyin',   'CNY', 0.0100, 0,    7, true),   -- T+7, one payout per settlement day
    ('jd',       'CNY', 0.0080, 0,    1, false),  -- T+1, per order
    ('own',      'CNY', 0.0038, 0,    1, false),  -- own shop via a payment gateway, T+1
    ('overseas', 'USD', 0.0290, 0.30, 2, false),  -- card acquirer abroad, T+2
    ('wholesale','CNY', 0,      0,    0, false);  -- invoices paid by bank transfer

-- Orders and refunds as the shop books them (gross, before fees).
CREATE TABLE shop.orders (
    order_no     text PRIMARY KEY,
    platform     text NOT NULL REFERENCES shop.platform_fees,
    kind         text NOT NULL CHECK (kind IN ('order', 'refund')),
    gross_amount numeric(12,2) NOT NULL,
    paid_on      date NOT NULL,
    payout_id    text                      -- the platform's payout batch, where it batches
);

-- 2,400 orders over November 2026; every 40th is a refund of an earlier order.
INSERT INTO shop.orders
SELECT upper(left(p.platform, 2)) || to_char(d, 'MMDD') || '-' || lpad(i::text, 4, '0'),
       p.platform,
       CASE WHEN i % 40 = 0 THEN 'refund' ELSE 'order' END,
       CASE WHEN i % 40 = 0 THEN -1 ELSE 1 END *
           CASE WHEN p.currency = 'USD' THEN 19.99 + (abs(hashint4(i)) % 40) * 5
                ELSE 29.90 + (abs(hashint4(i)) % 120) * 10 END,
       d,
       CASE WHEN p.batched AND i % 40 <> 0
            THEN upper(left(p.platform, 2)) || 'P-' || to_char(d + p.settle_lag_days, 'YYYYMMDD') END
FROM generate_series(1, 2400) i
CROSS JOIN LATERAL (SELECT date '2026-11-01' + (i % 30) AS d) dd
JOIN shop.platform_fees p
  ON p.platform = (ARRAY['tmall', 'tmall', 'jd', 'jd', 'douyin', 'own', 'own', 'overseas'])[1 + abs(hashint4(i * 7)) % 8];

-- A wholesale customer's invoice, paid in three instalments.
INSERT INTO shop.orders VALUES ('INV-2026-118', 'wholesale', 'order', 12000.00, '2026-11-03', NULL);

-- The ledger: what each order should bring in, net of the platform's fees.  Any view can be a
-- source; refunds go back in full.
CREATE VIEW shop.expected_receipts AS
SELECT o.order_no, o.platform, f.currency, o.kind,
       CASE WHEN o.kind = 'refund' THEN o.gross_amount
            ELSE round(o.gross_amount * (1 - f.fee_rate) - f.fixed_fee, 2) END AS net_amount,
       o.paid_on, o.payout_id
FROM shop.orders o JOIN shop.platform_fees f USING (platform);

-- The bank statement.
CREATE TABLE shop.bank_lines (
    line_id    text PRIMARY KEY,
    currency   text NOT NULL,
    value_date date NOT NULL,
    amount     numeric(12,2) NOT NULL,
    memo       text
);

-- Per-order platforms: one line per order, T+1/T+2, the platform's own rounding of the fee now
-- and then a cent away from ours; orders of the last days of the month have not arrived yet,
-- and a few orders are never paid.
INSERT INTO shop.bank_lines
SELECT 'BK' || lpad(row_number() OVER (ORDER BY e.order_no)::text, 5, '0'),
       e.currency, e.paid_on + f.settle_lag_days,
       e.net_amount + CASE WHEN abs(hashtext(e.order_no)) % 25 = 0 THEN 0.01 ELSE 0 END,
       CASE e.platform WHEN 'jd' THEN 'JD PAYMENT ' || e.order_no
                       WHEN 'own' THEN 'ALIPAY SETTLE ' || replace(e.order_no, '-', '')
                       ELSE 'CARD ACQ ' || lower(e.order_no) || ' NET' END
FROM shop.expected_receipts e JOIN shop.platform_fees f USING (platform)
WHERE NOT f.batched
  AND e.platform <> 'wholesale'
  AND e.paid_on + f.settle_lag_days <= date '2026-11-30'
  AND abs(hashtext(e.order_no)) % 97 <> 13;

-- Batched platforms: one line per payout batch, the sum of its orders, on the settlement day.
INSERT INTO shop.bank_lines
SELECT 'PO-' || e.payout_id, e.currency, max(e.paid_on) + 7, sum(e.net_amount),
       upper(e.platform) || ' SETTLEMENT ' || e.payout_id
FROM shop.expected_receipts e
WHERE e.payout_id IS NOT NULL
GROUP BY e.payout_id, e.platform, e.currency
HAVING max(e.paid_on) + 7 <= date '2026-11-30';

-- Refunds on batched platforms come back one by one, the next day.
INSERT INTO shop.bank_lines
SELECT 'RF-' || e.order_no, e.currency, e.paid_on + 1, e.net_amount,
       upper(e.platform) || ' REFUND ' || e.order_no
FROM shop.expected_receipts e JOIN shop.platform_fees f USING (platform)
WHERE f.batched AND e.kind = 'refund' AND e.paid_on + 1 <= date '2026-11-30';

-- What goes wrong in a real month:
-- two refunds come back with the wrong sign,
UPDATE shop.bank_lines SET amount = -amount
WHERE line_id IN (SELECT b.line_id FROM shop.bank_lines b
                  JOIN shop.expected_receipts e ON b.memo LIKE '%' || e.order_no
                  WHERE e.kind = 'refund' AND e.platform = 'jd' ORDER BY b.line_id LIMIT 2);
-- a payment arrives twice,
INSERT INTO shop.bank_lines
SELECT 'BK99001', currency, value_date, amount, memo FROM shop.bank_lines
WHERE memo LIKE 'ALIPAY%' ORDER BY line_id LIMIT 1 OFFSET 10;
-- two settlements arrive two weeks late (outside the 7-day window),
UPDATE shop.bank_lines SET value_date = value_date + 15
WHERE line_id IN (SELECT line_id FROM shop.bank_lines WHERE memo LIKE 'ALIPAY%'
                  AND value_date < date '2026-11-10' ORDER BY line_id LIMIT 2 OFFSET 20);
-- one order is paid 10.00 short (a partial chargeback),
UPDATE shop.bank_lines SET amount = amount - 10.00
WHERE line_id = (SELECT line_id FROM shop.bank_lines WHERE memo LIKE 'JD PAYMENT%' AND amount > 100
                 ORDER BY line_id LIMIT 1 OFFSET 30);
-- the bank charges fees nobody booked,
INSERT INTO shop.bank_lines VALUES
    ('BK99101', 'CNY', '2026-11-30', -15.00, 'BANK FEE NOV 2026'),
    ('BK99102', 'CNY', '2026-11-15',  -8.00, 'ACCOUNT MAINTENANCE FEE'),
    ('BK99103', 'USD', '2026-11-20', -25.00, 'SWIFT CHARGE');
-- and the wholesale invoice is paid in three instalments quoting it.
INSERT INTO shop.bank_lines VALUES
    ('BK99201', 'CNY', '2026-11-05', 4000.00, 'TRANSFER INV-2026-118 1/3 HUADONG TRADING'),
    ('BK99202', 'CNY', '2026-11-15', 4000.00, 'TRANSFER INV-2026-118 2/3 HUADONG TRADING'),
    ('BK99203', 'CNY', '2026-11-25', 4000.00, 'TRANSFER INV-2026-118 3/3 HUADONG TRADING');

-- The reconciliation: amounts may differ by a cent (fee rounding), the money may arrive up to
-- 7 days after the order, and on 30 November an order of the last 7 days is still in transit.
SELECT reconcile.create('demo', 'shop.expected_receipts', 'shop.bank_lines',
         reconcile.rule(abs_tol => 0.01, days_after => 7, as_of => '2026-11-30'),
         '{"ledger":    {"id": "order_no", "amount": "net_amount", "tx_date": "paid_on",
                         "ref": "order_no", "batch": "payout_id", "key": "currency"},
           "statement": {"id": "line_id", "tx_date": "value_date", "ref": "memo",
                         "key": "currency"}}') \g /dev/null

\echo
\echo '== Demo shop, November 2026'
SELECT (SELECT count(*) FROM shop.expected_receipts) AS ledger_rows,
       (SELECT count(*) FROM shop.bank_lines) AS bank_lines,
       (SELECT count(DISTINCT payout_id) FROM shop.orders) AS payout_batches;

\echo
\echo '== Summary by currency and category (demo_summary)'
SELECT key AS currency, category, rows, ledger_amount, statement_amount, amount_diff
FROM demo_summary ORDER BY key, category;

\echo
\echo '== The first 25 discrepancies (demo_discrepancies; in_transit last)'
SELECT category, ledger_id, statement_id, note
FROM demo_discrepancies
ORDER BY category = 'in_transit', category, ledger_id NULLS LAST, statement_id
LIMIT 25;

\echo
\echo '== One payout batch: many orders, one bank line (demo_matches, many_to_one)'
SELECT ledger_id, statement_id, ledger_amount, statement_amount, ledger_date, statement_date
FROM demo_matches
WHERE key = 'CNY' AND group_id = (SELECT min(group_id) FROM demo_matches
                                  WHERE key = 'CNY' AND category = 'many_to_one')
ORDER BY ledger_id;

\echo
\echo '== The instalments of the wholesale invoice (one_to_many)'
SELECT ledger_id, statement_id, ledger_amount, statement_amount, statement_date, note
FROM demo_matches WHERE ledger_id = 'INV-2026-118' ORDER BY statement_id;

-- Record the month: a run stores what it found, clears what matched and opens items.
SELECT reconcile.run('demo', '2026-11-30') AS run_id \gset
\echo
\echo '== The reconciliation statement of run' :run_id '(reconcile.proof)'
SELECT key AS currency, line, item, rows, amount FROM reconcile.proof(:run_id);

\echo
\echo '== Open items by age (reconcile.open_items)'
SELECT key AS currency, aging_bucket, category, count(*) AS items, sum(coalesce(ledger_amount, statement_amount)) AS amount
FROM reconcile.open_items WHERE name = 'demo'
GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

-- December: the platforms' own bills, a rule per platform, and what the discrepancies have in common
\ir platforms.sql

-- December's bank account with review before clearing, write-offs and adjustments
\ir review.sql

-- The month-end statement of December's bank account, to print and sign (reconcile.report):
-- written to demo/out/ (or to the directory in psql's variable report_dir)
\if :{?report_dir}
\else
\set report_dir demo/out
\endif
SELECT max(run_id) AS dec_last FROM reconcile.runs WHERE name = 'bank_dec' \gset
SET client_encoding = 'UTF8';
\setenv report_dir :report_dir
\! mkdir -p "$report_dir"
\pset format unaligned
\pset tuples_only on
\o :report_dir/bank_dec-statement.html
SELECT reconcile.report(:dec_last, 'html');
\o :report_dir/bank_dec-statement.md
SELECT reconcile.report(:dec_last, 'markdown');
\o :report_dir/bank_dec-statement.txt
SELECT reconcile.report(:dec_last, 'text');
\o
\pset tuples_only off
\pset format aligned
\echo
\echo '== The month-end statement of run' :dec_last '(reconcile.report): the text version'
\! cat "$report_dir/bank_dec-statement.txt"
\echo
\! echo "== The statement to print and sign: $(cd "$report_dir" && pwd)/bank_dec-statement.html (and .md, .txt)"
