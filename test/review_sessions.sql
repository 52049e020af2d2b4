-- Review, write-offs and adjustments across sessions (SPEC section 8, 0.6.0), with dblink
-- connections to this database: the risk alert on channel reconcile_alert that a committed run
-- sends (one per run, to a session that LISTENs), two exports of adjustments racing (each approved
-- adjustment exported exactly once), and accept or reject waiting for a run that holds the
-- reconciliation.  A checker approves in a login of its own (maker-checker is between persons).
-- Not in one transaction: runs must commit to notify, and the other sessions must see committed
-- set-up; everything is removed at the end (but the audit log, which is append-only).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'reconcile') AS rs_add_reconcile,
       NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'dblink') AS rs_add_dblink \gset
CREATE EXTENSION IF NOT EXISTS reconcile;
\ir lib/logins.sql

-- what this file makes (and what an earlier run of it that stopped half-way committed)
CREATE FUNCTION pg_temp.rs_cleanup() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    rid bigint;
    nm  text;
BEGIN
    FOR rid IN SELECT id FROM reconcile.reconciliations WHERE name IN ('rs_alert', 'rs_quiet', 'rs_export', 'rs_review', 'rs_gate')
               UNION SELECT recon_id FROM reconcile.runs WHERE name IN ('rs_alert', 'rs_quiet', 'rs_export', 'rs_review', 'rs_gate')
                                                          AND recon_id IS NOT NULL LOOP
        SELECT name INTO nm FROM reconcile.reconciliations WHERE id = rid;
        IF FOUND THEN
            PERFORM reconcile.drop(nm);
        END IF;
        DELETE FROM reconcile.adjustment_entries WHERE recon_id = rid;
        DELETE FROM reconcile.recon_options WHERE recon_id = rid;
        DELETE FROM reconcile.key_rules WHERE recon_id = rid;
        DELETE FROM reconcile.rejections WHERE recon_id = rid;
        DELETE FROM reconcile.released WHERE recon_id = rid;
        DELETE FROM reconcile.skipped WHERE recon_id = rid;
        EXECUTE format('DROP TABLE IF EXISTS reconcile.%I', 'cleared_' || rid);
    END LOOP;
    DELETE FROM reconcile.results WHERE name IN ('rs_alert', 'rs_quiet', 'rs_export', 'rs_review', 'rs_gate');
    DELETE FROM reconcile.items WHERE name IN ('rs_alert', 'rs_quiet', 'rs_export', 'rs_review', 'rs_gate');
    DELETE FROM reconcile.runs WHERE name IN ('rs_alert', 'rs_quiet', 'rs_export', 'rs_review', 'rs_gate');
    DELETE FROM reconcile.cleared WHERE name IN ('rs_alert', 'rs_quiet', 'rs_export', 'rs_review', 'rs_gate');
    DROP VIEW IF EXISTS public.rs_gv;
    DROP TABLE IF EXISTS public.rs_al, public.rs_as, public.rs_xl, public.rs_xs, public.rs_vl, public.rs_vs,
                         public.rs_gl, public.rs_gs;
    DROP FUNCTION IF EXISTS public.rs_gate();
    DROP ROLE IF EXISTS rs_checker;
END
$$;
SELECT pg_temp.rs_cleanup() \g /dev/null

-- a second session of the same (superuser) role, on the socket, as test/concurrency.sql does
CREATE FUNCTION pg_temp.connect_self(conn text) RETURNS void LANGUAGE sql AS $$
    SELECT dblink_connect(conn, format('host=%s port=%s dbname=%s user=%s',
                          split_part(current_setting('unix_socket_directories'), ',', 1),
                          current_setting('port'), current_database(), current_user))
$$;
-- whether backend pid waits for a lock this session holds (looks for up to 10 s)
CREATE FUNCTION pg_temp.waits_for_me(pid int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 200 LOOP
        IF pg_backend_pid() = ANY (pg_blocking_pids(pid)) THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN false;
END $$;
-- the notifications the listening session received so far, kept with the step that read them
CREATE TEMP TABLE rs_notes (n serial, step text, channel text, sender int, payload text);
-- (after 0.2 s; with expect, once an alert for run expect came, for up to 10 s, and 0.2 s more)
CREATE FUNCTION pg_temp.read_notes(step text, expect bigint DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 50 LOOP
        PERFORM pg_sleep(0.2);
        INSERT INTO rs_notes (step, channel, sender, payload)
        SELECT step, notify_name, be_pid, extra FROM dblink_get_notify('rs_listen');
        EXIT WHEN expect IS NULL
               OR (i > 1 AND EXISTS (SELECT FROM rs_notes WHERE payload::jsonb ->> 'run_id' = expect::text));
    END LOOP;
END $$;
-- how many alerts were received for run rid
CREATE FUNCTION pg_temp.alerts(rid bigint) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM rs_notes WHERE channel = 'reconcile_alert' AND (payload::jsonb ->> 'run_id')::bigint = rid
$$;

CREATE ROLE rs_checker LOGIN PASSWORD 'rc-test-login';

-- 1. alerts: rs_alert alerts from 1000 on; rs_quiet reads the same sources without alerts
CREATE TABLE public.rs_al (id text, amount numeric(12,2), tx_date date, ref text);
CREATE TABLE public.rs_as (id text, amount numeric(12,2), tx_date date, ref text);
INSERT INTO public.rs_al VALUES
    ('A1', 1000.00, '2026-10-01', NULL),        -- missing_in_statement, exactly the alert amount
    ('A2', 999.99, '2026-10-01', NULL),         -- missing_in_statement, just below it
    ('A3', 995.00, '2026-10-02', 'INV-A3'),     -- amount_mismatch whose statement side is 1005.00
    ('A4', 3000.00, '2026-10-02', NULL);        -- matched: no item
INSERT INTO public.rs_as VALUES
    ('B1', -1200.00, '2026-10-05', NULL),       -- missing_in_ledger, abs 1200
    ('B3', 1005.00, '2026-10-03', 'PAY INV-A3'),
    ('B4', 3000.00, '2026-10-02', NULL);
SELECT reconcile.create('rs_alert', 'public.rs_al', 'public.rs_as') \g /dev/null
SELECT reconcile.create('rs_quiet', 'public.rs_al', 'public.rs_as') \g /dev/null
SELECT reconcile.configure('rs_alert', alert_amount => 1000) \g /dev/null
-- rs_quiet has options, but no alert_amount
SELECT reconcile.configure('rs_quiet', review_below => 0.5) \g /dev/null

-- 2. export: rs_export writes off differences up to 1.00, for rs_checker to approve
CREATE TABLE public.rs_xl (id text, amount numeric(12,2), tx_date date, ref text);
CREATE TABLE public.rs_xs (id text, amount numeric(12,2), tx_date date, ref text);
INSERT INTO public.rs_xl
SELECT 'X' || i, a, '2026-11-02', 'INV-X' || i
FROM unnest(ARRAY[100.00, 200.00, 50.00, 80.00, 60.00, 90.00, 70.00, 40.00]) WITH ORDINALITY AS t(a, i);
INSERT INTO public.rs_xs
SELECT 'Y' || i, a, '2026-11-03', 'PAY INV-X' || i
FROM unnest(ARRAY[100.30, 199.50, 50.10, 80.90, 59.80, 90.40, 69.30, 40.60]) WITH ORDINALITY AS t(a, i);
GRANT SELECT ON public.rs_xl, public.rs_xs TO rs_checker;
SELECT reconcile.create('rs_export', 'public.rs_xl', 'public.rs_xs') \g /dev/null
SELECT reconcile.configure('rs_export', writeoff_limit => 1.00, writeoff_account => '6990 rounding') \g /dev/null
SELECT reconcile.run('rs_export', '2026-11-30') \g /dev/null
-- the adjustment of the item of ledger row id, and the approval of such items by the checker
CREATE FUNCTION pg_temp.adj(id text) RETURNS bigint LANGUAGE sql AS $$
    SELECT a.adjustment_id FROM reconcile.adjustments a JOIN reconcile.items i ON i.item_id = a.item_id
    WHERE a.name = 'rs_export' AND i.ledger_id = id
$$;
CREATE FUNCTION pg_temp.adjs(ids text[]) RETURNS bigint[] LANGUAGE sql AS $$
    SELECT array_agg(pg_temp.adj(id) ORDER BY pg_temp.adj(id)) FROM unnest(ids) id
$$;
CREATE FUNCTION pg_temp.checker_approves(ids text[]) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.as_login('rs_checker', format(
        'SELECT count(reconcile.approve(item_id)) FROM (SELECT item_id FROM reconcile.items '
        'WHERE name = ''rs_export'' AND ledger_id = ANY (%L::text[]) ORDER BY item_id) t', ids))
$$;
-- the ids an export in session rs_other returned
CREATE FUNCTION pg_temp.other_export_result() RETURNS bigint[] LANGUAGE sql AS $$
    SELECT x::bigint[] FROM dblink_get_result('rs_other') AS t(x text)
$$;

-- 3. review: rs_review holds back matches scoring below 0.8 (the same amount, 3 days later)
CREATE TABLE public.rs_vl (id text, amount numeric(12,2), tx_date date, ref text);
CREATE TABLE public.rs_vs (id text, amount numeric(12,2), tx_date date, ref text);
INSERT INTO public.rs_vl VALUES ('V1', 200.00, '2026-11-02', NULL), ('V2', 70.00, '2026-11-02', NULL),
                                ('V3', 80.00, '2026-11-02', NULL);
INSERT INTO public.rs_vs VALUES ('W1', 200.00, '2026-11-05', NULL), ('W2', 70.00, '2026-11-05', NULL),
                                ('W3', 80.00, '2026-11-03', NULL);
SELECT reconcile.create('rs_review', 'public.rs_vl', 'public.rs_vs', reconcile.rule(days_after => 7)) \g /dev/null
SELECT reconcile.configure('rs_review', review_below => 0.8) \g /dev/null
SELECT reconcile.run('rs_review', '2026-11-30') \g /dev/null
CREATE FUNCTION pg_temp.review_item(id text) RETURNS bigint LANGUAGE sql AS $$
    SELECT max(item_id) FROM reconcile.items WHERE name = 'rs_review' AND ledger_id = id
$$;

-- 4. rs_gate: a source whose reading waits on an advisory lock this session holds, so that a run
-- can be caught after it took the reconciliation's lock and before it updates the items
CREATE TABLE public.rs_gl (id text, amount numeric(12,2), tx_date date, ref text);
CREATE TABLE public.rs_gs (id text, amount numeric(12,2), tx_date date, ref text);
INSERT INTO public.rs_gl VALUES ('G1', 200.00, '2026-11-02', NULL);
INSERT INTO public.rs_gs VALUES ('H1', 200.00, '2026-11-05', NULL);
CREATE FUNCTION public.rs_gate() RETURNS boolean LANGUAGE plpgsql VOLATILE
    AS $$ BEGIN PERFORM pg_advisory_xact_lock_shared(424242); RETURN true; END $$;
CREATE VIEW public.rs_gv AS SELECT * FROM public.rs_gl WHERE public.rs_gate();
SELECT reconcile.create('rs_gate', 'public.rs_gv', 'public.rs_gs', reconcile.rule(days_after => 7)) \g /dev/null
SELECT reconcile.configure('rs_gate', review_below => 0.8) \g /dev/null
SELECT reconcile.run('rs_gate', '2026-11-30') \g /dev/null

-- the sessions: one that listens, one that races, the checker
SELECT pg_temp.connect_self('rs_listen') \g /dev/null
SELECT dblink_exec('rs_listen', 'LISTEN reconcile_alert') \g /dev/null
SELECT pg_temp.connect_self('rs_other') \g /dev/null
SELECT pid AS other_pid FROM dblink('rs_other', 'SELECT pg_backend_pid()') AS t(pid int) \gset
SELECT pg_temp.login('rs_checker', 'rs_checker') \g /dev/null
\unset ON_ERROR_STOP

SELECT plan(65);

---------------------------------------------------------------------------------------------------
-- 1. Risk alerts: one notification on channel reconcile_alert per committed run that opened items
--    of at least alert_amount (the larger side), or duplicates or reversals
---------------------------------------------------------------------------------------------------
SELECT reconcile.run('rs_alert', '2026-11-30') AS r1 \gset
SELECT pg_temp.read_notes('r1', :r1) \g /dev/null
SELECT is((SELECT string_agg(concat_ws(' ', coalesce(ledger_id, '-'), coalesce(statement_id, '-'), category), '; '
                             ORDER BY ledger_id, statement_id)
           FROM reconcile.items WHERE name = 'rs_alert' AND first_run_id = :r1),
          'A1 - missing_in_statement; A2 - missing_in_statement; A3 B3 amount_mismatch; - B1 missing_in_ledger',
          'alerts: set-up: the first run opens four items, three of them of 1000 or more');
SELECT is(pg_temp.alerts(:r1), 1::bigint, 'alerts: a run that opens three items of at least alert_amount sends one notification');
SELECT is((SELECT array_agg(k ORDER BY k) FROM rs_notes, jsonb_object_keys(payload::jsonb) k
           WHERE step = 'r1' AND channel = 'reconcile_alert'),
          ARRAY['items', 'name', 'run_id'], 'alerts: its payload is JSON with the keys name, run_id and items only');
SELECT is((SELECT payload::jsonb FROM rs_notes WHERE step = 'r1' AND channel = 'reconcile_alert'),
          jsonb_build_object('name', 'rs_alert', 'run_id', :r1, 'items', 3),
          'alerts: the name, the run''s id, and the items of 1000 or more (by the larger side, sign aside; 999.99 left out)');
SELECT is((SELECT sender FROM rs_notes WHERE step = 'r1' AND channel = 'reconcile_alert'), pg_backend_pid(),
          'alerts: sent by the session that ran it');

SELECT reconcile.run('rs_alert', '2026-11-30') AS r2 \gset
SELECT pg_temp.read_notes('r2') \g /dev/null
SELECT is((SELECT count(*) FROM reconcile.items WHERE name = 'rs_alert' AND last_run_id = :r2 AND first_run_id < :r2),
          4::bigint, 'alerts: set-up: the next run finds the same four items again');
SELECT is(pg_temp.alerts(:r2), 0::bigint, 'alerts: a run that opens nothing new sends nothing');

INSERT INTO public.rs_al VALUES ('D1', 20.00, '2026-10-10', 'INV-D'), ('D2', 20.00, '2026-10-10', 'INV-D');
INSERT INTO public.rs_as VALUES ('E1', 20.00, '2026-10-11', 'PAY INV-D');
SELECT reconcile.run('rs_alert', '2026-11-30') AS r3 \gset
SELECT pg_temp.read_notes('r3', :r3) \g /dev/null
SELECT is((SELECT string_agg(ledger_id || ' ' || category, '; ') FROM reconcile.items WHERE name = 'rs_alert' AND first_run_id = :r3),
          'D2 duplicate', 'alerts: set-up: a run opens one duplicate of 20.00');
SELECT is(pg_temp.alerts(:r3), 1::bigint, 'alerts: a small duplicate sends one notification');
SELECT is((SELECT payload::jsonb FROM rs_notes WHERE step = 'r3' AND channel = 'reconcile_alert'),
          jsonb_build_object('name', 'rs_alert', 'run_id', :r3, 'items', 1), 'alerts: counting the duplicate');

INSERT INTO public.rs_al VALUES ('R1', 30.00, '2026-10-12', 'INV-R');
INSERT INTO public.rs_as VALUES ('S1', -30.00, '2026-10-13', 'REFUND INV-R');
SELECT reconcile.run('rs_alert', '2026-11-30') AS r4 \gset
SELECT pg_temp.read_notes('r4', :r4) \g /dev/null
SELECT is((SELECT string_agg(ledger_id || ' ' || category, '; ') FROM reconcile.items WHERE name = 'rs_alert' AND first_run_id = :r4),
          'R1 reversal', 'alerts: set-up: a run opens one reversal of 30.00');
SELECT is(pg_temp.alerts(:r4), 1::bigint, 'alerts: a small reversal sends one notification');
SELECT is((SELECT payload::jsonb FROM rs_notes WHERE step = 'r4' AND channel = 'reconcile_alert'),
          jsonb_build_object('name', 'rs_alert', 'run_id', :r4, 'items', 1), 'alerts: counting the reversal');

INSERT INTO public.rs_al VALUES ('M1', 15.00, '2026-10-14', NULL);
INSERT INTO public.rs_as VALUES ('N1', 45.00, '2026-10-20', NULL);
SELECT reconcile.run('rs_alert', '2026-11-30') AS r5 \gset
SELECT pg_temp.read_notes('r5') \g /dev/null
SELECT is((SELECT string_agg(concat_ws(' ', coalesce(ledger_id, statement_id), category), '; ' ORDER BY item_id)
           FROM reconcile.items WHERE name = 'rs_alert' AND first_run_id = :r5),
          'M1 missing_in_statement; N1 missing_in_ledger', 'alerts: set-up: a run opens two small items only');
SELECT is(pg_temp.alerts(:r5), 0::bigint, 'alerts: small items that are neither duplicates nor reversals send nothing');

-- a run that rolls back
BEGIN;
INSERT INTO public.rs_al VALUES ('Z1', 5000.00, '2026-10-15', NULL);
SELECT reconcile.run('rs_alert', '2026-11-30') AS r6 \gset
ROLLBACK;
SELECT pg_temp.read_notes('r6') \g /dev/null
SELECT is((SELECT count(*) FROM reconcile.runs WHERE run_id = :r6), 0::bigint, 'alerts: set-up: a run of a large item rolled back');
SELECT is(pg_temp.alerts(:r6), 0::bigint, 'alerts: a run that rolls back sends nothing');
SELECT is((SELECT count(*) FROM rs_notes WHERE step = 'r6'), 0::bigint, 'alerts: nothing at all');

-- sent when the run commits, not before
BEGIN;
INSERT INTO public.rs_al VALUES ('Z2', 5000.00, '2026-10-15', NULL);
SELECT reconcile.run('rs_alert', '2026-11-30') AS r7 \gset
SELECT pg_temp.read_notes('r7 open') \g /dev/null
SELECT is(pg_temp.alerts(:r7), 0::bigint, 'alerts: a run not committed yet has sent nothing');
COMMIT;
SELECT pg_temp.read_notes('r7', :r7) \g /dev/null
SELECT is(pg_temp.alerts(:r7), 1::bigint, 'alerts: it sends one when it commits');
SELECT is((SELECT payload::jsonb FROM rs_notes WHERE step = 'r7' AND channel = 'reconcile_alert'),
          jsonb_build_object('name', 'rs_alert', 'run_id', :r7, 'items', 1), 'alerts: for the large item it opened');

-- a reconciliation without alert_amount, over the same rows
SELECT reconcile.run('rs_quiet', '2026-11-30') AS q1 \gset
SELECT pg_temp.read_notes('q1') \g /dev/null
SELECT cmp_ok((SELECT count(*) FROM reconcile.items WHERE name = 'rs_quiet' AND first_run_id = :q1
               AND (greatest(abs(ledger_amount), abs(statement_amount)) >= 1000 OR category::text IN ('duplicate', 'reversal'))),
              '>=', 4::bigint, 'alerts: set-up: a reconciliation without alert_amount opens large items and a reversal');
SELECT is(pg_temp.alerts(:q1), 0::bigint, 'alerts: its run sends nothing');
SELECT is((SELECT count(*) FROM rs_notes WHERE step = 'q1'), 0::bigint, 'alerts: nothing at all');

-- alerts switched off again
SELECT reconcile.reset_option('rs_alert', 'alert_amount') \g /dev/null
INSERT INTO public.rs_al VALUES ('Z3', 7000.00, '2026-10-16', NULL);
SELECT reconcile.run('rs_alert', '2026-11-30') AS r8 \gset
SELECT pg_temp.read_notes('r8') \g /dev/null
SELECT is((SELECT string_agg(ledger_id, '; ') FROM reconcile.items WHERE name = 'rs_alert' AND first_run_id = :r8),
          'Z3', 'alerts: set-up: after reset_option(alert_amount) a run opens a large item');
SELECT is(pg_temp.alerts(:r8), 0::bigint, 'alerts: and sends nothing');

-- all told: one notification for each of the runs r1, r3, r4 and r7, and nothing else
SELECT pg_temp.read_notes('end') \g /dev/null
SELECT is((SELECT array_agg((payload::jsonb ->> 'run_id')::bigint ORDER BY n) FROM rs_notes),
          ARRAY[:r1, :r3, :r4, :r7]::bigint[], 'alerts: the listener received one alert per alerting run, and nothing else');

---------------------------------------------------------------------------------------------------
-- 2. Two exports racing: each approved adjustment exported exactly once
---------------------------------------------------------------------------------------------------
SELECT is((SELECT string_agg(concat_ws(' ', i.ledger_id, a.account, a.amount, a.status, a.resolved_by), '; '
                             ORDER BY i.ledger_id)
           FROM reconcile.adjustments a JOIN reconcile.items i ON i.item_id = a.item_id WHERE a.name = 'rs_export'),
          'X1 6990 rounding -0.30 pending postgres; X2 6990 rounding 0.50 pending postgres; '
          'X3 6990 rounding -0.10 pending postgres; X4 6990 rounding -0.90 pending postgres; '
          'X5 6990 rounding 0.20 pending postgres; X6 6990 rounding -0.40 pending postgres; '
          'X7 6990 rounding 0.70 pending postgres; X8 6990 rounding -0.60 pending postgres',
          'export: set-up: the run wrote off eight differences, one adjustment each, pending');
SELECT is(pg_temp.checker_approves(ARRAY['X1', 'X2', 'X3', 'X4']), '4', 'export: set-up: a second person approves four of them');
SELECT is((SELECT array_agg(adjustment_id ORDER BY adjustment_id) FROM reconcile.adjustments
           WHERE name = 'rs_export' AND status = 'approved' AND approved_by = 'rs_checker'),
          pg_temp.adjs(ARRAY['X1', 'X2', 'X3', 'X4']), 'export: set-up: their adjustments are approved');

BEGIN;
CREATE TEMP TABLE rs_xa AS SELECT * FROM reconcile.export_adjustments('rs_export');
SELECT is((SELECT array_agg(adjustment_id ORDER BY adjustment_id) FROM rs_xa), pg_temp.adjs(ARRAY['X1', 'X2', 'X3', 'X4']),
          'export race: session A exports the four approved adjustments (not committed yet)');
-- approved and committed meanwhile, by the checker: for B to find
SELECT pg_temp.checker_approves(ARRAY['X5']) \g /dev/null
SELECT dblink_send_query('rs_other', $$SELECT COALESCE(array_agg(adjustment_id ORDER BY adjustment_id), '{}')::text
                                       FROM reconcile.export_adjustments('rs_export')$$) \g /dev/null
SELECT ok(pg_temp.waits_for_me(:other_pid), 'export race: session B''s export waits for the rows A holds');
SELECT is(dblink_is_busy('rs_other'), 1, 'export race: B is still busy');
COMMIT;
CREATE TEMP TABLE rs_xb AS SELECT unnest(pg_temp.other_export_result()) AS adjustment_id;
SELECT count(*) FROM dblink_get_result('rs_other') AS t(x text) \g /dev/null
SELECT is((SELECT count(*) FROM rs_xb JOIN rs_xa USING (adjustment_id)), 0::bigint,
          'export race: once A commits, B returns none of A''s adjustments');
SELECT is((SELECT array_agg(adjustment_id ORDER BY adjustment_id) FROM rs_xb), pg_temp.adjs(ARRAY['X5']),
          'export race: B returns the one approved meanwhile');
SELECT is((SELECT array_agg(adjustment_id ORDER BY adjustment_id)
           FROM (SELECT adjustment_id FROM rs_xa UNION ALL SELECT adjustment_id FROM rs_xb) t),
          pg_temp.adjs(ARRAY['X1', 'X2', 'X3', 'X4', 'X5']),
          'export race: together they returned each approved adjustment exactly once');
SELECT is((SELECT string_agg(concat_ws(' ', i.ledger_id, a.status), '; ' ORDER BY i.ledger_id)
           FROM reconcile.adjustments a JOIN reconcile.items i ON i.item_id = a.item_id WHERE a.name = 'rs_export'),
          'X1 exported; X2 exported; X3 exported; X4 exported; X5 exported; X6 pending; X7 pending; X8 pending',
          'export race: those are exported; the ones not approved are not');
SELECT is((SELECT count(*) FROM reconcile.export_adjustments('rs_export')), 0::bigint,
          'export race: a third export returns nothing');

SELECT pg_temp.checker_approves(ARRAY['X6']) \g /dev/null
SELECT is((SELECT array_agg(adjustment_id ORDER BY adjustment_id) FROM reconcile.export_adjustments('rs_export')),
          pg_temp.adjs(ARRAY['X6']), 'export: an adjustment approved after the export: the next export returns it alone');
SELECT is((SELECT count(*) FROM reconcile.export_adjustments('rs_export')), 0::bigint, 'export: and then nothing');

-- an export that rolls back exports nothing: the one waiting for it takes them
SELECT pg_temp.checker_approves(ARRAY['X7', 'X8']) \g /dev/null
BEGIN;
SELECT is((SELECT array_agg(adjustment_id ORDER BY adjustment_id) FROM reconcile.export_adjustments('rs_export')),
          pg_temp.adjs(ARRAY['X7', 'X8']), 'export race: A exports two more (not committed yet)');
SELECT dblink_send_query('rs_other', $$SELECT COALESCE(array_agg(adjustment_id ORDER BY adjustment_id), '{}')::text
                                       FROM reconcile.export_adjustments('rs_export')$$) \g /dev/null
SELECT ok(pg_temp.waits_for_me(:other_pid), 'export race: B waits for them');
SELECT is(dblink_is_busy('rs_other'), 1, 'export race: B is still busy');
ROLLBACK;
SELECT is(pg_temp.other_export_result(), pg_temp.adjs(ARRAY['X7', 'X8']),
          'export race: A rolls back: B returns them');
SELECT count(*) FROM dblink_get_result('rs_other') AS t(x text) \g /dev/null
SELECT is((SELECT count(*) FROM reconcile.export_adjustments('rs_export')), 0::bigint, 'export race: then nothing is left');
SELECT is((SELECT count(*) FILTER (WHERE status = 'exported') || ' of ' || count(*) FROM reconcile.adjustments WHERE name = 'rs_export'),
          '8 of 8', 'export: every adjustment exported');
SELECT is((SELECT array_agg(x::bigint ORDER BY x::bigint)
           FROM reconcile.audit_log g, jsonb_array_elements_text(g.details -> 'adjustment_ids') x
           WHERE g.recon_id = (SELECT id FROM reconcile.reconciliations WHERE name = 'rs_export')
             AND g.action = 'export_adjustments'),
          pg_temp.adjs(ARRAY['X1', 'X2', 'X3', 'X4', 'X5', 'X6', 'X7', 'X8']),
          'export: the audit log records each exported once');
SELECT is((SELECT sum(amount) FROM reconcile.adjustments WHERE name = 'rs_export')
          + (SELECT sum(amount) FROM reconcile.proof((SELECT min(run_id) FROM reconcile.runs WHERE name = 'rs_export'))
             WHERE item = 'amount_mismatch'),
          0.00, 'export: the adjustments plus the proof''s amount_mismatch line are zero');

---------------------------------------------------------------------------------------------------
-- 3. accept and reject wait for a run that holds the reconciliation
---------------------------------------------------------------------------------------------------
SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, statement_id, status), '; ' ORDER BY ledger_id)
           FROM reconcile.items WHERE name = 'rs_review'),
          'V1 W1 suggested; V2 W2 suggested', 'review: set-up: two matches held back for review');

BEGIN;
SELECT reconcile.run('rs_review', '2026-11-30') AS v2 \gset
SELECT dblink_send_query('rs_other', format('SELECT reconcile.accept(%s, %L)', pg_temp.review_item('V1'), 'checked')) \g /dev/null
SELECT ok(pg_temp.waits_for_me(:other_pid), 'review: accept waits for the run under way in another session');
SELECT is(dblink_is_busy('rs_other'), 1, 'review: accept is still busy');
SELECT is((SELECT status FROM reconcile.items WHERE item_id = pg_temp.review_item('V1')), 'suggested',
          'review: the item is still suggested');
COMMIT;
SELECT is((SELECT x FROM dblink_get_result('rs_other') AS t(x text)), '', 'review: once the run commits, accept completes');
SELECT count(*) FROM dblink_get_result('rs_other') AS t(x text) \g /dev/null
SELECT is((SELECT concat_ws(' ', status, resolution, note) FROM reconcile.items WHERE item_id = pg_temp.review_item('V1')),
          'cleared accepted checked', 'review: the item is accepted');
SELECT is((SELECT string_agg(id || ' ' || run_id, '; ' ORDER BY id) FROM reconcile.cleared
           WHERE name = 'rs_review' AND id IN ('V1', 'W1')),
          format('V1 %s; W1 %s', :v2, :v2), 'review: its rows are cleared, as the run that committed found them');

BEGIN;
SELECT reconcile.run('rs_review', '2026-11-30') AS v3 \gset
SELECT dblink_send_query('rs_other', format('SELECT reconcile.reject(%s, %L)', pg_temp.review_item('V2'), 'not ours')) \g /dev/null
SELECT ok(pg_temp.waits_for_me(:other_pid), 'review: reject waits for the run under way in another session');
SELECT is(dblink_is_busy('rs_other'), 1, 'review: reject is still busy');
COMMIT;
SELECT is((SELECT x FROM dblink_get_result('rs_other') AS t(x text)), '', 'review: once the run commits, reject completes');
SELECT count(*) FROM dblink_get_result('rs_other') AS t(x text) \g /dev/null
SELECT is((SELECT concat_ws(' ', status, resolution, note, CASE WHEN last_run_id = :v3 THEN 'found again' END) FROM reconcile.items WHERE item_id = pg_temp.review_item('V2')),
          'rejected rejected not ours found again', 'review: the item the run found again is rejected');
SELECT reconcile.run('rs_review', '2026-11-30') AS v4 \gset
SELECT is((SELECT string_agg(concat_ws(' ', coalesce(ledger_id, '-'), coalesce(statement_id, '-'), category, status), '; '
                             ORDER BY ledger_id, statement_id)
           FROM reconcile.items WHERE name = 'rs_review' AND last_run_id = :v4),
          'V2 - missing_in_statement open; - W2 missing_in_ledger open',
          'review: the next run does not propose the rejected pair again');

---------------------------------------------------------------------------------------------------
-- 4. accept while a run is still reading (it holds the reconciliation, and will update the item):
--    accept waits for the reconciliation before it locks the item, in the run's order, so neither
--    waits for the other
---------------------------------------------------------------------------------------------------
SELECT pg_temp.connect_self('rs_runner') \g /dev/null
SELECT pid AS runner_pid FROM dblink('rs_runner', 'SELECT pg_backend_pid()') AS t(pid int) \gset
SELECT pg_advisory_lock(424242) \g /dev/null
SELECT dblink_send_query('rs_runner', 'SELECT reconcile.run(''rs_gate'', ''2026-11-30'')') \g /dev/null
SELECT ok(pg_temp.waits_for_me(:runner_pid), 'gate: the run holds the reconciliation and waits while reading');
SELECT dblink_send_query('rs_other', format('SELECT reconcile.accept(%s, %L)',
                         (SELECT max(item_id) FROM reconcile.items WHERE name = 'rs_gate' AND ledger_id = 'G1'), 'gate')) \g /dev/null
CREATE FUNCTION pg_temp.waits_for(pid int, other int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 200 LOOP
        IF other = ANY (pg_blocking_pids(pid)) THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN false;
END $$;
SELECT ok(pg_temp.waits_for(:other_pid, :runner_pid), 'gate: accept waits for the run');
SELECT pg_advisory_unlock(424242) \g /dev/null
SELECT ok((SELECT r FROM dblink_get_result('rs_runner') AS t(r bigint)) > 0, 'gate: the run completes');
SELECT count(*) FROM dblink_get_result('rs_runner') AS t(r bigint) \g /dev/null
SELECT is((SELECT x FROM dblink_get_result('rs_other') AS t(x text)), '', 'gate: and accept after it, without a deadlock');
SELECT count(*) FROM dblink_get_result('rs_other') AS t(x text) \g /dev/null
SELECT is((SELECT status FROM reconcile.items WHERE name = 'rs_gate' AND ledger_id = 'G1' AND status <> 'rejected'),
          'cleared', 'gate: the item the run found again is accepted');
SELECT dblink_disconnect('rs_runner') \g /dev/null

SELECT * FROM finish();

SELECT dblink_disconnect('rs_listen') \g /dev/null
SELECT dblink_disconnect('rs_other') \g /dev/null
SELECT dblink_disconnect('rs_checker') \g /dev/null
SELECT pg_temp.rs_cleanup() \g /dev/null
\if :rs_add_dblink
DROP EXTENSION dblink;
\endif
\if :rs_add_reconcile
DROP EXTENSION reconcile;
\endif
