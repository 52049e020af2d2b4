-- Maker-checker between persons (SPEC section 6), with real second logins (dblink): a person is the
-- role that logged in.  SET ROLE, SET SESSION AUTHORIZATION, membership and another role's
-- SECURITY DEFINER function do not make one; approved means approved for those amounts.
-- Not in one transaction: the other logins must see committed set-up; cleaned up at the end.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS reconcile;
\ir lib/logins.sql
DROP SCHEMA IF EXISTS rc_p_mkr CASCADE;
DROP TABLE IF EXISTS public.rc_p_l, public.rc_p_s;
DROP ROLE IF EXISTS rc_p_maker, rc_p_checker, rc_p_member;
CREATE ROLE rc_p_maker LOGIN PASSWORD 'rc-test-login';
CREATE ROLE rc_p_checker LOGIN PASSWORD 'rc-test-login';
CREATE ROLE rc_p_member LOGIN PASSWORD 'rc-test-login' IN ROLE rc_p_maker;
GRANT rc_p_checker TO rc_p_maker;
CREATE TABLE public.rc_p_l (id text, amount numeric(12,2), tx_date date);
CREATE TABLE public.rc_p_s (id text, amount numeric(12,2), tx_date date);
INSERT INTO public.rc_p_l VALUES ('L1', 100.00, '2026-11-01'), ('L2', 50.00, '2026-11-01');
INSERT INTO public.rc_p_s VALUES ('S1', 99.00, '2026-11-02');
GRANT SELECT ON public.rc_p_l, public.rc_p_s TO rc_p_maker, rc_p_checker, rc_p_member;
SELECT reconcile.create('rc_p', 'public.rc_p_l', 'public.rc_p_s', reconcile.rule(abs_tol => 0.01)) \g /dev/null
SELECT reconcile.run('rc_p', '2026-11-05') \g /dev/null
CREATE TABLE public.rc_p_item AS
    SELECT (SELECT item_id FROM reconcile.items WHERE name = 'rc_p' AND ledger_id = 'L1') AS l1,
           (SELECT item_id FROM reconcile.items WHERE name = 'rc_p' AND ledger_id = 'L2') AS l2;
GRANT SELECT ON public.rc_p_item TO PUBLIC;
-- the maker's SECURITY DEFINER function that approves whatever it is given
CREATE SCHEMA rc_p_mkr AUTHORIZATION rc_p_maker;
SET SESSION AUTHORIZATION rc_p_maker;
CREATE FUNCTION rc_p_mkr.approve_it(bigint) RETURNS void LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog AS $$ SELECT reconcile.approve($1) $$;
GRANT USAGE ON SCHEMA rc_p_mkr TO PUBLIC;
RESET SESSION AUTHORIZATION;

SELECT pg_temp.login('maker', 'rc_p_maker');
SELECT pg_temp.login('member', 'rc_p_member');
SELECT pg_temp.login('checker', 'rc_p_checker');

SELECT plan(15);

SELECT is(pg_temp.as_login('maker', $$SELECT reconcile.resolve((SELECT l1 FROM public.rc_p_item), 'write-off', 'short by 1.00')$$),
          '', 'the maker resolves, in its own login');
SELECT is((SELECT resolved_by || '|' || resolved_session FROM reconcile.items WHERE item_id = (SELECT l1 FROM public.rc_p_item)),
          'rc_p_maker|rc_p_maker', 'the item records the acting role and the person who resolved it');
SELECT throws_ok($$SELECT pg_temp.as_login('maker', 'SELECT reconcile.approve((SELECT l1 FROM public.rc_p_item))')$$,
                 '42501', NULL, 'the maker cannot approve');
SELECT throws_ok($$SELECT pg_temp.as_login('maker', 'SET ROLE rc_p_checker; SELECT reconcile.approve((SELECT l1 FROM public.rc_p_item))')$$,
                 '42501', NULL, 'nor after SET ROLE to the checker');
SELECT pg_temp.as_login('maker', 'RESET ROLE') \g /dev/null
SELECT throws_ok($$SELECT pg_temp.as_login('member', 'SELECT reconcile.approve((SELECT l1 FROM public.rc_p_item))')$$,
                 '42501', NULL, 'a member of the maker''s role cannot approve');
SET SESSION AUTHORIZATION rc_p_checker;
SELECT throws_ok($$SELECT reconcile.approve((SELECT l1 FROM public.rc_p_item))$$, '42501', NULL,
                 'a superuser''s login under SET SESSION AUTHORIZATION of the checker is still the superuser, who approves nothing');
RESET SESSION AUTHORIZATION;
SELECT throws_ok($$SELECT reconcile.approve((SELECT l1 FROM public.rc_p_item))$$, '42501', NULL,
                 'a superuser cannot approve');
SELECT throws_ok($$SELECT pg_temp.as_login('checker', 'SELECT rc_p_mkr.approve_it((SELECT l1 FROM public.rc_p_item))')$$,
                 '42501', NULL, 'the checker calling the maker''s SECURITY DEFINER function approves as the maker: refused');
SELECT is((SELECT status FROM reconcile.items WHERE item_id = (SELECT l1 FROM public.rc_p_item)), 'resolved',
          'so far nobody approved it');
SELECT is(pg_temp.as_login('checker', $$SELECT reconcile.approve((SELECT l1 FROM public.rc_p_item))$$), '',
          'a second person approves, in its own login');
SELECT is((SELECT concat_ws('|', status, resolved_by, resolved_session, approved_by, approved_session)
           FROM reconcile.items WHERE item_id = (SELECT l1 FROM public.rc_p_item)),
          'approved|rc_p_maker|rc_p_maker|rc_p_checker|rc_p_checker', 'the item records maker and checker');
SELECT is((SELECT session_role || '|' || acting_role FROM reconcile.audit_log
           WHERE item_id = (SELECT l1 FROM public.rc_p_item) AND action = 'approve'),
          'rc_p_checker|rc_p_checker', 'the audit log records the checker''s session and role');

-- a superuser resolving under SET SESSION AUTHORIZATION is the person who resolved it
SET SESSION AUTHORIZATION rc_p_maker;
SELECT reconcile.resolve((SELECT l2 FROM public.rc_p_item), 'chased') \g /dev/null
RESET SESSION AUTHORIZATION;
SELECT is((SELECT resolved_by || '|' || resolved_session FROM reconcile.items WHERE item_id = (SELECT l2 FROM public.rc_p_item)),
          'rc_p_maker|' || current_user, 'resolved under SET SESSION AUTHORIZATION: the person is the role that logged in');

-- approved for those amounts only
UPDATE public.rc_p_l SET amount = 101.00 WHERE id = 'L1';
SELECT reconcile.run('rc_p', '2026-11-06') \g /dev/null
SELECT is((SELECT status FROM reconcile.items WHERE item_id = (SELECT l1 FROM public.rc_p_item)), 'open',
          'an approved write-off whose amount changed returns to open at the next run');
SELECT ok(EXISTS (SELECT FROM reconcile.audit_log WHERE item_id = (SELECT l1 FROM public.rc_p_item) AND action = 'reopen'
                  AND details ->> 'why' LIKE '%amounts%' AND details -> 'was' ->> 'ledger_amount' = '100.00'),
          'and the audit log says why, with the amounts it was approved for');
SELECT * FROM finish();

SELECT dblink_disconnect('maker') \g /dev/null
SELECT dblink_disconnect('member') \g /dev/null
SELECT dblink_disconnect('checker') \g /dev/null
SELECT reconcile.drop('rc_p') \g /dev/null
DELETE FROM reconcile.results WHERE name = 'rc_p';
DELETE FROM reconcile.runs WHERE name = 'rc_p';
DELETE FROM reconcile.items WHERE name = 'rc_p';
DELETE FROM reconcile.cleared WHERE name = 'rc_p';
DROP SCHEMA rc_p_mkr CASCADE;
DROP TABLE public.rc_p_l, public.rc_p_s, public.rc_p_item;
DROP ROLE rc_p_maker, rc_p_checker, rc_p_member;
