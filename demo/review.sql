-- demo/review.sql (\ir from demo/demo.sql): December's bank account, reconciled with review before
-- clearing, write-offs and adjustments (SPEC 8).  A match the engine is not sure of waits for the
-- accountant: one is accepted, one rejected (and the next run finds the right counterpart), a
-- three-cent difference is written off by the run and approved by a second person, a bank charge
-- is booked to its account, and the approved adjustments are exported once for the journal.
\set ON_ERROR_STOP on

CREATE TABLE shop.dec_receipts (receipt_no text PRIMARY KEY, amount numeric(12,2) NOT NULL, due_on date NOT NULL,
                                customer text);
INSERT INTO shop.dec_receipts VALUES
    ('R-101', 1250.00, '2026-12-02', 'Lin Trading'),
    ('R-102',  480.00, '2026-12-03', 'Zhou & Sons'),
    ('R-103',  860.00, '2026-12-01', 'Gao Office Supply'),
    ('R-104',  299.00, '2026-12-04', 'Wang Mei'),
    ('R-105',  299.00, '2026-12-09', 'Chen Jie');
CREATE TABLE shop.dec_bank (line_id text PRIMARY KEY, amount numeric(12,2) NOT NULL, value_date date NOT NULL,
                            memo text);
INSERT INTO shop.dec_bank VALUES
    ('BK-1', 1250.00, '2026-12-02', 'PAYMENT R-101 LIN TRADING'),
    ('BK-2',  479.97, '2026-12-04', 'R-102 ZHOU AND SONS'),         -- three cents short
    ('BK-3',  860.00, '2026-12-06', 'TRANSFER GAO'),               -- five days late, no reference
    ('BK-4',  299.00, '2026-12-10', 'WANG MEI'),                   -- Wang's R-104, not Chen's R-105
    ('BK-5', 8000.00, '2026-12-08', 'INCOMING TRANSFER 44871'),    -- nobody booked it
    ('BK-6',  -12.50, '2026-12-31', 'ACCOUNT FEE DEC');            -- the bank's charge

SELECT reconcile.create('bank_dec', 'shop.dec_receipts', 'shop.dec_bank',
         reconcile.rule(abs_tol => 0.01, days_after => 7),
         '{"ledger":    {"id": "receipt_no", "tx_date": "due_on", "ref": "receipt_no"},
           "statement": {"id": "line_id", "tx_date": "value_date", "ref": "memo"}}') \g /dev/null
-- matches scoring below 0.9 wait for review; differences up to 0.05 are written off to 6990; a
-- run that opens an item of 5,000 or more notifies channel reconcile_alert
SELECT reconcile.configure('bank_dec', review_below => 0.9, writeoff_limit => 0.05,
                           writeoff_account => '6990 Rounding differences', alert_amount => 5000) \g /dev/null
-- a second person, who approves
CREATE ROLE demo_checker LOGIN PASSWORD 'demo-checker';
GRANT SELECT ON shop.dec_receipts, shop.dec_bank TO demo_checker;

\echo
\echo '== December''s bank account (reconcile.options)'
SELECT name, review_below, writeoff_limit, writeoff_account, alert_amount FROM reconcile.options WHERE name = 'bank_dec';

LISTEN reconcile_alert;
SELECT reconcile.run('bank_dec', '2026-12-31') AS dec_run1 \gset
\echo
\echo '== The first run: what waits for review, what was written off, what is open (reconcile.open_items)'
\echo '   (and the alert: BK-5 is 8,000.00 that nobody booked)'
SELECT item_id, ledger_id, statement_id, category, status, round(score::numeric, 2) AS score, resolution, reason
FROM reconcile.open_items WHERE name = 'bank_dec' ORDER BY status DESC, item_id;
UNLISTEN reconcile_alert;

\echo
\echo '== The accountant accepts Gao''s late payment, rejects Chen for Wang''s bank line, books the bank charge'
SELECT reconcile.accept((SELECT item_id FROM reconcile.items WHERE name = 'bank_dec' AND ledger_id = 'R-103'),
                        'Gao pays late every month') \g /dev/null
SELECT reconcile.reject((SELECT item_id FROM reconcile.items WHERE name = 'bank_dec' AND ledger_id = 'R-105'),
                        'the memo says Wang Mei: her R-104') \g /dev/null
SELECT reconcile.resolve((SELECT item_id FROM reconcile.items WHERE name = 'bank_dec' AND statement_id = 'BK-6'),
                         'bank charge', 'December account fee', account => '6600 Bank charges') \g /dev/null

SELECT reconcile.run('bank_dec', '2026-12-31') AS dec_run2 \gset
\echo
\echo '== The next run proposes Wang''s R-104 for BK-4, never Chen''s R-105 again; accepted'
SELECT item_id, ledger_id, statement_id, category, status, round(score::numeric, 2) AS score, reason
FROM reconcile.open_items WHERE name = 'bank_dec' AND status = 'suggested' ORDER BY item_id;
SELECT reconcile.accept((SELECT item_id FROM reconcile.items WHERE name = 'bank_dec' AND status = 'suggested'
                         AND ledger_id = 'R-104'), 'her memo') \g /dev/null

\echo
\echo '== The adjustments, pending until a second person approves (reconcile.adjustments)'
SELECT adjustment_id, account, amount, memo, status, resolved_by FROM reconcile.adjustments
WHERE name = 'bank_dec' ORDER BY adjustment_id;

-- the checker logs in (a second person: SET ROLE would not do) and approves both
\getenv demo_admin_pw PGPASSWORD
\setenv PGPASSWORD demo-checker
\c - demo_checker
SELECT reconcile.approve(i.item_id) FROM reconcile.items i
WHERE i.name = 'bank_dec' AND i.status = 'resolved' ORDER BY i.item_id \g /dev/null
\setenv PGPASSWORD :demo_admin_pw
\c - postgres

\echo
\echo '== Approved by demo_checker; exported once for the journal (reconcile.export_adjustments)'
SELECT adjustment_id, account, amount, memo, status, resolved_by, approved_by
FROM reconcile.export_adjustments('bank_dec') ORDER BY adjustment_id;
SELECT count(*) AS exported_again FROM reconcile.export_adjustments('bank_dec');

\echo
\echo '== The match rate of December''s runs (reconcile.match_rate)'
SELECT run_id, total_rows, auto_rows, reviewed_rows, manual_rows, written_off_rows, open_rows,
       auto_share, reviewed_share, written_off_share, open_share
FROM reconcile.match_rate WHERE name = 'bank_dec' ORDER BY run_id;
