-- Review, write-offs and adjustments (SPEC section 8, 0.6.0): reconcile.configure and its options,
-- matches held back for review (suggested items) and accepted or rejected, the write-offs a run
-- makes within the limit, adjustments of resolved items and their export, and the match rate.
-- One transaction that rolls back, but for the second person: a checker approves in a login of
-- its own (dblink), so that part (its roles, tables, reconciliation and run) is committed by dblink
-- connections, first (before any reconciliation of this transaction takes its locks), and removed
-- after the rollback (its audit entries stay: the audit log is append-only).  The extensions
-- reconcile and dblink (which the other logins need committed) are dropped at the end when this
-- file created them.  Run by a superuser, as the suite is.
SET client_min_messages = warning;
SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'reconcile') AS rv_add_reconcile,
       NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'dblink') AS rv_add_dblink \gset
CREATE EXTENSION IF NOT EXISTS reconcile;
\ir lib/logins.sql
-- removes what the dblink part committed (at the end, and first what a run of this file that
-- stopped half-way left)
CREATE FUNCTION pg_temp.rv_p_cleanup() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    rid bigint;
BEGIN
    IF EXISTS (SELECT FROM reconcile.reconciliations WHERE name = 'rv_p') THEN
        PERFORM reconcile.drop('rv_p');
    END IF;
    FOR rid IN SELECT DISTINCT recon_id FROM reconcile.runs WHERE name = 'rv_p' AND recon_id IS NOT NULL LOOP
        DELETE FROM reconcile.adjustment_entries WHERE recon_id = rid;
        DELETE FROM reconcile.recon_options WHERE recon_id = rid;
        DELETE FROM reconcile.rejections WHERE recon_id = rid;
        DELETE FROM reconcile.released WHERE recon_id = rid;
        DELETE FROM reconcile.skipped WHERE recon_id = rid;
        EXECUTE format('DROP TABLE IF EXISTS reconcile.%I', 'cleared_' || rid);
    END LOOP;
    DELETE FROM reconcile.results WHERE name = 'rv_p';
    DELETE FROM reconcile.items WHERE name = 'rv_p';
    DELETE FROM reconcile.runs WHERE name = 'rv_p';
    DROP SCHEMA IF EXISTS rv_p CASCADE;
    DROP TABLE IF EXISTS public.rv_pl, public.rv_ps;
    DROP ROLE IF EXISTS rv_p_maker;
    DROP ROLE IF EXISTS rv_p_member;
    DROP ROLE IF EXISTS rv_p_checker;
END
$$;
SELECT pg_temp.rv_p_cleanup() \g /dev/null

BEGIN;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT plan(107);

-- the reconciliation statement must add up, for every key of a run
CREATE FUNCTION pg_temp.proof_balances(rid bigint) RETURNS boolean LANGUAGE sql AS $$
    SELECT bool_and(total) FROM (
        SELECT key, sum(amount) FILTER (WHERE item <> 'statement total')
                    = sum(amount) FILTER (WHERE item = 'statement total') AS total
        FROM reconcile.proof(rid) GROUP BY key) t
$$;
-- a run's adjustments (not cancelled) plus the contribution of what they resolve (the items
-- adjusted, a written-off group whole): the statement rows minus the ledger rows, each row once,
-- with its amount in that run's results: zero, always
CREATE FUNCTION pg_temp.adjustment_gap(rid bigint) RETURNS numeric LANGUAGE sql AS $$
    WITH a AS (SELECT * FROM reconcile.adjustments WHERE run_id = rid AND status <> 'cancelled'),
    it AS (SELECT i.key, i.ledger_id, i.statement_id FROM a JOIN reconcile.items i ON i.item_id = a.item_id
           UNION
           SELECT g.key, g.ledger_id, g.statement_id
           FROM a JOIN reconcile.items i ON i.item_id = a.item_id
           JOIN reconcile.items g ON g.recon_id = i.recon_id AND g.group_tag = i.group_tag
                                 AND g.resolution = 'write-off' AND i.resolution = 'write-off'),
    l AS (SELECT DISTINCT x.key, x.ledger_id, x.ledger_amount FROM reconcile.results x
          JOIN it ON it.ledger_id = x.ledger_id AND it.key IS NOT DISTINCT FROM x.key
          WHERE x.run_id = rid),
    s AS (SELECT DISTINCT x.key, x.statement_id, x.statement_amount FROM reconcile.results x
          JOIN it ON it.statement_id = x.statement_id AND it.key IS NOT DISTINCT FROM x.key
          WHERE x.run_id = rid AND x.statement_amount IS NOT NULL)
    SELECT (SELECT sum(amount) FROM a) + COALESCE((SELECT sum(statement_amount) FROM s), 0)
           - COALESCE((SELECT sum(ledger_amount) FROM l), 0)
$$;

---------------------------------------------------------------------------------------------------
-- 1. Write-offs approved by a second person, in its own login (committed through dblink)
---------------------------------------------------------------------------------------------------
SELECT dblink_connect('rv_admin', format('host=%s port=%s dbname=%s user=%s',
                      split_part(current_setting('unix_socket_directories'), ',', 1),
                      current_setting('port'), current_database(), current_user)) \g /dev/null
SELECT dblink_exec('rv_admin', $$
    CREATE ROLE rv_p_maker LOGIN PASSWORD 'rc-test-login';
    CREATE ROLE rv_p_member LOGIN PASSWORD 'rc-test-login' IN ROLE rv_p_maker;
    CREATE ROLE rv_p_checker LOGIN PASSWORD 'rc-test-login';
    CREATE TABLE public.rv_pl (id text, amount numeric(12,2), tx_date date, ref text, batch text, fee numeric(12,2));
    CREATE TABLE public.rv_ps (id text, amount numeric(12,2), tx_date date, ref text, fee numeric(12,2));
    INSERT INTO public.rv_pl VALUES
        ('P1', 100.00, '2026-11-02', 'INV-0101', NULL, NULL),
        ('P2', 200.00, '2026-11-02', 'INV-0102', NULL, NULL),
        ('F1', 99.00, '2026-11-03', NULL, 'PO-7', 1.00),
        ('F2', 49.50, '2026-11-03', NULL, 'PO-7', 0.50);
    INSERT INTO public.rv_ps VALUES
        ('Q1', 100.02, '2026-11-03', 'PAY INV-0101', NULL),
        ('Q2', 200.04, '2026-11-03', 'PAY INV-0102', NULL),
        ('PO-7', 148.46, '2026-11-04', 'PAYOUT PO-7', 1.54);
    GRANT SELECT ON public.rv_pl, public.rv_ps TO rv_p_maker, rv_p_checker;
    CREATE SCHEMA rv_p AUTHORIZATION rv_p_maker;
    GRANT USAGE ON SCHEMA rv_p TO PUBLIC
$$) \g /dev/null
SELECT pg_temp.login('rv_maker', 'rv_p_maker') \g /dev/null
SELECT pg_temp.login('rv_member', 'rv_p_member') \g /dev/null
SELECT pg_temp.login('rv_checker', 'rv_p_checker') \g /dev/null
-- the maker makes the reconciliation, sets the write-off limit and runs it, in its own login
SELECT pg_temp.as_login('rv_maker', $$
    SET search_path = rv_p;
    SELECT reconcile.create('rv_p', 'public.rv_pl', 'public.rv_ps', reconcile.rule(abs_tol => 0.01),
                            '{"ledger": {"fee": "fee"}, "statement": {"fee": "fee"}}');
    SELECT reconcile.configure('rv_p', writeoff_limit => 0.05, writeoff_account => '6990 rounding')
$$) \g /dev/null
SELECT pg_temp.as_login('rv_maker', $$SELECT reconcile.run('rv_p', '2026-11-30')$$)::bigint AS rp \gset

SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, statement_id, category, status, resolution, resolved_by, resolved_session), '; '
                             ORDER BY ledger_id)
           FROM reconcile.items WHERE name = 'rv_p'),
          'F1 PO-7 fee_difference resolved write-off rv_p_maker rv_p_maker; F2 fee_difference resolved write-off rv_p_maker rv_p_maker; '
          'P1 Q1 amount_mismatch resolved write-off rv_p_maker rv_p_maker; P2 Q2 amount_mismatch resolved write-off rv_p_maker rv_p_maker',
          'second person: the maker''s run writes off within its limit, made by the maker (role and person)');
SELECT is((SELECT string_agg(concat_ws(' ', i.ledger_id, a.account, a.amount, a.status), '; ' ORDER BY i.ledger_id)
           FROM reconcile.adjustments a JOIN reconcile.items i ON i.item_id = a.item_id WHERE a.name = 'rv_p'),
          'F1 6990 rounding 0.04 pending; P1 6990 rounding -0.02 pending; P2 6990 rounding -0.04 pending',
          'second person: one adjustment each, the payout batch''s one for its whole difference, pending');
SELECT is((SELECT sum(amount) FROM reconcile.adjustments WHERE run_id = :rp)
          + (SELECT sum(amount) FROM reconcile.proof(:rp) WHERE item IN ('amount_mismatch', 'fee_difference')),
          0.00, 'second person: the run''s adjustments plus the proof''s amount_mismatch and fee_difference lines are zero');
-- the SQLSTATE and the detail of the error a statement raises
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
SELECT is(pg_temp.refusal($$SELECT pg_temp.as_login('rv_maker',
              'SELECT reconcile.approve((SELECT item_id FROM reconcile.items WHERE name = ''rv_p'' AND ledger_id = ''P1''))')$$),
          '42501: rv_p_maker acts as or is a member of rv_p_maker.',
          'second person: the maker, who set the limit, cannot approve a write-off, in its own login (42501)');
SELECT is(pg_temp.refusal($$SELECT pg_temp.as_login('rv_member',
              'SELECT reconcile.approve((SELECT item_id FROM reconcile.items WHERE name = ''rv_p'' AND ledger_id = ''P1''))')$$),
          '42501: rv_p_member acts as or is a member of rv_p_maker.',
          'second person: nor a login that is a member of the maker''s role (42501)');
SELECT is(pg_temp.as_login('rv_checker',
              $$SELECT reconcile.approve((SELECT item_id FROM reconcile.items WHERE name = 'rv_p' AND ledger_id = 'P1'))$$),
          '', 'second person: the checker approves a write-off, in its own login');
SELECT is(pg_temp.as_login('rv_checker',
              $$SELECT reconcile.approve((SELECT item_id FROM reconcile.items WHERE name = 'rv_p' AND ledger_id = 'F2'))$$),
          '', 'second person: and one item of the written-off payout batch');
SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, status, approved_by, approved_session), '; ' ORDER BY ledger_id)
           FROM reconcile.items WHERE name = 'rv_p'),
          'F1 approved rv_p_checker rv_p_checker; F2 approved rv_p_checker rv_p_checker; P1 approved rv_p_checker rv_p_checker; P2 resolved',
          'second person: the batch is approved whole; the write-off nobody approved stays resolved');
SELECT is((SELECT string_agg(concat_ws(' ', i.ledger_id, a.status, a.resolved_by, a.approved_by), '; ' ORDER BY i.ledger_id)
           FROM reconcile.adjustments a JOIN reconcile.items i ON i.item_id = a.item_id WHERE a.name = 'rv_p'),
          'F1 approved rv_p_maker rv_p_checker; P1 approved rv_p_maker rv_p_checker; P2 pending rv_p_maker',
          'second person: the adjustments of the approved items are approved');
-- export: only the approved ones, once
CREATE TEMP TABLE rv_export1 AS SELECT * FROM reconcile.export_adjustments('rv_p');
SELECT is((SELECT string_agg(concat_ws(' ', account, amount, status, approved_by), '; ' ORDER BY adjustment_id) FROM rv_export1),
          (SELECT string_agg(concat_ws(' ', account, amount, 'exported', approved_by), '; ' ORDER BY adjustment_id)
           FROM reconcile.adjustment_entries a JOIN reconcile.items i ON i.item_id = a.item_id
           WHERE a.name = 'rv_p' AND i.ledger_id IN ('P1', 'F1')),
          'export_adjustments returns the approved adjustments, marked exported');
SELECT is((SELECT array_agg(amount ORDER BY amount) FROM rv_export1), ARRAY[-0.02, 0.04]::numeric[],
          'export_adjustments: the two approved ones only, not the pending one');
SELECT is((SELECT string_agg(concat_ws(' ', i.ledger_id, a.status), '; ' ORDER BY i.ledger_id)
           FROM reconcile.adjustments a JOIN reconcile.items i ON i.item_id = a.item_id WHERE a.name = 'rv_p'),
          'F1 exported; P1 exported; P2 pending', 'export_adjustments: the view says exported');
SELECT is((SELECT count(*) FROM reconcile.export_adjustments('rv_p')), 0::bigint,
          'export_adjustments: a second call returns none');
SELECT throws_ok($$SELECT * FROM reconcile.export_adjustments('rv_nosuch')$$, '42704', NULL,
                 'export_adjustments of an unknown reconciliation: 42704');

---------------------------------------------------------------------------------------------------
-- 2. configure and the options
---------------------------------------------------------------------------------------------------
CREATE ROLE rv_stranger;                         -- sees nothing
CREATE ROLE rv_reader;                           -- reads the sources, owns nothing
CREATE ROLE rv_maker;                            -- owns rv_w and sets its write-off limit
CREATE ROLE rv_member IN ROLE rv_maker;
GRANT CREATE ON SCHEMA public TO rv_maker;

CREATE TABLE public.rv_rl (id text, amount numeric(12,2), tx_date date, ref text, batch text);
CREATE TABLE public.rv_rs (id text, amount numeric(12,2), tx_date date, ref text);
INSERT INTO public.rv_rl VALUES
    ('A1', 100.00, '2026-11-02', 'INV-0001', NULL),   -- 1 day later by reference: 0.875, cleared
    ('A2', 200.00, '2026-11-02', NULL, NULL),         -- 3 days later: 0.7, held for review, accepted
    ('A3', 50.00, '2026-11-02', 'INV-0003', NULL),    -- two equal invoices, one bank line 3 days later:
    ('A4', 50.00, '2026-11-02', 'INV-0004', NULL),    --   A3 proposed and rejected, then A4
    ('A5', 70.00, '2026-11-02', NULL, NULL),          -- 3 days later, rejected: its only counterpart
    ('A6', 80.00, '2026-11-02', NULL, NULL),          -- within tolerance the same day: cleared
    ('C1', 10.00, '2026-11-03', NULL, 'P-9'),         -- a batch paid 5 days later: 0.58, accepted whole
    ('C2', 20.00, '2026-11-03', NULL, 'P-9'),
    ('C3', 30.00, '2026-11-03', NULL, 'P-9'),
    ('D1', 15.00, '2026-11-03', NULL, 'P-10'),        -- another, rejected whole
    ('D2', 25.00, '2026-11-03', NULL, 'P-10');
INSERT INTO public.rv_rs VALUES
    ('B1', 100.00, '2026-11-03', 'PAY INV-0001'),
    ('B2', 200.00, '2026-11-05', NULL),
    ('B3', 50.00, '2026-11-05', NULL),
    ('B5', 70.00, '2026-11-05', NULL),
    ('B6', 80.01, '2026-11-02', NULL),
    ('B4', 60.00, '2026-11-08', 'PAYOUT P-9'),
    ('B7', 40.00, '2026-11-08', 'PAYOUT P-10');
GRANT SELECT ON public.rv_rl, public.rv_rs TO rv_reader;
SELECT reconcile.create('rv_r', 'public.rv_rl', 'public.rv_rs', reconcile.rule(abs_tol => 0.01, days_after => 7)) \g /dev/null

SELECT reconcile.configure('rv_r', review_below => 0.8) \g /dev/null
SELECT is((SELECT concat_ws('|', review_below, writeoff_limit, writeoff_account, alert_amount, writeoff_by, set_by)
           FROM reconcile.options WHERE name = 'rv_r'),
          '0.8|' || current_user, 'configure: reconcile.options shows the value set and who set it');
SELECT reconcile.configure('rv_r', alert_amount => 500) \g /dev/null
SELECT is((SELECT concat_ws('|', review_below, writeoff_limit, writeoff_account, alert_amount)
           FROM reconcile.options WHERE name = 'rv_r'),
          '0.8|500', 'configure: an option left NULL keeps its value');
SELECT reconcile.configure('rv_r', writeoff_limit => 0.10, writeoff_account => '6990') \g /dev/null
SELECT is((SELECT concat_ws('|', review_below, writeoff_limit, writeoff_account, alert_amount, writeoff_by)
           FROM reconcile.options WHERE name = 'rv_r'),
          '0.8|0.10|6990|500|' || current_user, 'configure: the write-off limit with its account, and who set the limit');
SELECT throws_ok($$SELECT reconcile.configure('rv_nosuch', review_below => 0.5)$$, '42704', NULL,
                 'configure: unknown name 42704');
SET ROLE rv_stranger;
SELECT throws_ok($$SELECT reconcile.configure('rv_r', review_below => 0.5)$$, '42501', NULL,
                 'configure: a role that cannot even read the sources: 42501');
SELECT throws_ok($$SELECT reconcile.reset_option('rv_r', 'review_below')$$, '42501', NULL,
                 'reset_option: the same: 42501');
RESET ROLE;
SET ROLE rv_reader;
SELECT throws_ok($$SELECT reconcile.configure('rv_r', review_below => 0.5)$$, '42501', NULL,
                 'configure: a role that reads the sources but does not own the reconciliation: 42501');
RESET ROLE;
SELECT throws_ok($$SELECT reconcile.configure('rv_r', review_below => 1.01)$$, '22023', NULL, 'configure: review_below above 1: 22023');
SELECT throws_ok($$SELECT reconcile.configure('rv_r', review_below => -0.01)$$, '22023', NULL, 'configure: review_below below 0: 22023');
SELECT throws_ok($$SELECT reconcile.configure('rv_r', review_below => 'NaN')$$, '22023', NULL, 'configure: review_below NaN: 22023');
SELECT throws_ok($$SELECT reconcile.configure('rv_r', review_below => 'Infinity')$$, '22023', NULL, 'configure: review_below infinite: 22023');
SELECT throws_ok($$SELECT reconcile.configure('rv_r', writeoff_limit => -0.01)$$, '22023', NULL, 'configure: a negative writeoff_limit: 22023');
SELECT throws_ok($$SELECT reconcile.configure('rv_r', writeoff_limit => 'Infinity')$$, '22023', NULL, 'configure: an infinite writeoff_limit: 22023');
SELECT throws_ok($$SELECT reconcile.configure('rv_r', writeoff_limit => 'NaN')$$, '22023', NULL, 'configure: a NaN writeoff_limit: 22023');
SELECT throws_ok($$SELECT reconcile.configure('rv_r', alert_amount => -1)$$, '22023', NULL, 'configure: a negative alert_amount: 22023');
SELECT throws_ok($$SELECT reconcile.configure('rv_r', alert_amount => 'Infinity')$$, '22023', NULL, 'configure: an infinite alert_amount: 22023');
SELECT throws_ok($$SELECT reconcile.configure('rv_r', writeoff_account => '')$$, '22023', NULL, 'configure: an empty writeoff_account: 22023');
SELECT is((SELECT concat_ws('|', review_below, writeoff_limit, writeoff_account, alert_amount)
           FROM reconcile.options WHERE name = 'rv_r'),
          '0.8|0.10|6990|500', 'configure: what was refused changed nothing');
SELECT reconcile.reset_option('rv_r', 'writeoff_limit') \g /dev/null
SELECT is((SELECT concat_ws('|', review_below, writeoff_limit, writeoff_account, alert_amount, writeoff_by)
           FROM reconcile.options WHERE name = 'rv_r'),
          '0.8|500', 'reset_option: unsets the write-off limit with its account, and nothing else');
SELECT throws_ok($$SELECT reconcile.configure('rv_r', writeoff_limit => 0.05)$$, '22023', NULL,
                 'configure: a write-off limit without an account to write off to: 22023');
SELECT reconcile.reset_option('rv_r', 'alert_amount') \g /dev/null
SELECT is((SELECT concat_ws('|', review_below, writeoff_limit, writeoff_account, alert_amount)
           FROM reconcile.options WHERE name = 'rv_r'),
          '0.8', 'reset_option: unsets alert_amount');
SELECT throws_ok($$SELECT reconcile.reset_option('rv_r', 'colour')$$, '22023', NULL, 'reset_option: an unknown option: 22023');
SELECT is((SELECT string_agg(concat_ws(' ', action, acting_role, details ->> 'review_below', details ->> 'writeoff_limit',
                                       details ->> 'alert_amount', details ->> 'option'), '; ' ORDER BY audit_id)
           FROM reconcile.audit_log WHERE name = 'rv_r' AND action IN ('configure', 'reset_option')),
          format('configure %1$s 0.8; configure %1$s 0.8 500; configure %1$s 0.8 0.10 500; '
                 'reset_option %1$s writeoff_limit; reset_option %1$s alert_amount', current_user),
          'configure and reset_option are audited, with the options as they became (the refused calls are not)');
SELECT is((SELECT details -> 'was' ->> 'alert_amount' FROM reconcile.audit_log
           WHERE name = 'rv_r' AND action = 'configure' AND details ->> 'writeoff_limit' = '0.10'),
          '500', 'configure: the audit entry keeps the values it replaced');

---------------------------------------------------------------------------------------------------
-- 3. Review: matches scoring below review_below wait for accept or reject
---------------------------------------------------------------------------------------------------
CREATE FUNCTION pg_temp.rv_item(rname text, l text, s text DEFAULT NULL) RETURNS bigint LANGUAGE sql AS $$
    SELECT max(item_id) FROM reconcile.items
    WHERE name = rname AND ledger_id IS NOT DISTINCT FROM l AND (s IS NULL OR statement_id = s)
$$;
SELECT reconcile.run('rv_r', '2026-11-30') AS rr1 \gset

SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, statement_id, category, review), '; ' ORDER BY ledger_id, statement_id)
           FROM reconcile.results WHERE run_id = :rr1),
          'A1 B1 matched f; A2 B2 matched t; A3 B3 matched t; A4 missing_in_statement; A5 B5 matched t; '
          'A6 B6 matched_within_tolerance f; C1 B4 many_to_one t; C2 B4 many_to_one t; C3 B4 many_to_one t; '
          'D1 B7 many_to_one t; D2 B7 many_to_one t',
          'review: the run holds back the matches scoring below 0.8 (a group by its score)');
SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, statement_id, category, status, round(score::numeric, 4), reason), '; '
                             ORDER BY ledger_id)
           FROM reconcile.open_items WHERE name = 'rv_r' AND ledger_id IN ('A2', 'A3', 'A5')),
          'A2 B2 matched suggested 0.7000 same amount, 3 days later; A3 B3 matched suggested 0.7000 same amount, 3 days later; '
          'A5 B5 matched suggested 0.7000 same amount, 3 days later',
          'review: each is a suggested item in open_items, with its score and reason');
SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, statement_id, status, round(score::numeric, 4)), '; ' ORDER BY ledger_id)
           FROM reconcile.open_items WHERE name = 'rv_r' AND ledger_id ~ '^[CD]'),
          'C1 B4 suggested 0.5833; C2 B4 suggested 0.5833; C3 B4 suggested 0.5833; D1 B7 suggested 0.5833; D2 B7 suggested 0.5833',
          'review: the batches paid 5 days later are suggested, an item a row');
SELECT is((SELECT count(DISTINCT group_tag) || '/' || count(group_tag) || '/' || count(DISTINCT (left(ledger_id, 1), group_tag))
           FROM reconcile.items WHERE name = 'rv_r' AND ledger_id ~ '^[CD]'),
          '2/5/2', 'review: the items of one batch share a group_tag, the two batches have two');
SELECT is((SELECT string_agg(concat_ws(' ', id, category), '; ' ORDER BY id) FROM reconcile.cleared WHERE name = 'rv_r'),
          'A1 matched; A6 matched_within_tolerance; B1 matched; B6 matched_within_tolerance',
          'review: the run cleared the matches above the threshold, and none of the suggested ones');
SELECT is((SELECT status FROM reconcile.open_items WHERE name = 'rv_r' AND ledger_id = 'A4'), 'open',
          'review: the other equal invoice is an open discrepancy');

-- accept
SELECT reconcile.accept(pg_temp.rv_item('rv_r', 'A2'), 'remittance checked') \g /dev/null
SELECT is((SELECT concat_ws(' ', status, resolution, note, resolved_by) FROM reconcile.items WHERE item_id = pg_temp.rv_item('rv_r', 'A2')),
          'cleared accepted remittance checked ' || current_user, 'accept: the item is cleared, resolution accepted');
SELECT is((SELECT string_agg(concat_ws(' ', id, category, run_id = :rr1, made_by), '; ' ORDER BY id)
           FROM reconcile.cleared WHERE name = 'rv_r' AND id IN ('A2', 'B2')),
          format('A2 matched t %1$s; B2 matched t %1$s', current_user), 'accept: its rows are cleared, as the run found them');
SELECT is((SELECT count(*) FROM reconcile.open_items WHERE name = 'rv_r' AND ledger_id = 'A2'), 0::bigint,
          'accept: it leaves open_items');
SELECT is((SELECT concat_ws(' ', acting_role, details ->> 'ledger_id', details ->> 'statement_id', details ->> 'note')
           FROM reconcile.audit_log WHERE action = 'accept' AND item_id = pg_temp.rv_item('rv_r', 'A2')),
          current_user || ' A2 B2 remittance checked', 'accept is audited');
SELECT throws_ok(format('SELECT reconcile.accept(%s)', pg_temp.rv_item('rv_r', 'A2')), '55000', NULL,
                 'accept of an item already accepted: 55000');
SELECT throws_ok(format('SELECT reconcile.accept(%s)', pg_temp.rv_item('rv_r', 'A4')), '55000', NULL,
                 'accept of an open discrepancy: 55000');
SELECT throws_ok(format('SELECT reconcile.accept(%s)', (SELECT max(item_id) + 1000 FROM reconcile.items)), '42704', NULL,
                 'accept of an unknown item: 42704');

-- a batch accepted whole, through any of its items
SELECT reconcile.accept(pg_temp.rv_item('rv_r', 'C2')) \g /dev/null
SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, status, resolution), '; ' ORDER BY ledger_id)
           FROM reconcile.items WHERE name = 'rv_r' AND ledger_id ~ '^C'),
          'C1 cleared accepted; C2 cleared accepted; C3 cleared accepted', 'accept: a batch is accepted whole');
SELECT is((SELECT string_agg(concat_ws(' ', id, category), '; ' ORDER BY id)
           FROM reconcile.cleared WHERE name = 'rv_r' AND id IN ('C1', 'C2', 'C3', 'B4')),
          'B4 many_to_one; C1 many_to_one; C2 many_to_one; C3 many_to_one', 'accept: the batch''s rows are cleared');
SELECT is((SELECT count(*) FROM reconcile.audit_log WHERE action = 'accept' AND name = 'rv_r' AND details ->> 'ledger_id' ~ '^C'),
          3::bigint, 'accept: audited for each item of the batch');

-- reject
SELECT reconcile.reject(pg_temp.rv_item('rv_r', 'A3'), 'wrong invoice') \g /dev/null
SELECT is((SELECT concat_ws(' ', status, resolution, note, resolved_by) FROM reconcile.items WHERE item_id = pg_temp.rv_item('rv_r', 'A3', 'B3')),
          'rejected rejected wrong invoice ' || current_user, 'reject: the item is rejected, with the note');
SELECT is((SELECT string_agg(concat_ws(' ', r.id, r.is_ledger), '; ' ORDER BY r.id) || ' / ' || count(DISTINCT r.rejection_id)
           FROM reconcile.rejections r JOIN reconcile.reconciliations g ON g.id = r.recon_id
           WHERE g.name = 'rv_r'),
          'A3 t; B3 f / 1', 'reject: its rows are one rejection in reconcile.rejections');
SELECT is((SELECT count(*) FROM reconcile.cleared WHERE name = 'rv_r' AND id IN ('A3', 'B3')), 0::bigint,
          'reject: nothing of it is cleared');
SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, statement_id, category), '; ' ORDER BY ledger_id)
           FROM public.rv_r_matches WHERE ledger_id IN ('A3', 'A4') OR statement_id = 'B3'),
          'A3 missing_in_statement; A4 B3 matched', 'reject: the view never pairs the two again, and pairs the bank line with the other invoice');
SELECT is((SELECT concat_ws(' ', acting_role, details ->> 'ledger_id', details ->> 'statement_id', details ->> 'note')
           FROM reconcile.audit_log WHERE action = 'reject' AND item_id = pg_temp.rv_item('rv_r', 'A3', 'B3')),
          current_user || ' A3 B3 wrong invoice', 'reject is audited');
SELECT throws_ok(format('SELECT reconcile.reject(%s, %L)', pg_temp.rv_item('rv_r', 'A3', 'B3'), 'again'), '55000', NULL,
                 'reject of an item already rejected: 55000');
SELECT throws_ok(format('SELECT reconcile.reject(%s, %L)', pg_temp.rv_item('rv_r', 'A2'), 'too late'), '55000', NULL,
                 'reject of an item accepted: 55000');
SELECT throws_ok(format('SELECT reconcile.reject(%s, %L)', (SELECT max(item_id) + 1000 FROM reconcile.items), 'x'), '42704', NULL,
                 'reject of an unknown item: 42704');
-- a batch rejected whole, through its second item; a pair whose rows have no other counterpart
SELECT reconcile.reject(pg_temp.rv_item('rv_r', 'D2'), 'not this payout') \g /dev/null
SELECT reconcile.reject(pg_temp.rv_item('rv_r', 'A5'), 'another customer') \g /dev/null
SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, status, note), '; ' ORDER BY ledger_id)
           FROM reconcile.items WHERE name = 'rv_r' AND ledger_id ~ '^D'),
          'D1 rejected not this payout; D2 rejected not this payout', 'reject: a batch is rejected whole');
SELECT is((SELECT string_agg(id, ' ' ORDER BY id) FROM reconcile.rejections
           WHERE rejection_id = (SELECT rejection_id FROM reconcile.rejections r JOIN reconcile.reconciliations g ON g.id = r.recon_id
                                 WHERE g.name = 'rv_r' AND r.id = 'D1')),
          'B7 D1 D2', 'reject: the batch''s rows are one rejection');
SELECT is((SELECT count(*) FROM reconcile.audit_log WHERE action = 'reject' AND name = 'rv_r'), 4::bigint,
          'reject: audited for each item (one pair, two of the batch, one pair)');
SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, statement_id, category), '; ' ORDER BY ledger_id, statement_id)
           FROM public.rv_r_matches WHERE ledger_id IN ('A5', 'D1', 'D2') OR statement_id IN ('B5', 'B7')),
          'A5 missing_in_statement; D1 missing_in_statement; D2 missing_in_statement; B5 missing_in_ledger; B7 missing_in_ledger',
          'reject: the view does not pair or group the rejected rows again');

SELECT reconcile.run('rv_r', '2026-11-30') AS rr2 \gset
SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, statement_id, category, review), '; ' ORDER BY ledger_id, statement_id)
           FROM reconcile.results WHERE run_id = :rr2),
          'A3 missing_in_statement; A4 B3 matched t; A5 missing_in_statement; D1 missing_in_statement; D2 missing_in_statement; '
          'B5 missing_in_ledger; B7 missing_in_ledger',
          'the next run: leaves the accepted rows alone, proposes the other invoice, pairs no rejected rows');
SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, statement_id, status), '; ' ORDER BY ledger_id)
           FROM reconcile.items WHERE name = 'rv_r' AND (ledger_id IN ('A2', 'C1', 'C2', 'C3') OR statement_id IN ('B2', 'B4'))),
          'A2 B2 cleared; C1 B4 cleared; C2 B4 cleared; C3 B4 cleared', 'the next run: the accepted items stay as they were, and no new ones');
SELECT is((SELECT concat_ws(' ', status, category) FROM reconcile.open_items WHERE item_id = pg_temp.rv_item('rv_r', 'A4', 'B3')),
          'suggested matched', 'the next run: the other invoice is the suggested match');

-- without review, the rejected pairs still never match; the proposed one clears
SELECT reconcile.reset_option('rv_r', 'review_below') \g /dev/null
SELECT is((SELECT review_below FROM reconcile.options WHERE name = 'rv_r'), NULL::float8, 'reset_option: review_below unset');
SELECT reconcile.run('rv_r', '2026-11-30') AS rr3 \gset
SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, statement_id, category, review), '; ' ORDER BY ledger_id, statement_id)
           FROM reconcile.results WHERE run_id = :rr3),
          'A3 missing_in_statement; A4 B3 matched; A5 missing_in_statement; D1 missing_in_statement; D2 missing_in_statement; '
          'B5 missing_in_ledger; B7 missing_in_ledger',
          'without review: the other invoice matches; the rejected pairs, which would have matched, do not');
SELECT is((SELECT string_agg(concat_ws(' ', id, category, made_by), '; ' ORDER BY id)
           FROM reconcile.cleared WHERE name = 'rv_r' AND run_id = :rr3),
          'A4 matched; B3 matched', 'without review: the run clears that match itself');
SELECT is((SELECT status FROM reconcile.items WHERE item_id = pg_temp.rv_item('rv_r', 'A4', 'B3')), 'cleared',
          'without review: the suggested item is cleared by the match');

---------------------------------------------------------------------------------------------------
-- 4. Write-offs within the limit, made by the role that set it
---------------------------------------------------------------------------------------------------
CREATE TABLE public.rv_wl (id text, amount numeric(12,2), tx_date date, ref text, batch text, fee numeric(12,2));
CREATE TABLE public.rv_ws (id text, amount numeric(12,2), tx_date date, ref text, fee numeric(12,2));
INSERT INTO public.rv_wl VALUES
    ('W1', 100.00, '2026-11-02', 'INV-0001', NULL, NULL),   -- amount_mismatch  0.03: written off
    ('W2', 200.00, '2026-11-02', 'INV-0002', NULL, NULL),   -- amount_mismatch -0.05: at the limit, written off
    ('W3', 300.00, '2026-11-02', 'INV-0003', NULL, NULL),   -- amount_mismatch  0.06: above, open
    ('W4', 0.02, '2026-11-02', 'INV-0004', NULL, NULL),     -- reversal, -0.04: open
    ('W5', 40.00, '2026-11-02', 'INV-0005', NULL, NULL),    -- timing_difference, 0.00: open
    ('W6', 60.00, '2026-11-02', 'INV-0006', NULL, NULL),    -- matched
    ('W7', 60.00, '2026-11-02', 'INV-0006', NULL, NULL),    -- duplicate: open
    ('F1', 99.00, '2026-11-03', NULL, 'PO-1', 1.00),        -- payout batch, fee_difference -0.04: written off whole
    ('F2', 49.50, '2026-11-03', NULL, 'PO-1', 0.50),
    ('G1', 198.00, '2026-11-03', NULL, 'PO-2', 2.00),       -- payout batch, fee_difference -0.10: open
    ('G2', 99.00, '2026-11-03', NULL, 'PO-2', 1.00);
INSERT INTO public.rv_ws VALUES
    ('T1', 100.03, '2026-11-03', 'PAY INV-0001', NULL),
    ('T2', 199.95, '2026-11-03', 'PAY INV-0002', NULL),
    ('T3', 300.06, '2026-11-03', 'PAY INV-0003', NULL),
    ('T4', -0.02, '2026-11-03', 'PAY INV-0004', NULL),
    ('T5', 40.00, '2026-11-20', 'PAY INV-0005', NULL),
    ('T6', 60.00, '2026-11-03', 'PAY INV-0006', NULL),
    ('T7', 2.50, '2026-11-05', 'BANK FEE', NULL),            -- missing_in_ledger: open
    ('PO-1', 148.46, '2026-11-04', 'PAYOUT PO-1', 1.54),
    ('PO-2', 296.90, '2026-11-04', 'PAYOUT PO-2', 3.10);
GRANT SELECT ON public.rv_wl, public.rv_ws TO rv_maker;
SET ROLE rv_maker;
SELECT reconcile.create('rv_w', 'public.rv_wl', 'public.rv_ws', reconcile.rule(abs_tol => 0.01),
                        '{"ledger": {"fee": "fee"}, "statement": {"fee": "fee"}}') \g /dev/null
SELECT reconcile.configure('rv_w', writeoff_limit => 0.05, writeoff_account => '6990 rounding') \g /dev/null
RESET ROLE;
SELECT is((SELECT concat_ws('|', writeoff_limit, writeoff_account, writeoff_by, set_by) FROM reconcile.options WHERE name = 'rv_w'),
          '0.05|6990 rounding|rv_maker|rv_maker', 'write-offs: the owner sets the limit and the account');
SELECT reconcile.run('rv_w', '2026-11-30') AS rw1 \gset

SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, statement_id, category, amount_diff, status, resolution), '; '
                             ORDER BY ledger_id, statement_id)
           FROM reconcile.items WHERE name = 'rv_w'),
          'F1 PO-1 fee_difference -0.04 resolved write-off; F2 fee_difference resolved write-off; '
          'G1 PO-2 fee_difference -0.10 open; G2 fee_difference open; '
          'W1 T1 amount_mismatch 0.03 resolved write-off; W2 T2 amount_mismatch -0.05 resolved write-off; '
          'W3 T3 amount_mismatch 0.06 open; W4 T4 reversal -0.04 open; W5 T5 timing_difference 0.00 open; '
          'W7 duplicate open; T7 missing_in_ledger open',
          'write-offs: amount_mismatch and fee_difference within the limit are written off; above it, and the other categories, stay open');
SELECT is((SELECT string_agg(DISTINCT concat_ws(' ', resolved_by, resolved_session), '; ')
           FROM reconcile.items WHERE name = 'rv_w' AND resolution = 'write-off'),
          'rv_maker ' || current_user, 'write-offs: resolved by the role that set the limit (and the person that was then)');
SELECT is((SELECT string_agg(concat_ws(' ', i.ledger_id, a.account, a.amount, a.status, a.resolved_by, a.memo), '; ' ORDER BY i.ledger_id)
           FROM reconcile.adjustments a JOIN reconcile.items i ON i.item_id = a.item_id WHERE a.name = 'rv_w'),
          format('F1 6990 rounding 0.04 pending rv_maker write-off of run %s; W1 6990 rounding -0.03 pending rv_maker write-off of run %s; '
                 'W2 6990 rounding 0.05 pending rv_maker write-off of run %s', :rw1, :rw1, :rw1),
          'write-offs: one pending adjustment each, ONE for the payout batch, of its whole difference');
SELECT is(pg_temp.adjustment_gap(:rw1), 0.00, 'write-offs: the run''s adjustments plus the contributions of what they resolve: zero');
SELECT is((SELECT string_agg(concat_ws(' ', i.ledger_id, l.acting_role, l.details ->> 'resolution', l.details ->> 'account',
                                       l.details ->> 'limit', (l.details ->> 'run_id')::bigint = :rw1), '; ' ORDER BY i.ledger_id)
           FROM reconcile.audit_log l JOIN reconcile.items i ON i.item_id = l.item_id
           WHERE l.name = 'rv_w' AND l.action = 'resolve'),
          'F1 rv_maker write-off 6990 rounding 0.05 t; F2 rv_maker write-off 6990 rounding 0.05 t; '
          'W1 rv_maker write-off 6990 rounding 0.05 t; W2 rv_maker write-off 6990 rounding 0.05 t',
          'write-offs: each is audited as a resolve by the role that set the limit, with the account and the limit');
SELECT is((SELECT count(*) FROM reconcile.open_items WHERE name = 'rv_w' AND status = 'resolved'), 4::bigint,
          'write-offs: they stay in open_items until approved');
SET ROLE rv_member;
SELECT throws_ok(format('SELECT reconcile.approve(%s)', pg_temp.rv_item('rv_w', 'W1')), '42501', NULL,
                 'write-offs: a role that is a member of the one that set the limit cannot approve (SET ROLE)');
SELECT throws_ok(format('SELECT reconcile.approve(%s)', pg_temp.rv_item('rv_w', 'F2')), '42501', NULL,
                 'write-offs: nor a payout batch''s');
RESET ROLE;
SET ROLE rv_maker;
SELECT throws_ok(format('SELECT reconcile.approve(%s)', pg_temp.rv_item('rv_w', 'W1')), '42501', NULL,
                 'write-offs: nor that role itself');
RESET ROLE;
-- (a different person approves in its own login: part 1)
SELECT is((SELECT string_agg(DISTINCT status, ' ') FROM reconcile.adjustments WHERE name = 'rv_w'), 'pending',
          'write-offs: refused approvals leave the adjustments pending');
SELECT is((SELECT count(*) FROM reconcile.export_adjustments('rv_w')), 0::bigint,
          'export_adjustments: nothing approved, nothing exported');

---------------------------------------------------------------------------------------------------
-- 5. Adjustments of items resolved by hand
---------------------------------------------------------------------------------------------------
SELECT reconcile.resolve(pg_temp.rv_item('rv_w', 'W3'), 'booked', 'rounding on invoice 3', '6991 differences') \g /dev/null
SELECT is((SELECT concat_ws(' ', a.account, a.amount, a.memo, a.status, a.resolved_by, a.run_id = :rw1)
           FROM reconcile.adjustments a WHERE a.item_id = pg_temp.rv_item('rv_w', 'W3')),
          '6991 differences -0.06 rounding on invoice 3 pending ' || current_user || ' t',
          'resolve with an account: a pending adjustment of minus the item''s contribution (ledger minus statement)');
SELECT is((SELECT concat_ws(' ', status, resolution) FROM reconcile.items WHERE item_id = pg_temp.rv_item('rv_w', 'W3')),
          'resolved booked', 'resolve with an account: the item is resolved');
SELECT reconcile.resolve(pg_temp.rv_item('rv_w', 'W7'), 'booked', 'double booking', '1590 suspense') \g /dev/null
SELECT is((SELECT a.amount FROM reconcile.adjustments a WHERE a.item_id = pg_temp.rv_item('rv_w', 'W7'))
          + (SELECT amount FROM reconcile.proof(:rw1) WHERE item = 'duplicate'),
          0.00, 'resolve with an account: a duplicate''s adjustment plus the proof''s duplicate line is zero');
SELECT is(pg_temp.adjustment_gap(:rw1), 0.00, 'resolve with an account: the run''s adjustments still balance what they resolve');
SELECT throws_ok(format('SELECT reconcile.resolve(%s, %L, NULL, %L)', pg_temp.rv_item('rv_w', 'W4'), 'booked', ''), '22023', NULL,
                 'resolve with an empty account: 22023');
SELECT reconcile.reopen(pg_temp.rv_item('rv_w', 'W3'), 'not rounding after all') \g /dev/null
SELECT is((SELECT string_agg(status, ' ') FROM reconcile.adjustments WHERE item_id = pg_temp.rv_item('rv_w', 'W3')), 'cancelled',
          'reopen: the adjustment is cancelled');
SELECT is((SELECT status FROM reconcile.items WHERE item_id = pg_temp.rv_item('rv_w', 'W3')), 'open', 'reopen: the item is open');
SELECT is(pg_temp.adjustment_gap(:rw1), 0.00, 'reopen: the run''s adjustments still balance what they resolve');

-- the next run: the bank line of W1 corrected to 0.02; W7 is no duplicate any more (W6 is cleared)
UPDATE public.rv_ws SET amount = 100.02 WHERE id = 'T1';
SELECT reconcile.run('rv_w', '2026-11-30') AS rw2 \gset
SELECT is((SELECT string_agg(concat_ws(' ', a.amount, a.status, a.run_id = :rw2), '; ' ORDER BY a.adjustment_id)
           FROM reconcile.adjustments a WHERE a.item_id = pg_temp.rv_item('rv_w', 'W1')),
          '-0.03 cancelled f; -0.02 pending t',
          'next run: a write-off found with another amount is reopened, its adjustment cancelled, and written off anew');
SELECT is((SELECT concat_ws(' ', i.status, i.category, a.status) FROM reconcile.items i JOIN reconcile.adjustments a ON a.item_id = i.item_id
           WHERE i.item_id = pg_temp.rv_item('rv_w', 'W7')),
          'open missing_in_statement cancelled', 'next run: an item resolved with an account whose category changed is reopened, its adjustment cancelled');
SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, status), '; ' ORDER BY ledger_id) FROM reconcile.items
           WHERE name = 'rv_w' AND resolution = 'write-off'),
          'F1 resolved; F2 resolved; W1 resolved; W2 resolved', 'next run: the write-offs found again stay written off');
SELECT is((SELECT count(*) FROM reconcile.adjustments WHERE name = 'rv_w' AND status = 'pending'), 3::bigint,
          'next run: no second adjustment for a write-off found again');
SELECT is(pg_temp.adjustment_gap(:rw2), 0.00, 'next run: its adjustments plus the contributions of what they resolve: zero');
SELECT is(pg_temp.adjustment_gap(:rw1), 0.00, 'next run: and the first run''s still balance');

---------------------------------------------------------------------------------------------------
-- 6. The match rate
---------------------------------------------------------------------------------------------------
CREATE TABLE public.rv_ml (id text, amount numeric(12,2), tx_date date, ref text);
CREATE TABLE public.rv_ms (id text, amount numeric(12,2), tx_date date, ref text);
INSERT INTO public.rv_ml VALUES
    ('M1', 11.00, '2026-11-02', NULL), ('M2', 12.00, '2026-11-02', NULL),     -- auto: 8 rows
    ('M3', 13.00, '2026-11-02', NULL), ('M4', 14.00, '2026-11-02', NULL),
    ('M5', 15.00, '2026-11-02', NULL),                                        -- reviewed: 2 rows
    ('M6', 16.00, '2026-11-02', NULL),                                        -- manual: 2 rows
    ('M7', 17.00, '2026-11-02', 'INV-0007'), ('M8', 18.00, '2026-11-02', 'INV-0008'),  -- written off: 4 rows
    ('M9', 19.00, '2026-11-02', 'INV-0009'),                                  -- open: 4 rows
    ('M10', 333.00, '2026-11-02', NULL);
INSERT INTO public.rv_ms VALUES
    ('N1', 11.00, '2026-11-02', NULL), ('N2', 12.00, '2026-11-02', NULL),
    ('N3', 13.00, '2026-11-02', NULL), ('N4', 14.00, '2026-11-02', NULL),
    ('N5', 15.00, '2026-11-05', NULL),
    ('N6', 15.50, '2026-11-03', NULL),
    ('N7', 17.03, '2026-11-02', 'PAY INV-0007'), ('N8', 17.96, '2026-11-02', 'PAY INV-0008'),
    ('N9', 19.50, '2026-11-02', 'PAY INV-0009'),
    ('N10', 444.00, '2026-11-02', NULL);
SELECT reconcile.create('rv_m', 'public.rv_ml', 'public.rv_ms', reconcile.rule(abs_tol => 0.01, days_after => 7)) \g /dev/null
SELECT reconcile.configure('rv_m', review_below => 0.8, writeoff_limit => 0.05, writeoff_account => '6990 rounding') \g /dev/null
SELECT reconcile.manual_match('rv_m', ARRAY['M6'], ARRAY['N6'], 'short-paid, agreed with the customer') \g /dev/null
SELECT reconcile.run('rv_m', '2026-11-30') AS rm1 \gset
SELECT is((SELECT counts FROM reconcile.runs WHERE run_id = :rm1),
          '{"matched": 5, "manual": 1, "amount_mismatch": 3, "missing_in_statement": 1, "missing_in_ledger": 1}'::jsonb,
          'match rate: set-up: the run found what the data says');
SELECT is((SELECT concat_ws(' ', total_rows, auto_rows, reviewed_rows, manual_rows, written_off_rows, open_rows)
           FROM reconcile.match_rate WHERE run_id = :rm1),
          '20 8 0 2 4 6', 'match rate: before review, the suggested match counts as open');
SELECT reconcile.accept(pg_temp.rv_item('rv_m', 'M5')) \g /dev/null
SELECT is((SELECT concat_ws(' ', total_rows, auto_rows, reviewed_rows, manual_rows, written_off_rows, open_rows)
           FROM reconcile.match_rate WHERE run_id = :rm1),
          '20 8 2 2 4 4', 'match rate: rows cleared by the run, by review, by hand, written off, and left open');
SELECT is((SELECT concat_ws(' ', auto_share, reviewed_share, manual_share, written_off_share, open_share)
           FROM reconcile.match_rate WHERE run_id = :rm1),
          '0.4000 0.1000 0.1000 0.2000 0.2000', 'match rate: the share of each');
SELECT is((SELECT auto_share + reviewed_share + manual_share + written_off_share + open_share
           FROM reconcile.match_rate WHERE run_id = :rm1),
          1.0000, 'match rate: the shares sum to 1');
SELECT is((SELECT sum(amount) FROM reconcile.adjustments WHERE run_id = :rm1)
          + (SELECT amount FROM reconcile.proof(:rm1) WHERE item = 'amount_mismatch')
          - (SELECT amount_diff FROM reconcile.results WHERE run_id = :rm1 AND ledger_id = 'M9'),
          0.00, 'match rate: the run''s write-offs plus the proof''s amount_mismatch line, less the one left open: zero');
SELECT is(pg_temp.adjustment_gap(:rm1), 0.00, 'match rate: the run''s adjustments balance what they resolve');

-- every run of this file: the reconciliation statement adds up
SELECT is((SELECT count(*) FROM reconcile.runs u
           WHERE u.name IN ('rv_p', 'rv_r', 'rv_w', 'rv_m') AND NOT pg_temp.proof_balances(u.run_id)), 0::bigint,
          'the proof of every run adds up');

SELECT * FROM finish();
ROLLBACK;

SELECT dblink_disconnect('rv_admin') \g /dev/null
SELECT dblink_disconnect('rv_maker') \g /dev/null
SELECT dblink_disconnect('rv_member') \g /dev/null
SELECT dblink_disconnect('rv_checker') \g /dev/null
SELECT pg_temp.rv_p_cleanup() \g /dev/null
\if :rv_add_dblink
DROP EXTENSION dblink;
\endif
\if :rv_add_reconcile
DROP EXTENSION reconcile;
\endif
