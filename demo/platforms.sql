-- demo/platforms.sql (\ir from demo/demo.sql): December, the platforms' own bills, each platform
-- its own key.  Two things change that nobody told the accountant: Douyin raises its fee from
-- 1.00% to 1.40% on 16 December, and JD, whose rule says T+1, settles T+3.  The discrepancies
-- show it, reconcile.patterns names both causes with the fix, and after the fee schedule is
-- corrected and JD's rule set, the next run finds nothing left of either.  Douyin's daily payouts,
-- compared gross with gross, show which fees differ, and match once the schedule is corrected.
\set ON_ERROR_STOP on

-- the fee schedule, dated: the ledger computes each order's expected net from the rate in force
CREATE TABLE shop.fee_schedule (
    platform   text NOT NULL,
    valid_from date NOT NULL,
    fee_rate   numeric NOT NULL,
    PRIMARY KEY (platform, valid_from)
);
INSERT INTO shop.fee_schedule VALUES ('douyin', '2026-01-01', 0.0100), ('jd', '2026-01-01', 0.0080),
                                     ('tmall', '2026-01-01', 0.0060);

-- December's orders, 20 a day on three platforms
CREATE TABLE shop.dec_orders (order_no text PRIMARY KEY, platform text NOT NULL, gross numeric(12,2) NOT NULL,
                              paid_on date NOT NULL);
INSERT INTO shop.dec_orders
SELECT upper(left(p, 2)) || '-DEC-' || lpad(i::text, 4, '0'), p, 39.00 + (abs(hashint4(i)) % 60) * 5,
       date '2026-12-01' + (i % 28)
FROM generate_series(1, 600) i
CROSS JOIN LATERAL (SELECT (ARRAY['douyin', 'jd', 'tmall'])[1 + i % 3] AS p) x;

-- the ledger: the fee expected by the schedule, and the net amount after it
CREATE VIEW shop.dec_expected AS
SELECT x.order_no, x.platform, x.paid_on, x.gross - x.fee AS net_amount, x.fee
FROM (SELECT o.order_no, o.platform, o.paid_on, o.gross,
             round(o.gross * (SELECT f.fee_rate FROM shop.fee_schedule f
                              WHERE f.platform = o.platform AND f.valid_from <= o.paid_on
                              ORDER BY f.valid_from DESC LIMIT 1), 2) AS fee
      FROM shop.dec_orders o) x;

-- the platforms' bills, a line per order: what they really did
CREATE TABLE shop.platform_bills (bill_line text PRIMARY KEY, platform text NOT NULL, order_ref text,
                                  amount numeric(12,2) NOT NULL, service_fee numeric(12,2) NOT NULL,
                                  settled_on date NOT NULL);
INSERT INTO shop.platform_bills
SELECT 'BL-' || o.order_no, o.platform, o.order_no, o.gross - c.fee, c.fee,
       o.paid_on + CASE o.platform WHEN 'jd' THEN 3 WHEN 'douyin' THEN 7 ELSE 7 END
FROM shop.dec_orders o
CROSS JOIN LATERAL (SELECT round(o.gross * CASE WHEN o.platform = 'douyin' AND o.paid_on >= '2026-12-16' THEN 0.0140
                                                WHEN o.platform = 'douyin' THEN 0.0100
                                                WHEN o.platform = 'jd' THEN 0.0080 ELSE 0.0060 END, 2) AS fee) c;

SELECT reconcile.create('bills', 'shop.dec_expected', 'shop.platform_bills',
         reconcile.rule(abs_tol => 0.01, days_after => 7),
         '{"ledger":    {"id": "order_no", "amount": "net_amount", "tx_date": "paid_on", "ref": "order_no", "key": "platform",
                         "fee": "fee"},
           "statement": {"id": "bill_line", "tx_date": "settled_on", "ref": "order_ref", "key": "platform",
                         "fee": "service_fee"}}') \g /dev/null
-- JD is known to pay T+1, and its rule says so
SELECT reconcile.set_rule('bills', 'jd', reconcile.rule(abs_tol => 0.01, days_after => 1)) \g /dev/null

\echo
\echo '== December, per platform (bills_summary): Douyin and JD are off'
SELECT key AS platform, category, rows, amount_diff FROM bills_summary ORDER BY key, category;

\echo
\echo '== Douyin''s fee differences (fee_difference: the net amounts differ, the gross agree)'
SELECT ledger_id, statement_id, ledger_amount, statement_amount, amount_diff, note
FROM bills_discrepancies WHERE key = 'douyin' ORDER BY ledger_id LIMIT 5;

-- Douyin's payouts: each day's orders paid as one payout seven days later, with the fees the
-- payout deducted in total (what Douyin's settlement report says).  The ledger's orders carry the
-- fee the schedule expects; from 16 December the payouts deduct more.
CREATE VIEW shop.dec_douyin_orders AS
SELECT e.order_no, e.net_amount, e.fee, e.paid_on, 'DY-' || to_char(e.paid_on, 'YYYYMMDD') AS payout
FROM shop.dec_expected e WHERE e.platform = 'douyin';
CREATE TABLE shop.douyin_payouts (payout text PRIMARY KEY, paid_out numeric(12,2) NOT NULL,
                                  service_fee numeric(12,2) NOT NULL, paid_on date NOT NULL);
INSERT INTO shop.douyin_payouts
SELECT 'DY-' || to_char(b.settled_on - 7, 'YYYYMMDD'), sum(b.amount), sum(b.service_fee), b.settled_on
FROM shop.platform_bills b WHERE b.platform = 'douyin' GROUP BY b.settled_on;
SELECT reconcile.create('payouts', 'shop.dec_douyin_orders', 'shop.douyin_payouts',
         reconcile.rule(abs_tol => 0.01, days_after => 7),
         '{"ledger":    {"id": "order_no", "amount": "net_amount", "tx_date": "paid_on", "batch": "payout", "fee": "fee"},
           "statement": {"id": "payout", "amount": "paid_out", "tx_date": "paid_on", "ref": "payout", "fee": "service_fee"}}') \g /dev/null

\echo
\echo '== Douyin''s payouts (payouts_summary): the ones from 16 December deduct more than the schedule says'
SELECT category, rows, statement_amount, amount_diff FROM payouts_summary ORDER BY category;
\echo '   one of them, gross with gross: which fees differ (payouts_discrepancies)'
SELECT ledger_id, statement_id, amount_diff, note FROM payouts_discrepancies
WHERE group_id = (SELECT group_id FROM payouts_discrepancies WHERE statement_id = 'DY-20261216')
ORDER BY statement_id NULLS LAST, ledger_id LIMIT 3;

\echo
\echo '== What the discrepancies have in common (reconcile.patterns)'
\x on
SELECT key AS platform, pattern, rows, amount, evidence, suggestion FROM reconcile.patterns('bills');
\x off

\echo
\echo '== The likeliest counterparts of one of Douyin''s orders (reconcile.candidates)'
SELECT rank, counterpart_id, amount, tx_date, score, reason
FROM reconcile.candidates('bills', (SELECT min(ledger_id) FROM bills_discrepancies WHERE key = 'douyin'), n => 3);

\echo
\echo '== The fixes: Douyin''s new rate in the fee schedule from 16 December, JD''s rule as suggested'
INSERT INTO shop.fee_schedule VALUES ('douyin', '2026-12-16', 0.0140);
SELECT reconcile.set_rule('bills', 'jd', reconcile.rule(abs_tol => 0.01, days_after => 3)) \g /dev/null
SELECT name, key AS platform, rule FROM reconcile.rules WHERE name = 'bills' ORDER BY key;

SELECT reconcile.run('bills', '2026-12-31') AS bills_run \gset
\echo
\echo '== The next run (run_summary): nothing left of either'
SELECT key AS platform, category, rows, amount_diff FROM reconcile.run_summary WHERE run_id = :bills_run ORDER BY key, category;
SELECT count(*) AS discrepancies_left FROM bills_discrepancies;

SELECT reconcile.run('payouts', '2026-12-31') AS payouts_run \gset
\echo
\echo '== Douyin''s payouts once the schedule is corrected (run_summary): every payout matches its orders'
SELECT category, rows, statement_amount, amount_diff FROM reconcile.run_summary WHERE run_id = :payouts_run ORDER BY category;
