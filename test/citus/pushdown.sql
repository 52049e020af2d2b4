-- Citus: with ledger and statement distributed by the key and co-located, match_agg runs inside
-- the worker tasks, for the views and for reconcile.run; the coordinator only collects rows.
SELECT plan(25);

CREATE TABLE public.pd_ledger (id text, shop text, amount numeric(12,2), tx_date date, ref text);
CREATE TABLE public.pd_statement (id text, shop text, amount numeric(12,2), tx_date date, ref text, batch text);
SELECT create_distributed_table('public.pd_ledger', 'shop', shard_count => 4);
SELECT create_distributed_table('public.pd_statement', 'shop', colocate_with => 'public.pd_ledger');
INSERT INTO public.pd_ledger SELECT 'L' || i, 'shop' || (i % 7), 10 + i % 50, date '2026-11-01' + i % 20, NULL
FROM generate_series(1, 500) i;
INSERT INTO public.pd_statement SELECT 'S' || i, 'shop' || (i % 7), 10 + i % 50, date '2026-11-02' + i % 20, NULL, NULL
FROM generate_series(1, 500) i;
SELECT reconcile.create('pd', 'public.pd_ledger', 'public.pd_statement', reconcile.rule(days_after => 3),
                        columns => '{"ledger": {"key": "shop"}, "statement": {"key": "shop"}}');

-- the plan of a query as text lines
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP
        RETURN NEXT l;
    END LOOP;
END $$;
-- the coordinator's part of a plan: the lines before the first task or distributed subplan (the
-- subplans compute, on the coordinator, the small intermediate results the tasks read: the manual
-- rows, the rules per key and (0.6.0) the rejection tags, one aggregate over reconcile.rejections)
CREATE FUNCTION pg_temp.coordinator_part(q text) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(l, E'\n') FROM (
        SELECT l, bool_or(l ~ '->  Task$|Task Count:|->  Distributed Subplan') OVER (ORDER BY n) AS past
        FROM pg_temp.plan_of(q) WITH ORDINALITY p(l, n)) x WHERE NOT past
$$;
CREATE FUNCTION pg_temp.task_query(q text) RETURNS text LANGUAGE sql AS $$
    SELECT l FROM pg_temp.plan_of(q) l WHERE l ~ '^\s*Query: ' LIMIT 1
$$;

SELECT matches(pg_temp.coordinator_part('SELECT * FROM public.pd_matches'), '^\s*Custom Scan \(Citus Adaptive\)',
               'pd_matches is one distributed scan');
SELECT unalike(pg_temp.coordinator_part('SELECT * FROM public.pd_matches'), '%Aggregate%',
               'the coordinator does not aggregate pd_matches');
SELECT matches(pg_temp.task_query('SELECT * FROM public.pd_matches'),
               'reconcile\.match_detail_agg\(.*GROUP BY u\.key',
               'each task computes match_detail_agg grouped by the key, next to its shard');
SELECT ok((SELECT bool_or(l ~ 'HashAggregate|GroupAggregate') FROM pg_temp.plan_of('SELECT * FROM public.pd_matches') l
           WHERE l ~ 'Aggregate'), 'the aggregate node is in the worker plan');
SELECT matches((SELECT string_agg(l, E'\n') FROM pg_temp.plan_of('SELECT * FROM public.pd_matches') l), 'Task Count: 4',
               'one task per shard');
SELECT unalike(pg_temp.coordinator_part('SELECT * FROM public.pd_discrepancies'), '%Aggregate%',
               'the coordinator does not aggregate pd_discrepancies');
SELECT unalike(pg_temp.coordinator_part('SELECT * FROM public.pd_summary'), '%Aggregate%',
               'pd_summary is computed on the workers too (grouped by the key)');
SELECT matches(pg_temp.task_query('SELECT * FROM public.pd_summary'), 'reconcile\.match_detail_agg',
               'with match_detail_agg in the task');

-- reconcile.run's query: the cleared rows go to the workers, the matching stays there
SELECT lives_ok($$SELECT reconcile.run('pd', '2026-12-31')$$, 'reconcile.run works with distributed sources');
SELECT reconcile.run('pd', '2026-12-31');
CREATE TEMP TABLE run_sql AS
SELECT reconcile.matching_sql(r, '2026-12-31', 'run', NULL, NULL) AS q
FROM reconcile.reconciliations r WHERE name = 'pd';
SELECT matches((SELECT string_agg(l, E'\n') FROM pg_temp.plan_of((SELECT q FROM run_sql)) l), 'Distributed Subplan',
               'a run sends the cleared rows to the workers as an intermediate result');
SELECT matches(pg_temp.task_query((SELECT q FROM run_sql)), 'reconcile\.match_detail_agg\(.*read_intermediate_result.*GROUP BY u\.key',
               'and anti-joins and matches inside each task');
SELECT is((SELECT counts FROM reconcile.runs WHERE name = 'pd' ORDER BY run_id DESC LIMIT 1), '{}'::jsonb,
          'a second run over unchanged data finds nothing new');

-- with Citus installed a seq column is not used (SPEC 5a's look-up of each new row in the cleared
-- rows would be a correlated subquery on a local table, which Citus refuses): runs read whole
ALTER TABLE public.pd_ledger ADD COLUMN n bigint;
ALTER TABLE public.pd_statement ADD COLUMN n bigint;
UPDATE public.pd_ledger SET n = substr(id, 2)::bigint;
UPDATE public.pd_statement SET n = substr(id, 2)::bigint;
SELECT reconcile.create('pd_seq', 'public.pd_ledger', 'public.pd_statement', reconcile.rule(days_after => 3),
                        columns => '{"ledger": {"key": "shop", "seq": "n"}, "statement": {"key": "shop", "seq": "n"}}');
SELECT reconcile.run('pd_seq', '2026-12-31');
SELECT reconcile.run('pd_seq', '2026-12-31');
SELECT is((SELECT count(*) FROM reconcile.runs WHERE name = 'pd_seq' AND (ledger_mark IS NOT NULL OR statement_mark IS NOT NULL)),
          0::bigint, 'with Citus, a reconciliation with seq records no marks');
SELECT is((SELECT counts FROM reconcile.runs WHERE name = 'pd_seq' ORDER BY run_id DESC LIMIT 1), '{}'::jsonb,
          'and its second run, reading whole, finds nothing new');

-- integer and varchar keys are grouped on as they are, so they push down too; key stays text
CREATE TABLE public.pi_ledger (id text, shop_id int, amount numeric, tx_date date);
CREATE TABLE public.pi_statement (id text, shop_id int, amount numeric, tx_date date);
CREATE TABLE public.pv_ledger (id text, shop varchar(12), amount numeric, tx_date date);
CREATE TABLE public.pv_statement (id text, shop varchar(20), amount numeric, tx_date date);
SELECT create_distributed_table('public.pi_ledger', 'shop_id', shard_count => 4);
SELECT create_distributed_table('public.pi_statement', 'shop_id', colocate_with => 'public.pi_ledger');
SELECT create_distributed_table('public.pv_ledger', 'shop', shard_count => 4, colocate_with => 'none');
SELECT create_distributed_table('public.pv_statement', 'shop', colocate_with => 'public.pv_ledger');
INSERT INTO public.pi_ledger SELECT 'L' || i, i % 7, i, '2026-11-01' FROM generate_series(1, 50) i;
INSERT INTO public.pi_statement SELECT 'S' || i, i % 7, i, '2026-11-01' FROM generate_series(1, 45) i;
SELECT reconcile.create('pi', 'public.pi_ledger', 'public.pi_statement',
                        columns => '{"ledger": {"key": "shop_id"}, "statement": {"key": "shop_id"}}');
SELECT reconcile.create('pv', 'public.pv_ledger', 'public.pv_statement',
                        columns => '{"ledger": {"key": "shop"}, "statement": {"key": "shop"}}');
SELECT unalike(pg_temp.coordinator_part('SELECT * FROM public.pi_matches'), '%Aggregate%',
               'an integer key pushes down: the coordinator does not aggregate');
SELECT matches(pg_temp.task_query('SELECT * FROM public.pi_matches'), 'reconcile\.match_detail_agg',
               'match_detail_agg runs in the tasks of an integer key');
SELECT ok(pg_temp.coordinator_part('SELECT * FROM public.pv_matches') !~ 'pv_ledger|pv_statement',
          'a varchar key pushes down: no source row goes to the coordinator first (its subplans read only the manual rows of reconcile.cleared)');
SELECT is((SELECT format_type(atttypid, atttypmod) FROM pg_attribute
           WHERE attrelid = 'public.pi_matches'::regclass AND attname = 'key'), 'text', 'the key of the view is text');
SELECT lives_ok($$SELECT reconcile.run('pi', '2026-12-31')$$, 'a run with an integer key pushes down and stores text keys');

-- a rule per key (0.5.0): the rules go to the workers as an intermediate result, the matching stays there
SELECT reconcile.set_rule('pd', 'shop1', reconcile.rule(days_after => 0));
SELECT unalike(pg_temp.coordinator_part('SELECT * FROM public.pd_matches'), '%Aggregate%',
               'with a rule per key the coordinator still does not aggregate pd_matches');
SELECT is((SELECT count(*) FROM public.pd_matches WHERE key = 'shop1' AND category = 'matched'), 0::bigint,
          'shop1''s rule (0 days) applies on the workers');
SELECT ok((SELECT count(*) FROM public.pd_matches WHERE key = 'shop2' AND category = 'matched') > 0,
          'the other shops keep the reconciliation''s rule');
SELECT reconcile.set_rule('pd', 'shop1', NULL);

-- review (0.6.0): a match held back and rejected; the rejection tags go to the workers as an
-- intermediate result, the pair stays apart there and the matching stays pushed down
SELECT reconcile.configure('pd', review_below => 0.99);
INSERT INTO public.pd_ledger VALUES ('LX', 'shop3', 123.45, '2026-12-01', NULL);
INSERT INTO public.pd_statement VALUES ('SX', 'shop3', 123.45, '2026-12-02', NULL, NULL);
SELECT reconcile.run('pd', '2026-12-31');
CREATE TEMP TABLE pd_rejected AS
    SELECT item_id, ledger_id, statement_id FROM reconcile.items
    WHERE name = 'pd' AND status = 'suggested' AND ledger_id = 'LX';
SELECT reconcile.reject((SELECT item_id FROM pd_rejected), 'not this one');
SELECT is((SELECT count(*) FROM pd_rejected), 1::bigint, 'the pair held for review on shop3');
SELECT is((SELECT count(*) FROM public.pd_matches WHERE ledger_id = 'LX' AND statement_id = 'SX'), 0::bigint,
          'a rejected pair (held for review on the workers'' results, then rejected) is not paired again there');
SELECT unalike(pg_temp.coordinator_part('SELECT * FROM public.pd_matches'), '%Aggregate%',
               'with rejections the coordinator still does not aggregate pd_matches');

SELECT reconcile.drop(n) FROM (VALUES ('pd'), ('pd_seq'), ('pi'), ('pv')) v(n);
DROP TABLE public.pd_ledger, public.pd_statement, public.pi_ledger, public.pi_statement, public.pv_ledger, public.pv_statement;
SELECT * FROM finish();
