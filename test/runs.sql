-- Runs, history and follow-up (SPEC section 5), in one transaction.
BEGIN;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT plan(55);

CREATE TABLE public.run_l (id text, amount numeric(12,2), tx_date date, ref text, key text);
CREATE TABLE public.run_s (id text, amount numeric(12,2), tx_date date, ref text, key text);
INSERT INTO public.run_l VALUES
  ('L1', 100.00, '2026-11-01', 'ORD-0001', 'CNY'),
  ('L2',  50.00, '2026-11-01', NULL, 'CNY'),
  ('L3',  70.00, '2026-11-02', NULL, 'CNY'),
  ('L4',  19.99, '2026-11-02', NULL, 'USD'),
  ('L5',  33.00, '2026-09-01', NULL, 'USD');
INSERT INTO public.run_s VALUES
  ('S1', 100.00, '2026-11-02', 'pay ORD-0001', 'CNY'),
  ('S9',  -5.00, '2026-11-03', 'BANK FEE', 'CNY'),
  ('S4',  20.50, '2026-11-03', NULL, 'USD');
SELECT reconcile.create('rr', 'public.run_l', 'public.run_s', reconcile.rule(abs_tol => 0.01));

-- the reconciliation statement must add up, for every key of every run
CREATE FUNCTION pg_temp.proof_balances(rid bigint) RETURNS boolean LANGUAGE sql AS $$
    SELECT bool_and(total) FROM (
        SELECT key, sum(amount) FILTER (WHERE item <> 'statement total')
                    = sum(amount) FILTER (WHERE item = 'statement total') AS total
        FROM reconcile.proof(rid) GROUP BY key) t
$$;

CREATE TEMP TABLE run1 AS SELECT reconcile.run('rr', '2026-11-10') AS run_id;
SELECT is((SELECT run_id FROM run1), (SELECT max(run_id) FROM reconcile.runs WHERE name = 'rr'), 'run returns its run id');
SELECT ok(pg_temp.proof_balances((SELECT max(run_id) FROM reconcile.runs WHERE name = 'rr')), 'run 1: the proof adds up');
SELECT results_eq($$SELECT ledger_rows, statement_rows, counts FROM reconcile.runs WHERE name = 'rr'$$,
                  $$VALUES (5::bigint, 3::bigint, '{"matched": 1, "matched_within_tolerance": 0, "missing_in_ledger": 2, "missing_in_statement": 4}'::jsonb - 'matched_within_tolerance')$$,
                  'runs: rows and counts per category');
SELECT is((SELECT count(*) FROM reconcile.results WHERE name = 'rr'), 7::bigint, 'results: one row per result');
SELECT is((SELECT count(*) FROM reconcile.items WHERE name = 'rr' AND status = 'open'), 6::bigint, 'items: one per discrepancy');
SELECT is((SELECT count(*) FROM reconcile.cleared WHERE name = 'rr'), 2::bigint, 'the matched pair is cleared');
SELECT results_eq($$SELECT ledger_id, statement_id, age_days, aging_bucket FROM reconcile.open_items
                    WHERE name = 'rr' ORDER BY ledger_id NULLS LAST, statement_id$$,
                  $$VALUES ('L2', NULL::text, 9, '8-30'), ('L3', NULL, 8, '8-30'), ('L4', NULL, 8, '8-30'),
                           ('L5', NULL, 70, '31-90'), (NULL, 'S4', 7, '0-7'), (NULL, 'S9', 7, '0-7')$$,
                  'open_items: age from the older row''s date to the run''s as_of, and its bucket');
SELECT results_eq($$SELECT key, line, item, rows, amount FROM reconcile.proof((SELECT max(run_id) FROM reconcile.runs WHERE name = 'rr'))$$,
                  $$VALUES ('CNY', 1, 'ledger total', 3::bigint, 220.00), ('CNY', 2, 'matched', 1::bigint, 0.00),
                           ('CNY', 3, 'missing_in_statement', 2::bigint, -120.00), ('CNY', 4, 'missing_in_ledger', 1::bigint, -5.00),
                           ('CNY', 5, 'statement total', 2::bigint, 95.00),
                           ('USD', 1, 'ledger total', 2::bigint, 52.99), ('USD', 2, 'missing_in_statement', 2::bigint, -52.99),
                           ('USD', 3, 'missing_in_ledger', 1::bigint, 20.50), ('USD', 4, 'statement total', 1::bigint, 20.50)$$,
                  'proof: ledger total, contributions, statement total per key');
SELECT results_eq($$SELECT category::text, rows, ledger_amount, statement_amount FROM reconcile.run_summary
                    WHERE name = 'rr' AND key = 'CNY' ORDER BY run_summary.category$$,
                  $$VALUES ('matched', 1::bigint, 100.00, 100.00), ('missing_in_statement', 2::bigint, 120.00, NULL),
                           ('missing_in_ledger', 1::bigint, NULL, -5.00)$$, 'run_summary per run and category');

-- a second run over unchanged data changes no result and creates no item
CREATE TEMP TABLE before_results AS SELECT * FROM reconcile.results WHERE name = 'rr';
CREATE TEMP TABLE before_items AS SELECT item_id, status FROM reconcile.items WHERE name = 'rr';
SELECT lives_ok($$SELECT reconcile.run('rr', '2026-11-10')$$, 'run 2 over unchanged data');
SELECT ok(pg_temp.proof_balances((SELECT max(run_id) FROM reconcile.runs WHERE name = 'rr')), 'run 2: the proof adds up');
SELECT is((SELECT count(*) FROM ((TABLE before_results) EXCEPT ALL
                                 (SELECT * FROM reconcile.results WHERE run_id IN (SELECT run_id FROM before_results))) d),
          0::bigint, 'run 2 changed no earlier result');
SELECT set_eq($$SELECT item_id, status FROM reconcile.items WHERE name = 'rr'$$, $$TABLE before_items$$,
              'run 2 created no item and changed no status');
SELECT is((SELECT ledger_rows + statement_rows FROM reconcile.runs WHERE name = 'rr' ORDER BY run_id DESC LIMIT 1),
          6::bigint, 'run 2 worked only on the rows not cleared');

-- new rows: the run works on uncleared rows; items whose rows match become cleared
INSERT INTO public.run_s VALUES ('S2', 50.00, '2026-11-03', NULL, 'CNY'), ('S5', 19.99, '2026-11-04', NULL, 'USD');
SELECT lives_ok($$SELECT reconcile.run('rr', '2026-11-12')$$, 'run 3 after new rows');
SELECT ok(pg_temp.proof_balances((SELECT max(run_id) FROM reconcile.runs WHERE name = 'rr')), 'run 3: the proof adds up');
SELECT is((SELECT status FROM reconcile.items WHERE name = 'rr' AND ledger_id = 'L2'), 'cleared', 'the item of L2 cleared by itself');
SELECT is((SELECT status FROM reconcile.items WHERE name = 'rr' AND ledger_id = 'L4'), 'cleared', 'the item of L4 cleared by itself');
SELECT is((SELECT count(*) FROM reconcile.results r JOIN reconcile.runs u USING (run_id)
           WHERE u.run_id = (SELECT max(run_id) FROM reconcile.runs WHERE name = 'rr') AND r.ledger_id = 'L1'),
          0::bigint, 'a cleared row is never matched again');

-- follow-up with maker-checker
CREATE ROLE rc_maker;
CREATE ROLE rc_checker;
CREATE ROLE rc_outsider;
GRANT SELECT ON public.run_l, public.run_s TO rc_maker, rc_checker;
GRANT USAGE ON SCHEMA public TO rc_maker, rc_checker, rc_outsider;
CREATE TEMP TABLE ids AS SELECT item_id, coalesce(ledger_id, statement_id) AS row_id FROM reconcile.items WHERE name = 'rr' AND status = 'open';
GRANT SELECT ON ids TO PUBLIC;
SET SESSION AUTHORIZATION rc_maker;
SELECT lives_ok($$SELECT reconcile.assign((SELECT item_id FROM ids WHERE row_id = 'S9'), 'rc_maker')$$, 'assign');
SELECT lives_ok($$SELECT reconcile.resolve((SELECT item_id FROM ids WHERE row_id = 'S9'), 'booked as bank charges', 'November fee')$$, 'resolve');
SELECT throws_ok($$SELECT reconcile.approve((SELECT item_id FROM ids WHERE row_id = 'S9'))$$, '42501', NULL,
                 'maker-checker: the maker cannot approve');
SELECT throws_ok($$SELECT reconcile.resolve((SELECT item_id FROM ids WHERE row_id = 'S9'), 'again')$$, '55000', NULL,
                 'a resolved item cannot be resolved again');
RESET SESSION AUTHORIZATION;
-- (a second person approves in its own login: test/persons.sql)
SET SESSION AUTHORIZATION rc_checker;
SELECT throws_ok($$SELECT reconcile.approve((SELECT item_id FROM ids WHERE row_id = 'S9'))$$, '42501', NULL,
                 'SET SESSION AUTHORIZATION does not make the superuser who logged in a second person');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT concat_ws('|', status, assignee, resolution, resolved_by) FROM reconcile.items
           WHERE item_id = (SELECT item_id FROM ids WHERE row_id = 'S9')),
          'resolved|rc_maker|booked as bank charges|rc_maker', 'the item records the maker');
SELECT is((SELECT count(*) FROM reconcile.open_items WHERE item_id = (SELECT item_id FROM ids WHERE row_id = 'S9')),
          1::bigint, 'a resolved item stays in open_items until it is approved');
SELECT lives_ok($$SELECT reconcile.reopen((SELECT item_id FROM ids WHERE row_id = 'S9'), 'wrong account')$$, 'reopen');
SELECT is((SELECT status FROM reconcile.items WHERE item_id = (SELECT item_id FROM ids WHERE row_id = 'S9')), 'open', 'reopened');

-- manual match, honoured by later runs; unmatch releases it
SELECT lives_ok($$SELECT reconcile.manual_match('rr', ARRAY['L3'], ARRAY['S9'], 'customer paid net of a fee')$$, 'manual_match');
SELECT is((SELECT category::text FROM reconcile.cleared WHERE name = 'rr' AND id = 'L3'), 'manual', 'manual rows are cleared as manual');
SELECT is((SELECT status FROM reconcile.items WHERE name = 'rr' AND ledger_id = 'L3'), 'cleared', 'their items are cleared');
SELECT lives_ok($$SELECT reconcile.run('rr', '2026-11-13')$$, 'run 4');
SELECT ok(pg_temp.proof_balances((SELECT max(run_id) FROM reconcile.runs WHERE name = 'rr')), 'run 4: the proof adds up');
SELECT results_eq($$SELECT ledger_id, statement_id, category::text FROM reconcile.results
                    WHERE run_id = (SELECT max(run_id) FROM reconcile.runs) AND (ledger_id = 'L3' OR statement_id = 'S9')$$,
                  $$VALUES ('L3', 'S9', 'manual')$$, 'the next run reports the manual match, once, as manual');
SELECT throws_ok($$SELECT reconcile.manual_match('rr', ARRAY['L3'], ARRAY['S4'], 'x')$$, '55000', NULL, 'a matched row cannot be matched by hand again');
SELECT lives_ok($$SELECT reconcile.unmatch('rr', 'L3')$$, 'unmatch');
SELECT is((SELECT count(*) FROM reconcile.cleared WHERE name = 'rr' AND id IN ('L3', 'S9')), 0::bigint, 'unmatch releases both sides');
SELECT throws_ok($$SELECT reconcile.unmatch('rr', 'L3')$$, '42704', NULL, 'unmatch of an unmatched row');

-- the audit log has every run and action, and cannot be changed
SELECT set_eq($$SELECT DISTINCT action FROM reconcile.audit_log WHERE name = 'rr'$$,
              ARRAY['create', 'run', 'assign', 'resolve', 'reopen', 'manual_match', 'unmatch'],
              'audit_log records the creation, runs and actions');
SELECT is((SELECT count(*) FROM reconcile.audit_log WHERE name = 'rr' AND action = 'run'),
          (SELECT count(*) FROM reconcile.runs WHERE name = 'rr'), 'one audit entry per run');
SELECT is((SELECT string_agg(concat_ws('|', session_role, acting_role), ',') FROM reconcile.audit_log
           WHERE name = 'rr' AND action = 'resolve'),
          'rc_maker|rc_maker', 'audit_log records session_user and the role acted as');
SELECT throws_ok($$UPDATE reconcile.audit_log SET action = 'x'$$, '42501', NULL, 'UPDATE of audit_log is refused');
SELECT throws_ok($$DELETE FROM reconcile.audit_log$$, '42501', NULL, 'DELETE from audit_log is refused');
SELECT throws_ok($$TRUNCATE reconcile.audit_log$$, '42501', NULL, 'TRUNCATE of audit_log is refused');

-- a run that fails leaves nothing behind
INSERT INTO public.run_l VALUES ('L5', 1, '2026-11-05', NULL, 'USD');
CREATE TEMP TABLE counts_before AS
SELECT (SELECT count(*) FROM reconcile.runs) r, (SELECT count(*) FROM reconcile.results) s,
       (SELECT count(*) FROM reconcile.items) i, (SELECT count(*) FROM reconcile.audit_log) a,
       (SELECT count(*) FROM reconcile.cleared) c;
SELECT throws_ok($$SELECT reconcile.run('rr', '2026-11-14')$$, '23505', NULL, 'a run over a duplicate id fails');
SELECT results_eq($$SELECT (SELECT count(*) FROM reconcile.runs), (SELECT count(*) FROM reconcile.results),
                           (SELECT count(*) FROM reconcile.items), (SELECT count(*) FROM reconcile.audit_log),
                           (SELECT count(*) FROM reconcile.cleared)$$,
                  $$TABLE counts_before$$, 'and leaves nothing in runs, results, items, audit_log or cleared');
DELETE FROM public.run_l WHERE id = 'L5' AND amount = 1;

-- visibility: a role without SELECT on the sources sees nothing and can do nothing
SET ROLE rc_outsider;
SELECT is((SELECT count(*) FROM reconcile.runs) + (SELECT count(*) FROM reconcile.results)
          + (SELECT count(*) FROM reconcile.items) + (SELECT count(*) FROM reconcile.audit_log)
          + (SELECT count(*) FROM reconcile.cleared) + (SELECT count(*) FROM reconcile.open_items)
          + (SELECT count(*) FROM reconcile.run_summary), 0::bigint,
          'an outsider sees no row of runs, results, items, audit_log, cleared, open_items or run_summary');
SELECT throws_ok($$SELECT reconcile.run('rr')$$, '42501', NULL, 'an outsider cannot run');
SELECT throws_ok($$SELECT reconcile.resolve((SELECT min(item_id) FROM ids), 'x')$$, '42704', NULL,
                 'an outsider cannot resolve (the item does not exist for it)');
SELECT throws_ok($$SELECT reconcile.approve((SELECT min(item_id) FROM ids))$$, '42704', NULL, 'an outsider cannot approve');
-- a hostile search_path does not change what SECURITY DEFINER functions call
RESET ROLE;
CREATE SCHEMA evil;
CREATE FUNCTION evil.has_table_privilege(name, regclass, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION evil.has_table_privilege(name, oid, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
GRANT USAGE ON SCHEMA evil TO PUBLIC;
SET ROLE rc_outsider;
SET search_path = evil, public, pg_catalog;
SELECT throws_ok($$SELECT reconcile.run('rr')$$, '42501', NULL, 'a hostile search_path does not open the door');
RESET search_path;
RESET ROLE;

-- drop: the history stays with the registration it was made for; a new one of that name starts afresh
CREATE TEMP TABLE old_reg AS SELECT id FROM reconcile.reconciliations WHERE name = 'rr';
SELECT lives_ok($$SELECT reconcile.drop('rr')$$, 'drop a reconciliation that has runs');
SELECT ok((SELECT count(*) FROM reconcile.runs WHERE recon_id = (SELECT id FROM old_reg)) > 0
          AND EXISTS (SELECT FROM reconcile.audit_log WHERE recon_id = (SELECT id FROM old_reg) AND action = 'drop'),
          'its runs stay, with its registration, and the drop is in audit_log');
SELECT reconcile.create('rr', 'public.run_l', 'public.run_s', reconcile.rule(abs_tol => 0.01));
SELECT lives_ok($$SELECT reconcile.run('rr', '2026-11-20')$$, 'a new rr runs');
SELECT is((SELECT ledger_rows FROM reconcile.runs WHERE name = 'rr' ORDER BY run_id DESC LIMIT 1), 5::bigint,
          'and matches every ledger row again: what the old rr cleared is not the new one''s');
SELECT * FROM finish();
ROLLBACK;
