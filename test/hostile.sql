-- Hostile values: each is refused with its SQLSTATE or classified, and the server keeps running.
BEGIN;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT plan(34);
CREATE TEMP TABLE started AS SELECT pg_postmaster_start_time() AS t;

CREATE FUNCTION pg_temp.cats(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE res text;
BEGIN
    EXECUTE 'SELECT string_agg(x, '' '' ORDER BY x) FROM (SELECT coalesce(m.ledger_id, ''-'') || ''/''
             || coalesce(m.statement_id, ''-'') || '':'' || m.category AS x FROM unnest((' || q || ')) m) y' INTO res;
    RETURN res;
END $$;

-- amounts
SELECT is(pg_temp.cats($$SELECT reconcile.match_agg(l, id, a, '2026-01-01', NULL, NULL, reconcile.rule())
                         FROM (VALUES (true, 'n', 'NaN'::numeric), (true, 'p', 'Infinity'), (true, 'm', '-Infinity'),
                                      (false, 's', 1)) v(l, id, a)$$),
          '-/s:missing_in_ledger m/-:invalid n/-:invalid p/-:invalid', 'NaN and infinite amounts are invalid');
SELECT is(pg_temp.cats($$SELECT reconcile.match_agg(l, id, a, '2026-01-01', NULL, NULL, reconcile.rule())
                         FROM (VALUES (true, 'big', ('9' || repeat('0', 999))::numeric), (false, 'big', ('9' || repeat('0', 999))::numeric),
                                      (true, 'tiny', ('0.' || repeat('0', 998) || '1')::numeric)) v(l, id, a)$$),
          '-/big:invalid big/-:invalid tiny/-:invalid', 'numerics of 1000 digits are invalid, not truncated');
SELECT is(pg_temp.cats($$SELECT reconcile.match_agg(l, id, a, '2026-01-01', NULL, b, reconcile.rule())
                         FROM (VALUES (true, 'a', 99999999999999999999999999999999999::numeric, 'B'),
                                      (true, 'b', 99999999999999999999999999999999999::numeric, 'B'),
                                      (true, 'c', 99999999999999999999999999999999999::numeric, 'B'),
                                      (false, 's', 299999999999999999999999999999999997::numeric, NULL),
                                      (false, 't', -99999999999999999999999999999999999::numeric, NULL)) v(l, id, a, b)$$),
          '-/t:missing_in_ledger a/s:many_to_one b/s:many_to_one c/s:many_to_one',
          'a batch sum of 36 digits is exact: three 35-digit amounts make one payout');
SELECT is(pg_temp.cats($$SELECT reconcile.match_agg(l, id, a, '2026-01-01', NULL, NULL, reconcile.rule(abs_tol => 0.01))
                         FROM (VALUES (true, 'a', 12345678901234567890.12::numeric), (false, 's', 12345678901234567890.13::numeric)) v(l, id, a)$$),
          'a/s:matched_within_tolerance', 'twenty-digit amounts compare exactly');
SELECT throws_ok($$SELECT reconcile.amount_within('NaN', 1)$$, '22023', NULL, 'primitives refuse NaN');
SELECT is(reconcile.amount_within(('1' || repeat('0', 999))::numeric, ('1' || repeat('0', 999))::numeric + 1, 1), true,
          'amount_within is exact on 1000-digit numerics');

-- dates
SELECT is(pg_temp.cats($$SELECT reconcile.match_agg(l, id, 1, d, NULL, NULL, reconcile.rule(days_after => 2147483647))
                         FROM (VALUES (true, 'a', '-infinity'::date), (true, 'b', 'infinity'::date),
                                      (true, 'c', '4713-01-01 BC'::date), (false, 's', '5874897-12-31'::date)) v(l, id, d)$$),
          'a/-:invalid b/-:invalid c/s:matched', 'infinite dates are invalid; the widest window spans the whole calendar');
SELECT is(reconcile.days_within('4713-01-01 BC', '5874897-12-31', 0, 2147483647), true, 'days_within does not overflow');
SELECT is(pg_temp.cats($$SELECT reconcile.match_agg(l, id, 1, d, NULL, NULL, reconcile.rule(days_before => 2147483647, days_after => 0, as_of => '5874897-12-31'))
                         FROM (VALUES (true, 'a', '5874897-12-31'::date), (false, 's', '4713-01-01 BC'::date)) v(l, id, d)$$),
          'a/s:matched', 'days_before at its limit');

-- refs
SELECT is(pg_temp.cats($$SELECT reconcile.match_agg(l, id, a, '2026-01-01', r, NULL, reconcile.rule())
                         FROM (VALUES (true, 'a', 1, ''), (false, 's', 2, ''), (true, 'b', 3, repeat('x', 1048576)),
                                      (false, 't', 4, 'pay ' || repeat('x', 1048576) || ' now')) v(l, id, a, r)$$),
          '-/s:missing_in_ledger a/-:missing_in_statement b/t:amount_mismatch', 'empty refs match nothing; 1 MB refs are compared whole');
SELECT is(reconcile.ref_similarity(repeat('ab', 524288), 'zz' || repeat('ab', 524288) || 'zz'), 1::float8, 'ref_similarity on 1 MB refs');
SELECT is(reconcile.ref_similarity('', ''), 0::float8, 'ref_similarity of two empty refs is 0');
SELECT is(reconcile.ref_similarity(E'\u00a0\u3000!!', '...'), 0::float8, 'only spaces and punctuation normalise to empty');

-- ids
SELECT is(pg_temp.cats($$SELECT reconcile.match_agg(l, id, 1, '2026-01-01', NULL, NULL, reconcile.rule())
                         FROM (VALUES (true, ''), (false, '')) v(l, id)$$),
          '/:matched', 'an empty id is an id');
SELECT lives_ok($$SELECT cardinality(reconcile.match_agg(true, repeat('i', 1048576), 1, '2026-01-01', NULL, NULL, reconcile.rule()))$$,
                'a 1 MB id');

-- rules at their limits
SELECT is(pg_temp.cats($$SELECT reconcile.match_agg(l, id, a, '2026-01-01', NULL, NULL,
                                                     reconcile.rule(abs_tol => ('1' || repeat('0', 500))::numeric))
                         FROM (VALUES (true, 'a', -1000000::numeric), (false, 's', 1000000)) v(l, id, a)$$),
          'a/s:matched_within_tolerance', 'an enormous abs_tol');
SELECT is(pg_temp.cats($$SELECT reconcile.match_agg(l, id, a, '2026-01-01', NULL, NULL,
                                                     reconcile.rule(rel_tol => 1000000000000000000000000000000))
                         FROM (VALUES (true, 'a', 5::numeric), (false, 's', 99999999)) v(l, id, a)$$),
          'a/s:matched_within_tolerance', 'an enormous rel_tol');
SELECT is(pg_temp.cats($$SELECT reconcile.match_agg(l, id, a, '2026-01-01', NULL, NULL,
                                                     reconcile.rule(abs_tol => ('0.' || repeat('0', 999) || '1')::numeric))
                         FROM (VALUES (true, 'a', 5.00::numeric), (false, 's', 5.01)) v(l, id, a)$$),
          '-/s:missing_in_ledger a/-:missing_in_statement', 'a tolerance finer than any amount');
SELECT throws_ok($$SELECT reconcile.match_agg(true, 'a', 1, '2026-01-01', NULL, NULL,
                                               reconcile.rule(rel_tol => ('0.' || repeat('1', 60))::numeric))$$,
                 '22023', NULL, 'a rel_tol with more than 37 significant digits is refused');

-- injection: names and mapped columns are names, never SQL
CREATE TABLE public.h_l ("we""ird; col" text, amount numeric, tx_date date, "ünï côde" text);
CREATE TABLE public.h_s (id text, amount numeric, tx_date date);
SELECT throws_ok($$SELECT reconcile.create('x''; DROP TABLE public.h_s; --', 'public.h_l', 'public.h_s')$$, '22023', NULL,
                 'a name with a quote and a semicolon is refused');
SELECT throws_ok($$SELECT reconcile.create('naïve', 'public.h_l', 'public.h_s')$$, '22023', NULL, 'a name with unicode is refused');
SELECT throws_ok($$SELECT reconcile.create('spaced name', 'public.h_l', 'public.h_s')$$, '22023', NULL, 'a name with a space is refused');
SELECT lives_ok($$SELECT reconcile.create('h', 'public.h_l', 'public.h_s',
                                          columns => '{"ledger": {"id": "we\"ird; col", "ref": "ünï côde"}}')$$,
                'column names with quotes, semicolons, spaces and unicode are quoted, not run');
SELECT is((SELECT count(*) FROM public.h_matches), 0::bigint, 'and the view reads them');

-- a schema whose name has a quote, a semicolon, spaces and unicode: sources there, views there
CREATE SCHEMA "acc't; DROP TABLE public.h_s; -- ünï";
CREATE TABLE "acc't; DROP TABLE public.h_s; -- ünï"."le dger" (id text, amount numeric, tx_date date);
CREATE TABLE "acc't; DROP TABLE public.h_s; -- ünï"."stäte;ment" (id text, amount numeric, tx_date date);
INSERT INTO "acc't; DROP TABLE public.h_s; -- ünï"."le dger" VALUES ('a', 1, '2026-11-01'), ('b', 2, '2026-11-01');
INSERT INTO "acc't; DROP TABLE public.h_s; -- ünï"."stäte;ment" VALUES ('x', 1, '2026-11-01');
SET LOCAL search_path = "acc't; DROP TABLE public.h_s; -- ünï", public;
SELECT lives_ok($$SELECT reconcile.create('hs', '"acc''t; DROP TABLE public.h_s; -- ünï"."le dger"',
                                          '"acc''t; DROP TABLE public.h_s; -- ünï"."stäte;ment"')$$,
                'sources and views in a schema named with a quote, a semicolon, spaces and unicode');
SELECT is((SELECT count(*) FROM "acc't; DROP TABLE public.h_s; -- ünï".hs_matches), 2::bigint,
          'the views are created in that schema and read its tables');
SELECT lives_ok($$SELECT reconcile.run('hs', '2026-12-31')$$, 'a run reads them');
SELECT has_table('public', 'h_s', 'nothing in those names was run as SQL');
SELECT lives_ok($$SELECT reconcile.drop('hs')$$, 'and drop finds the views there');
RESET search_path;

-- the backend's memory (all its memory contexts) before the large groups, to check it is released
CREATE TEMP TABLE mem_before AS SELECT sum(total_bytes) AS bytes FROM pg_backend_memory_contexts;

-- a group of 5,000,000 rows
SELECT is((SELECT cardinality(reconcile.match_agg(l, (CASE WHEN l THEN 'L' ELSE 'S' END) || i, (i % 5000)::numeric + 0.99,
                                                  date '2026-01-01' + (i % 300), NULL, NULL, reconcile.rule()))
           FROM generate_series(1, 2500000) i, (VALUES (true), (false)) v(l)),
          2500000, 'a group of 5,000,000 rows is matched (2,500,000 pairs)');

-- cancellation: statement_timeout stops a large match_agg at once (sorts and passes check for it)
CREATE FUNCTION pg_temp.time_to_cancel() RETURNS interval LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    BEGIN
        PERFORM cardinality(reconcile.match_agg(l, (CASE WHEN l THEN 'L' ELSE 'S' END) || i, (i % 5000)::numeric + 0.99,
                                                date '2026-01-01' + (i % 300), NULL, NULL, reconcile.rule()))
        FROM generate_series(1, 2500000) i, (VALUES (true), (false)) v(l);
    EXCEPTION WHEN query_canceled THEN
        RETURN clock_timestamp() - t0;
    END;
    RETURN NULL;
END $$;
SET LOCAL statement_timeout = '1500ms';
SELECT cmp_ok(pg_temp.time_to_cancel(), '<', interval '2500 ms',
              'a 5,000,000-row match_agg stops within a second of statement_timeout');
SET LOCAL statement_timeout = 0;
SELECT cmp_ok((SELECT sum(total_bytes) FROM pg_backend_memory_contexts) - (SELECT bytes FROM mem_before), '<', 16777216::numeric,
              'after the cancel the backend holds less than 16 MB more than before both large groups');
SELECT is((SELECT count(*) FROM pg_backend_memory_contexts WHERE name = 'reconcile match'), 0::bigint,
          'no matching context survives the cancel');

SELECT is((SELECT t FROM started), pg_postmaster_start_time(), 'the server did not restart');
SELECT * FROM finish();
ROLLBACK;
