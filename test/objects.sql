-- The SQL objects: labels, comments, view columns and types, security_invoker.
BEGIN;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT plan(34);

CREATE FUNCTION pg_temp.plan_lines(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        RETURN NEXT l;
    END LOOP;
END $$;

-- primitives are IMMUTABLE STRICT PARALLEL SAFE; the aggregates are PARALLEL SAFE
SELECT is((SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'reconcile' AND p.proname IN ('amount_within', 'days_within', 'ref_similarity')
             AND p.provolatile = 'i' AND p.proisstrict AND p.proparallel = 's'), 3::bigint,
          'primitives are IMMUTABLE, STRICT and PARALLEL SAFE');
SELECT is((SELECT provolatile::text || proisstrict::text || proparallel::text FROM pg_proc
           WHERE oid = 'reconcile.rule(numeric,numeric,integer,integer,boolean,date)'::regprocedure),
          'ifalses', 'rule() is IMMUTABLE and PARALLEL SAFE, not STRICT (it refuses NULLs itself)');
SELECT is((SELECT count(*) FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
           WHERE p.oid IN ('reconcile.match_agg(boolean,text,numeric,date,text,text,reconcile.rule)'::regprocedure,
                           'reconcile.match_detail_agg(boolean,text,numeric,date,text,text,reconcile.rule)'::regprocedure)
             AND p.proparallel = 's' AND a.aggcombinefn <> 0 AND a.aggserialfn <> 0 AND a.aggdeserialfn <> 0),
          2::bigint, 'match_agg and match_detail_agg are PARALLEL SAFE with combine, serial and deserial functions');
SELECT function_returns('reconcile', 'match_agg', ARRAY['boolean', 'text', 'numeric', 'date', 'text', 'text', 'reconcile.rule'],
                        'reconcile.match[]', 'match_agg returns reconcile.match[]');
SELECT enum_has_labels('reconcile', 'category',
       ARRAY['matched', 'matched_within_tolerance', 'many_to_one', 'one_to_many', 'manual',
             'timing_difference', 'in_transit', 'amount_mismatch', 'fee_difference', 'reversal', 'duplicate',
             'missing_in_statement', 'missing_in_ledger', 'invalid'], 'the categories, in the spec''s order');
SELECT is((SELECT array_agg(attname::text || ' ' || format_type(atttypid, atttypmod) ORDER BY attnum)
           FROM pg_attribute WHERE attrelid = 'reconcile.match'::regclass AND attnum > 0),
          ARRAY['ledger_id text', 'statement_id text', 'category reconcile.category', 'amount_diff numeric',
                'days_diff integer', 'score double precision', 'group_id integer', 'note text'],
          'reconcile.match has the spec''s fields and types');
SELECT is((SELECT array_agg(attname::text || ' ' || format_type(atttypid, atttypmod) ORDER BY attnum)
           FROM pg_attribute WHERE attrelid = 'reconcile.rule'::regclass AND attnum > 0),
          ARRAY['abs_tol numeric', 'rel_tol numeric', 'days_before integer', 'days_after integer',
                'use_ref boolean', 'as_of date'],
          'reconcile.rule has the spec''s fields and types');

-- every function, aggregate, type and table of the extension has a comment
SELECT is((SELECT array_agg(p.oid::regprocedure::text ORDER BY 1) FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'reconcile' AND obj_description(p.oid, 'pg_proc') IS NULL),
          NULL, 'every function and aggregate has a comment');
SELECT is((SELECT array_agg(t.typname::text ORDER BY 1) FROM pg_type t
           JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname = 'reconcile' AND t.typname NOT LIKE '\_%' AND t.typrelid = 0
             AND obj_description(t.oid, 'pg_type') IS NULL),
          NULL, 'every enum type has a comment');
SELECT is((SELECT array_agg(c.relname::text ORDER BY 1) FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'reconcile' AND c.relkind IN ('r', 'v', 'c')
             AND obj_description(c.oid, 'pg_class') IS NULL
             AND obj_description((SELECT oid FROM pg_type WHERE typrelid = c.oid), 'pg_type') IS NULL),
          NULL, 'every composite type, table and view has a comment');

-- internal functions say so, and only those that code running with the caller's rights calls
-- are executable by PUBLIC; everything else is the user-facing API, executable by everyone
SELECT set_eq($$SELECT p.oid::regprocedure::text FROM pg_proc p
                WHERE p.pronamespace = 'reconcile'::regnamespace
                  AND obj_description(p.oid, 'pg_proc') LIKE 'Internal%'
                  AND has_function_privilege('public', p.oid, 'EXECUTE')$$,
              ARRAY['reconcile.narrowed(regclass,name)', 'reconcile.readable(boolean,name)',
                    'reconcile.registered(text,name)', 'reconcile.register(text,regclass,regclass,reconcile.rule,jsonb,name)',
                    'reconcile.unregister(text)', 'reconcile.row_ident(text,text)', 'reconcile.item_ident(text,text,text)',
                    'reconcile.create_in(text,text,regclass,regclass,reconcile.rule,jsonb)',
                    'reconcile.resolve_column(regclass,text,text,jsonb,boolean)',
                    'reconcile.raw_key(regclass,regclass,jsonb)', 'reconcile.side_sql(regclass,boolean,jsonb,boolean)',
                    'reconcile.key_text(anyelement)', 'reconcile.text_sql(regclass,text)',
                    'reconcile.source_sql(regclass,boolean,jsonb,boolean,bigint,text,text)', 'reconcile.rule_sql(reconcile.rule)',
                    'reconcile.matching_sql(reconcile.reconciliations,date,text,text,text)', 'reconcile.order_operator(regtype)',
                    'reconcile.define_views(reconcile.reconciliations,boolean)', 'reconcile.require_pg_cron()',
                    'reconcile.key_rule(bigint,text)', 'reconcile.rule_call(reconcile.rule)', 'reconcile.normalized_ref(text)',
                    'reconcile.camt_path(text)', 'reconcile.xml_texts(xml)', 'reconcile.run_sides(bigint)',
                    'reconcile.report_clean(text,integer)', 'reconcile.report_glyph(integer,text)', 'reconcile.report_key(text)', 'reconcile.report_amount(numeric)', 'reconcile.report_pct(bigint,bigint)',
                    'reconcile.report_width(text)', 'reconcile.report_esc(text,text)', 'reconcile.report_model(bigint)',
                    'reconcile.report_bar(text,numeric,integer)', 'reconcile.report_top(jsonb)', 'reconcile.report_html(jsonb)',
                    'reconcile.report_markdown(jsonb)', 'reconcile.report_cells(jsonb,integer[],jsonb)', 'reconcile.report_text(jsonb)',
                    'reconcile.report_rule(reconcile.rule)', 'reconcile.report_text_bars(jsonb,text,boolean)'],
              'the internal functions PUBLIC may execute are those that run with the caller''s rights or in policies');
SELECT set_eq($$SELECT p.oid::regprocedure::text FROM pg_proc p
                WHERE p.pronamespace = 'reconcile'::regnamespace
                  AND obj_description(p.oid, 'pg_proc') LIKE 'Internal%'
                  AND NOT has_function_privilege('public', p.oid, 'EXECUTE')$$,
              ARRAY['reconcile.match_agg_transfn(internal,boolean,text,numeric,date,text,text,reconcile.rule)',
                    'reconcile.match_agg_transfn(internal,boolean,text,numeric,date,text,text,reconcile.rule,text)',
                    'reconcile.match_agg_transfn(internal,boolean,text,numeric,date,text,text,reconcile.rule,text,numeric)',
                    'reconcile.match_agg_transfn(internal,boolean,text,numeric,date,text,text,reconcile.rule,text,numeric,text)',
                    'reconcile.match_agg_combinefn(internal,internal)', 'reconcile.match_agg_serialfn(internal)',
                    'reconcile.match_agg_deserialfn(bytea,internal)', 'reconcile.match_agg_finalfn(internal)',
                    'reconcile.match_detail_agg_finalfn(internal)', 'reconcile.audit(bigint,text,text,bigint,jsonb,name)',
                    'reconcile.audit_log_refuse()', 'reconcile.item_for_update(bigint,name)',
                    'reconcile.lock_registration(bigint,boolean)', 'reconcile.run_query(bigint,date,name,boolean)',
                    'reconcile.captured()', 'reconcile.record_run(bigint,date,timestamp with time zone,name,bigint,text,text)',
                    'reconcile.manual_query(bigint)', 'reconcile.record_manual(bigint,text[],text[],text,name,text)',
                    'reconcile.rows_query(reconcile.reconciliations)', 'reconcile.unmatch_query(bigint,text)',
                    'reconcile.record_unmatch(bigint,text,name,text)',
                    'reconcile.cleared_partition(bigint)', 'reconcile.cleared_target(bigint)', 'reconcile.cleared_index(regclass)',
                    'reconcile.register_by(name,name,text,regclass,regclass,reconcile.rule,jsonb,name)',
                    'reconcile.unregister_by(name,name,text)', 'reconcile.assign_by(name,name,bigint,text)',
                    'reconcile.resolve_by(name,name,bigint,text,text,text)', 'reconcile.approve_by(name,name,bigint)',
                    'reconcile.reopen_by(name,name,bigint,text)',
                    'reconcile.set_rule_by(name,name,text,text,reconcile.rule)', 'reconcile.owns(regrole,name)',
                    'reconcile.owned_registration(text,name)',
                    'reconcile.configure_by(name,name,text,double precision,numeric,text,numeric)',
                    'reconcile.reset_option_by(name,name,text,text)', 'reconcile.suggested_items(bigint,name)',
                    'reconcile.accept_by(name,name,bigint,text)', 'reconcile.reject_by(name,name,bigint,text)',
                    'reconcile.adjust(bigint[],text,text,name)', 'reconcile.cancel_adjustments()',
                    'reconcile.take_adjustments_by(name,name,text)', 'reconcile.write_off(bigint,bigint)',
                    'reconcile.alert(bigint,bigint)', 'reconcile.item_visible(reconcile.items,name)',
                    'reconcile.item_rows(reconcile.items[])'],
              'every other internal function is revoked from PUBLIC');
SELECT is((SELECT array_agg(p.oid::regprocedure::text ORDER BY 1) FROM pg_proc p
           WHERE p.pronamespace = 'reconcile'::regnamespace
             AND obj_description(p.oid, 'pg_proc') NOT LIKE 'Internal%'
             AND NOT has_function_privilege('public', p.oid, 'EXECUTE')),
          NULL, 'every function of the user-facing API is executable by PUBLIC');

-- the category sets, defined once
SELECT is((SELECT array_agg(c ORDER BY c) FROM unnest(enum_range(NULL::reconcile.category)) c WHERE reconcile.clears(c)),
          ARRAY['matched', 'matched_within_tolerance', 'many_to_one', 'one_to_many']::reconcile.category[],
          'a run clears matched, matched_within_tolerance, many_to_one and one_to_many');
SELECT is((SELECT array_agg(c ORDER BY c) FROM unnest(enum_range(NULL::reconcile.category)) c WHERE NOT reconcile.is_discrepancy(c)),
          ARRAY['matched', 'matched_within_tolerance', 'many_to_one', 'one_to_many', 'manual']::reconcile.category[],
          'every other category but manual is a discrepancy');

-- the views of a reconciliation
CREATE TABLE public.o_l (id text, amount numeric(12,2), tx_date date, key text);
CREATE TABLE public.o_s (id text, amount numeric(12,2), tx_date date, key text, ref text);
INSERT INTO public.o_l VALUES ('a', 10, '2026-01-01', 'k'), ('b', 20, '2026-01-01', 'k');
INSERT INTO public.o_s VALUES ('x', 10, '2026-01-01', 'k', NULL);
SET LOCAL search_path = public;
SELECT reconcile.create('o', 'public.o_l', 'public.o_s');
SELECT has_view('public', 'o_matches', 'o_matches exists');
SELECT has_view('public', 'o_discrepancies', 'o_discrepancies exists');
SELECT has_view('public', 'o_summary', 'o_summary exists');
SELECT columns_are('public', 'o_matches',
       ARRAY['key', 'ledger_id', 'statement_id', 'category', 'amount_diff', 'days_diff', 'score', 'group_id',
             'note', 'ledger_amount', 'statement_amount', 'ledger_date', 'statement_date'], 'o_matches columns');
SELECT columns_are('public', 'o_summary',
       ARRAY['key', 'category', 'rows', 'ledger_amount', 'statement_amount', 'amount_diff'], 'o_summary columns');
SELECT col_type_is('public', 'o_summary', 'rows', 'bigint', 'o_summary.rows is bigint');
SELECT col_type_is('public', 'o_matches', 'category', 'reconcile', 'category', 'o_matches.category is reconcile.category');
SELECT is((SELECT count(*) FROM pg_class WHERE relname IN ('o_matches', 'o_discrepancies', 'o_summary')
           AND 'security_invoker=true' = ANY (reloptions)), 3::bigint, 'the three views are security_invoker');
SELECT is((SELECT count(*) FROM pg_class WHERE relname IN ('o_matches', 'o_discrepancies', 'o_summary')
           AND obj_description(oid, 'pg_class') IS NOT NULL), 3::bigint, 'the three views have comments');
SELECT results_eq($$SELECT category::text FROM o_discrepancies ORDER BY 1$$,
                  ARRAY['missing_in_statement'], 'o_discrepancies holds only what needs follow-up');

-- a reader without SELECT on a source learns nothing through the views
CREATE ROLE rc_test_reader;
GRANT USAGE ON SCHEMA public TO rc_test_reader;
GRANT SELECT ON o_matches, o_discrepancies, o_summary TO rc_test_reader;
GRANT SELECT ON public.o_l TO rc_test_reader;
SET LOCAL ROLE rc_test_reader;
SELECT throws_ok($$SELECT * FROM o_matches$$, '42501', NULL, 'no SELECT on the statement: o_matches refused');
SELECT throws_ok($$SELECT * FROM o_summary$$, '42501', NULL, 'no SELECT on the statement: o_summary refused');
SELECT throws_ok($$SELECT * FROM o_discrepancies$$, '42501', NULL, 'no SELECT on the statement: o_discrepancies refused');
SELECT throws_ok($$SELECT reconcile.drop('o')$$, '42501', NULL, 'only the owner drops a reconciliation');
RESET ROLE;
GRANT SELECT ON public.o_s TO rc_test_reader;
SET LOCAL ROLE rc_test_reader;
SELECT is((SELECT count(*) FROM o_matches), 2::bigint, 'with SELECT on both sources the reader sees the rows');
RESET ROLE;

-- the aggregates' support functions are revoked from PUBLIC, yet anyone may aggregate, in parallel too
CREATE TABLE public.o_big AS
SELECT 'L' || i AS id, i::numeric AS amount, date '2026-01-01' + i % 9 AS tx_date FROM generate_series(1, 20000) i;
GRANT SELECT ON public.o_big TO rc_test_reader;
SET LOCAL ROLE rc_test_reader;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SELECT matches((SELECT string_agg(l, ' ') FROM pg_temp.plan_lines(
                    'SELECT reconcile.match_agg(true, id, amount, tx_date, NULL, NULL, reconcile.rule()) FROM public.o_big') l),
               'Finalize Aggregate.*Partial Aggregate', 'the reader''s match_agg runs as a parallel, partial aggregate');
SELECT is((SELECT cardinality(reconcile.match_agg(true, id, amount, tx_date, NULL, NULL, reconcile.rule()))
           FROM public.o_big), 20000,
          'a role that may not call the aggregates'' support functions still uses match_agg, in parallel');
RESET ROLE;

-- row level security on a source is honoured (security_invoker)
ALTER TABLE public.o_l ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_a ON public.o_l FOR SELECT TO rc_test_reader USING (id = 'a');
SET LOCAL ROLE rc_test_reader;
SELECT is((SELECT array_agg(ledger_id ORDER BY ledger_id) FROM o_matches WHERE ledger_id IS NOT NULL),
          ARRAY['a'], 'row level security of a source applies to the reader');
RESET ROLE;
SELECT is((SELECT count(*) FROM o_matches WHERE ledger_id IS NOT NULL), 2::bigint, 'the owner still sees every row');

SELECT * FROM finish();
ROLLBACK;
