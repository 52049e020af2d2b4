-- Attacks on 0.6.0 (SPEC section 8 under section 6's trust rules): configure and reset_option,
-- accept and reject, reconcile.rejections, adjustments and their export, write-offs and their
-- maker, match_rate, tried by roles that must not get what they try.  Each test is one attack and
-- asserts the safe outcome.  Roles (prefix ra_):
--   ra_owner     owns the region books (public.ra_l/ra_s, row level security by region) and ra_r
--   ra_member    a member of ra_owner (may configure)
--   ra_reader    reads the books whole, owns nothing
--   ra_narrow    reads the books narrowed by row level security to region A
--   ra_outsider  may read neither source
--   ra_mallory   an attacker with a schema of its own whose sources run its code
-- The write-off maker-checker needs second persons (dblink logins, as test/persons.sql): that part
-- (roles ra_p_*, tables public.ra_pl/ra_ps, reconciliation ra_p) is committed by dblink
-- connections first and removed at the end (its audit entries stay: the log is append-only).  The
-- rest is one transaction that rolls back.  Run by a superuser, as the suite is.
SET client_min_messages = warning;
SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'reconcile') AS ra_add_reconcile,
       NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'dblink') AS ra_add_dblink \gset
CREATE EXTENSION IF NOT EXISTS reconcile;
\ir lib/logins.sql
-- removes what the dblink part committed (at the end, and first what a run of this file that
-- stopped half-way left)
CREATE FUNCTION pg_temp.ra_p_cleanup() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    rid bigint;
BEGIN
    IF EXISTS (SELECT FROM reconcile.reconciliations WHERE name = 'ra_p') THEN
        PERFORM reconcile.drop('ra_p');
    END IF;
    FOR rid IN SELECT DISTINCT recon_id FROM reconcile.audit_log WHERE name = 'ra_p' AND recon_id IS NOT NULL LOOP
        DELETE FROM reconcile.adjustment_entries WHERE recon_id = rid;
        DELETE FROM reconcile.recon_options WHERE recon_id = rid;
        DELETE FROM reconcile.rejections WHERE recon_id = rid;
        DELETE FROM reconcile.released WHERE recon_id = rid;
        DELETE FROM reconcile.skipped WHERE recon_id = rid;
        EXECUTE format('DROP TABLE IF EXISTS reconcile.%I', 'cleared_' || rid);
    END LOOP;
    DELETE FROM reconcile.results WHERE name = 'ra_p';
    DELETE FROM reconcile.items WHERE name = 'ra_p';
    DELETE FROM reconcile.runs WHERE name = 'ra_p';
    DROP SCHEMA IF EXISTS ra_p CASCADE;
    DROP TABLE IF EXISTS public.ra_pl, public.ra_ps, public.ra_p_ids;
    DROP ROLE IF EXISTS ra_p_member;
    DROP ROLE IF EXISTS ra_p_maker;
    DROP ROLE IF EXISTS ra_p_checker;
    DROP ROLE IF EXISTS ra_p_owner;
END
$$;
SELECT pg_temp.ra_p_cleanup() \g /dev/null

BEGIN;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT plan(103);

---------------------------------------------------------------------------------------------------
-- 1. Write-offs: their maker is the role that set the limit, and the person who did; a second
--    person approves, in a login of its own (committed through dblink)
---------------------------------------------------------------------------------------------------
SELECT dblink_connect('ra_admin', format('host=%s port=%s dbname=%s user=%s',
                      split_part(current_setting('unix_socket_directories'), ',', 1),
                      current_setting('port'), current_database(), current_user)) \g /dev/null
SELECT dblink_exec('ra_admin', $$
    CREATE ROLE ra_p_owner LOGIN PASSWORD 'rc-test-login';
    CREATE ROLE ra_p_maker LOGIN PASSWORD 'rc-test-login' IN ROLE ra_p_owner;
    CREATE ROLE ra_p_member LOGIN PASSWORD 'rc-test-login' IN ROLE ra_p_maker;
    CREATE ROLE ra_p_checker LOGIN PASSWORD 'rc-test-login';
    GRANT ra_p_checker TO ra_p_maker;
    CREATE TABLE public.ra_pl (id text, amount numeric(12,2), tx_date date, ref text);
    CREATE TABLE public.ra_ps (id text, amount numeric(12,2), tx_date date, ref text);
    INSERT INTO public.ra_pl VALUES ('P1', 100.00, '2026-11-02', 'INV-0101'), ('P2', 200.00, '2026-11-02', 'INV-0102'),
                                    ('P3', 300.00, '2026-11-02', 'INV-0103');
    INSERT INTO public.ra_ps VALUES ('Q1', 100.02, '2026-11-03', 'PAY INV-0101'), ('Q2', 200.04, '2026-11-03', 'PAY INV-0102'),
                                    ('Q3', 299.97, '2026-11-03', 'PAY INV-0103');
    GRANT SELECT ON public.ra_pl, public.ra_ps TO ra_p_owner, ra_p_maker, ra_p_member, ra_p_checker;
    CREATE SCHEMA ra_p AUTHORIZATION ra_p_owner;
    GRANT USAGE ON SCHEMA ra_p TO PUBLIC
$$) \g /dev/null
SELECT pg_temp.login('p_owner', 'ra_p_owner') \g /dev/null
SELECT pg_temp.login('p_maker', 'ra_p_maker') \g /dev/null
SELECT pg_temp.login('p_member', 'ra_p_member') \g /dev/null
SELECT pg_temp.login('p_checker', 'ra_p_checker') \g /dev/null
-- the owner makes the reconciliation; the maker, a member of the owning role, sets the write-off
-- limit in its own login; the owner runs it
SELECT pg_temp.as_login('p_owner', $$
    SET search_path = ra_p;
    SELECT reconcile.create('ra_p', 'public.ra_pl', 'public.ra_ps', reconcile.rule(abs_tol => 0.01))
$$) \g /dev/null
SELECT pg_temp.as_login('p_maker', $$
    SELECT reconcile.configure('ra_p', writeoff_limit => 0.05, writeoff_account => '6990 rounding')
$$) \g /dev/null
SELECT pg_temp.as_login('p_owner', $$SELECT reconcile.run('ra_p', '2026-11-30')$$) \g /dev/null
SELECT dblink_exec('ra_admin', $$
    CREATE TABLE public.ra_p_ids AS SELECT ledger_id AS what, item_id AS id FROM reconcile.items WHERE name = 'ra_p';
    GRANT SELECT ON public.ra_p_ids TO PUBLIC
$$) \g /dev/null

SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, category, status, resolution, resolved_by, resolved_session), '; ' ORDER BY ledger_id)
           FROM reconcile.items WHERE name = 'ra_p'),
          'P1 amount_mismatch resolved write-off ra_p_maker ra_p_maker; P2 amount_mismatch resolved write-off ra_p_maker ra_p_maker; '
          'P3 amount_mismatch resolved write-off ra_p_maker ra_p_maker',
          'write-offs: the owner''s run wrote off within the limit, made by the role that set it and the person who did');
-- the SQLSTATE of what a statement raises, and its detail
CREATE FUNCTION pg_temp.refusal(sql text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    st text;
    dt text;
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, dt = PG_EXCEPTION_DETAIL;
    RETURN st || ': ' || dt;
END
$f$;
SELECT is((SELECT concat_ws('|', writeoff_limit, writeoff_account, writeoff_by, set_by) FROM reconcile.options WHERE name = 'ra_p'),
          '0.05|6990 rounding|ra_p_maker|ra_p_maker', 'write-offs: reconcile.options names the maker of the limit');
SELECT is(pg_temp.refusal($$SELECT pg_temp.as_login('p_maker', 'SELECT reconcile.approve((SELECT id FROM public.ra_p_ids WHERE what = ''P1''))')$$),
          '42501: ra_p_maker acts as or is a member of ra_p_maker.',
          'write-offs: the role that set the limit cannot approve what its limit wrote off, in its own login (42501)');
SELECT is(pg_temp.refusal($$SELECT pg_temp.as_login('p_maker', 'SET ROLE ra_p_checker; SELECT reconcile.approve((SELECT id FROM public.ra_p_ids WHERE what = ''P1''))')$$),
          '42501: ra_p_maker acts as or is a member of ra_p_maker.',
          'write-offs: nor the same person after SET ROLE to the checker''s role (42501)');
SELECT pg_temp.as_login('p_maker', 'RESET ROLE') \g /dev/null
SELECT is(pg_temp.refusal($$SELECT pg_temp.as_login('p_maker', 'SET ROLE ra_p_owner; SELECT reconcile.approve((SELECT id FROM public.ra_p_ids WHERE what = ''P1''))')$$),
          '42501: ra_p_maker acts as or is a member of ra_p_maker.',
          'write-offs: nor the same person after SET ROLE to the owning role (42501)');
SELECT pg_temp.as_login('p_maker', 'RESET ROLE') \g /dev/null
SELECT is(pg_temp.refusal($$SELECT pg_temp.as_login('p_member', 'SELECT reconcile.approve((SELECT id FROM public.ra_p_ids WHERE what = ''P1''))')$$),
          '42501: ra_p_member acts as or is a member of ra_p_maker.',
          'write-offs: nor a login that is a member of the role that set the limit (42501)');
SELECT throws_ok($$SELECT reconcile.approve((SELECT id FROM public.ra_p_ids WHERE what = 'P1'))$$, '42501', NULL,
                 'write-offs: nor a superuser, who may act as anyone');
SELECT is((SELECT concat_ws(' ', status, approved_by) FROM reconcile.items WHERE item_id = (SELECT id FROM public.ra_p_ids WHERE what = 'P1'))
          || ' / ' || (SELECT count(*) FROM reconcile.audit_log WHERE action = 'approve'
                       AND recon_id = (SELECT id FROM reconcile.reconciliations WHERE name = 'ra_p')),
          'resolved / 0', 'write-offs: the refused approvals changed nothing and audited no approval');
SELECT is(pg_temp.as_login('p_checker', $$SELECT reconcile.approve((SELECT id FROM public.ra_p_ids WHERE what = 'P1'))$$), '',
          'write-offs: a second person approves, in its own login');
SELECT is((SELECT concat_ws(' ', i.status, i.resolved_by, i.resolved_session, i.approved_by, i.approved_session, a.status)
           FROM reconcile.items i JOIN reconcile.adjustments a ON a.item_id = i.item_id
           WHERE i.item_id = (SELECT id FROM public.ra_p_ids WHERE what = 'P1')),
          'approved ra_p_maker ra_p_maker ra_p_checker ra_p_checker approved',
          'write-offs: the item records maker and checker, and its adjustment is approved');
SELECT is(pg_temp.as_login('p_checker', $$SELECT string_agg(account || ' ' || amount || ' ' || status, '; ') FROM reconcile.export_adjustments('ra_p')$$),
          '6990 rounding -0.02 exported', 'write-offs: the checker exports the approved write-off only');

---------------------------------------------------------------------------------------------------
-- 2. The region books: ra_r, held for review, with write-offs; one rejection, one adjustment
---------------------------------------------------------------------------------------------------
CREATE ROLE ra_owner;
CREATE ROLE ra_member IN ROLE ra_owner;
CREATE ROLE ra_reader;
CREATE ROLE ra_narrow;
CREATE ROLE ra_outsider;
CREATE ROLE ra_mallory;
GRANT USAGE ON SCHEMA public TO ra_owner, ra_member, ra_reader, ra_narrow, ra_outsider, ra_mallory;
GRANT CREATE ON SCHEMA public TO ra_owner;
CREATE SCHEMA ra_mal AUTHORIZATION ra_mallory;
GRANT USAGE ON SCHEMA ra_mal TO PUBLIC;
-- what the tests remember between statements
CREATE TEMP TABLE ra_ids (what text PRIMARY KEY, id bigint);
GRANT SELECT ON ra_ids TO PUBLIC;

SET SESSION AUTHORIZATION ra_owner;
SET search_path = public;
CREATE TABLE public.ra_l (id text, amount numeric(12,2), tx_date date, ref text, region text);
CREATE TABLE public.ra_s (id text, amount numeric(12,2), tx_date date, ref text, region text);
INSERT INTO public.ra_l VALUES
    ('LA1', 100.00, '2026-11-02', NULL, 'A'),        -- with SA1, 3 days later: held for review; the owner rejects it
    ('LA2', 200.00, '2026-11-02', NULL, 'A'),        -- with SA2: held for review
    ('LB1', 300.00, '2026-11-02', NULL, 'B'),        -- with SB1: held for review, region B
    ('LX', 400.00, '2026-11-02', NULL, 'A'),         -- with SX of region B: held for review
    ('LW', 50.00, '2026-11-02', 'INV-0050', 'A'),    -- SW 0.03 more: written off
    ('LWB', 60.00, '2026-11-02', 'INV-0060', 'B'),   -- SWB 0.02 more: written off, region B
    ('LO', 70.00, '2026-11-02', NULL, 'A'),          -- missing in the statement: the owner resolves it with an account
    ('LP', 80.00, '2026-11-02', NULL, 'B');          -- missing in the statement: open
INSERT INTO public.ra_s VALUES
    ('SA1', 100.00, '2026-11-05', NULL, 'A'), ('SA2', 200.00, '2026-11-05', NULL, 'A'),
    ('SB1', 300.00, '2026-11-05', NULL, 'B'), ('SX', 400.00, '2026-11-05', NULL, 'B'),
    ('SW', 50.03, '2026-11-03', 'PAY INV-0050', 'A'), ('SWB', 60.02, '2026-11-03', 'PAY INV-0060', 'B');
GRANT SELECT ON public.ra_l, public.ra_s TO ra_reader, ra_narrow;
ALTER TABLE public.ra_l ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.ra_s ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone ON public.ra_l FOR SELECT TO ra_reader USING (true);
CREATE POLICY everyone ON public.ra_s FOR SELECT TO ra_reader USING (true);
CREATE POLICY region_a ON public.ra_l FOR SELECT TO ra_narrow USING (region = 'A');
CREATE POLICY region_a ON public.ra_s FOR SELECT TO ra_narrow USING (region = 'A');
SELECT reconcile.create('ra_r', 'public.ra_l', 'public.ra_s', reconcile.rule(abs_tol => 0.01, days_after => 7)) \g /dev/null
SELECT reconcile.configure('ra_r', review_below => 0.8, writeoff_limit => 0.05, writeoff_account => '6990 rounding') \g /dev/null
SELECT reconcile.run('ra_r', '2026-11-30') AS r1 \gset
RESET search_path;
RESET SESSION AUTHORIZATION;
INSERT INTO ra_ids SELECT 'item ' || COALESCE(ledger_id, statement_id), item_id FROM reconcile.items WHERE name = 'ra_r';
INSERT INTO ra_ids SELECT 'recon', id FROM reconcile.reconciliations WHERE name = 'ra_r';
SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, statement_id, category, status, resolution), '; ' ORDER BY ledger_id)
           FROM reconcile.items WHERE name = 'ra_r'),
          'LA1 SA1 matched suggested; LA2 SA2 matched suggested; LB1 SB1 matched suggested; LO missing_in_statement open; '
          'LP missing_in_statement open; LW SW amount_mismatch resolved write-off; LWB SWB amount_mismatch resolved write-off; '
          'LX SX matched suggested',
          'set-up: the owner''s run held four matches for review and wrote off two differences');
SET SESSION AUTHORIZATION ra_owner;
SELECT reconcile.reject((SELECT id FROM ra_ids WHERE what = 'item LA1'), 'another customer''s payment') \g /dev/null
SELECT reconcile.resolve((SELECT id FROM ra_ids WHERE what = 'item LO'), 'booked', 'unbooked fee', '1590 suspense') \g /dev/null
RESET SESSION AUTHORIZATION;
SELECT is((SELECT string_agg(r.id, ' ' ORDER BY r.id) FROM reconcile.rejections r WHERE r.recon_id = (SELECT id FROM ra_ids WHERE what = 'recon'))
          || ' / ' || (SELECT string_agg(i.ledger_id || ' ' || a.status, ', ' ORDER BY i.ledger_id)
                       FROM reconcile.adjustments a JOIN reconcile.items i ON i.item_id = a.item_id WHERE a.name = 'ra_r'),
          'LA1 SA1 / LO pending, LW pending, LWB pending', 'set-up: the owner rejected LA1/SA1 and resolved LO with an account');

---------------------------------------------------------------------------------------------------
-- 3. An outsider: no SELECT on the sources
---------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION ra_outsider;
SELECT throws_ok($$SELECT reconcile.configure('ra_r', review_below => 0.1)$$, '42501', NULL,
                 'outsider: configure of another''s reconciliation: 42501');
SELECT throws_ok($$SELECT reconcile.configure('ra_r', review_below => 5)$$, '42501', NULL,
                 'outsider: configure with an invalid value is refused as not the owner (42501), before anything is checked');
SELECT throws_ok($$SELECT reconcile.configure('ra_r', writeoff_limit => 1000000, writeoff_account => 'mallory')$$, '42501', NULL,
                 'outsider: cannot raise the write-off limit (42501)');
SELECT throws_ok($$SELECT reconcile.reset_option('ra_r', 'review_below')$$, '42501', NULL,
                 'outsider: reset_option: 42501');
SELECT throws_ok($$SELECT reconcile.reset_option('ra_r', 'colour')$$, '42501', NULL,
                 'outsider: reset_option of an unknown option: 42501 too (the owner is checked first)');
SELECT throws_ok($$SELECT reconcile.configure('ra_nosuch', review_below => 0.1)$$, '42704', NULL,
                 'outsider: configure of an unknown name: 42704 (the registry, readable by everyone, is looked up first)');
SELECT throws_ok($$SELECT reconcile.reset_option('ra_nosuch', 'review_below')$$, '42704', NULL,
                 'outsider: reset_option of an unknown name: 42704');
SELECT throws_ok(format('SELECT reconcile.accept(%s)', (SELECT id FROM ra_ids WHERE what = 'item LA2')), '42704', NULL,
                 'outsider: accept of another''s suggested item: 42704 (out of sight)');
SELECT throws_ok(format('SELECT reconcile.reject(%s, %L)', (SELECT id FROM ra_ids WHERE what = 'item LA2'), 'not mine'), '42704', NULL,
                 'outsider: reject of it: 42704');
SELECT throws_ok(format('SELECT reconcile.accept(%s)', (SELECT id FROM ra_ids WHERE what = 'item LO')), '42704', NULL,
                 'outsider: accept of an item that is not suggested: 42704, not 55000 (its status stays hidden)');
SELECT throws_ok(format('SELECT reconcile.reject(%s, %L)', (SELECT id FROM ra_ids WHERE what = 'item LA1'), 'again'), '42704', NULL,
                 'outsider: reject of an item already rejected: 42704, not 55000');
SELECT throws_ok(format('SELECT reconcile.resolve(%s, %L, NULL, %L)', (SELECT id FROM ra_ids WHERE what = 'item LP'), 'booked', '9999 mallory'),
                 '42704', NULL, 'outsider: resolve with an account of another''s item: 42704');
SELECT throws_ok(format('SELECT reconcile.approve(%s)', (SELECT id FROM ra_ids WHERE what = 'item LW')), '42704', NULL,
                 'outsider: approve of another''s write-off: 42704');
SELECT throws_ok(format('SELECT reconcile.approve(%s)', (SELECT id FROM ra_ids WHERE what = 'item LO')), '42704', NULL,
                 'outsider: approve of another''s adjustment: 42704');
SELECT throws_ok($$SELECT * FROM reconcile.export_adjustments('ra_r')$$, '42501', NULL,
                 'outsider: export_adjustments: 42501');
SELECT throws_ok($$SELECT reconcile.take_adjustments('ra_r')$$, '42501', NULL,
                 'outsider: take_adjustments: 42501');
SELECT is((SELECT count(*) FROM reconcile.rejections WHERE recon_id = (SELECT id FROM ra_ids WHERE what = 'recon'))
          + (SELECT count(*) FROM reconcile.adjustment_entries WHERE recon_id = (SELECT id FROM ra_ids WHERE what = 'recon'))
          + (SELECT count(*) FROM reconcile.adjustments WHERE name = 'ra_r')
          + (SELECT count(*) FROM reconcile.items WHERE name = 'ra_r')
          + (SELECT count(*) FROM reconcile.open_items WHERE name = 'ra_r')
          + (SELECT count(*) FROM reconcile.match_rate WHERE name = 'ra_r')
          + (SELECT count(*) FROM reconcile.results WHERE name = 'ra_r')
          + (SELECT count(*) FROM reconcile.audit_log WHERE name = 'ra_r'), 0::bigint,
          'outsider: reads no rejection, adjustment entry, adjustment, item, open item, match rate, result or audit entry of ra_r');
SELECT is((SELECT count(*) FROM reconcile.adjustment_entries WHERE name = 'ra_p') + (SELECT count(*) FROM reconcile.adjustments WHERE name = 'ra_p')
          + (SELECT count(*) FROM reconcile.match_rate WHERE name = 'ra_p') + (SELECT count(*) FROM reconcile.items WHERE name = 'ra_p'),
          0::bigint, 'outsider: nor of ra_p (committed, with three write-offs)');
SELECT is((SELECT concat_ws('|', review_below, writeoff_limit, writeoff_account, alert_amount, writeoff_by, set_by)
           FROM reconcile.options WHERE name = 'ra_r'),
          '0.8|0.05|6990 rounding|ra_owner|ra_owner',
          'outsider: reads the options, like the registry (and its refused calls changed none of them)');
SELECT is((SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute
           WHERE attrelid = 'reconcile.recon_options'::regclass AND attnum > 0 AND NOT attisdropped),
          ARRAY['recon_id', 'review_below', 'writeoff_limit', 'writeoff_account', 'alert_amount', 'writeoff_by',
                'writeoff_session', 'set_by', 'set_at'],
          'outsider: recon_options holds thresholds, an account and who set them: no column for a source row');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*) FROM reconcile.recon_options o, public.ra_l l
           WHERE o.recon_id = (SELECT id FROM ra_ids WHERE what = 'recon') AND strpos(row_to_json(o)::text, l.id) > 0)
          + (SELECT count(*) FROM reconcile.recon_options o, public.ra_s s
             WHERE o.recon_id = (SELECT id FROM ra_ids WHERE what = 'recon') AND strpos(row_to_json(o)::text, s.id) > 0),
          0::bigint, 'nor any source row''s id in its values');
SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, status), '; ' ORDER BY ledger_id) FROM reconcile.items
           WHERE name = 'ra_r' AND ledger_id IN ('LA1', 'LA2', 'LO', 'LP', 'LW'))
          || ' / ' || (SELECT count(*) FROM reconcile.audit_log WHERE acting_role = 'ra_outsider'),
          'LA1 rejected; LA2 suggested; LO resolved; LP open; LW resolved / 0',
          'outsider: none of its attempts changed an item or left an audit entry');

---------------------------------------------------------------------------------------------------
-- 4. A reader of the sources who does not own ra_r; a member of the owning role
---------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION ra_reader;
SELECT throws_ok($$SELECT reconcile.configure('ra_r', review_below => 0.1)$$, '42501', NULL,
                 'reader: configure of a reconciliation it reads but does not own: 42501');
SELECT throws_ok($$SELECT reconcile.configure('ra_r', writeoff_limit => 1000000)$$, '42501', NULL,
                 'reader: cannot raise the write-off limit to write its differences off (42501)');
SELECT throws_ok($$SELECT reconcile.reset_option('ra_r', 'review_below')$$, '42501', NULL,
                 'reader: reset_option: 42501');
SELECT is((SELECT string_agg(id, ' ' ORDER BY id) FROM reconcile.rejections WHERE recon_id = (SELECT id FROM ra_ids WHERE what = 'recon')),
          'LA1 SA1', 'reader: a whole reader reads the owner''s rejection (the outsider above read none)');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION ra_member;
SELECT lives_ok($$SELECT reconcile.configure('ra_r', alert_amount => 1000)$$, 'member: a member of the owning role may configure');
SELECT lives_ok($$SELECT reconcile.reset_option('ra_r', 'alert_amount')$$, 'member: and reset an option');
SELECT is((SELECT concat_ws('|', review_below, writeoff_limit, alert_amount, writeoff_by, set_by) FROM reconcile.options WHERE name = 'ra_r'),
          '0.8|0.05|ra_owner|ra_member', 'member: options record it as the last to set them; the write-off maker stays the owner');
RESET SESSION AUTHORIZATION;

---------------------------------------------------------------------------------------------------
-- 5. A role narrowed by row level security to region A
---------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION ra_narrow;
SELECT is((SELECT count(*) FROM reconcile.rejections WHERE recon_id = (SELECT id FROM ra_ids WHERE what = 'recon'))
          + (SELECT count(*) FROM reconcile.audit_log WHERE name = 'ra_r' AND action IN ('reject', 'accept', 'configure')),
          0::bigint, 'narrowed: does not read the owner''s rejection, nor its audit entry');
SELECT is((SELECT count(*) FROM reconcile.adjustments WHERE name = 'ra_r') + (SELECT count(*) FROM reconcile.items WHERE name = 'ra_r')
          + (SELECT count(*) FROM reconcile.match_rate WHERE name = 'ra_r'), 0::bigint,
          'narrowed: nor the owner''s adjustments, items or match rate');
SELECT throws_ok($$SELECT * FROM reconcile.export_adjustments('ra_r')$$, '42501', NULL,
                 'narrowed: export_adjustments: 42501 (it does not see them all)');
SELECT throws_ok($$SELECT reconcile.take_adjustments('ra_r')$$, '42501', NULL, 'narrowed: take_adjustments: 42501');
SELECT throws_ok($$SELECT reconcile.configure('ra_r', review_below => 0.1)$$, '42501', NULL, 'narrowed: configure: 42501');
SELECT throws_ok(format('SELECT reconcile.accept(%s)', (SELECT id FROM ra_ids WHERE what = 'item LA2')), '42704', NULL,
                 'narrowed: accept of an item the owner''s run found: 42704');
SELECT throws_ok(format('SELECT reconcile.reject(%s, %L)', (SELECT id FROM ra_ids WHERE what = 'item LB1'), 'x'), '42704', NULL,
                 'narrowed: reject of a region B item: 42704');
SELECT reconcile.run('ra_r', '2026-11-30') AS r2 \gset
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*) FROM reconcile.results WHERE run_id = :r2 AND ledger_id = 'LA1' AND statement_id = 'SA1'), 0::bigint,
          'narrowed run: never proposes the pair the owner rejected (the rejection reaches it as a parameter)');
SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, statement_id, category, review), '; ' ORDER BY ledger_id, statement_id)
           FROM reconcile.results WHERE run_id = :r2),
          'LA1 missing_in_statement; LA2 SA2 matched t; LO missing_in_statement; LW SW amount_mismatch; '
          'LX missing_in_statement; SA1 missing_in_ledger',
          'narrowed run: it read region A only, held LA2/SA2 for review as the owner''s run did, and left LA1 and SA1 apart');
SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, statement_id, status, last_run_id = :r2), '; ' ORDER BY ledger_id, statement_id)
           FROM reconcile.items WHERE name = 'ra_r' AND status <> 'rejected'),
          'LA1 open t; LA2 SA2 suggested t; LB1 SB1 suggested f; LO resolved t; LP open f; LW SW resolved t; '
          'LWB SWB resolved f; LX SX suggested f; SA1 open t',
          'narrowed run: it opened no item for LX (whose counterpart it cannot see) and touched no item of region B');
SELECT is((SELECT count(*) FROM reconcile.items WHERE name = 'ra_r' AND status = 'suggested' AND ledger_id = 'LA1'), 0::bigint,
          'narrowed run: and suggested no item for the rejected pair');
SET SESSION AUTHORIZATION ra_narrow;
SELECT lives_ok(format('SELECT reconcile.reject(%s, %L)', (SELECT max(item_id) FROM reconcile.items WHERE name = 'ra_r' AND ledger_id = 'LA2'),
                       'not this one'), 'narrowed: rejects the suggestion its own run made');
SELECT is((SELECT string_agg(id || ' ' || made_by, ', ' ORDER BY id) FROM reconcile.rejections
           WHERE recon_id = (SELECT id FROM ra_ids WHERE what = 'recon')),
          'LA2 ra_narrow, SA2 ra_narrow', 'narrowed: reconcile.rejections shows it its own rejection only');
SELECT is((SELECT count(*) FROM reconcile.adjustments WHERE name = 'ra_r'), 0::bigint,
          'narrowed: reads none of the adjustments of the owner''s run (region B''s write-off among them)');
SELECT is((SELECT array_agg(run_id) FROM reconcile.match_rate WHERE name = 'ra_r'), ARRAY[:r2::bigint],
          'narrowed: reconcile.match_rate shows it its own run only');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*) FROM reconcile.rejections WHERE recon_id = (SELECT id FROM ra_ids WHERE what = 'recon')), 4::bigint,
          'both rejections are there');
SET SESSION AUTHORIZATION ra_owner;
SELECT reconcile.run('ra_r', '2026-11-30') AS r3 \gset
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*) FROM reconcile.results WHERE run_id = :r3
           AND ((ledger_id = 'LA1' AND statement_id = 'SA1') OR (ledger_id = 'LA2' AND statement_id = 'SA2'))), 0::bigint,
          'the owner''s next run pairs neither the pair it rejected nor the one the narrowed role rejected');

---------------------------------------------------------------------------------------------------
-- 6. Direct writes: nobody but the extension's owner writes its new tables
---------------------------------------------------------------------------------------------------
-- every write and write lock on the new tables and their sequences, as the calling role: the
-- statements that were not refused with 42501
CREATE FUNCTION pg_temp.ra_writes() RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    t text;
    s text;
    done text[] := '{}';
BEGIN
    FOREACH t IN ARRAY ARRAY['rejections', 'adjustment_entries', 'recon_options'] LOOP
        FOREACH s IN ARRAY ARRAY['INSERT INTO reconcile.%I DEFAULT VALUES', 'UPDATE reconcile.%I SET recon_id = recon_id',
                                 'DELETE FROM reconcile.%I', 'TRUNCATE reconcile.%I',
                                 'LOCK TABLE reconcile.%I IN ROW EXCLUSIVE MODE', 'LOCK TABLE reconcile.%I IN SHARE MODE',
                                 'SELECT 1 FROM reconcile.%I FOR KEY SHARE', 'ALTER TABLE reconcile.%I DISABLE ROW LEVEL SECURITY',
                                 'CREATE POLICY ra_all ON reconcile.%I FOR SELECT USING (true)'] LOOP
            BEGIN
                EXECUTE format(s, t);
                done := done || format(s, t);
            EXCEPTION WHEN insufficient_privilege THEN NULL;
                      WHEN OTHERS THEN done := done || (format(s, t) || ': ' || SQLSTATE);
            END;
        END LOOP;
    END LOOP;
    FOREACH s IN ARRAY ARRAY['SELECT nextval(''reconcile.rejections_rejection_id_seq'')',
                             'SELECT setval(''reconcile.rejections_rejection_id_seq'', 1)',
                             'SELECT nextval(''reconcile.adjustment_entries_adjustment_id_seq'')',
                             'SELECT setval(''reconcile.adjustment_entries_adjustment_id_seq'', 1)'] LOOP
        BEGIN
            EXECUTE s;
            done := done || s;
        EXCEPTION WHEN insufficient_privilege THEN NULL;
                  WHEN OTHERS THEN done := done || (s || ': ' || SQLSTATE);
        END;
    END LOOP;
    RETURN done;
END
$$;
SET SESSION AUTHORIZATION ra_owner;
SELECT is(pg_temp.ra_writes(), '{}'::text[],
          'the owner of ra_r: no INSERT, UPDATE, DELETE, TRUNCATE, write lock, row lock, policy or sequence change on rejections, adjustment_entries or recon_options');
SELECT throws_ok($$UPDATE reconcile.recon_options SET writeoff_by = NULL, writeoff_session = NULL$$, '42501', NULL,
                 'the maker of the write-offs cannot wipe its name from the options to approve them');
SELECT throws_ok($$DELETE FROM reconcile.rejections WHERE made_by = 'ra_owner'$$, '42501', NULL,
                 'nor take a rejection back without a trace');
SELECT throws_ok($$UPDATE reconcile.adjustment_entries SET exported_at = NULL, amount = amount * 100$$, '42501', NULL,
                 'nor change an adjustment''s amount or export it again');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION ra_reader;
SELECT is(pg_temp.ra_writes(), '{}'::text[], 'a reader: none either');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION ra_narrow;
SELECT is(pg_temp.ra_writes(), '{}'::text[], 'the narrowed role: none either');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION ra_mallory;
SELECT is(pg_temp.ra_writes(), '{}'::text[], 'the attacker: none either');
SELECT throws_ok($$INSERT INTO reconcile.rejections (rejection_id, recon_id, item_id, key, is_ledger, id, made_by)
                   SELECT 424242, (SELECT id FROM ra_ids WHERE what = 'recon'), 0, NULL, v.l, v.id, 'ra_owner'
                   FROM (VALUES (true, 'LO'), (false, 'SW')) v(l, id)$$, '42501', NULL,
                 'squatting: a rejection cannot be planted in another''s reconciliation');
SELECT throws_ok($$INSERT INTO reconcile.adjustment_entries (item_id, recon_id, name, key, account, amount, memo, run_id, made_by)
                   VALUES ((SELECT id FROM ra_ids WHERE what = 'item LP'), (SELECT id FROM ra_ids WHERE what = 'recon'), 'ra_r', NULL,
                           '9999 mallory', 80.00, 'forged', 1, 'ra_owner')$$, '42501', NULL,
                 'squatting: nor an adjustment for another''s item');
SELECT throws_ok($$INSERT INTO reconcile.recon_options (recon_id, writeoff_limit, writeoff_account, writeoff_by, set_by)
                   SELECT id, 1000000, '9999 mallory', 'ra_owner', 'ra_owner' FROM reconcile.reconciliations WHERE name = 'ra_p'$$,
                 '42501', NULL, 'squatting: nor options planted for another''s reconciliation');
SELECT throws_ok($$INSERT INTO reconcile.recon_options (recon_id, set_by) VALUES (-1, 'ra_mallory')
                   ON CONFLICT (recon_id) DO UPDATE SET writeoff_limit = 1000000$$, '42501', NULL,
                 'squatting: nor by an upsert');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*) FROM reconcile.rejections WHERE recon_id = (SELECT id FROM ra_ids WHERE what = 'recon'))
          || ' ' || (SELECT count(*) FROM reconcile.adjustment_entries WHERE recon_id = (SELECT id FROM ra_ids WHERE what = 'recon'))
          || ' ' || (SELECT concat_ws('|', writeoff_limit, writeoff_by) FROM reconcile.recon_options
                     WHERE recon_id = (SELECT id FROM ra_ids WHERE what = 'recon'))
          || ' ' || (SELECT concat_ws('|', writeoff_limit, writeoff_by) FROM reconcile.options WHERE name = 'ra_p'),
          '4 3 0.05|ra_owner 0.05|ra_p_maker', 'the tables are as the extension wrote them');

---------------------------------------------------------------------------------------------------
-- 7. The internal functions of 0.6.0: revoked from PUBLIC, refused to every role
---------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION ra_owner;
SELECT throws_ok($$SELECT reconcile.configure_by('ra_owner', 'ra_p_checker', 'ra_r', NULL, 1000000, '9999', NULL)$$, '42501', NULL,
                 'configure_by cannot be called directly, not even by the owner of the reconciliation (a limit set in another person''s name)');
SELECT throws_ok($$SELECT reconcile.reset_option_by('ra_owner', 'ra_owner', 'ra_r', 'writeoff_limit')$$, '42501', NULL,
                 'nor reset_option_by');
SELECT throws_ok($$SELECT reconcile.owned_registration('ra_r', 'ra_owner')$$, '42501', NULL, 'nor owned_registration');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION ra_mallory;
SELECT throws_ok(format('SELECT reconcile.accept_by(%L, %L, %s, NULL)', 'ra_owner', 'ra_owner', (SELECT id FROM ra_ids WHERE what = 'item LX')),
                 '42501', NULL, 'accept_by cannot be called directly (accepting in another''s name)');
SELECT throws_ok(format('SELECT reconcile.reject_by(%L, %L, %s, NULL)', 'ra_owner', 'ra_owner', (SELECT id FROM ra_ids WHERE what = 'item LX')),
                 '42501', NULL, 'nor reject_by');
SELECT throws_ok(format('SELECT * FROM reconcile.suggested_items(%s, %L)', (SELECT id FROM ra_ids WHERE what = 'item LX'), 'ra_owner'),
                 '42501', NULL, 'nor suggested_items (which would lock the item and show it)');
SELECT throws_ok($$SELECT reconcile.take_adjustments_by('ra_owner', 'ra_owner', 'ra_r')$$, '42501', NULL, 'nor take_adjustments_by');
SELECT throws_ok(format('SELECT reconcile.adjust(ARRAY[%s]::bigint[], %L, %L, %L)', (SELECT id FROM ra_ids WHERE what = 'item LP'),
                        '9999 mallory', 'forged', 'ra_owner'), '42501', NULL, 'nor adjust');
SELECT throws_ok(format('SELECT reconcile.write_off(%s, %s)', (SELECT id FROM ra_ids WHERE what = 'recon'), :r3), '42501', NULL,
                 'nor write_off');
SELECT throws_ok(format('SELECT reconcile.alert(%s, %s)', (SELECT id FROM ra_ids WHERE what = 'recon'), :r3), '42501', NULL,
                 'nor alert');
SELECT throws_ok($$SELECT reconcile.cancel_adjustments()$$, '42501', NULL, 'nor the trigger function cancel_adjustments');
SELECT throws_ok($$SELECT reconcile.item_visible(i, 'ra_owner') FROM reconcile.items i$$, '42501', NULL, 'nor item_visible');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, status), '; ' ORDER BY ledger_id) FROM reconcile.items
           WHERE name = 'ra_r' AND ledger_id IN ('LP', 'LX'))
          || ' / ' || (SELECT count(*) FROM reconcile.adjustment_entries WHERE account LIKE '9999%'),
          'LP open; LX suggested / 0', 'the refused calls changed nothing');

---------------------------------------------------------------------------------------------------
-- 8. Hostile sources: code of the attacker's in a source says who ran it.  A run reads the
--    sources as its caller; create, configure, reset_option, accept, reject, resolve and
--    export_adjustments read no source at all, so the code never runs as the extension's owner
---------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION ra_mallory;
CREATE TABLE ra_mal.seen (step text, who name, super boolean);
GRANT SELECT, INSERT ON ra_mal.seen TO PUBLIC;
-- records the step (ra.step) and the role it runs as; becomes superuser if it ever runs as one
CREATE FUNCTION ra_mal.spy() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ra_mal.seen SELECT current_setting('ra.step', true), current_user, rolsuper
    FROM pg_catalog.pg_roles WHERE rolname = current_user;
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE ra_mallory SUPERUSER';
    END IF;
    RETURN true;
END $$;
-- a view over the ledger that calls it (its readers are narrowed), and a table whose amount is of a
-- type whose cast to numeric calls it (its readers are not)
CREATE TABLE ra_mal.hl (id text, amount numeric(12,2), tx_date date, ref text);
CREATE TABLE ra_mal.hs (id text, amount numeric(12,2), tx_date date, ref text);
INSERT INTO ra_mal.hl VALUES ('H1', 100.00, '2026-11-02', NULL), ('H2', 200.00, '2026-11-02', NULL),
                             ('H3', 50.00, '2026-11-02', 'INV-3'), ('H4', 70.00, '2026-11-02', NULL);
INSERT INTO ra_mal.hs VALUES ('K1', 100.00, '2026-11-05', NULL), ('K2', 200.00, '2026-11-05', NULL),
                             ('K3', 50.03, '2026-11-03', 'PAY INV-3');
CREATE VIEW ra_mal.hlv AS SELECT * FROM ra_mal.hl WHERE ra_mal.spy();
CREATE TYPE ra_mal.amt AS (v numeric);
CREATE FUNCTION ra_mal.amt_numeric(ra_mal.amt) RETURNS numeric LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ra_mal.spy();
    RETURN ($1).v;
END $$;
RESET SESSION AUTHORIZATION;
CREATE CAST (ra_mal.amt AS numeric) WITH FUNCTION ra_mal.amt_numeric(ra_mal.amt);
SET SESSION AUTHORIZATION ra_mallory;
CREATE TABLE ra_mal.cl (id text, amount ra_mal.amt, tx_date date, ref text);
INSERT INTO ra_mal.cl SELECT id, ROW(amount)::ra_mal.amt, tx_date, ref FROM ra_mal.hl;
GRANT SELECT ON ra_mal.hlv, ra_mal.hs, ra_mal.cl TO ra_reader;
SET search_path = ra_mal;
SET ra.step = 'view create';
SELECT reconcile.create('ra_hv', 'ra_mal.hlv', 'ra_mal.hs', reconcile.rule(abs_tol => 0.01, days_after => 7)) \g /dev/null
SET ra.step = 'cast create';
SELECT reconcile.create('ra_hc', 'ra_mal.cl', 'ra_mal.hs', reconcile.rule(abs_tol => 0.01, days_after => 7)) \g /dev/null
RESET search_path;
SET ra.step = 'view configure';
SELECT reconcile.configure('ra_hv', review_below => 0.8, writeoff_limit => 0.05, writeoff_account => '6990') \g /dev/null
SET ra.step = 'cast configure';
SELECT reconcile.configure('ra_hc', review_below => 0.8, writeoff_limit => 0.05, writeoff_account => '6990') \g /dev/null
SET ra.step = 'view run';
SELECT reconcile.run('ra_hv', '2026-11-30') \g /dev/null
SET ra.step = 'cast run';
SELECT reconcile.run('ra_hc', '2026-11-30') \g /dev/null
SET ra.step = 'view accept';
SELECT reconcile.accept((SELECT item_id FROM reconcile.items WHERE name = 'ra_hv' AND ledger_id = 'H1'), 'fine') \g /dev/null
SET ra.step = 'view reject';
SELECT reconcile.reject((SELECT item_id FROM reconcile.items WHERE name = 'ra_hv' AND ledger_id = 'H2'), 'no') \g /dev/null
SET ra.step = 'view resolve';
SELECT reconcile.resolve((SELECT item_id FROM reconcile.items WHERE name = 'ra_hv' AND ledger_id = 'H4'), 'booked', NULL, '1590') \g /dev/null
SET ra.step = 'view export';
SELECT throws_ok($$SELECT * FROM reconcile.export_adjustments('ra_hv')$$, '42501', NULL,
                 'hostile view: its readers are narrowed, so export_adjustments is refused (42501), to its owner too');
SET ra.step = 'view reset';
SELECT reconcile.reset_option('ra_hv', 'review_below') \g /dev/null
RESET SESSION AUTHORIZATION;
-- on the other, the victim (a reader of the attacker's sources) follows up what the attacker's run found
SET SESSION AUTHORIZATION ra_reader;
SET ra.step = 'cast accept';
SELECT reconcile.accept((SELECT item_id FROM reconcile.items WHERE name = 'ra_hc' AND ledger_id = 'H1'), 'fine') \g /dev/null
SET ra.step = 'cast reject';
SELECT reconcile.reject((SELECT item_id FROM reconcile.items WHERE name = 'ra_hc' AND ledger_id = 'H2'), 'no') \g /dev/null
RESET SESSION AUTHORIZATION;
-- (this session's person is the superuser, who approves nothing: a checker's approval, written
-- directly as the tables' owner, as test/security.sql does)
UPDATE reconcile.items SET status = 'approved', approved_by = 'ra_reader', approved_session = 'ra_reader', approved_at = now()
WHERE name = 'ra_hc' AND ledger_id = 'H3';
SET SESSION AUTHORIZATION ra_reader;
SET ra.step = 'cast export';
SELECT is((SELECT string_agg(account || ' ' || amount, '; ') FROM reconcile.export_adjustments('ra_hc')), '6990 -0.03',
          'hostile cast: a whole reader exports the approved write-off');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION ra_mallory;
SET ra.step = 'cast reset';
SELECT reconcile.reset_option('ra_hc', 'writeoff_limit') \g /dev/null
RESET ra.step;
RESET SESSION AUTHORIZATION;
-- the attacker's code inside a superuser's REFRESH (as the attacker, in a security-restricted
-- operation, in the superuser's session) tries the new entry points on its own reconciliation: a
-- write-off limit set there would have the superuser as its person
SET SESSION AUTHORIZATION ra_mallory;
CREATE TABLE ra_mal.log (action text, state text);
CREATE FUNCTION ra_mal.payload() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    t bigint := (SELECT item_id FROM reconcile.items WHERE name = 'ra_hc' AND ledger_id = 'H4');
BEGIN
    IF session_user = current_user THEN
        RETURN 0;
    END IF;
    BEGIN
        PERFORM reconcile.configure('ra_hc', writeoff_limit => 1000000, writeoff_account => '9999 mallory');
        INSERT INTO ra_mal.log VALUES ('configure', 'done');
    EXCEPTION WHEN OTHERS THEN INSERT INTO ra_mal.log VALUES ('configure', SQLSTATE);
    END;
    BEGIN
        PERFORM reconcile.reset_option('ra_hc', 'review_below');
        INSERT INTO ra_mal.log VALUES ('reset_option', 'done');
    EXCEPTION WHEN OTHERS THEN INSERT INTO ra_mal.log VALUES ('reset_option', SQLSTATE);
    END;
    BEGIN
        PERFORM reconcile.resolve(t, 'booked', NULL, '9999 mallory');
        INSERT INTO ra_mal.log VALUES ('resolve', 'done');
    EXCEPTION WHEN OTHERS THEN INSERT INTO ra_mal.log VALUES ('resolve', SQLSTATE);
    END;
    BEGIN
        PERFORM reconcile.take_adjustments('ra_hc');
        INSERT INTO ra_mal.log VALUES ('take_adjustments', 'done');
    EXCEPTION WHEN OTHERS THEN INSERT INTO ra_mal.log VALUES ('take_adjustments', SQLSTATE);
    END;
    RETURN 1;
END $$;
CREATE MATERIALIZED VIEW ra_mal.mv AS SELECT ra_mal.payload() AS x WITH NO DATA;
RESET SESSION AUTHORIZATION;
REFRESH MATERIALIZED VIEW ra_mal.mv;
SELECT is((SELECT string_agg(action || ' ' || state, ', ' ORDER BY action) FROM ra_mal.log),
          'configure 42501, reset_option 42501, resolve 42501, take_adjustments 42501',
          'the attacker''s code inside a superuser''s REFRESH cannot configure, reset_option, resolve with an account or export (42501)');
SELECT is((SELECT concat_ws('|', review_below, writeoff_limit, writeoff_account) FROM reconcile.options WHERE name = 'ra_hc')
          || ' / ' || (SELECT status FROM reconcile.items WHERE name = 'ra_hc' AND ledger_id = 'H4'),
          '0.8 / open', 'and nothing changed');
SELECT is((SELECT string_agg(concat_ws(' ', name, ledger_id, status, resolution), '; ' ORDER BY name, ledger_id)
           FROM reconcile.items WHERE name IN ('ra_hv', 'ra_hc')),
          'ra_hc H1 cleared accepted; ra_hc H2 rejected rejected; ra_hc H3 approved write-off; ra_hc H4 open; '
          'ra_hv H1 cleared accepted; ra_hv H2 rejected rejected; ra_hv H3 resolved write-off; ra_hv H4 resolved booked',
          'hostile sources: every step was taken');
SELECT is((SELECT string_agg(DISTINCT step, ', ') FROM ra_mal.seen), 'cast run, view run',
          'hostile sources: the attacker''s code ran during the runs only: create, configure, accept, reject, resolve, export and reset_option read no source');
SELECT is((SELECT string_agg(DISTINCT who::text, ', ') || ' / ' || bool_or(super)::text FROM ra_mal.seen),
          'ra_mallory / false', 'hostile sources: and as the role that ran them, never as the extension''s owner nor any superuser');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'ra_mallory'), false, 'hostile sources: the attacker is no superuser');

---------------------------------------------------------------------------------------------------
-- 9. The catalogue: no SECURITY DEFINER function; 0.6.0's internals revoked from PUBLIC; its
--    tables and views readable, never writable
---------------------------------------------------------------------------------------------------
CREATE TEMP TABLE ra_new (sig text, internal boolean);
INSERT INTO ra_new VALUES
    ('reconcile.configure(text,double precision,numeric,text,numeric)', false),
    ('reconcile.reset_option(text,text)', false),
    ('reconcile.accept(bigint,text)', false),
    ('reconcile.reject(bigint,text)', false),
    ('reconcile.resolve(bigint,text,text,text)', false),
    ('reconcile.take_adjustments(text)', false),
    ('reconcile.export_adjustments(text)', false),
    ('reconcile.match_detail_agg(boolean,text,numeric,date,text,text,reconcile.rule,text,numeric,text)', false),
    ('reconcile.owned_registration(text,name)', true),
    ('reconcile.configure_by(name,name,text,double precision,numeric,text,numeric)', true),
    ('reconcile.reset_option_by(name,name,text,text)', true),
    ('reconcile.suggested_items(bigint,name)', true),
    ('reconcile.accept_by(name,name,bigint,text)', true),
    ('reconcile.reject_by(name,name,bigint,text)', true),
    ('reconcile.resolve_by(name,name,bigint,text,text,text)', true),
    ('reconcile.adjust(bigint[],text,text,name)', true),
    ('reconcile.cancel_adjustments()', true),
    ('reconcile.take_adjustments_by(name,name,text)', true),
    ('reconcile.write_off(bigint,bigint)', true),
    ('reconcile.alert(bigint,bigint)', true),
    ('reconcile.item_visible(reconcile.items,name)', true),
    ('reconcile.item_rows(reconcile.items[])', true),
    ('reconcile.match_agg_transfn(internal,boolean,text,numeric,date,text,text,reconcile.rule,text,numeric,text)', true);
SELECT is((SELECT array_agg(sig ORDER BY sig) FROM ra_new WHERE to_regprocedure(sig) IS NULL), NULL,
          'catalogue: every function 0.6.0 added is there (so the checks below are not vacuous)');
SELECT is((SELECT array_agg(sig ORDER BY sig) FROM ra_new JOIN pg_proc p ON p.oid = to_regprocedure(sig) WHERE p.prosecdef), NULL,
          'catalogue: none of the functions 0.6.0 added is SECURITY DEFINER');
SELECT is((SELECT array_agg(oid::regprocedure::text ORDER BY oid::regprocedure::text) FROM pg_proc
           WHERE pronamespace = 'reconcile'::regnamespace AND prosecdef), NULL,
          'catalogue: nor is any function of the extension');
SELECT is((SELECT array_agg(sig ORDER BY sig) FROM ra_new JOIN pg_proc p ON p.oid = to_regprocedure(sig)
           WHERE internal AND (p.proacl IS NULL
                               OR EXISTS (SELECT FROM aclexplode(p.proacl) a WHERE a.grantee = 0)
                               OR has_function_privilege('public', p.oid, 'EXECUTE'))), NULL,
          'catalogue: every internal function 0.6.0 added is revoked from PUBLIC');
SELECT is((SELECT array_agg(sig || ' ' || r ORDER BY sig, r) FROM ra_new JOIN pg_proc p ON p.oid = to_regprocedure(sig),
                  unnest(ARRAY['ra_owner', 'ra_member', 'ra_reader', 'ra_narrow', 'ra_outsider', 'ra_mallory']) r
           WHERE internal AND has_function_privilege(r, p.oid, 'EXECUTE')), NULL,
          'catalogue: and executable by none of this file''s roles');
SELECT is((SELECT array_agg(sig ORDER BY sig) FROM ra_new JOIN pg_proc p ON p.oid = to_regprocedure(sig)
           WHERE NOT internal AND NOT has_function_privilege('public', p.oid, 'EXECUTE')), NULL,
          'catalogue: while the user-facing ones are executable by everyone (they check the caller themselves)');
SELECT is((SELECT array_agg(c.relname || ' ' || CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END
                            || ' ' || a.privilege_type ORDER BY c.relname, a.privilege_type)
           FROM pg_class c, aclexplode(c.relacl) a
           WHERE c.relnamespace = 'reconcile'::regnamespace AND a.grantee <> c.relowner
             AND c.relname IN ('recon_options', 'options', 'rejections', 'adjustment_entries', 'adjustments', 'match_rate',
                               'rejections_rejection_id_seq', 'adjustment_entries_adjustment_id_seq')),
          ARRAY['adjustment_entries PUBLIC SELECT', 'adjustments PUBLIC SELECT', 'match_rate PUBLIC SELECT',
                'options PUBLIC SELECT', 'recon_options PUBLIC SELECT', 'rejections PUBLIC SELECT'],
          'catalogue: the new tables and views are granted SELECT to PUBLIC and nothing else; their sequences nothing');
SELECT is((SELECT string_agg(c.relname || ' ' || c.relrowsecurity, ', ' ORDER BY c.relname) FROM pg_class c
           WHERE c.oid IN ('reconcile.recon_options'::regclass, 'reconcile.rejections'::regclass, 'reconcile.adjustment_entries'::regclass)),
          'adjustment_entries true, recon_options true, rejections true', 'catalogue: with row level security on the three tables');
SELECT is((SELECT string_agg(c.relname || ' ' || COALESCE(array_to_string(c.reloptions, ','), ''), ', ' ORDER BY c.relname) FROM pg_class c
           WHERE c.oid IN ('reconcile.options'::regclass, 'reconcile.adjustments'::regclass, 'reconcile.match_rate'::regclass)),
          'adjustments security_invoker=true, match_rate security_invoker=true, options security_invoker=true',
          'catalogue: and the three views read the tables as their reader (security_invoker)');

-- a suggested group one of whose rows a narrowed role cannot see: its run leaves the group alone
-- whole (it neither supersedes the items it sees nor opens items for their rows), and the group is
-- accepted whole afterwards
CREATE ROLE ra_g_owner;
CREATE ROLE ra_g_narrow;
GRANT USAGE, CREATE ON SCHEMA public TO ra_g_owner;
GRANT USAGE ON SCHEMA public TO ra_g_narrow;
SET SESSION AUTHORIZATION ra_g_owner;
CREATE TABLE public.ra_g_l (id text, amount numeric(12,2), tx_date date, ref text, batch text, region text);
CREATE TABLE public.ra_g_s (id text, amount numeric(12,2), tx_date date, ref text, region text);
INSERT INTO public.ra_g_l VALUES ('C1', 10, '2026-11-03', NULL, 'P-9', 'A'), ('C2', 20, '2026-11-03', NULL, 'P-9', 'A'),
                                 ('C3', 30, '2026-11-03', NULL, 'P-9', 'B');
INSERT INTO public.ra_g_s VALUES ('B4', 60, '2026-11-08', 'PAYOUT P-9', 'A');
GRANT SELECT ON public.ra_g_l, public.ra_g_s TO ra_g_narrow;
ALTER TABLE public.ra_g_l ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.ra_g_s ENABLE ROW LEVEL SECURITY;
CREATE POLICY a ON public.ra_g_l FOR SELECT TO ra_g_narrow USING (region = 'A');
CREATE POLICY a ON public.ra_g_s FOR SELECT TO ra_g_narrow USING (region = 'A');
SELECT reconcile.create('ra_g', 'public.ra_g_l', 'public.ra_g_s', reconcile.rule(abs_tol => 0.01, days_after => 7)) \g /dev/null
SELECT reconcile.configure('ra_g', review_below => 0.8) \g /dev/null
SELECT reconcile.run('ra_g', '2026-11-30') \g /dev/null
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION ra_g_narrow;
SELECT reconcile.run('ra_g', '2026-11-30') \g /dev/null
RESET SESSION AUTHORIZATION;
SELECT is((SELECT string_agg(ledger_id || ' ' || status, ', ' ORDER BY ledger_id) FROM reconcile.items WHERE name = 'ra_g'),
          'C1 suggested, C2 suggested, C3 suggested',
          'narrowed: its run leaves a suggested group with a row it cannot see alone, whole');
SET SESSION AUTHORIZATION ra_g_owner;
SELECT reconcile.accept((SELECT item_id FROM reconcile.items WHERE name = 'ra_g' AND ledger_id = 'C3')) \g /dev/null
RESET SESSION AUTHORIZATION;
SELECT is((SELECT string_agg(id, ' ' ORDER BY is_ledger, id) FROM reconcile.cleared WHERE name = 'ra_g'), 'B4 C1 C2 C3',
          'narrowed: and the group is accepted whole afterwards');

SELECT * FROM finish();
ROLLBACK;

SELECT dblink_disconnect('ra_admin') \g /dev/null
SELECT dblink_disconnect('p_owner') \g /dev/null
SELECT dblink_disconnect('p_maker') \g /dev/null
SELECT dblink_disconnect('p_member') \g /dev/null
SELECT dblink_disconnect('p_checker') \g /dev/null
SELECT pg_temp.ra_p_cleanup() \g /dev/null
\if :ra_add_dblink
DROP EXTENSION dblink;
\endif
\if :ra_add_reconcile
DROP EXTENSION reconcile;
\endif
