-- One scenario per category, each its own group (key), with the exact pairs expected.
\set VERBOSITY terse
CREATE TEMP TABLE rows (scenario text, is_ledger boolean, id text, amount numeric,
                        tx_date date, ref text, batch text);
INSERT INTO rows VALUES
  -- pass 1: same reference, within tolerance and window
  ('01 matched by ref',      true,  'L1', 100.00, '2026-11-01', 'ORD-1001', NULL),
  ('01 matched by ref',      false, 'S1', 100.00, '2026-11-02', 'TMALL SETTLEMENT ORD1001', NULL),
  ('01 matched by ref',      false, 'S0', 100.00, '2026-11-01', NULL, NULL),
  -- pass 2: amount and date only; a cent off is within tolerance
  ('02 matched by amount',   true,  'L1', 20.00, '2026-11-01', NULL, NULL),
  ('02 matched by amount',   false, 'S1', 20.00, '2026-11-04', NULL, NULL),
  ('03 within tolerance',    true,  'L1', 59.90, '2026-11-01', NULL, NULL),
  ('03 within tolerance',    false, 'S1', 59.91, '2026-11-02', NULL, NULL),
  -- pass 2: a maximum matching among equal amounts (nearest-date greedy pairs only L2-S1)
  ('04 maximum matching',    true,  'L1', 99.00, '2026-11-01', NULL, NULL),
  ('04 maximum matching',    true,  'L2', 99.00, '2026-11-04', NULL, NULL),
  ('04 maximum matching',    false, 'S1', 99.00, '2026-11-04', NULL, NULL),
  ('04 maximum matching',    false, 'S2', 99.00, '2026-11-07', NULL, NULL),
  -- pass 2 ties: smaller amount difference, then nearer date, then smaller id
  ('05 tie amount',          true,  'L1', 50.00, '2026-11-01', NULL, NULL),
  ('05 tie amount',          false, 'S1', 50.01, '2026-11-01', NULL, NULL),
  ('05 tie amount',          false, 'S2', 50.00, '2026-11-01', NULL, NULL),
  ('06 tie date',            true,  'L1', 70.00, '2026-11-01', NULL, NULL),
  ('06 tie date',            false, 'S1', 70.00, '2026-11-03', NULL, NULL),
  ('06 tie date',            false, 'S2', 70.00, '2026-11-02', NULL, NULL),
  ('07 tie id',              true,  'L1', 80.00, '2026-11-01', NULL, NULL),
  ('07 tie id',              false, 'Sb', 80.00, '2026-11-02', NULL, NULL),
  ('07 tie id',              false, 'Sa', 80.00, '2026-11-02', NULL, NULL),
  -- pass 3: payout batch (many_to_one), split settlement (one_to_many)
  ('08 payout batch',        true,  'L1', 30.00, '2026-11-01', NULL, 'P-77'),
  ('08 payout batch',        true,  'L2', 45.00, '2026-11-02', NULL, 'P-77'),
  ('08 payout batch',        true,  'L3', 25.00, '2026-11-03', NULL, 'P-77'),
  ('08 payout batch',        false, 'S1', 100.00, '2026-11-05', 'PAYOUT', NULL),
  ('09 split settlement',    true,  'L1', 300.00, '2026-11-01', NULL, NULL),
  ('09 split settlement',    false, 'S1', 100.00, '2026-11-02', NULL, 'SPLIT-9'),
  ('09 split settlement',    false, 'S2', 200.00, '2026-11-03', NULL, 'SPLIT-9'),
  -- pass 3 by reference: instalments of one invoice, one payment for two invoices
  ('10 instalments',         true,  'L1', 300.00, '2026-11-01', 'INV-900', NULL),
  ('10 instalments',         false, 'S1', 100.00, '2026-11-03', 'INV-900 1/3', NULL),
  ('10 instalments',         false, 'S2', 100.00, '2026-11-10', 'INV-900 2/3', NULL),
  ('10 instalments',         false, 'S3', 100.00, '2026-11-20', 'INV-900 3/3', NULL),
  ('11 combined payment',    true,  'L1', 40.00, '2026-11-01', 'INV-501', NULL),
  ('11 combined payment',    true,  'L2', 60.00, '2026-11-01', 'INV-502', NULL),
  ('11 combined payment',    false, 'S1', 100.00, '2026-11-02', 'PAYMENT INV-501 INV-502', NULL),
  -- pass 4: reference only
  ('12 timing',              true,  'L1', 500.00, '2026-11-01', 'ORD-7777', NULL),
  ('12 timing',              false, 'S1', 500.00, '2026-11-20', 'ORD-7777', NULL),
  ('13 amount mismatch',     true,  'L1', 80.00, '2026-11-01', 'ABCD-1', NULL),
  ('13 amount mismatch',     false, 'S1', 85.00, '2026-11-01', 'ABCD-1', NULL),
  ('14 reversal by ref',     true,  'L1', -25.00, '2026-11-01', 'RF-77', NULL),
  ('14 reversal by ref',     false, 'S1', 25.00, '2026-11-20', 'refund RF-77', NULL),
  -- pass 5: opposite amount within the window
  ('15 reversal by window',  true,  'L1', -30.00, '2026-11-01', NULL, NULL),
  ('15 reversal by window',  false, 'S1', 30.00, '2026-11-02', NULL, NULL),
  -- pass 6: double booking and duplicated payment
  ('16 double booking',      true,  'L1', 45.00, '2026-11-01', 'X-1001', NULL),
  ('16 double booking',      true,  'L2', 45.00, '2026-11-01', 'x 1001', NULL),
  ('16 double booking',      false, 'S1', 45.00, '2026-11-01', 'X-1001', NULL),
  ('17 duplicated payment',  true,  'L1', 120.00, '2026-11-01', 'ORD-2002', NULL),
  ('17 duplicated payment',  false, 'S1', 120.00, '2026-11-02', 'pay ORD-2002', NULL),
  ('17 duplicated payment',  false, 'S2', 120.00, '2026-11-02', 'pay ORD-2002', NULL),
  -- pass 7: in transit (as_of 2026-11-30, window 3 days), missing on either side
  ('18 in transit',          true,  'L1', 70.00, '2026-11-28', NULL, NULL),
  ('18 in transit',          true,  'L2', 71.00, '2026-11-27', NULL, NULL),
  ('19 missing',             true,  'L1', 88.00, '2026-11-01', NULL, NULL),
  ('19 missing',             false, 'S1', -4.50, '2026-11-05', 'BANK FEE NOV', NULL),
  -- pass 0: invalid rows are never matched
  ('20 invalid',             true,  'L1', NULL, '2026-11-01', NULL, NULL),
  ('20 invalid',             true,  'L2', 'NaN', '2026-11-01', NULL, NULL),
  ('20 invalid',             false, 'S1', 10.00, NULL, NULL, NULL),
  ('20 invalid',             false, 'S2', 'Infinity', '2026-11-01', NULL, NULL),
  ('20 invalid',             false, 'S3', 10.00, 'infinity', NULL, NULL);

CREATE TEMP VIEW results AS
SELECT g.scenario, m.*
FROM (SELECT scenario,
             reconcile.match_agg(is_ledger, id, amount, tx_date, ref, batch,
                                 reconcile.rule(abs_tol => 0.01, days_after => 3,
                                                as_of => '2026-11-30')) AS ms
      FROM rows GROUP BY scenario) g
CROSS JOIN LATERAL unnest(g.ms) m;

SELECT scenario, ledger_id, statement_id, category, amount_diff, days_diff,
       round(score::numeric, 3) AS score, group_id, note
FROM results
ORDER BY scenario, category, ledger_id, statement_id;

-- every ledger id once; every statement id once, but the single side of a group
SELECT scenario, id, is_ledger, count(*) AS times
FROM (SELECT scenario, ledger_id AS id, true AS is_ledger FROM results WHERE ledger_id IS NOT NULL
      UNION ALL
      SELECT scenario, statement_id, false FROM results WHERE statement_id IS NOT NULL) x
GROUP BY scenario, id, is_ledger
HAVING count(*) > 1
ORDER BY scenario, id;

-- the same with use_ref => false: reference passes are off
SELECT m.ledger_id, m.statement_id, m.category
FROM unnest((SELECT reconcile.match_agg(is_ledger, id, amount, tx_date, ref, batch,
                                        reconcile.rule(abs_tol => 0.01, use_ref => false))
             FROM rows WHERE scenario = '12 timing')) m
ORDER BY 1, 2;
