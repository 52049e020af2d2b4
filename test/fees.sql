-- Fees (SPEC 7, 0.5.0): the canonical column fee on either side, and fee_difference: a pair whose
-- net amounts differ beyond tolerance but whose gross amounts (amount + fee) agree.  By reference
-- and by amount and date; a fee on one side only, NULL and NaN fees; the views, runs, items and
-- the proof, which still balances; fees within payout batches (0.5.1).
BEGIN;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT plan(34);

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

-- fees within payout batches (0.5.1): six payouts of three orders each, the orders booked at the
-- 1.00% of the fee schedule, the platform's payouts charging 1.40%: gross with gross, each payout
-- is a fee_difference group, its one row once
CREATE TABLE public.fb_l (id text, amount numeric(12,2), tx_date date, batch text, fee numeric(12,2));
CREATE TABLE public.fb_s (id text, amount numeric(12,2), tx_date date, fee numeric(12,2));
INSERT INTO public.fb_l
SELECT 'O' || p || '-' || k, g - round(g * 0.01, 2), '2026-12-01'::date + p, 'PAYOUT-' || p, round(g * 0.01, 2)
FROM generate_series(1, 6) p, generate_series(1, 3) k, LATERAL (SELECT (100 * k + p)::numeric AS g) x;
INSERT INTO public.fb_s
SELECT 'PAYOUT-' || p, sum(g) - sum(round(g * 0.014, 2)), '2026-12-02'::date + p, sum(round(g * 0.014, 2))
FROM generate_series(1, 6) p, generate_series(1, 3) k, LATERAL (SELECT (100 * k + p)::numeric AS g) x
GROUP BY p;
SELECT reconcile.create('fb', 'public.fb_l', 'public.fb_s', reconcile.rule(abs_tol => 0.01),
                        '{"ledger": {"fee": "fee"}, "statement": {"fee": "fee"}}') \g /dev/null
SELECT is((SELECT count(*) FILTER (WHERE category = 'fee_difference') FROM public.fb_matches), 18::bigint,
          'batches: every order of a payout whose gross agrees and net does not is fee_difference');
SELECT is((SELECT count(DISTINCT (group_id, statement_id)) FILTER (WHERE statement_id IS NOT NULL)
                  || '/' || count(*) FILTER (WHERE statement_id IS NOT NULL) || '/' || count(DISTINCT group_id)
           FROM public.fb_matches), '6/6/6',
          'batches: one group a payout, its payout row on one result only');
SELECT is((SELECT note FROM public.fb_matches WHERE ledger_id = 'O1-1'),
          '3 ledger rows of batch PAYOUT-1 as one statement row: fees 8.43 charged, 6.03 expected, 2.40 more, 1 day later; 3 of the 3 differ from their share at the rate charged',
          'batches: the first order''s note gives the fees charged and expected, and how many differ');
SELECT is((SELECT note FROM public.fb_matches WHERE ledger_id = 'O1-2'),
          'ledger row of batch PAYOUT-1, with statement row PAYOUT-1: fee 2.01 expected, 2.81 at the rate charged',
          'batches: each other order''s note gives its fee and its share at the rate charged');
SELECT is((SELECT amount_diff FROM public.fb_matches WHERE ledger_id = 'O1-1'), -2.40,
          'batches: the whole net difference on the first order, statement minus ledger');
SELECT is((SELECT rows || ' ' || statement_amount || ' ' || amount_diff FROM public.fb_summary WHERE category = 'fee_difference'),
          (SELECT 18 || ' ' || (SELECT sum(amount) FROM public.fb_s) || ' ' || ((SELECT sum(amount) FROM public.fb_s) - (SELECT sum(amount) FROM public.fb_l))),
          'batches: the summary counts each payout once');
SELECT reconcile.run('fb', '2026-12-31') AS rb \gset
SELECT is((SELECT count(*) FROM reconcile.items WHERE name = 'fb' AND category = 'fee_difference' AND status = 'open'),
          18::bigint, 'batches: a run opens an item for each row of them and clears none');
SELECT is((SELECT amount FROM reconcile.proof(:rb) WHERE item = 'fee_difference'),
          (SELECT sum(amount) FROM public.fb_s) - (SELECT sum(amount) FROM public.fb_l),
          'batches: the proof''s line is the payouts minus the orders, each once');
SELECT is((SELECT sum(amount) FILTER (WHERE item <> 'statement total') FROM reconcile.proof(:rb)),
          (SELECT amount FROM reconcile.proof(:rb) WHERE item = 'statement total'), 'batches: and the proof balances');
SELECT is((SELECT rows || ': ' || evidence FROM reconcile.patterns('fb') WHERE pattern = 'fee_rate'),
          '6: (no key): 6 of 6 pairs are 0.40% below the ledger: the platform charges 1.40%, the fee schedule says 1.00%',
          'batches: patterns counts each payout as one pair of its sums, with the rates of its fees');
-- the schedule corrected: the same payouts are many_to_one and their items clear
UPDATE public.fb_l SET fee = round((amount + fee) * 0.014, 2), amount = amount + fee - round((amount + fee) * 0.014, 2);
SELECT reconcile.run('fb', '2026-12-31') AS rb \gset
SELECT is((SELECT counts FROM reconcile.runs WHERE run_id = :rb), '{"many_to_one": 18}'::jsonb,
          'batches: with the fees the platform charges the payouts match');
SELECT is((SELECT count(*) FROM reconcile.items WHERE name = 'fb' AND status = 'cleared'), 18::bigint,
          'batches: and their items are cleared');
-- a member without a fee, or a payout without one: no gross to compare
CREATE TABLE public.fc_l (id text, amount numeric(12,2), tx_date date, batch text, fee numeric(12,2));
CREATE TABLE public.fc_s (id text, amount numeric(12,2), tx_date date, fee numeric(12,2));
INSERT INTO public.fc_l VALUES ('C1', 99.00, '2026-12-01', 'P-1', 1.00), ('C2', 99.00, '2026-12-01', 'P-1', NULL),
                               ('D1', 49.50, '2026-12-01', 'P-2', 0.50), ('D2', 49.50, '2026-12-01', 'P-2', 0.50);
INSERT INTO public.fc_s VALUES ('P-1', 197.20, '2026-12-02', 2.80), ('P-2', 98.60, '2026-12-02', NULL);
SELECT reconcile.create('fc', 'public.fc_l', 'public.fc_s', reconcile.rule(abs_tol => 0.01),
                        '{"ledger": {"fee": "fee"}, "statement": {"fee": "fee"}}') \g /dev/null
SELECT is((SELECT string_agg(DISTINCT category::text, ',') FROM public.fc_matches), 'missing_in_ledger,missing_in_statement',
          'batches: a member without a fee, or a payout without one, makes no fee_difference (documented)');

SELECT * FROM finish();
ROLLBACK;
