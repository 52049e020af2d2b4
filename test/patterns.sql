-- reconcile.patterns and reconcile.candidates (SPEC 7, 0.5.0): each pattern present, and absent
-- under its threshold; the suggestion of settlement_lag, applied, clears what it says; candidates
-- ranked with their reasons; errors; the caller's rights.
BEGIN;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT plan(30);

CREATE ROLE rc_pt_outsider;
CREATE ROLE rc_pt_narrow;
GRANT USAGE ON SCHEMA public TO rc_pt_outsider, rc_pt_narrow;

CREATE TABLE public.pt_l (id text, key text, amount numeric(12,2), tx_date date, ref text);
CREATE TABLE public.pt_s (id text, key text, amount numeric(12,2), tx_date date, ref text);
-- DY: 8 pairs by reference, the statement 0.40% short (a fee nobody booked), 1 of them 2% short
INSERT INTO public.pt_l SELECT 'DY' || i, 'DY', 100 * i, date '2026-11-01' + i, 'DYORDER' || i FROM generate_series(1, 9) i;
INSERT INTO public.pt_s SELECT 'SDY' || i, 'DY', CASE WHEN i = 9 THEN 100 * i * 0.98 ELSE 100 * i * 0.996 END,
                               date '2026-11-02' + i, 'PAY DYORDER' || i FROM generate_series(1, 9) i;
-- JD: 7 pairs by reference paid 4 or 5 days later, outside 3 days
INSERT INTO public.pt_l SELECT 'JD' || i, 'JD', 10 * i, date '2026-11-01' + i, 'JDORDER' || i FROM generate_series(1, 7) i;
INSERT INTO public.pt_s SELECT 'SJD' || i, 'JD', 10 * i, date '2026-11-01' + i + 4 + i % 2, 'JDORDER' || i FROM generate_series(1, 7) i;
-- BK: a bank charge every month nobody booked, and one line of something else
INSERT INTO public.pt_s SELECT 'FEE' || i, 'BK', 15.00, date '2026-01-01' + 30 * i, 'SERVICE FEE' FROM generate_series(1, 6) i;
INSERT INTO public.pt_s VALUES ('ODD', 'BK', 1234.56, '2026-11-11', 'WIRE');
-- TM: 6 refunds booked with the wrong sign; WX: 1 only
INSERT INTO public.pt_l SELECT 'TM' || i, 'TM', 50 + i, date '2026-11-01', NULL FROM generate_series(1, 6) i;
INSERT INTO public.pt_s SELECT 'STM' || i, 'TM', -(50 + i), date '2026-11-02', NULL FROM generate_series(1, 6) i;
INSERT INTO public.pt_l VALUES ('WX1', 'WX', 70, '2026-11-01', NULL);
INSERT INTO public.pt_s VALUES ('SWX1', 'WX', -70, '2026-11-01', NULL);
-- AL: 4 pairs 0.6% short only (under 5 rows), 4 timing differences only
INSERT INTO public.pt_l SELECT 'AL' || i, 'AL', 100 * i, date '2026-11-01', 'ALORDER' || i FROM generate_series(1, 4) i;
INSERT INTO public.pt_s SELECT 'SAL' || i, 'AL', 100 * i * 0.994, date '2026-11-01', 'ALORDER' || i FROM generate_series(1, 4) i;
INSERT INTO public.pt_l SELECT 'ALT' || i, 'AL', 7 * i, date '2026-11-01', 'ALLATE' || i FROM generate_series(1, 4) i;
INSERT INTO public.pt_s SELECT 'SALT' || i, 'AL', 7 * i, date '2026-11-09', 'ALLATE' || i FROM generate_series(1, 4) i;
-- SH: duplicates: 6 rows paid twice on one day
INSERT INTO public.pt_l SELECT 'SH' || i, 'SH', 20 + i, date '2026-11-05', 'SHORDER' || i FROM generate_series(1, 6) i;
INSERT INTO public.pt_s SELECT 'SSH' || i || x, 'SH', 20 + i, date '2026-11-05', 'SHORDER' || i
FROM generate_series(1, 6) i, (VALUES ('a'), ('b')) v(x);
GRANT SELECT ON public.pt_l, public.pt_s TO rc_pt_narrow;
ALTER TABLE public.pt_s ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_dy ON public.pt_s FOR SELECT TO rc_pt_narrow USING (key = 'DY');
SELECT reconcile.create('pt', 'public.pt_l', 'public.pt_s', reconcile.rule(abs_tol => 0.01)) \g /dev/null
GRANT SELECT ON public.pt_matches, public.pt_discrepancies TO PUBLIC;

CREATE TEMP TABLE pat AS SELECT * FROM reconcile.patterns('pt');
SELECT results_eq($$SELECT key, pattern, rows FROM pat ORDER BY key, pattern$$,
                  $$VALUES ('BK'::text, 'recurring_unbooked'::text, 6::bigint), ('DY', 'fee_rate', 8),
                           ('JD', 'settlement_lag', 7), ('SH', 'duplicates', 6), ('TM', 'sign_flip', 6)$$,
                  'the five patterns, each on its key, in key and pattern order; none on AL or WX (under 5 rows)');
SELECT is((SELECT evidence FROM pat WHERE pattern = 'fee_rate'), 'DY: 8 of 9 pairs are 0.40% below the ledger',
          'fee_rate: the rate and the share of pairs');
SELECT is((SELECT amount FROM pat WHERE pattern = 'fee_rate'), -14.40, 'fee_rate: the amount the fee took');
SELECT matches((SELECT suggestion FROM pat WHERE pattern = 'fee_rate'),
               'fee of 0.40% .* reconcile\.set_rule\(''pt'', ''DY'', reconcile\.rule\(abs_tol => 0\.01, rel_tol => 0\.0045, days_after => 3\)\)',
               'fee_rate: the fee to book, or the rule that accepts it');
SELECT is((SELECT evidence FROM pat WHERE pattern = 'settlement_lag'),
          'JD: 7 of 7 timing differences are paid 4 to 5 days after the ledger date, outside the 3 the rule allows',
          'settlement_lag: the lag and the window');
SELECT is((SELECT suggestion FROM pat WHERE pattern = 'settlement_lag'),
          'reconcile.set_rule(''pt'', ''JD'', reconcile.rule(abs_tol => 0.01, days_after => 5)) would clear 7 of 7 timing differences',
          'settlement_lag: the days_after covering 95% of them, as a call to paste');
SELECT is((SELECT evidence FROM pat WHERE pattern = 'recurring_unbooked'),
          'BK: 6 of 7 rows missing in the ledger recur on different dates, reference ''servicefee'' alone 6 times',
          'recurring_unbooked: by normalised reference, on different dates');
SELECT is((SELECT amount FROM pat WHERE pattern = 'recurring_unbooked'), 90.00, 'with their amount');
SELECT is((SELECT evidence FROM pat WHERE pattern = 'sign_flip'),
          'TM: 6 of the 7 reversals (the statement amount is minus the ledger''s) are on this key', 'sign_flip: concentrated on one key');
SELECT is((SELECT evidence FROM pat WHERE pattern = 'duplicates'),
          'SH: 6 of the 6 duplicate rows are on this key, 6 of them dated 2026-11-05', 'duplicates: on one key and one date');
SELECT is((SELECT count(*) FROM pat WHERE evidence IS NULL OR suggestion IS NULL), 0::bigint, 'every row has its evidence and suggestion');
SELECT results_eq($$SELECT key, pattern, rows, amount, evidence, suggestion FROM reconcile.patterns('pt')$$,
                  $$SELECT key, pattern, rows, amount, evidence, suggestion FROM pat ORDER BY key, pattern$$,
                  'deterministic: a second call gives the same rows');

-- the suggestion, applied, clears what it said
SELECT reconcile.set_rule('pt', 'JD', reconcile.rule(abs_tol => 0.01, days_after => 5)) \g /dev/null
SELECT is((SELECT count(*) FROM public.pt_discrepancies WHERE key = 'JD'), 0::bigint, 'set_rule as suggested clears JD');
SELECT is((SELECT count(*) FROM reconcile.patterns('pt') WHERE key = 'JD'), 0::bigint, 'and the pattern is gone');

-- under 5 rows nothing is reported: 4 monthly charges and 4 rows paid twice on one key
INSERT INTO public.pt_s SELECT 'CH' || i, 'QQ', 9.90, date '2026-01-15' + 30 * i, 'SUBSCRIPTION' FROM generate_series(1, 4) i;
INSERT INTO public.pt_l SELECT 'QQ' || i, 'QQ', 30 + i, date '2026-11-05', 'QQORDER' || i FROM generate_series(1, 4) i;
INSERT INTO public.pt_s SELECT 'SQQ' || i || x, 'QQ', 30 + i, date '2026-11-05', 'QQORDER' || i
FROM generate_series(1, 4) i, (VALUES ('a'), ('b')) v(x);
SELECT is((SELECT count(*) FROM reconcile.patterns('pt') WHERE key = 'QQ'), 0::bigint,
          'recurring_unbooked and duplicates are not reported under 5 rows');

-- a pattern needs most of the key's rows of its kind: 5 reversals on TM against 6 elsewhere
INSERT INTO public.pt_l SELECT 'WXX' || i, 'WX', 80 + i, date '2026-11-01', NULL FROM generate_series(1, 6) i;
INSERT INTO public.pt_s SELECT 'SWXX' || i, 'WX', -(80 + i), date '2026-11-01', NULL FROM generate_series(1, 6) i;
SELECT results_eq($$SELECT key FROM reconcile.patterns('pt') WHERE pattern = 'sign_flip'$$, $$VALUES ('WX'::text)$$,
                  'sign_flip moves to the key that holds most reversals (7 of 13), and TM''s 6 are not most of them');

-- candidates
SELECT results_eq($$SELECT rank, counterpart_id FROM reconcile.candidates('pt', 'DY3', 'ledger', 2)$$,
                  $$VALUES (1, 'SDY3'::text), (2, 'SDY2')$$, 'candidates: the right bank line first');
SELECT is((SELECT reason FROM reconcile.candidates('pt', 'DY3') WHERE rank = 1),
          'amount 1.20 less (0.40%), beyond tolerance, 1 day later, within the window, the reference matches',
          'with the reason in words');
SELECT is((SELECT counterpart_id FROM reconcile.candidates('pt', 'STM2', 'statement') WHERE rank = 1), 'TM2',
          'from the statement side: the ledger row of the opposite amount');
SELECT is((SELECT count(*) FROM reconcile.candidates('pt', 'DY3', n => 3)), 3::bigint, 'n limits them');
SELECT reconcile.run('pt', '2026-12-31') \g /dev/null
SELECT is((SELECT count(*) FROM reconcile.candidates('pt', 'SSH1b', 'statement')), 0::bigint,
          'after a run, only rows no run cleared: SH''s ledger rows are all matched, a duplicate bank line has none');
SELECT throws_ok($$SELECT * FROM reconcile.candidates('pt', 'JD1')$$, '55000', NULL, 'a matched row: 55000');
SELECT throws_ok($$SELECT * FROM reconcile.candidates('pt', 'nope')$$, '42704', NULL, 'an unknown id: 42704');
SELECT throws_ok($$SELECT * FROM reconcile.candidates('pt', 'DY3', 'bank')$$, '22023', NULL, 'a bad side: 22023');
SELECT throws_ok($$SELECT * FROM reconcile.candidates('pt', 'DY3', n => 0)$$, '22023', NULL, 'n below 1: 22023');

-- the caller's rights
SET SESSION AUTHORIZATION rc_pt_outsider;
SELECT throws_ok($$SELECT * FROM reconcile.patterns('pt')$$, '42501', NULL, 'patterns: an outsider gets 42501');
SELECT throws_ok($$SELECT * FROM reconcile.candidates('pt', 'DY3')$$, '42501', NULL, 'candidates: an outsider gets 42501');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION rc_pt_narrow;
SELECT is((SELECT count(*) FROM reconcile.candidates('pt', 'TM2') WHERE counterpart_id LIKE 'STM%'), 0::bigint,
          'a role narrowed by row level security gets no candidate it cannot see');
RESET SESSION AUTHORIZATION;

-- a hostile source: a view whose function records who runs it; patterns and candidates read it
-- as the caller, never as the extension's owner
CREATE ROLE rc_pt_reader;
GRANT USAGE ON SCHEMA public TO rc_pt_reader;
CREATE TABLE public.pt_seen (who name, super boolean);
GRANT INSERT ON public.pt_seen TO rc_pt_reader;
CREATE FUNCTION public.pt_spy(x text) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO public.pt_seen SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
    RETURN x;
END $$;
CREATE VIEW public.pt_spy_s WITH (security_invoker = true) AS
SELECT public.pt_spy(id) AS id, key, amount, tx_date, ref FROM public.pt_s;
GRANT SELECT ON public.pt_l, public.pt_s, public.pt_spy_s TO rc_pt_reader;
CREATE POLICY reader_all ON public.pt_s FOR SELECT TO rc_pt_reader USING (true);
SELECT reconcile.create('pt_spy', 'public.pt_l', 'public.pt_spy_s', reconcile.rule(abs_tol => 0.01)) \g /dev/null
GRANT SELECT ON public.pt_spy_matches, public.pt_spy_discrepancies TO rc_pt_reader;
TRUNCATE public.pt_seen;
SET SESSION AUTHORIZATION rc_pt_reader;
SELECT count(*) FROM reconcile.patterns('pt_spy') \g /dev/null
SELECT count(*) FROM reconcile.candidates('pt_spy', 'DY3') \g /dev/null
RESET SESSION AUTHORIZATION;
SELECT ok((SELECT count(*) FROM public.pt_seen) > 0, 'a hostile view''s function ran under patterns and candidates');
SELECT is((SELECT array_agg(DISTINCT who::text) FROM public.pt_seen), ARRAY['rc_pt_reader'],
          'only ever as the caller, never as the extension''s owner or a superuser');

SELECT * FROM finish();
ROLLBACK;
