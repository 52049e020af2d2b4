-- Attacks on SPEC section 6 (Trust), by an ordinary role on a shared database.  Each test is one
-- attack and asserts the safe outcome; a failing test is a hole.  Complements test/security.sql
-- (which covers the plain cases: view functions and casts in a source, direct calls of
-- record_run/record_manual/captured, writes to the registry, drop and re-create, SET ROLE and
-- membership against maker-checker).  Roles:
--   rc_atk_mallory  an attacker with a schema of its own and no rights on anyone's books
--   rc_atk_owner    owns the region books (public.reg_l/reg_s, row level security by region)
--   rc_atk_narrow   may read those books, narrowed by row level security to region A
--   rc_atk_maker / rc_atk_checker   maker and checker; in section 2 the maker is the attacker
--   rc_atk_dba      a database owner that is not a superuser (runs ANALYZE)
--   rc_atk_alice / rc_atk_bob   two sellers reading their own orders through a view
BEGIN;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT plan(40);

CREATE ROLE rc_atk_mallory;
CREATE ROLE rc_atk_owner;
CREATE ROLE rc_atk_narrow;
CREATE ROLE rc_atk_maker;
CREATE ROLE rc_atk_checker;
CREATE ROLE rc_atk_dba;
CREATE ROLE rc_atk_alice;
CREATE ROLE rc_atk_bob;
GRANT USAGE ON SCHEMA public TO rc_atk_mallory, rc_atk_owner, rc_atk_narrow, rc_atk_maker, rc_atk_checker,
                                rc_atk_dba, rc_atk_alice, rc_atk_bob;
GRANT CREATE ON SCHEMA public TO rc_atk_owner, rc_atk_alice;
CREATE SCHEMA mal AUTHORIZATION rc_atk_mallory;
GRANT USAGE ON SCHEMA mal TO PUBLIC;
CREATE SCHEMA mkr AUTHORIZATION rc_atk_maker;
GRANT USAGE ON SCHEMA mkr TO PUBLIC;
-- what the tests remember between statements
CREATE TEMP TABLE atk_ids (what text PRIMARY KEY, id bigint);
GRANT SELECT, INSERT ON atk_ids TO PUBLIC;

---------------------------------------------------------------------------------------------------
-- The region books: row level security narrows rc_atk_narrow to region A
---------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION rc_atk_owner;
SET search_path = public;
CREATE TABLE public.reg_l (id text, amount numeric(12,2), tx_date date, ref text, region text);
CREATE TABLE public.reg_s (id text, amount numeric(12,2), tx_date date, ref text, region text);
INSERT INTO public.reg_l VALUES ('A1', 10, '2026-11-01', NULL, 'A'), ('B1', 20, '2026-11-01', NULL, 'B'),
                                ('LX', 100, '2026-11-01', 'INV-9001', 'A'), ('A2', 50, '2026-11-01', NULL, 'A');
INSERT INTO public.reg_s VALUES ('SA1', 10, '2026-11-02', NULL, 'A'), ('SB1', 20, '2026-11-02', NULL, 'B'),
                                ('SX', 90, '2026-11-02', 'INV-9001', 'B'), ('SA2', 45, '2026-11-02', NULL, 'A'),
                                ('SB2', 45, '2026-11-02', NULL, 'B');
GRANT SELECT ON public.reg_l, public.reg_s TO rc_atk_narrow, rc_atk_maker, rc_atk_checker;
ALTER TABLE public.reg_l ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.reg_s ENABLE ROW LEVEL SECURITY;
CREATE POLICY region_a ON public.reg_l FOR SELECT TO rc_atk_narrow USING (region = 'A');
CREATE POLICY region_a ON public.reg_s FOR SELECT TO rc_atk_narrow USING (region = 'A');
CREATE POLICY everyone ON public.reg_l FOR SELECT TO rc_atk_maker, rc_atk_checker USING (true);
CREATE POLICY everyone ON public.reg_s FOR SELECT TO rc_atk_maker, rc_atk_checker USING (true);
SELECT reconcile.create('reg', 'public.reg_l', 'public.reg_s');
GRANT SELECT ON public.reg_matches TO rc_atk_narrow;
-- A1/SA1 and B1/SB1 matched and cleared; LX/SX amount_mismatch (by ref); A2, SA2, SB2 open
INSERT INTO atk_ids SELECT 'reg run', reconcile.run('reg', '2026-11-10');
RESET SESSION AUTHORIZATION;
INSERT INTO atk_ids SELECT 'reg LX', item_id FROM reconcile.items WHERE name = 'reg' AND ledger_id = 'LX';
SET SESSION AUTHORIZATION rc_atk_maker;
SELECT reconcile.resolve((SELECT id FROM atk_ids WHERE what = 'reg LX'), 'short payment accepted');
RESET SESSION AUTHORIZATION;
-- approved by the checker (a second login, as test/persons.sql does it; written directly here)
UPDATE reconcile.items SET status = 'approved', approved_by = 'rc_atk_checker', approved_session = 'rc_atk_checker',
                           approved_at = now()
WHERE item_id = (SELECT id FROM atk_ids WHERE what = 'reg LX');

---------------------------------------------------------------------------------------------------
-- 1. Reading what row level security hides, through the extension
---------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION rc_atk_narrow;
SELECT throws_ok($$SELECT reconcile.unmatch('reg', 'B1')$$, '42704', NULL,
                 'a role narrowed to region A cannot unmatch a region B row it cannot see (42704, as for a row that is not matched)');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*) FROM reconcile.cleared WHERE name = 'reg' AND id IN ('B1', 'SB1')), 2::bigint,
          'the hidden region B pair stays cleared after the narrowed role''s unmatch');
SET SESSION AUTHORIZATION rc_atk_narrow;
SELECT throws_ok($$SELECT reconcile.manual_match('reg', ARRAY['A2'], ARRAY['SB2'], 'probe')$$, '42704', NULL,
                 'a manual match with a row hidden by row level security says it does not exist');
SELECT reconcile.manual_match('reg', ARRAY['A2'], ARRAY['SA2'], 'paid net of a fee');
SELECT is((SELECT category::text FROM public.reg_matches WHERE ledger_id = 'A2'), 'manual',
          'the narrowed role''s own manual match shows as manual in the live view it reads');
SET LOCAL row_security = off;
SELECT throws_ok($$SELECT count(*) FROM reconcile.results$$, '42501', NULL,
                 'row_security = off does not lift the history''s row level security for a narrowed role');
RESET row_security;
-- its run sees LX but not SX
SELECT reconcile.run('reg', '2026-11-11');
RESET SESSION AUTHORIZATION;
SELECT isnt((SELECT status FROM reconcile.items WHERE item_id = (SELECT id FROM atk_ids WHERE what = 'reg LX')), 'open',
            'a run by a narrowed role does not reopen an approved item whose counterpart it cannot see');
SELECT is((SELECT count(*) FROM reconcile.items WHERE name = 'reg' AND ledger_id = 'LX' AND statement_id IS NULL),
          0::bigint, 'nor opens a phantom missing_in_statement item for a row whose counterpart it cannot see');
SET SESSION AUTHORIZATION rc_atk_mallory;
SELECT is((SELECT count(*) FROM reconcile.proof((SELECT id FROM atk_ids WHERE what = 'reg run'))), 0::bigint,
          'an outsider gets no line of another reconciliation''s proof');
RESET SESSION AUTHORIZATION;

-- a seller's orders through a plain view that filters on current_user (row level security done
-- the old way): the other seller may read the view, and must still not read her rows' history
CREATE TABLE public.orders (id text, amount numeric, tx_date date, seller name);
INSERT INTO public.orders VALUES ('A-secret', 999, '2026-11-01', 'rc_atk_alice'), ('B-1', 5, '2026-11-01', 'rc_atk_bob');
CREATE VIEW public.my_orders AS SELECT id, amount, tx_date FROM public.orders WHERE seller = current_user;
CREATE TABLE public.bank (id text, amount numeric, tx_date date);
GRANT SELECT ON public.my_orders, public.bank TO rc_atk_alice, rc_atk_bob;
SET SESSION AUTHORIZATION rc_atk_alice;
SELECT reconcile.create('sales_alice', 'public.my_orders', 'public.bank');
SELECT reconcile.run('sales_alice', '2026-11-10');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION rc_atk_bob;
SELECT is((SELECT count(*) FROM reconcile.results WHERE ledger_id = 'A-secret'), 0::bigint,
          'a seller who reads only his own orders through a current_user view does not read the other seller''s rows in results');
RESET SESSION AUTHORIZATION;

-- a security_invoker view over a table with row level security, the option spelled as
-- PostgreSQL accepts it ('ye' is yes): narrowed readers must not read the whole history
CREATE TABLE public.iv_t (id text, amount numeric, tx_date date, region text);
INSERT INTO public.iv_t VALUES ('IA', 1, '2026-11-01', 'A'), ('IB', 2, '2026-11-01', 'B');
ALTER TABLE public.iv_t ENABLE ROW LEVEL SECURITY;
CREATE POLICY region_a ON public.iv_t FOR SELECT TO rc_atk_narrow USING (region = 'A');
CREATE VIEW public.iv_true WITH (security_invoker = true) AS SELECT id, amount, tx_date FROM public.iv_t;
CREATE VIEW public.iv_ye WITH (security_invoker = ye) AS SELECT id, amount, tx_date FROM public.iv_t;
CREATE TABLE public.iv_s (id text, amount numeric, tx_date date);
GRANT SELECT ON public.iv_t, public.iv_true, public.iv_ye, public.iv_s TO rc_atk_narrow;
SELECT reconcile.create('inv_true', 'public.iv_true', 'public.iv_s');
SELECT reconcile.create('inv_ye', 'public.iv_ye', 'public.iv_s');
-- the same table read by a security_invoker view through a (security invoker) function
CREATE FUNCTION public.iv_rows() RETURNS TABLE (id text, amount numeric, tx_date date)
LANGUAGE sql STABLE AS $$ SELECT t.id, t.amount, t.tx_date FROM public.iv_t t $$;
CREATE VIEW public.iv_fn WITH (security_invoker = true) AS SELECT * FROM public.iv_rows();
GRANT SELECT ON public.iv_fn TO rc_atk_narrow;
SELECT reconcile.create('inv_fn', 'public.iv_fn', 'public.iv_s');
SELECT reconcile.run('inv_true', '2026-11-10');
SELECT reconcile.run('inv_ye', '2026-11-10');
SELECT reconcile.run('inv_fn', '2026-11-10');
SET SESSION AUTHORIZATION rc_atk_narrow;
SELECT is((SELECT count(*) FROM reconcile.results WHERE name = 'inv_true' AND ledger_id = 'IB'), 0::bigint,
          'a role narrowed behind a security_invoker = true view does not read the hidden row in results');
SELECT is((SELECT count(*) FROM reconcile.results WHERE name = 'inv_ye' AND ledger_id = 'IB'), 0::bigint,
          'nor behind a view whose security_invoker is spelled ye');
SELECT is((SELECT count(*) FROM reconcile.results WHERE name = 'inv_fn' AND ledger_id = 'IB'), 0::bigint,
          'nor behind a security_invoker view that reads the table through a function');
RESET SESSION AUTHORIZATION;

-- a reconciliation whose statement table was dropped (a reload: DROP TABLE ... CASCADE)
CREATE TABLE public.or_l (id text, amount numeric, tx_date date);
CREATE TABLE public.or_s (id text, amount numeric, tx_date date);
INSERT INTO public.or_l VALUES ('OL1', 7, '2026-11-01');
INSERT INTO public.or_s VALUES ('OS1', 7, '2026-11-01');
SELECT reconcile.create('orph', 'public.or_l', 'public.or_s');
SELECT reconcile.run('orph', '2026-11-10');
GRANT SELECT ON public.or_l TO rc_atk_mallory;
SET client_min_messages = warning;
DROP TABLE public.or_s CASCADE;
RESET client_min_messages;
SET SESSION AUTHORIZATION rc_atk_mallory;
DO $$ BEGIN PERFORM reconcile.unmatch('orph', 'OL1'); EXCEPTION WHEN OTHERS THEN NULL; END $$;
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*) FROM reconcile.cleared WHERE name = 'orph'), 2::bigint,
          'a role that could never read the statement cannot unmatch once that table is dropped (a NULL privilege is no privilege)');

---------------------------------------------------------------------------------------------------
-- 2. Making the extension act as someone else: code of the attacker that a superuser's or a
--    database owner's maintenance runs (as the attacker, in a security-restricted operation), or
--    that a victim calls as a SECURITY DEFINER function of the attacker's
---------------------------------------------------------------------------------------------------
CREATE TABLE public.sro_l (id text, amount numeric, tx_date date);
CREATE TABLE public.sro_s (id text, amount numeric, tx_date date);
INSERT INTO public.sro_l VALUES ('R1', 10, '2026-11-01'), ('R2', 20, '2026-11-01');
INSERT INTO public.sro_s VALUES ('RS1', 10, '2026-11-01');
SELECT reconcile.create('sro', 'public.sro_l', 'public.sro_s');
SELECT reconcile.run('sro', '2026-11-10');
SET SESSION AUTHORIZATION rc_atk_mallory;
CREATE TABLE mal.targets (what text, item_id bigint);
CREATE TABLE mal.log (action text, state text);
-- does nothing when the attacker runs it; inside someone else's maintenance it tries everything
CREATE FUNCTION mal.payload() RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    t bigint := (SELECT item_id FROM mal.targets WHERE what = 'sro R2');
BEGIN
    IF session_user = current_user THEN
        RETURN 0;
    END IF;
    BEGIN
        PERFORM reconcile.run('sro', '2026-11-20');
        INSERT INTO mal.log VALUES ('run', 'done');
    EXCEPTION WHEN OTHERS THEN INSERT INTO mal.log VALUES ('run', SQLSTATE);
    END;
    BEGIN
        PERFORM reconcile.resolve(t, 'written off by mallory');
        INSERT INTO mal.log VALUES ('resolve', 'done');
    EXCEPTION WHEN OTHERS THEN INSERT INTO mal.log VALUES ('resolve', SQLSTATE);
    END;
    BEGIN
        PERFORM reconcile.unmatch('sro', 'R1');
        INSERT INTO mal.log VALUES ('unmatch', 'done');
    EXCEPTION WHEN OTHERS THEN INSERT INTO mal.log VALUES ('unmatch', SQLSTATE);
    END;
    BEGIN
        PERFORM reconcile.unregister('sro');
        INSERT INTO mal.log VALUES ('unregister', 'done');
    EXCEPTION WHEN OTHERS THEN INSERT INTO mal.log VALUES ('unregister', SQLSTATE);
    END;
    RETURN 1;
END $$;
CREATE MATERIALIZED VIEW mal.mv AS SELECT mal.payload() AS x WITH NO DATA;
RESET SESSION AUTHORIZATION;
INSERT INTO mal.targets SELECT 'sro R2', item_id FROM reconcile.items WHERE name = 'sro' AND ledger_id = 'R2';
-- the superuser refreshes the attacker's materialized view (as autovacuum's ANALYZE or a
-- REINDEX would run the attacker's index expressions): the attacker's code runs as the attacker
REFRESH MATERIALIZED VIEW mal.mv;
SELECT is((SELECT state FROM mal.log WHERE action = 'run'), '42501',
          'a run the attacker''s code starts inside a superuser''s REFRESH has the attacker''s rights (42501)');
SELECT ok(EXISTS (SELECT FROM reconcile.reconciliations WHERE name = 'sro'),
          'the attacker''s code inside a superuser''s REFRESH cannot unregister someone else''s reconciliation');
SELECT is((SELECT count(*) FROM reconcile.cleared WHERE name = 'sro'), 2::bigint,
          'nor unmatch its rows');
SELECT is((SELECT status FROM reconcile.items WHERE item_id = (SELECT item_id FROM mal.targets)), 'open',
          'nor resolve its items in the superuser''s name');

-- maker-checker: the maker resolves four items, then tries to get them approved without a checker
CREATE TABLE public.mc_l (id text, amount numeric, tx_date date);
CREATE TABLE public.mc_s (id text, amount numeric, tx_date date);
INSERT INTO public.mc_l VALUES ('M1', 1, '2026-11-01'), ('M2', 2, '2026-11-01'), ('M3', 3, '2026-11-01'),
                               ('M4', 4, '2026-11-01');
-- the database owner may read the books too (it audits them)
GRANT SELECT ON public.mc_l, public.mc_s TO rc_atk_maker, rc_atk_checker, rc_atk_dba;
SELECT reconcile.create('mc', 'public.mc_l', 'public.mc_s');
SELECT reconcile.run('mc', '2026-11-10');
INSERT INTO atk_ids SELECT 'mc ' || ledger_id, item_id FROM reconcile.items WHERE name = 'mc';
SET SESSION AUTHORIZATION rc_atk_maker;
SELECT reconcile.resolve(id, 'booked') FROM atk_ids WHERE what LIKE 'mc %';
CREATE TABLE mkr.targets (what text, item_id bigint);
INSERT INTO mkr.targets SELECT what, id FROM atk_ids WHERE what LIKE 'mc %';
-- a handy formatting function, SECURITY DEFINER as the maker, for the checker's reports
CREATE FUNCTION mkr.money(numeric) RETURNS text LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
    IF session_user <> current_user THEN
        BEGIN
            PERFORM reconcile.approve((SELECT item_id FROM mkr.targets WHERE what = 'mc M1'));
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
    END IF;
    RETURN pg_catalog.to_char($1, 'FM999999990.00');
END $$;
-- an expression index that a database owner's ANALYZE evaluates as the maker
CREATE FUNCTION mkr.trap(integer) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF session_user <> current_user THEN
        BEGIN
            PERFORM reconcile.approve((SELECT item_id FROM mkr.targets WHERE what = 'mc M2'));
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
    END IF;
    RETURN $1;
END $$;
CREATE TABLE mkr.t (x integer);
INSERT INTO mkr.t VALUES (1), (2);
CREATE INDEX ON mkr.t (mkr.trap(x));
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION rc_atk_checker;
SELECT mkr.money(12.5);
RESET SESSION AUTHORIZATION;
SELECT is((SELECT status FROM reconcile.items WHERE item_id = (SELECT id FROM atk_ids WHERE what = 'mc M1')), 'resolved',
          'a checker calling the maker''s SECURITY DEFINER function does not approve the maker''s item');
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I OWNER TO rc_atk_dba', current_database()); END $$;
SET SESSION AUTHORIZATION rc_atk_dba;
ANALYZE mkr.t;
RESET SESSION AUTHORIZATION;
SELECT is((SELECT status FROM reconcile.items WHERE item_id = (SELECT id FROM atk_ids WHERE what = 'mc M2')), 'resolved',
          'a database owner''s ANALYZE of the maker''s table does not approve the maker''s item');
-- one login, two session authorizations
SET SESSION AUTHORIZATION rc_atk_checker;
SELECT throws_ok($$SELECT reconcile.approve((SELECT id FROM atk_ids WHERE what = 'mc M3'))$$, '42501', NULL,
                 'a superuser login that resolved as the maker cannot approve by SET SESSION AUTHORIZATION to the checker');
RESET SESSION AUTHORIZATION;
SET ROLE rc_atk_checker;
SELECT throws_ok($$SELECT reconcile.approve((SELECT id FROM atk_ids WHERE what = 'mc M4'))$$, '42501', NULL,
                 'a superuser session cannot approve by SET ROLE to the checker');
RESET ROLE;

---------------------------------------------------------------------------------------------------
-- 3. Code in a source during a run: temp objects, the captured rows, a drop under the run
---------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION rc_atk_mallory;
SET search_path = mal;
-- during the read (as the caller, search_path pg_catalog, pg_temp) it creates temp tables named
-- like every table the bookkeeping writes, in case the owner's section looked them up unqualified
CREATE FUNCTION mal.mk_temps() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    SET LOCAL client_min_messages = warning;
    CREATE TEMP TABLE IF NOT EXISTS runs (LIKE reconcile.runs);
    CREATE TEMP TABLE IF NOT EXISTS results (LIKE reconcile.results);
    CREATE TEMP TABLE IF NOT EXISTS cleared (LIKE reconcile.cleared);
    CREATE TEMP TABLE IF NOT EXISTS items (LIKE reconcile.items);
    CREATE TEMP TABLE IF NOT EXISTS audit_log (LIKE reconcile.audit_log);
    CREATE TEMP TABLE IF NOT EXISTS reconciliations (LIKE reconcile.reconciliations);
    RETURN true;
END $$;
CREATE TABLE mal.sl (id text, amount numeric, tx_date date);
CREATE TABLE mal.ss (id text, amount numeric, tx_date date);
INSERT INTO mal.sl VALUES ('a', 1, '2026-11-01'), ('b', 2, '2026-11-01');
INSERT INTO mal.ss VALUES ('x', 1, '2026-11-01');
CREATE VIEW mal.slv AS SELECT * FROM mal.sl WHERE mal.mk_temps();
SELECT reconcile.create('shadow', 'mal.slv', 'mal.ss');
SELECT reconcile.run('shadow', '2026-11-10');
RESET search_path;
RESET SESSION AUTHORIZATION;
SELECT ok((SELECT count(*) FROM reconcile.runs WHERE name = 'shadow') = 1
          AND (SELECT count(*) FROM reconcile.results WHERE name = 'shadow') = 2
          AND (SELECT count(*) FROM pg_temp.runs) + (SELECT count(*) FROM pg_temp.results)
              + (SELECT count(*) FROM pg_temp.cleared) + (SELECT count(*) FROM pg_temp.items)
              + (SELECT count(*) FROM pg_temp.audit_log) + (SELECT count(*) FROM pg_temp.reconciliations) = 0,
          'temp tables a source creates during the read, named like the extension''s, catch none of the bookkeeping');
DROP TABLE pg_temp.runs, pg_temp.results, pg_temp.cleared, pg_temp.items, pg_temp.audit_log, pg_temp.reconciliations;

-- code in a source tries to read the captured rows while the run reads (even as a superuser)
CREATE TABLE public.cap_seen (state text);
CREATE FUNCTION public.cap_probe() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM pg_catalog.count(*) FROM reconcile.captured() AS t(key text, ledger_id text);
        INSERT INTO public.cap_seen VALUES ('read');
    EXCEPTION WHEN OTHERS THEN INSERT INTO public.cap_seen VALUES (SQLSTATE);
    END;
    RETURN true;
END $$;
CREATE TABLE public.cap_l (id text, amount numeric, tx_date date);
INSERT INTO public.cap_l VALUES ('c1', 1, '2026-11-01');
CREATE VIEW public.cap_lv AS SELECT * FROM public.cap_l WHERE public.cap_probe();
SELECT reconcile.create('cap', 'public.cap_lv', 'public.cap_l');
SELECT reconcile.run('cap', '2026-11-10');
SELECT is((SELECT array_agg(DISTINCT state) FROM public.cap_seen), ARRAY['42501'],
          'code in a source cannot read reconcile.captured() during the run''s read, even a superuser''s');

-- the reconciliation's owner drops it and creates it again from inside its own source, while the
-- run reads: the run must not record for a registration that is gone, or for the new one
CREATE TABLE public.rd_flag (done boolean);
INSERT INTO public.rd_flag VALUES (false);
CREATE TABLE public.rd_l (id text, amount numeric, tx_date date);
CREATE TABLE public.rd_s (id text, amount numeric, tx_date date);
INSERT INTO public.rd_l VALUES ('d1', 1, '2026-11-01');
CREATE FUNCTION public.rd_hook() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF NOT (SELECT f.done FROM public.rd_flag f) THEN
        UPDATE public.rd_flag SET done = true;
        PERFORM reconcile.drop('redrop');
        PERFORM reconcile.create_in('public', 'redrop', 'public.rd_l', 'public.rd_s', reconcile.rule(), '{}');
    END IF;
    RETURN true;
END $$;
CREATE VIEW public.rd_lv AS SELECT * FROM public.rd_l WHERE public.rd_hook();
SET search_path = public;
SELECT reconcile.create('redrop', 'public.rd_lv', 'public.rd_s');
RESET search_path;
SELECT throws_ok($$SELECT reconcile.run('redrop', '2026-11-10')$$, NULL::char(5), NULL::text,
                 'a run whose reconciliation is dropped and created again during its read fails instead of recording');

---------------------------------------------------------------------------------------------------
-- 4. Forging and locking: the extension's internals and tables
---------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION rc_atk_mallory;
-- every internal function that locks or writes, called directly with NULLs of its argument types
CREATE TEMP TABLE atk_calls (fn text, state text);
DO $$
DECLARE
    f record;
    args text;
BEGIN
    FOR f IN SELECT p.oid, p.proname, p.proargtypes FROM pg_proc p
             WHERE p.pronamespace = 'reconcile'::regnamespace
               AND p.proname IN ('run_query', 'manual_query', 'lock_registration', 'item_for_update', 'record_run',
                                 'record_manual', 'audit', 'captured') LOOP
        SELECT COALESCE(string_agg('NULL::' || t::regtype::text, ', ' ORDER BY o), '') INTO args
        FROM unnest(f.proargtypes::oid[]) WITH ORDINALITY AS a(t, o);
        BEGIN
            IF f.proname = 'captured' THEN
                EXECUTE 'SELECT count(*) FROM reconcile.captured() AS t(x text)';
            ELSE
                EXECUTE format('SELECT %s(%s)', f.oid::regproc, args);
            END IF;
            INSERT INTO atk_calls VALUES (f.oid::regprocedure::text, 'called');
        EXCEPTION WHEN OTHERS THEN INSERT INTO atk_calls VALUES (f.oid::regprocedure::text, SQLSTATE);
        END;
    END LOOP;
END $$;
SELECT is((SELECT array_agg(fn ORDER BY fn) FROM atk_calls WHERE state <> '42501'), NULL,
          'every internal function that locks or writes refuses a direct call (42501): run_query, manual_query, lock_registration, item_for_update, ...');
DO $$
BEGIN
    CREATE AGGREGATE mal.forge(boolean, text, numeric, date, text, text, reconcile.rule) (
        SFUNC = reconcile.match_agg_transfn, STYPE = internal, FINALFUNC = reconcile.match_agg_finalfn,
        COMBINEFUNC = reconcile.match_agg_combinefn, SERIALFUNC = reconcile.match_agg_serialfn,
        DESERIALFUNC = reconcile.match_agg_deserialfn);
    INSERT INTO atk_calls VALUES ('CREATE AGGREGATE', 'created');
EXCEPTION WHEN OTHERS THEN INSERT INTO atk_calls VALUES ('CREATE AGGREGATE', SQLSTATE);
END $$;
SELECT ok((SELECT state FROM atk_calls WHERE fn = 'CREATE AGGREGATE') IN ('42501', '42P13'),
          'no aggregate of the attacker''s can feed forged states to the matching core''s support functions (refused)');
SELECT throws_ok($$CREATE FUNCTION reconcile.readable(whole boolean) RETURNS SETOF bigint LANGUAGE sql AS 'SELECT 1::bigint'$$,
                 '42501', NULL, 'nothing can be planted in schema reconcile to shadow the extension''s functions');
SELECT throws_ok($$SELECT 1 FROM reconcile.reconciliations FOR KEY SHARE$$, '42501', NULL,
                 'a registration cannot be row-locked (FOR KEY SHARE) to make every run fail with 55P03');
SELECT throws_ok($$CREATE TABLE mal.fk (item bigint REFERENCES reconcile.items (item_id) ON UPDATE CASCADE)$$, '42501', NULL,
                 'no foreign key to the extension''s tables, whose triggers would fire in the owner''s writes');
CREATE TEMP TABLE atk_writes (stmt text, state text);
DO $$
DECLARE
    t text;
    s text;
BEGIN
    FOREACH t IN ARRAY ARRAY['reconciliations', 'runs', 'results', 'items', 'cleared', 'audit_log'] LOOP
        FOREACH s IN ARRAY ARRAY['INSERT INTO reconcile.%I DEFAULT VALUES', 'UPDATE reconcile.%I SET name = name',
                                 'DELETE FROM reconcile.%I', 'TRUNCATE reconcile.%I',
                                 'LOCK TABLE reconcile.%I IN ROW EXCLUSIVE MODE', 'LOCK TABLE reconcile.%I IN SHARE MODE',
                                 'ALTER TABLE reconcile.%I DISABLE TRIGGER ALL'] LOOP
            BEGIN
                EXECUTE format(s, t);
                INSERT INTO atk_writes VALUES (format(s, t), 'done');
            EXCEPTION WHEN OTHERS THEN INSERT INTO atk_writes VALUES (format(s, t), SQLSTATE);
            END;
        END LOOP;
    END LOOP;
END $$;
SELECT is((SELECT array_agg(stmt ORDER BY stmt) FROM atk_writes WHERE state <> '42501'), NULL,
          'no INSERT, UPDATE, DELETE, TRUNCATE, write lock or trigger change on any of the extension''s tables');
RESET SESSION AUTHORIZATION;

---------------------------------------------------------------------------------------------------
-- 5. History belongs to a registration; approvals to amounts and counterparts
---------------------------------------------------------------------------------------------------
CREATE TABLE public.hist_l (id text, amount numeric, tx_date date);
CREATE TABLE public.hist_s (id text, amount numeric, tx_date date);
INSERT INTO public.hist_l VALUES ('H1', 10, '2026-11-01');
INSERT INTO public.hist_s VALUES ('HS1', 12, '2026-11-01');
SELECT reconcile.create('hist', 'public.hist_l', 'public.hist_s');
SELECT reconcile.manual_match('hist', ARRAY['H1'], ARRAY['HS1'], 'confidential settlement');
SELECT reconcile.run('hist', '2026-11-10');
SELECT reconcile.drop('hist');
SET SESSION AUTHORIZATION rc_atk_mallory;
SET search_path = mal, public;
CREATE TABLE mal.hl (id text, amount numeric, tx_date date);
CREATE TABLE mal.hs (id text, amount numeric, tx_date date);
INSERT INTO mal.hl VALUES ('H1', 10, '2026-11-01');
INSERT INTO mal.hs VALUES ('HS1', 12, '2026-11-01');
SELECT reconcile.create('hist', 'mal.hl', 'mal.hs');
SELECT is((SELECT count(*) FROM mal.hist_matches WHERE category = 'manual'), 0::bigint,
          'a reconciliation re-created under a dropped one''s name, over rows with the same ids, shows none of its manual matches');
RESET search_path;
RESET SESSION AUTHORIZATION;

CREATE TABLE public.ap_l (id text, amount numeric, tx_date date, ref text);
CREATE TABLE public.ap_s (id text, amount numeric, tx_date date, ref text);
INSERT INTO public.ap_l VALUES ('L1', 100, '2026-11-01', 'INV-1'), ('L2', 50, '2026-11-01', 'INV-2'),
                               ('L3', 70, '2026-11-01', 'INV-3');
INSERT INTO public.ap_s VALUES ('S1', 90, '2026-11-02', 'INV-1'), ('S2', 40, '2026-11-02', 'INV-2');
GRANT SELECT ON public.ap_l, public.ap_s TO rc_atk_maker, rc_atk_checker;
SELECT reconcile.create('appr', 'public.ap_l', 'public.ap_s');
SELECT reconcile.run('appr', '2026-11-10');
INSERT INTO atk_ids SELECT 'appr ' || ledger_id, item_id FROM reconcile.items WHERE name = 'appr' AND ledger_id IN ('L1', 'L2');
SET SESSION AUTHORIZATION rc_atk_maker;
SELECT reconcile.resolve(id, 'short payments accepted') FROM atk_ids WHERE what LIKE 'appr %';
RESET SESSION AUTHORIZATION;
-- approved by the checker (written directly, as above)
UPDATE reconcile.items SET status = 'approved', approved_by = 'rc_atk_checker', approved_session = 'rc_atk_checker',
                           approved_at = now()
WHERE item_id IN (SELECT id FROM atk_ids WHERE what LIKE 'appr %');
UPDATE public.ap_s SET tx_date = '2026-11-05' WHERE id = 'S1';          -- same amounts, another date
UPDATE public.ap_s SET ref = 'INV-3', amount = 60 WHERE id = 'S2';      -- S2 now pairs with L3
SELECT reconcile.run('appr', '2026-11-11');
SELECT is((SELECT count(*) FROM reconcile.items WHERE item_id IN (SELECT id FROM atk_ids WHERE what LIKE 'appr %')
           AND status = 'open'), 2::bigint,
          'an approved pair whose date changed, and one whose statement row went to another ledger row, both return to open');

---------------------------------------------------------------------------------------------------
-- 6. Hostile rows and hostile session settings
---------------------------------------------------------------------------------------------------
CREATE TABLE public.big_l (id text, amount numeric, tx_date date, key text);
CREATE TABLE public.big_s (id text, amount numeric, tx_date date, key text);
INSERT INTO public.big_l VALUES (repeat('x', 1048576), 10, '2026-11-01', repeat('k', 1048576));
INSERT INTO public.big_s VALUES (repeat('y', 1048576), 11, '2026-11-01', repeat('k', 1048576));
SELECT reconcile.create('big', 'public.big_l', 'public.big_s');
SELECT lives_ok($q$DO $x$ BEGIN
                    PERFORM reconcile.run('big', '2026-11-10');
                    PERFORM reconcile.manual_match('big', ARRAY[repeat('x', 1048576)], ARRAY[repeat('y', 1048576)], repeat('n', 1048576));
                    PERFORM reconcile.run('big', '2026-11-11');
                    PERFORM reconcile.unmatch('big', repeat('x', 1048576));
                    PERFORM reconcile.run('big', '2026-11-12');
                  END $x$$q$,
                'run, manual_match, run, unmatch, run over a 1 MB key and 1 MB ids (and a 1 MB note)');

CREATE TABLE public.nk_l (id text, amount numeric, tx_date date, key text);
CREATE TABLE public.nk_s (id text, amount numeric, tx_date date, key text);
INSERT INTO public.nk_l VALUES ('dup', 5, '2026-11-01', NULL), ('dup', 7, '2026-11-01', '');
INSERT INTO public.nk_s VALUES ('s', 5, '2026-11-01', NULL), ('s', 7, '2026-11-01', '');
SELECT reconcile.create('nk', 'public.nk_l', 'public.nk_s');
SELECT reconcile.run('nk', '2026-11-10');
SELECT reconcile.run('nk', '2026-11-11');
SELECT ok((SELECT count(*) FROM reconcile.cleared WHERE name = 'nk') = 4
          AND (SELECT ledger_rows + statement_rows FROM reconcile.runs WHERE name = 'nk' ORDER BY run_id DESC LIMIT 1) = 0,
          'the same id under a NULL and an empty key is two rows, cleared apart, and neither is matched again');

-- a date key (a month, as the spec suggests for a finer key), and a session with another DateStyle
CREATE TABLE public.ds_l (id text, amount numeric, tx_date date, key date);
CREATE TABLE public.ds_s (id text, amount numeric, tx_date date, key date);
INSERT INTO public.ds_l VALUES ('L1', 10, '2026-01-01', '2026-01-31'), ('L2', 20, '2026-01-01', '2026-01-31');
INSERT INTO public.ds_s VALUES ('S1', 10, '2026-01-02', '2026-01-31'), ('S2', 25, '2026-01-02', '2026-01-31');
SELECT reconcile.create('ds', 'public.ds_l', 'public.ds_s');
SELECT reconcile.run('ds', '2026-01-10');
SELECT reconcile.manual_match('ds', ARRAY['L2'], ARRAY['S2'], 'paid net of a fee');
SET DateStyle = 'SQL, DMY';
INSERT INTO atk_ids SELECT 'ds run 2', reconcile.run('ds', '2026-01-11');
RESET DateStyle;
SELECT is((SELECT count(*) FROM reconcile.results WHERE run_id = (SELECT id FROM atk_ids WHERE what = 'ds run 2')
           AND (ledger_id = 'L1' OR statement_id = 'S1')), 0::bigint,
          'a run in a session with another DateStyle does not match again the rows an earlier run cleared');
SELECT is((SELECT string_agg(category::text, ',') FROM reconcile.results
           WHERE run_id = (SELECT id FROM atk_ids WHERE what = 'ds run 2') AND (ledger_id = 'L2' OR statement_id = 'S2')),
          'manual', 'nor ignores a manual match, reporting its rows as discrepancies');

-- a reconciliation whose owner role was dropped, and a new role given the old name
CREATE ROLE rc_atk_tmp;
GRANT USAGE, CREATE ON SCHEMA public TO rc_atk_tmp;
CREATE TABLE public.ow_l (id text, amount numeric, tx_date date);
GRANT SELECT ON public.ow_l TO rc_atk_tmp;
SET SESSION AUTHORIZATION rc_atk_tmp;
SET search_path = public;
SELECT reconcile.create('orph_a', 'public.ow_l', 'public.ow_l');
SELECT reconcile.create('orph_b', 'public.ow_l', 'public.ow_l');
RESET search_path;
RESET SESSION AUTHORIZATION;
DROP OWNED BY rc_atk_tmp;
DROP ROLE rc_atk_tmp;
SELECT lives_ok($$SELECT reconcile.drop('orph_b')$$, 'a superuser can drop a reconciliation whose owner role was dropped');
CREATE ROLE rc_atk_tmp;
SET SESSION AUTHORIZATION rc_atk_tmp;
SELECT throws_ok($$SELECT reconcile.drop('orph_a')$$, '42501', NULL,
                 'a new role that is given a dropped owner''s name does not own that owner''s reconciliations');
RESET SESSION AUTHORIZATION;

---------------------------------------------------------------------------------------------------
-- 7. Last, as it would deny everything after it: a policy of the attacker's own, on a table of
--    its own, whose expression is too deep for pg_get_expr to print back (CREATE POLICY accepts
--    it), and a reconciliation over that table
---------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION rc_atk_mallory;
CREATE TABLE mal.bomb (id text, amount numeric, tx_date date);
ALTER TABLE mal.bomb ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON mal.bomb TO PUBLIC;
DO $$
DECLARE
    lo integer := 100;
    hi integer := 20000;
    mid integer;
BEGIN
    -- the deepest COALESCE(COALESCE(...)) that CREATE POLICY still accepts here
    WHILE lo < hi LOOP
        mid := (lo + hi + 1) / 2;
        BEGIN
            EXECUTE format('CREATE POLICY probe ON mal.bomb FOR SELECT USING (%s id > %L%s)',
                           repeat('COALESCE(', mid), '', repeat(', true)', mid));
            EXECUTE 'DROP POLICY probe ON mal.bomb';
            lo := mid;
        EXCEPTION WHEN OTHERS THEN
            hi := mid - 1;
        END;
    END LOOP;
    EXECUTE format('CREATE POLICY bomb ON mal.bomb FOR SELECT USING (%s id > %L%s)',
                   repeat('COALESCE(', lo), '', repeat(', true)', lo));
END $$;
SET search_path = mal;
SELECT reconcile.create('bomb', 'mal.bomb', 'mal.bomb');
RESET search_path;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION rc_atk_checker;
SELECT lives_ok($$SELECT count(*) FROM reconcile.runs$$,
                'an unprintable policy on the attacker''s own table does not make the history unreadable for everyone');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION rc_atk_owner;
SELECT lives_ok($$SELECT reconcile.assign((SELECT id FROM atk_ids WHERE what = 'reg LX'), 'rc_atk_owner')$$,
                'nor stops other owners'' follow-up of their own items');
RESET SESSION AUTHORIZATION;

SELECT * FROM finish();
ROLLBACK;
