-- ALTER EXTENSION reconcile UPDATE from 0.1.0 to 0.2.0, 0.3.0, 0.3.1, 0.4.0, 0.4.1, 0.4.2, 0.5.0, 0.5.1, 0.6.0, 0.7.0 and 0.8.0 with a live reconciliation.
-- (test/sh/catalog.sh checks that the updated catalogue equals a fresh install's.)
BEGIN;
DROP EXTENSION IF EXISTS reconcile CASCADE;
CREATE EXTENSION reconcile VERSION '0.1.0';
SELECT plan(77);

CREATE TABLE public.up_l (id text, amount numeric, tx_date date);
CREATE TABLE public.up_s (id text, amount numeric, tx_date date);
INSERT INTO public.up_l VALUES ('a', 10, '2026-11-01'), ('b', 20, '2026-11-01');
INSERT INTO public.up_s VALUES ('x', 10, '2026-11-02'), ('y', 7, '2026-11-02');
SELECT reconcile.create('up', 'public.up_l', 'public.up_s');
CREATE TEMP TABLE before AS SELECT * FROM public.up_matches;

SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'reconcile'), '0.1.0', 'installed at 0.1.0');
SELECT hasnt_function('reconcile', 'run', ARRAY['text', 'date'], '0.1.0 has no reconcile.run');
ALTER EXTENSION reconcile UPDATE TO '0.2.0';
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'reconcile'), '0.2.0', 'updated to 0.2.0');
SELECT is((SELECT count(*) FROM ((TABLE before EXCEPT ALL SELECT * FROM public.up_matches)
                                 UNION ALL (SELECT * FROM public.up_matches EXCEPT ALL TABLE before)) d),
          0::bigint, 'the views of a reconciliation made under 0.1.0 read the same after the update');
SELECT lives_ok($$SELECT reconcile.run('up', '2026-11-05')$$, 'a reconciliation made under 0.1.0 runs under 0.2.0');
SELECT is((SELECT counts FROM reconcile.runs WHERE name = 'up'),
          '{"matched": 1, "missing_in_ledger": 1, "missing_in_statement": 1}'::jsonb, 'with the expected counts');
SELECT is((SELECT sum(amount) FILTER (WHERE item <> 'statement total') - sum(amount) FILTER (WHERE item = 'statement total')
           FROM reconcile.proof((SELECT max(run_id) FROM reconcile.runs WHERE name = 'up'))), 0::numeric,
          'and its proof adds up');
INSERT INTO public.up_l VALUES ('c', 7, '2026-11-01');
ALTER EXTENSION reconcile UPDATE TO '0.3.0';
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'reconcile'), '0.3.0', 'updated to 0.3.0');
SELECT lives_ok($$SELECT reconcile.run('up', '2026-11-06')$$, 'a run under 0.3.0 continues the history of 0.2.0');
SELECT is((SELECT counts FROM reconcile.runs WHERE name = 'up' ORDER BY run_id DESC LIMIT 1),
          '{"matched": 1, "missing_in_statement": 1}'::jsonb,
          'it leaves the rows 0.2.0 cleared alone and matches the new one');
INSERT INTO public.up_s VALUES ('z', 30, '2026-11-02'), ('w', 7, '2026-11-03');
CREATE TEMP TABLE before_031 AS SELECT * FROM public.up_matches;
ALTER EXTENSION reconcile UPDATE TO '0.3.1';
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'reconcile'), '0.3.1', 'updated to 0.3.1');
SELECT is((SELECT count(*) FROM ((TABLE before_031 EXCEPT ALL SELECT * FROM public.up_matches)
                                 UNION ALL (SELECT * FROM public.up_matches EXCEPT ALL TABLE before_031)) d),
          0::bigint, 'the views made under 0.1.0 read the same under 0.3.1');
SELECT reconcile.create('up2', 'public.up_l', 'public.up_s');
SELECT is((SELECT count(*) FROM ((TABLE before_031 EXCEPT ALL SELECT * FROM public.up2_matches)
                                 UNION ALL (SELECT * FROM public.up2_matches EXCEPT ALL TABLE before_031)) d),
          0::bigint, 'views made by 0.3.1 over the same sources read the same rows');
SELECT lives_ok($$SELECT reconcile.run('up', '2026-11-07')$$, 'a run under 0.3.1 continues the history');
SELECT is((SELECT counts FROM reconcile.runs WHERE name = 'up' ORDER BY run_id DESC LIMIT 1),
          '{"missing_in_ledger": 2, "missing_in_statement": 1}'::jsonb,
          'leaving what earlier versions cleared alone (b is still missing, z and w are new)');
-- 0.4.0: history gets the registration it was made for; a manual match made before shows once
SELECT reconcile.drop('up2');
SELECT reconcile.resolve((SELECT max(item_id) FROM reconcile.items WHERE name = 'up' AND ledger_id = 'b'), 'chased', NULL);
SELECT reconcile.manual_match('up', ARRAY['b'], ARRAY['z'], 'by hand under 0.3.1');
CREATE TEMP TABLE counts_031 AS
SELECT (SELECT count(*) FROM reconcile.runs) r, (SELECT count(*) FROM reconcile.results) x,
       (SELECT count(*) FROM reconcile.items) i, (SELECT count(*) FROM reconcile.audit_log) a,
       (SELECT count(*) FROM reconcile.cleared) c;
ALTER EXTENSION reconcile UPDATE TO '0.4.0';
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'reconcile'), '0.4.0', 'updated to 0.4.0');
SELECT results_eq($$SELECT (SELECT count(*) FROM reconcile.runs), (SELECT count(*) FROM reconcile.results),
                           (SELECT count(*) FROM reconcile.items), (SELECT count(*) FROM reconcile.audit_log),
                           (SELECT count(*) FROM reconcile.cleared)$$,
                  $$TABLE counts_031$$, 'every run, result, item, audit entry and cleared row is kept');
SELECT is((SELECT count(*) FROM reconcile.runs WHERE name = 'up' AND recon_id = (SELECT id FROM reconcile.reconciliations WHERE name = 'up')),
          (SELECT count(*) FROM reconcile.runs WHERE name = 'up'), 'the runs of up belong to its registration');
SELECT is((SELECT count(*) FROM reconcile.runs WHERE name = 'up2' AND recon_id IS NOT NULL), 0::bigint,
          'the runs of the dropped up2 belong to no registration');
SELECT is((SELECT count(*) FROM reconcile.items WHERE recon_id IS NULL AND name = 'up'), 0::bigint,
          'nor do its items lose theirs');
SELECT is((SELECT count(*) FROM reconcile.cleared WHERE name = 'up' AND recon_id IS NULL), 0::bigint,
          'nor its cleared rows');
SELECT is((SELECT category::text FROM public.up_matches WHERE ledger_id = 'b'), 'missing_in_statement',
          'a view made before 0.4.0 keeps its query');
SELECT lives_ok($$SELECT reconcile.refresh_views('up')$$, 'refresh_views replaces it');
SELECT is((SELECT category::text FROM public.up_matches WHERE ledger_id = 'b'), 'manual',
          'and the view now shows the manual match');
SELECT lives_ok($$SELECT reconcile.run('up', '2026-11-08')$$, 'a run under 0.4.0 continues the history');
SELECT is((SELECT counts FROM reconcile.runs WHERE name = 'up' ORDER BY run_id DESC LIMIT 1),
          '{"manual": 1, "missing_in_ledger": 1}'::jsonb,
          'it reports the manual match made before, once, and leaves what earlier versions cleared alone');

-- 0.4.1: marks; a registration made before has no seq and runs read as before
INSERT INTO public.up_l VALUES ('c41', 30, '2026-11-08');
INSERT INTO public.up_s VALUES ('w41', 30, '2026-11-09');
ALTER EXTENSION reconcile UPDATE TO '0.4.1';
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'reconcile'), '0.4.1', 'updated to 0.4.1');
SELECT is((SELECT count(*) FROM reconcile.runs WHERE ledger_mark IS NOT NULL OR statement_mark IS NOT NULL), 0::bigint,
          'the runs made before have no marks');
SELECT lives_ok($$SELECT reconcile.run('up', '2026-11-10')$$, 'a run under 0.4.1 continues the history');
SELECT is((SELECT counts FROM reconcile.runs WHERE name = 'up' ORDER BY run_id DESC LIMIT 1),
          '{"matched": 1, "missing_in_ledger": 1}'::jsonb, 'it matches the new rows and keeps the open one');
SELECT is((SELECT ledger_mark FROM reconcile.runs WHERE name = 'up' ORDER BY run_id DESC LIMIT 1), NULL,
          'without seq it records no mark');
ALTER TABLE public.up_l ADD COLUMN n bigserial;
ALTER TABLE public.up_s ADD COLUMN n bigserial;
SELECT lives_ok($$SELECT reconcile.create('up_seq', 'public.up_l', 'public.up_s', reconcile.rule(),
                                          '{"ledger": {"seq": "n"}, "statement": {"seq": "n"}}')$$,
                'a reconciliation with seq on both sides is made beside it');
SELECT reconcile.run('up_seq', '2026-11-10', full => true);
SELECT is((SELECT array[ledger_mark, statement_mark] FROM reconcile.runs WHERE name = 'up_seq'),
          array[(SELECT max(n)::text FROM public.up_l), (SELECT max(n)::text FROM public.up_s)],
          'and its first run records both marks');

-- 0.4.2: cleared rows partitioned by registration; the registrations made before keep theirs
-- where they were (the table of 0.4.1, now their partition), and their views read it as before
CREATE TEMP TABLE up_before AS
SELECT name, is_ledger, key, id, category, run_id, match_tag, recon_id, made_by FROM reconcile.cleared;
CREATE TEMP TABLE up_view AS SELECT * FROM public.up_matches;
ALTER EXTENSION reconcile UPDATE TO '0.4.2';
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'reconcile'), '0.4.2', 'updated to 0.4.2');
SELECT is((SELECT relkind::text FROM pg_class WHERE oid = 'reconcile.cleared'::regclass), 'p',
          'reconcile.cleared is partitioned');
SELECT set_eq($$SELECT name, is_ledger, key, id, category, run_id, match_tag, recon_id, made_by FROM reconcile.cleared_before_0_4_2$$,
              $$SELECT * FROM up_before$$, 'every cleared row is kept, in the partition of the registrations made before');
SELECT is((SELECT count(*) FROM pg_depend WHERE classid = 'pg_class'::regclass
             AND objid = 'reconcile.cleared_before_0_4_2'::regclass AND deptype = 'e'), 0::bigint,
          'which is not a member of the extension (pg_dump dumps it with its rows)');
SELECT set_eq($$SELECT * FROM public.up_matches$$, $$SELECT * FROM up_view$$, 'the views read as before');
INSERT INTO public.up_l (id, amount, tx_date) VALUES ('c42', 40, '2026-11-12'), ('d42', 41, '2026-11-12');
INSERT INTO public.up_s (id, amount, tx_date) VALUES ('w42', 40, '2026-11-13'), ('v42', 99, '2026-11-13');
SELECT reconcile.manual_match('up', ARRAY['d42'], ARRAY['v42'], 'after the update') \g /dev/null
SELECT reconcile.run('up', '2026-11-14') AS up_run \gset
SELECT is((SELECT counts FROM reconcile.runs WHERE run_id = :up_run),
          '{"manual": 1, "matched": 1, "missing_in_ledger": 1}'::jsonb, 'a run under 0.4.2 continues the history');
SELECT is((SELECT array_agg(DISTINCT c.tableoid::regclass::text) FROM reconcile.cleared c
           WHERE c.name = 'up' AND (c.run_id = :up_run OR c.made_by IS NOT NULL)),
          ARRAY['reconcile.cleared_before_0_4_2'], 'its new cleared rows and manual match go where the others are');
SELECT reconcile.create('up_new', 'public.up_l', 'public.up_s') \g /dev/null
SELECT reconcile.run('up_new', '2026-11-14') AS new_run \gset
SELECT is((SELECT array_agg(DISTINCT c.tableoid::regclass::text) FROM reconcile.cleared c WHERE c.name = 'up_new'),
          ARRAY['reconcile.cleared_' || (SELECT id FROM reconcile.reconciliations WHERE name = 'up_new')],
          'a registration made after the update clears its rows into a partition of its own');
SELECT is((SELECT count(*) FROM reconcile.cleared WHERE name = 'up_new'),
          (SELECT 2 * count(*) FROM reconcile.results WHERE run_id = :new_run AND category = 'matched'),
          'every pair its first run matched');
SELECT is((SELECT count(*) FROM reconcile.cleared_before_0_4_2 WHERE name = 'up_new'), 0::bigint,
          'and none in the partition of the registrations made before');

-- 0.5.0: rules per key, patterns, candidates; the views made before read no rules per key until
-- their owner refreshes them
ALTER EXTENSION reconcile UPDATE TO '0.5.0';
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'reconcile'), '0.5.0', 'updated to 0.5.0');
SELECT lives_ok($$SELECT reconcile.set_rule('up', 'k1', reconcile.rule(days_after => 9))$$,
                'set_rule on a registration made before (it warns that the views are not refreshed)');
SELECT is((SELECT (rule).days_after FROM reconcile.rules WHERE name = 'up' AND key = 'k1'), 9, 'reconcile.rules has it');
SELECT is((SELECT count(*) FROM pg_depend d JOIN pg_rewrite w ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
           WHERE w.ev_class = 'public.up_matches'::regclass AND d.refobjid = 'reconcile.key_rules'::regclass), 0::bigint,
          'the view made before does not read the rules per key');
SELECT reconcile.refresh_views('up') \g /dev/null
SELECT is((SELECT count(*) FROM pg_depend d JOIN pg_rewrite w ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
           WHERE w.ev_class = 'public.up_matches'::regclass AND d.refobjid = 'reconcile.key_rules'::regclass) > 0, true,
          'refresh_views brings it up to date');
SELECT lives_ok($$SELECT * FROM reconcile.patterns('up')$$, 'patterns of a registration made before');
-- fees, in the transaction of the update itself (the new label is not committed yet)
CREATE TABLE public.up_fl (id text, amount numeric, tx_date date, ref text, fee numeric);
CREATE TABLE public.up_fs (id text, amount numeric, tx_date date, ref text, fee numeric);
INSERT INTO public.up_fl VALUES ('F1', 99.40, '2026-11-01', 'ORDER-7001', 0.60);
INSERT INTO public.up_fs VALUES ('G1', 99.00, '2026-11-01', 'ORDER-7001', 1.00);
SELECT reconcile.create('up_fee', 'public.up_fl', 'public.up_fs', reconcile.rule(abs_tol => 0.01),
                        '{"ledger": {"fee": "fee"}, "statement": {"fee": "fee"}}') \g /dev/null
SELECT is((SELECT category::text FROM public.up_fee_matches), 'fee_difference',
          'a reconciliation with fees made after the update finds fee_difference');
SELECT lives_ok($$SELECT reconcile.run('up_fee', '2026-11-30')$$, 'and runs');

-- 0.5.1: fees within payout batches.  A reconciliation made under 0.5.0 whose payout batch the
-- library already finds a fee_difference group, run before and after the update
CREATE TABLE public.up_bl (id text, amount numeric, tx_date date, batch text, fee numeric);
CREATE TABLE public.up_bs (id text, amount numeric, tx_date date, fee numeric);
INSERT INTO public.up_bl VALUES ('B1', 99.00, '2026-11-01', 'P-9', 1.00), ('B2', 198.00, '2026-11-02', 'P-9', 2.00),
                                ('B3', 50.00, '2026-11-20', NULL, NULL);
INSERT INTO public.up_bs VALUES ('P1', 295.80, '2026-11-03', 4.20);
SELECT reconcile.create('up_fb', 'public.up_bl', 'public.up_bs', reconcile.rule(abs_tol => 0.01),
                        '{"ledger": {"fee": "fee"}, "statement": {"fee": "fee"}}') \g /dev/null
SELECT is((SELECT count(*) FROM public.up_fb_matches WHERE category::text = 'fee_difference' AND group_id IS NOT NULL),
          2::bigint, 'under the 0.5.0 SQL the library finds the batch whose gross agrees a fee_difference group');
SELECT lives_ok($$SELECT reconcile.run('up_fb', '2026-11-10')$$, 'and a run under 0.5.0 stores it');
ALTER EXTENSION reconcile UPDATE TO '0.5.1';
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'reconcile'), '0.5.1', 'updated to 0.5.1');
INSERT INTO public.up_bs VALUES ('P2', 50.00, '2026-11-21', NULL);
SELECT lives_ok($$SELECT reconcile.run('up_fb', '2026-11-30')$$, 'a run after the update continues the history');
SELECT is((SELECT count(*) FROM reconcile.items WHERE name = 'up_fb' AND category::text = 'fee_difference' AND status = 'open'),
          2::bigint, 'the batch''s items are kept, one per row of it, and the rows matched since are cleared');
SELECT is((SELECT sum(amount) FILTER (WHERE item <> 'statement total') - sum(amount) FILTER (WHERE item = 'statement total')
           FROM reconcile.proof((SELECT max(run_id) FROM reconcile.runs WHERE name = 'up_fb'))), 0::numeric,
          'and the proof of the run after the update adds up');
SELECT lives_ok($$SELECT * FROM reconcile.patterns('up_fb')$$, 'patterns reads the batch after the update');

-- 0.6.0: review, write-offs, adjustments.  The registration made under 0.5.0, its items of before
CREATE TEMP TABLE items_before AS SELECT item_id, status, category::text AS category FROM reconcile.items WHERE name = 'up_fb';
ALTER EXTENSION reconcile UPDATE TO '0.6.0';
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'reconcile'), '0.6.0', 'updated to 0.6.0');
SELECT is((SELECT count(*) FROM reconcile.items i JOIN items_before b USING (item_id)
           WHERE (i.status, i.category::text) = (b.status, b.category)), (SELECT count(*) FROM items_before),
          'the items of before are kept as they were');
SELECT lives_ok($$SELECT reconcile.configure('up_fb', review_below => 0.99, writeoff_limit => 5, writeoff_account => '6990')$$,
                'configure on a registration made before the update');
SELECT is((SELECT writeoff_account FROM reconcile.options WHERE name = 'up_fb'), '6990', 'reconcile.options shows it');
INSERT INTO public.up_bl VALUES ('B4', 70.00, '2026-12-01', NULL, NULL);
INSERT INTO public.up_bs VALUES ('P4', 70.00, '2026-12-03', NULL);
SELECT lives_ok($$SELECT reconcile.run('up_fb', '2026-12-31')$$, 'a run after the update');
SELECT is((SELECT string_agg(ledger_id || ':' || status || ':' || COALESCE(resolution, '-'), ' ' ORDER BY ledger_id)
           FROM reconcile.items WHERE name = 'up_fb' AND status IN ('suggested', 'resolved')),
          'B1:resolved:write-off B2:resolved:write-off B4:suggested:-',
          'holds a match scoring below review_below for review and writes the fee batch off whole');
SELECT is((SELECT count(*) FROM reconcile.adjustments WHERE name = 'up_fb' AND status = 'pending'), 1::bigint,
          'with one adjustment for the batch');
SELECT lives_ok($$SELECT reconcile.reject((SELECT item_id FROM reconcile.items WHERE name = 'up_fb' AND status = 'suggested'),
                                          'not this one')$$, 'reject on it');
SELECT is((SELECT count(*) FROM pg_depend d JOIN pg_rewrite w ON d.classid = 'pg_rewrite'::regclass AND d.objid = w.oid
           WHERE w.ev_class = 'public.up_fb_matches'::regclass AND d.refobjid = 'reconcile.rejections'::regclass), 0::bigint,
          'the view made before does not read the rejections');
SELECT reconcile.refresh_views('up_fb') \g /dev/null
SELECT is((SELECT category::text FROM public.up_fb_matches WHERE ledger_id = 'B4'), 'missing_in_statement',
          'refresh_views brings it up to date: the rejected pair stays apart');
SELECT lives_ok($$SELECT reconcile.resolve((SELECT min(item_id) FROM reconcile.items WHERE name = 'up_fee' AND status = 'open'),
                                           'chased')$$, 'resolve with three arguments as before');

-- 0.7.0: the readers; a statement read in loads into a reconciliation made before
ALTER EXTENSION reconcile UPDATE TO '0.7.0';
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'reconcile'), '0.7.0', 'updated to 0.7.0');
INSERT INTO public.up_s (id, amount, tx_date)
SELECT id, amount, tx_date FROM reconcile.read_mt940(
    E':20:S1\n:25:A\n:28C:1\n:60F:C261201EUR0,\n:61:2612011201C20,NTRFNONREF\n:62F:C261201EUR20,\n');
SELECT is((SELECT count(*) FROM public.up_s WHERE id = 'A/1/1' AND amount = 20), 1::bigint,
          'reconcile.read_mt940 after the update: a statement line into a source of a reconciliation made under 0.1.0');

-- 0.8.0: the statement of a run made before; proof's lines unchanged; the cleared partitions
-- indexed by run
CREATE TEMP TABLE up_proof AS
SELECT p.* FROM reconcile.proof((SELECT max(run_id) FROM reconcile.runs WHERE name = 'up')) p;
ALTER EXTENSION reconcile UPDATE TO '0.8.0';
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'reconcile'), '0.8.0', 'updated to 0.8.0');
SELECT results_eq($$SELECT * FROM reconcile.proof((SELECT max(run_id) FROM reconcile.runs WHERE name = 'up'))$$,
                  $$SELECT * FROM up_proof ORDER BY key, line$$, 'reconcile.proof gives the same lines after the update');
SELECT is((SELECT count(*) FROM pg_inherits h
           WHERE h.inhparent = 'reconcile.cleared'::regclass
             AND EXISTS (SELECT FROM pg_index x WHERE x.indrelid = h.inhrelid)
             AND NOT EXISTS (SELECT FROM pg_index x
                             WHERE x.indrelid = h.inhrelid AND x.indnatts = 1
                               AND x.indkey[0] = (SELECT attnum FROM pg_attribute
                                                  WHERE attrelid = h.inhrelid AND attname = 'run_id'))),
          0::bigint, 'every indexed partition of reconcile.cleared has its index on run_id');
SELECT ok((SELECT count(*) FROM pg_inherits h WHERE h.inhparent = 'reconcile.cleared'::regclass
           AND EXISTS (SELECT FROM pg_index x WHERE x.indrelid = h.inhrelid)) > 0, '(there are such partitions)');
SELECT matches(reconcile.report((SELECT max(run_id) FROM reconcile.runs WHERE name = 'up'), 'text'),
               '^Reconciliation statement\n.*they agree', 'reconcile.report of a run of a reconciliation made under 0.1.0');
SELECT lives_ok($$SELECT reconcile.drop('up')$$, 'and drops');

SELECT * FROM finish();
ROLLBACK;
