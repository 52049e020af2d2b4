-- Invariants on generated data: completeness (every id, every amount), groups,
-- order independence and parallel aggregation, over >= 100,000 rows per side.
BEGIN;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT plan(15);

\ir data/invariants.sql

SELECT cmp_ok((SELECT count(*) FROM public.inv_l), '>=', 100000::bigint, 'at least 100,000 ledger rows');
SELECT cmp_ok((SELECT count(*) FROM public.inv_s), '>=', 100000::bigint, 'at least 100,000 statement rows');

CREATE FUNCTION pg_temp.results(l regclass, s regclass) RETURNS SETOF record
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT g.key, m.* FROM (SELECT key, reconcile.match_detail_agg(is_ledger, id, amount, tx_date, ref, batch,
                 reconcile.rule(abs_tol => 0.01, days_after => 3)) AS ms
           FROM (SELECT key, true AS is_ledger, id, amount, tx_date, ref, batch FROM %s
                 UNION ALL SELECT key, false, id, amount, tx_date, ref, batch FROM %s) u
           GROUP BY key) g CROSS JOIN LATERAL unnest(g.ms) m', l, s);
END $$;

CREATE TEMP TABLE r AS
SELECT * FROM pg_temp.results('public.inv_l', 'public.inv_s')
  AS (key text, ledger_id text, statement_id text, category reconcile.category, amount_diff numeric,
      days_diff int, score float8, group_id int, note text, ledger_amount numeric,
      statement_amount numeric, ledger_date date, statement_date date);

-- completeness
SELECT is((SELECT count(*) FROM (SELECT key, ledger_id, count(*) AS c,
                                        bool_and(category = 'one_to_many') AS o, count(DISTINCT group_id) AS g
                                 FROM r WHERE ledger_id IS NOT NULL GROUP BY 1, 2) x
           WHERE c > 1 AND NOT (o AND g = 1)), 0::bigint,
          'each ledger id once, but the one side of a one_to_many group');
SELECT is((SELECT count(*) FROM (SELECT key, statement_id, count(*) AS c,
                                        bool_and(category = 'many_to_one') AS o, count(DISTINCT group_id) AS g
                                 FROM r WHERE statement_id IS NOT NULL GROUP BY 1, 2) x
           WHERE c > 1 AND NOT (o AND g = 1)), 0::bigint,
          'each statement id once, but the one side of a many_to_one group');
SELECT set_eq($$SELECT key, id FROM public.inv_l$$, $$SELECT DISTINCT key, ledger_id FROM r WHERE ledger_id IS NOT NULL$$,
              'the ledger ids of the result are exactly those of the input');
SELECT set_eq($$SELECT key, id FROM public.inv_s$$, $$SELECT DISTINCT key, statement_id FROM r WHERE statement_id IS NOT NULL$$,
              'the statement ids of the result are exactly those of the input');
SELECT is((SELECT sum(ledger_amount) FROM (SELECT DISTINCT ON (key, ledger_id) ledger_amount FROM r
                                          WHERE ledger_id IS NOT NULL ORDER BY key, ledger_id) x),
          (SELECT sum(amount) FROM public.inv_l), 'ledger amount total preserved');
SELECT is((SELECT sum(statement_amount) FROM (SELECT DISTINCT ON (key, statement_id) statement_amount FROM r
                                             WHERE statement_id IS NOT NULL ORDER BY key, statement_id) x),
          (SELECT sum(amount) FROM public.inv_s), 'statement amount total preserved');
SELECT is((SELECT count(*) FROM (SELECT key, group_id FROM r WHERE group_id IS NOT NULL GROUP BY 1, 2
                                 HAVING count(DISTINCT category) > 1
                                     OR (min(category) = 'many_to_one' AND count(DISTINCT statement_id) > 1)
                                     OR (min(category) = 'one_to_many' AND count(DISTINCT ledger_id) > 1)) x),
          0::bigint, 'a group_id is one group: one category, one row on its single side');
SELECT is((SELECT count(*) FROM r WHERE (group_id IS NOT NULL) <> (category IN ('many_to_one', 'one_to_many'))),
          0::bigint, 'group_id is set exactly on many_to_one and one_to_many rows');
SELECT set_eq($$SELECT DISTINCT category::text FROM r$$,
              ARRAY['matched', 'matched_within_tolerance', 'many_to_one', 'one_to_many', 'reversal',
                    'duplicate', 'timing_difference', 'missing_in_statement', 'missing_in_ledger', 'invalid'],
              'the generated data reaches every category it was built for');

-- order independence: the same rows stored in another physical order
CREATE TABLE public.inv_l2 AS SELECT * FROM public.inv_l ORDER BY md5(id) DESC;
CREATE TABLE public.inv_s2 AS SELECT * FROM public.inv_s ORDER BY md5(id);
CREATE TEMP TABLE r2 AS
SELECT * FROM pg_temp.results('public.inv_l2', 'public.inv_s2')
  AS (key text, ledger_id text, statement_id text, category reconcile.category, amount_diff numeric,
      days_diff int, score float8, group_id int, note text, ledger_amount numeric,
      statement_amount numeric, ledger_date date, statement_date date);
SELECT is((SELECT count(*) FROM ((TABLE r EXCEPT ALL TABLE r2) UNION ALL (TABLE r2 EXCEPT ALL TABLE r)) d),
          0::bigint, 'another physical order gives identical results');

-- parallel aggregation (combine, serial, deserial) gives the same results
ANALYZE public.inv_l;
ANALYZE public.inv_s;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL enable_hashagg = off;
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || q; END $$;
SELECT ok(EXISTS (SELECT 1 FROM pg_temp.plan_of(
            $$SELECT key, reconcile.match_agg(true, id, amount, tx_date, ref, batch, reconcile.rule())
              FROM public.inv_l GROUP BY key$$) p WHERE p LIKE '%Partial%'),
          'the planner can aggregate match_agg in parallel workers');
CREATE TEMP TABLE r3 AS
SELECT g.key, m.* FROM (SELECT key, reconcile.match_detail_agg(is_ledger, id, amount, tx_date, ref, batch,
                 reconcile.rule(abs_tol => 0.01, days_after => 3)) AS ms
           FROM (SELECT key, true AS is_ledger, id, amount, tx_date, ref, batch FROM public.inv_l
                 UNION ALL SELECT key, false, id, amount, tx_date, ref, batch FROM public.inv_s) u
           GROUP BY key) g CROSS JOIN LATERAL unnest(g.ms) m;
SELECT is((SELECT count(*) FROM ((TABLE r EXCEPT ALL TABLE r3) UNION ALL (TABLE r3 EXCEPT ALL TABLE r)) d),
          0::bigint, 'a parallel plan gives identical results');
RESET enable_hashagg;

-- the public aggregate agrees with the detail one
SELECT is((SELECT count(*) FROM (
             (SELECT key, ledger_id, statement_id, category, amount_diff, days_diff, score, group_id, note FROM r
              EXCEPT ALL
              SELECT g.key, m.* FROM (SELECT key, reconcile.match_agg(is_ledger, id, amount, tx_date, ref, batch,
                           reconcile.rule(abs_tol => 0.01, days_after => 3)) AS ms
                     FROM (SELECT key, true AS is_ledger, id, amount, tx_date, ref, batch FROM public.inv_l
                           UNION ALL SELECT key, false, id, amount, tx_date, ref, batch FROM public.inv_s) u
                     GROUP BY key) g CROSS JOIN LATERAL unnest(g.ms) m)) d),
          0::bigint, 'match_agg and match_detail_agg classify alike');

SELECT * FROM finish();
ROLLBACK;
