-- Trust (SPEC section 6), tried as an attacker would: sources read with the caller's rights,
-- history that belongs to its registration, controls nobody can bypass.  Roles: an attacker with a
-- schema of its own, an owner of the sources, a maker, a checker, a role that is a member of the
-- maker, and a role narrowed by row level security.  (Races, dumps, a planted schema and pg_cron
-- are in test/sh/security.sh: they need other sessions or databases.)
BEGIN;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT plan(56);

CREATE ROLE rc_sec_owner;
CREATE ROLE rc_sec_attacker;
CREATE ROLE rc_sec_maker;
CREATE ROLE rc_sec_checker;
CREATE ROLE rc_sec_member IN ROLE rc_sec_maker;
CREATE ROLE rc_sec_narrow;
GRANT USAGE, CREATE ON SCHEMA public TO rc_sec_owner, rc_sec_attacker;
GRANT USAGE ON SCHEMA public TO rc_sec_maker, rc_sec_checker, rc_sec_member, rc_sec_narrow;
CREATE SCHEMA atk AUTHORIZATION rc_sec_attacker;

-- the owner's books, readable by the maker, the checker and, narrowed to region A, by rc_sec_narrow
SET SESSION AUTHORIZATION rc_sec_owner;
CREATE TABLE public.sec_l (id text, amount numeric(12,2), tx_date date, ref text, region text);
CREATE TABLE public.sec_s (id text, amount numeric(12,2), tx_date date, ref text, region text);
INSERT INTO public.sec_l VALUES ('L1', 77.00, '2026-11-01', NULL, 'A'), ('L2', 10.00, '2026-11-01', NULL, 'A'),
                                ('L3', 20.00, '2026-11-01', NULL, 'B'), ('L4', 30.00, '2026-11-01', NULL, 'B');
INSERT INTO public.sec_s VALUES ('S2', 10.00, '2026-11-02', NULL, 'A'), ('S3', 20.00, '2026-11-02', NULL, 'B'),
                                ('S4', 25.00, '2026-11-02', NULL, 'B');
GRANT SELECT ON public.sec_l, public.sec_s TO rc_sec_maker, rc_sec_checker, rc_sec_narrow;
ALTER TABLE public.sec_l ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.sec_s ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone ON public.sec_l FOR SELECT TO rc_sec_maker, rc_sec_checker USING (true);
CREATE POLICY everyone ON public.sec_s FOR SELECT TO rc_sec_maker, rc_sec_checker USING (true);
CREATE POLICY region_a ON public.sec_l FOR SELECT TO rc_sec_narrow USING (region = 'A');
CREATE POLICY region_a ON public.sec_s FOR SELECT TO rc_sec_narrow USING (region = 'A');
SELECT reconcile.create('sec', 'public.sec_l', 'public.sec_s', reconcile.rule(abs_tol => 0.01));
GRANT SELECT ON public.sec_matches, public.sec_discrepancies, public.sec_summary TO PUBLIC;
-- a table the attacker may not read, and a security_invoker view over it that it may
CREATE TABLE public.sec_secret (id text, amount numeric, tx_date date);
INSERT INTO public.sec_secret VALUES ('salary-ceo', 250000, '2026-11-01');
CREATE VIEW public.sec_secret_v WITH (security_invoker = true) AS SELECT * FROM public.sec_secret;
GRANT SELECT ON public.sec_secret_v TO rc_sec_attacker;
RESET SESSION AUTHORIZATION;

---------------------------------------------------------------------------------------------------
-- 1. Code in or on a source runs as the caller, never as the extension's owner
---------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION rc_sec_attacker;
CREATE TABLE atk.seen (who name, super boolean);
-- becomes superuser if it ever runs as one, and says who it ran as
CREATE FUNCTION atk.f() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO atk.seen SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE rc_sec_attacker SUPERUSER';
    END IF;
    RETURN true;
END $$;
CREATE TABLE atk.l (id text, amount numeric, tx_date date);
CREATE TABLE atk.s (id text, amount numeric, tx_date date);
INSERT INTO atk.l VALUES ('a', 1, '2026-11-01'), ('b', 2, '2026-11-01');
INSERT INTO atk.s VALUES ('x', 1, '2026-11-01'), ('z', 3, '2026-11-01');
CREATE VIEW atk.lv AS SELECT * FROM atk.l WHERE atk.f();
-- a type whose cast to numeric is the attacker's function
CREATE TYPE atk.amt AS (v numeric);
CREATE FUNCTION atk.amt_numeric(atk.amt) RETURNS numeric LANGUAGE plpgsql AS $$
BEGIN
    PERFORM atk.f();
    RETURN ($1).v;
END $$;
RESET SESSION AUTHORIZATION;
CREATE CAST (atk.amt AS numeric) WITH FUNCTION atk.amt_numeric(atk.amt);
SET SESSION AUTHORIZATION rc_sec_attacker;
CREATE TABLE atk.cs (id text, amount atk.amt, tx_date date);
INSERT INTO atk.cs VALUES ('y', ROW(1), '2026-11-01');
-- a view over a function that reads pg_authid (as the extension's owner it would see the hashes)
CREATE FUNCTION atk.hashes() RETURNS TABLE (id text, amount numeric, tx_date date) LANGUAGE sql AS $$
    SELECT rolname || ':' || COALESCE(rolpassword, ''), 1::numeric, date '2026-11-01' FROM pg_authid $$;
CREATE VIEW atk.hv AS SELECT * FROM atk.hashes();
SELECT reconcile.create('atk_view', 'atk.lv', 'atk.s');
SELECT reconcile.create('atk_cast', 'atk.l', 'atk.cs');
SELECT reconcile.create('atk_authid', 'atk.hv', 'atk.s');
SELECT reconcile.create('atk_secret', 'public.sec_secret_v', 'atk.s');
SELECT lives_ok($$SELECT reconcile.run('atk_view', '2026-11-05')$$, 'a run over a view whose function tries to become superuser');
SELECT lives_ok($$SELECT reconcile.run('atk_cast', '2026-11-05')$$, 'a run over a column whose cast to numeric is the attacker''s');
SELECT lives_ok($$SELECT reconcile.manual_match('atk_view', ARRAY['b'], ARRAY['z'], 'by hand')$$,
                'a manual match over that view');
SELECT is((SELECT array_agg(DISTINCT who::text) FROM atk.seen), ARRAY['rc_sec_attacker'],
          'the attacker''s view function and cast ran, as the attacker only');
SELECT is((SELECT bool_or(super) FROM atk.seen), false, 'never with superuser rights');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'rc_sec_attacker'), false, 'the attacker is not a superuser');
SELECT throws_ok($$SELECT reconcile.run('atk_authid', '2026-11-05')$$, '42501', NULL,
                 'a source that reads pg_authid is read with the attacker''s rights: refused');
SELECT is((SELECT count(*) FROM reconcile.results WHERE ledger_id LIKE '%:%' OR ledger_id LIKE 'postgres%'), 0::bigint,
          'no role or password hash lands in results');
SELECT throws_ok($$SELECT reconcile.run('atk_secret', '2026-11-05')$$, '42501', NULL,
                 'a security_invoker view over a table the attacker may not read cannot be run over');
SELECT is((SELECT count(*) FROM reconcile.results WHERE ledger_id = 'salary-ceo'), 0::bigint,
          'and none of that table''s rows land in results');
-- an operator of its own first in search_path changes nothing in what the run computes
CREATE FUNCTION atk.never_equal(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT false';
CREATE OPERATOR atk.= (FUNCTION = atk.never_equal, LEFTARG = text, RIGHTARG = text);
SET LOCAL search_path = atk, pg_catalog, public;
CREATE TEMP TABLE hostile_run AS SELECT reconcile.run('atk_view', '2026-11-06') AS run_id;
RESET search_path;
SELECT ok((SELECT run_id FROM hostile_run) > 0, 'a run with a hostile operator first in search_path');
SELECT is((SELECT counts FROM reconcile.runs WHERE run_id = (SELECT run_id FROM hostile_run)), '{"manual": 1}'::jsonb,
          'its anti-join used the real equality: nothing matched twice, only the manual match reported');
RESET SESSION AUTHORIZATION;

---------------------------------------------------------------------------------------------------
-- 2. Nobody forges results or manual matches, or writes the extension's tables
---------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION rc_sec_attacker;
SELECT throws_ok($$SELECT reconcile.record_run((SELECT id FROM reconcile.reconciliations WHERE name = 'atk_view'),
                                               '2026-11-05', now(), 'rc_sec_attacker', 0, NULL, NULL)$$,
                 '42501', NULL, 'the run''s bookkeeping cannot be called directly');
SELECT throws_ok($$SELECT * FROM reconcile.captured() AS t(key text, ledger_id text)$$, '42501', NULL,
                 'nor the rows it reads');
SELECT throws_ok($$SELECT reconcile.record_manual((SELECT id FROM reconcile.reconciliations WHERE name = 'sec'),
                                                  ARRAY['L4'], ARRAY['S3'], 'forged', 'rc_sec_attacker', 'sec')$$,
                 '42501', NULL, 'a manual match cannot be recorded without reading the rows');
SELECT throws_ok($$SELECT reconcile.audit(1, 'run', 'sec', NULL, '{}', 'postgres')$$, '42501', NULL, 'nor an audit entry forged');
SELECT throws_ok($$INSERT INTO reconcile.reconciliations (name, ledger, statement, rule, columns, view_schema, owner)
                   VALUES ('payroll', 'atk.l', 'atk.s', reconcile.rule(), '{}', 'atk', 'rc_sec_attacker')$$,
                 '42501', NULL, 'a name cannot be squatted by writing to the registry');
SELECT throws_ok($$DELETE FROM reconcile.reconciliations WHERE name = 'sec'$$, '42501', NULL, 'nor a registration deleted');
SELECT throws_ok($$LOCK TABLE reconcile.reconciliations IN ACCESS EXCLUSIVE MODE$$, '42501', NULL,
                 'the registry cannot be locked against every run');
SELECT throws_ok($$LOCK TABLE reconcile.results IN SHARE ROW EXCLUSIVE MODE$$, '42501', NULL, 'nor results');
SELECT throws_ok($$INSERT INTO reconcile.results (run_id, name, category) VALUES (1, 'sec', 'matched')$$, '42501', NULL,
                 'results cannot be written');
SELECT throws_ok($$UPDATE reconcile.items SET status = 'approved'$$, '42501', NULL, 'items cannot be approved by UPDATE');
SELECT throws_ok($$DELETE FROM reconcile.cleared$$, '42501', NULL, 'cleared rows cannot be deleted');
SELECT throws_ok($$CREATE TRIGGER t BEFORE INSERT ON reconcile.results FOR EACH ROW EXECUTE FUNCTION atk.f()$$,
                 '42501', NULL, 'no trigger of the attacker''s fires on the extension''s writes');
RESET SESSION AUTHORIZATION;
SELECT throws_ok($$SELECT * FROM reconcile.captured() AS t(key text, ledger_id text)$$, '42501', NULL,
                 'even a superuser gets no captured rows outside a run');

---------------------------------------------------------------------------------------------------
-- 3. History belongs to a registration, not to a name
---------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION rc_sec_owner;
CREATE TABLE public.pay_l (id text, amount numeric, tx_date date);
CREATE TABLE public.pay_s (id text, amount numeric, tx_date date);
INSERT INTO public.pay_l VALUES ('P1', 5000, '2026-11-01');
SELECT reconcile.create('payroll', 'public.pay_l', 'public.pay_s');
SELECT reconcile.run('payroll', '2026-11-05');
SELECT reconcile.resolve((SELECT item_id FROM reconcile.items WHERE name = 'payroll'), 'bonus of the CEO', 'confidential');
SELECT reconcile.drop('payroll');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION rc_sec_attacker;
SELECT reconcile.create('payroll', 'atk.l', 'atk.s');
SELECT is((SELECT count(*) FROM reconcile.runs WHERE name = 'payroll') + (SELECT count(*) FROM reconcile.results WHERE name = 'payroll')
          + (SELECT count(*) FROM reconcile.items WHERE name = 'payroll')
          + (SELECT count(*) FROM reconcile.audit_log WHERE name = 'payroll' AND action <> 'create'),
          0::bigint, 'a new payroll sees none of the dropped one''s runs, results, items or audit entries');
SELECT lives_ok($$SELECT reconcile.run('payroll', '2026-11-06')$$, 'and runs over its own sources');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*) FROM reconcile.items WHERE name = 'payroll' AND resolution = 'bonus of the CEO'), 1::bigint,
          'the old history stays, readable by superusers');
SELECT ok(EXISTS (SELECT FROM reconcile.audit_log WHERE name = 'payroll' AND action = 'create' AND details ? 'rule')
          AND EXISTS (SELECT FROM reconcile.audit_log WHERE name = 'payroll' AND action = 'drop'),
          'create (with its rule) and drop are audited');

---------------------------------------------------------------------------------------------------
-- 4. Maker-checker is between persons; approved means approved for those amounts
---------------------------------------------------------------------------------------------------
SELECT reconcile.run('sec', '2026-11-05');
CREATE TEMP TABLE sec_item AS SELECT item_id FROM reconcile.items WHERE name = 'sec' AND ledger_id = 'L1';
GRANT SELECT ON sec_item TO PUBLIC;
SET SESSION AUTHORIZATION rc_sec_maker;
SELECT lives_ok($$SELECT reconcile.resolve((SELECT item_id FROM sec_item), 'write-off', 'small difference')$$, 'the maker resolves');
RESET SESSION AUTHORIZATION;
GRANT rc_sec_checker TO rc_sec_maker;
SET SESSION AUTHORIZATION rc_sec_maker;
SET ROLE rc_sec_checker;
SELECT throws_ok($$SELECT reconcile.approve((SELECT item_id FROM sec_item))$$, '42501', NULL,
                 'SET ROLE to another role does not make the maker a checker');
RESET ROLE;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION rc_sec_member;
SELECT throws_ok($$SELECT reconcile.approve((SELECT item_id FROM sec_item))$$, '42501', NULL,
                 'a member of the maker''s role cannot approve');
RESET SESSION AUTHORIZATION;
SELECT throws_ok($$SELECT reconcile.approve((SELECT item_id FROM sec_item))$$, '42501', NULL,
                 'a superuser, who may act as anyone, cannot approve');
-- (a second person approves in its own login in test/persons.sql; here the approval is written
-- directly, as the tables' owner)
UPDATE reconcile.items SET status = 'approved', approved_by = 'rc_sec_checker', approved_session = 'rc_sec_checker',
                           approved_at = now()
WHERE item_id = (SELECT item_id FROM sec_item);
SELECT is((SELECT status FROM reconcile.items WHERE item_id = (SELECT item_id FROM sec_item)), 'approved',
          'set-up: the write-off approved');
UPDATE public.sec_l SET amount = 77000.00 WHERE id = 'L1';
SELECT reconcile.run('sec', '2026-11-06');
SELECT is((SELECT status FROM reconcile.items WHERE item_id = (SELECT item_id FROM sec_item)), 'open',
          'an approved write-off whose amount changed returns to open at the next run');
SELECT ok(EXISTS (SELECT FROM reconcile.audit_log WHERE item_id = (SELECT item_id FROM sec_item) AND action = 'reopen'
                  AND details ->> 'why' LIKE '%amounts%' AND details -> 'was' ->> 'ledger_amount' = '77.00'),
          'and the audit log says why, with the amounts it was approved for');

-- the partition a registration's first clearing made (reconcile.cleared_partition)
SET SESSION AUTHORIZATION rc_sec_attacker;
SELECT throws_ok(format('DELETE FROM reconcile.cleared_%s', (SELECT id FROM reconcile.reconciliations WHERE name = 'sec')),
                 '42501', NULL, 'nor through the registration''s partition');
SELECT throws_ok(format($$INSERT INTO reconcile.cleared_%s (name, is_ledger, id, category, match_tag, recon_id)
                          VALUES ('sec', true, 'L9', 'matched', 'x', %s)$$,
                        (SELECT id FROM reconcile.reconciliations WHERE name = 'sec'),
                        (SELECT id FROM reconcile.reconciliations WHERE name = 'sec')),
                 '42501', NULL, 'which cannot be written either');
SELECT is((SELECT count(*) FROM reconcile.cleared WHERE name = 'sec'), 0::bigint,
          'an outsider reads no cleared rows of a reconciliation whose sources it may not read');
SELECT results_eq(format('SELECT count(*) FROM reconcile.cleared_%s', (SELECT id FROM reconcile.reconciliations WHERE name = 'sec')),
                  ARRAY[0::bigint], 'nor through its partition, which has the parent''s policy');
SELECT throws_ok($$CREATE TABLE reconcile.cleared_999999 (LIKE reconcile.cleared)$$, '42501', NULL,
                 'no table can be planted under the name of a registration''s partition to come');
RESET SESSION AUTHORIZATION;

---------------------------------------------------------------------------------------------------
-- 5. Row level security on a source narrows a run, and the history such a role reads
---------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION rc_sec_narrow;
SELECT is((SELECT count(*) FROM reconcile.runs WHERE name = 'sec') + (SELECT count(*) FROM reconcile.results WHERE name = 'sec')
          + (SELECT count(*) FROM reconcile.items WHERE name = 'sec'), 0::bigint,
          'a role narrowed by row level security does not read runs others made');
CREATE TEMP TABLE narrow_run AS SELECT reconcile.run('sec', '2026-11-07') AS run_id;
SELECT is((SELECT array_agg(DISTINCT COALESCE(ledger_id, statement_id) ORDER BY COALESCE(ledger_id, statement_id))
           FROM reconcile.results WHERE run_id = (SELECT run_id FROM narrow_run)),
          ARRAY['L1'], 'its run reads only the rows it may see (L2/S2 were cleared; B rows are out of its sight)');
SELECT results_eq(format('SELECT count(*) FROM reconcile.cleared_%s', (SELECT id FROM reconcile.reconciliations WHERE name = 'sec')),
                  $$SELECT count(*) FROM reconcile.cleared WHERE name = 'sec'$$,
                  'it reads as many cleared rows through the partition as through reconcile.cleared');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT status FROM reconcile.items WHERE name = 'sec' AND ledger_id = 'L4'), 'open',
          'its run leaves alone the items of rows it could not see');

---------------------------------------------------------------------------------------------------
-- 6. Manual matches show; hostile rows never stop a run
---------------------------------------------------------------------------------------------------
SELECT reconcile.manual_match('sec', ARRAY['L4'], ARRAY['S4'], 'paid net of a fee');
SELECT is((SELECT category::text FROM public.sec_matches WHERE ledger_id = 'L4'), 'manual',
          'a pair matched by hand shows as manual in the live view');
SELECT is((SELECT count(*) FROM public.sec_discrepancies WHERE ledger_id = 'L4' OR statement_id = 'S4'), 0::bigint,
          'and never as a discrepancy');
SELECT reconcile.run('sec', '2026-11-08');
SELECT is((SELECT category::text FROM reconcile.results WHERE name = 'sec' AND ledger_id = 'L4'
           AND run_id = (SELECT max(run_id) FROM reconcile.runs WHERE name = 'sec')), 'manual',
          'and in the results of the run that follows');

CREATE TABLE public.h_l (id text, amount numeric, tx_date date, key text);
CREATE TABLE public.h_s (id text, amount numeric, tx_date date, key text);
INSERT INTO public.h_l VALUES (repeat('x', 1000000), 10, '2026-11-01', 'k'),
                              ('dup', 1, '2026-11-01', NULL), ('dup', 2, '2026-11-01', ''),
                              ('nan', 'NaN', '2026-11-01', 'k'), ('inf', 5, 'infinity', 'k');
INSERT INTO public.h_s VALUES (repeat('y', 1000000), 10, '2026-11-01', 'k'), ('big', 99, '2026-11-01', 'k');
SELECT reconcile.create('hostile', 'public.h_l', 'public.h_s');
SELECT lives_ok($$SELECT reconcile.run('hostile', '2026-11-05')$$, 'a run over 1 MB ids, NULL and '''' keys, NaN and infinity');
SELECT lives_ok($$SELECT reconcile.run('hostile', '2026-11-06')$$, 'and the next run too');
SELECT is((SELECT count(*) FROM reconcile.items WHERE name = 'hostile' AND ledger_id = 'dup' AND status = 'open'), 2::bigint,
          'a NULL key and an empty key are two keys');
SELECT is((SELECT count(*) FROM reconcile.cleared WHERE name = 'hostile' AND length(id) = 1000000), 2::bigint,
          'rows with 1 MB ids are cleared');
SELECT lives_ok($$SELECT count(*) FROM reconcile.open_items WHERE name = 'hostile'$$, 'open_items works with an infinite date');
SELECT is((SELECT amount FROM reconcile.proof((SELECT max(run_id) FROM reconcile.runs WHERE name = 'hostile'))
           WHERE key = 'k' AND item = 'ledger total'), 0::numeric,
          'invalid rows are left out of the proof''s totals (the 1 MB pair was cleared by the first run)');
SELECT is((SELECT sum(amount) FILTER (WHERE item <> 'statement total') - sum(amount) FILTER (WHERE item = 'statement total')
           FROM reconcile.proof((SELECT min(run_id) FROM reconcile.runs WHERE name = 'hostile'))), 0::numeric,
          'and the proof adds up');
SELECT hasnt_function('reconcile', 'forget', ARRAY['text'], 'nothing releases a reconciliation''s cleared rows wholesale');

SELECT * FROM finish();
ROLLBACK;
