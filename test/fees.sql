-- Fees (SPEC 7, 0.5.0): the canonical column fee on either side, and fee_difference: a pair whose
-- net amounts differ beyond tolerance but whose gross amounts (amount + fee) agree.  By reference
-- and by amount and date; a fee on one side only, NULL and NaN fees; the views, runs, items and
-- the proof, which still balances.
BEGIN;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT plan(21);

CREATE TABLE public.fe_l (id text, amount numeric(12,2), tx_date date, ref text, fee numeric(12,2));
CREATE TABLE public.fe_s (id text, amount numeric(12,2), tx_date date, memo text, charged numeric);
INSERT INTO public.fe_l VALUES
    ('L1', 99.40, '2026-11-01', 'ORDER-0001', 0.60),    -- 0.60 expected, 1.00 charged, by reference
    ('L2', 198.00, '2026-11-02', NULL, 2.00),           -- by amount and date: 2.00 expected, 2.50 charged
    ('L3', 49.70, '2026-11-03', 'ORDER-0003', 0.30),    -- the bank line has no fee
    ('L4', 80.00, '2026-11-03', 'ORDER-0004', NULL),    -- the ledger has none
    ('L5', 70.00, '2026-11-04', 'ORDER-0005', 0.70),    -- the same fee both sides: matched
    ('L6', 60.00, '2026-11-04', 'ORDER-0006', 1.00),    -- gross beyond tolerance
    ('L7', 55.00, '2026-11-05', 'ORDER-0007', 0.50);    -- a NaN fee charged
INSERT INTO public.fe_s VALUES
    ('S1', 99.00, '2026-11-02', 'PAY ORDER-0001', 1.00),
    ('S2', 197.50, '2026-11-03', NULL, 2.50),
    ('S3', 49.50, '2026-11-04', 'PAY ORDER-0003', NULL),
    ('S4', 79.00, '2026-11-04', 'PAY ORDER-0004', 1.00),
    ('S5', 70.00, '2026-11-05', 'PAY ORDER-0005', 0.70),
    ('S6', 50.00, '2026-11-05', 'PAY ORDER-0006', 2.00),
    ('S7', 54.00, '2026-11-06', 'PAY ORDER-0007', 'NaN');
SELECT reconcile.create('fe', 'public.fe_l', 'public.fe_s', reconcile.rule(abs_tol => 0.01),
                        '{"ledger": {"fee": "fee"}, "statement": {"ref": "memo", "fee": "charged"}}') \g /dev/null

CREATE FUNCTION pg_temp.cat(l text) RETURNS text LANGUAGE sql AS
$$ SELECT category::text FROM public.fe_matches WHERE ledger_id = l $$;

SELECT is(pg_temp.cat('L1'), 'fee_difference', 'by reference: net 0.40 apart, gross equal: fee_difference');
SELECT is((SELECT note FROM public.fe_matches WHERE ledger_id = 'L1'),
          'fee 1.00 charged, 0.60 expected, 0.40 more, 1 day later, same reference',
          'its note names the fee charged, the fee expected and the difference');
SELECT is((SELECT amount_diff FROM public.fe_matches WHERE ledger_id = 'L1'), -0.40,
          'amount_diff stays net statement minus net ledger');
SELECT is((SELECT statement_id FROM public.fe_matches WHERE ledger_id = 'L2'), 'S2',
          'without a reference, the pair in the window whose gross agrees');
SELECT is(pg_temp.cat('L2'), 'fee_difference', 'is fee_difference too');
SELECT is((SELECT note FROM public.fe_matches WHERE ledger_id = 'L2'), 'fee 2.50 charged, 2.00 expected, 0.50 more, 1 day later',
          'with its note');
SELECT is(pg_temp.cat('L3'), 'amount_mismatch', 'a fee on the ledger only: no fee_difference');
SELECT is(pg_temp.cat('L4'), 'amount_mismatch', 'a fee on the statement only: no fee_difference');
SELECT is(pg_temp.cat('L5'), 'matched', 'the same fee and net amount: matched');
SELECT is(pg_temp.cat('L6'), 'amount_mismatch', 'gross amounts beyond tolerance: amount_mismatch');
SELECT is(pg_temp.cat('L7'), 'amount_mismatch', 'a NaN fee counts as none, and stops nothing');
SELECT is((SELECT array_position(enum_range(NULL::reconcile.category), 'fee_difference')
                  - array_position(enum_range(NULL::reconcile.category), 'amount_mismatch')), 1,
          'fee_difference comes right after amount_mismatch');
SELECT is((SELECT count(*) FROM public.fe_discrepancies WHERE category = 'fee_difference'), 2::bigint,
          'it is a discrepancy');

-- a run stores it, opens items, clears nothing of it, and its proof balances
SELECT reconcile.run('fe', '2026-11-30') AS r \gset
SELECT is((SELECT count(*) FROM reconcile.items WHERE name = 'fe' AND category = 'fee_difference' AND status = 'open'),
          2::bigint, 'a run opens an item for each fee_difference');
SELECT is((SELECT count(*) FROM reconcile.cleared WHERE name = 'fe' AND id IN ('L1', 'S1', 'L2', 'S2')), 0::bigint,
          'and clears none of their rows');
SELECT is((SELECT amount FROM reconcile.proof(:r) WHERE item = 'fee_difference'), -0.90,
          'the proof has a line for it: the net differences');
SELECT is((SELECT sum(amount) FILTER (WHERE item <> 'statement total') FROM reconcile.proof(:r)),
          (SELECT amount FROM reconcile.proof(:r) WHERE item = 'statement total'),
          'and the ledger total plus the contributions is the statement total');

-- the fee only when mapped
SELECT reconcile.create('fe_nofee', 'public.fe_l', 'public.fe_s', reconcile.rule(abs_tol => 0.01),
                        '{"statement": {"ref": "memo"}}') \g /dev/null
SELECT is((SELECT count(*) FROM public.fe_nofee_matches WHERE category = 'fee_difference'), 0::bigint,
          'a column called fee is not a fee unless mapped');
SELECT throws_ok($$SELECT reconcile.create('fe_bad', 'public.fe_l', 'public.fe_s', reconcile.rule(),
                                           '{"statement": {"fee": "nope"}}')$$, '42703', NULL,
                 'a mapped fee column that does not exist: 42703');

-- fee_rate names the rates from the fee columns, and the fix
CREATE TABLE public.fr_l (id text, amount numeric(12,2), tx_date date, ref text, fee numeric(12,2));
CREATE TABLE public.fr_s (id text, amount numeric(12,2), tx_date date, ref text, fee numeric(12,2));
INSERT INTO public.fr_l SELECT 'O' || i, 100 * i - i, '2026-12-01'::date + i, 'ORDER-' || (1000 + i), i FROM generate_series(1, 6) i;
INSERT INTO public.fr_s SELECT 'B' || i, 100 * i - 1.4 * i, '2026-12-02'::date + i, 'ORDER-' || (1000 + i), 1.4 * i FROM generate_series(1, 6) i;
SELECT reconcile.create('fr', 'public.fr_l', 'public.fr_s', reconcile.rule(abs_tol => 0.01),
                        '{"ledger": {"fee": "fee"}, "statement": {"fee": "fee"}}') \g /dev/null
SELECT is((SELECT evidence FROM reconcile.patterns('fr') WHERE pattern = 'fee_rate'),
          '(no key): 6 of 6 pairs are 0.40% below the ledger: the platform charges 1.40%, the fee schedule says 1.00%',
          'patterns: fee_rate gives the rate charged and the rate expected');
SELECT is((SELECT suggestion FROM reconcile.patterns('fr') WHERE pattern = 'fee_rate'),
          'put 1.40% in the fee schedule from 2026-12-02 (the first order that differs), and the next run matches them',
          'and the fee to put in the schedule');

SELECT * FROM finish();
ROLLBACK;
