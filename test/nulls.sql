-- NULL in every argument of every function.
BEGIN;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT plan(30);

-- strict primitives: NULL in, NULL out
SELECT is(reconcile.amount_within(NULL, 1, 0, 0), NULL, 'amount_within: NULL expected');
SELECT is(reconcile.amount_within(1, NULL, 0, 0), NULL, 'amount_within: NULL actual');
SELECT is(reconcile.amount_within(1, 1, NULL, 0), NULL, 'amount_within: NULL abs_tol');
SELECT is(reconcile.amount_within(1, 1, 0, NULL), NULL, 'amount_within: NULL rel_tol');
SELECT is(reconcile.days_within(NULL, '2026-01-01', 0, 0), NULL, 'days_within: NULL expected');
SELECT is(reconcile.days_within('2026-01-01', NULL, 0, 0), NULL, 'days_within: NULL actual');
SELECT is(reconcile.days_within('2026-01-01', '2026-01-01', NULL, 0), NULL, 'days_within: NULL days_before');
SELECT is(reconcile.days_within('2026-01-01', '2026-01-01', 0, NULL), NULL, 'days_within: NULL days_after');
SELECT is(reconcile.ref_similarity(NULL, 'abcd'), NULL, 'ref_similarity: NULL a');
SELECT is(reconcile.ref_similarity('abcd', NULL), NULL, 'ref_similarity: NULL b');

-- rule(): NULL is refused, but for as_of
SELECT throws_ok($$SELECT reconcile.rule(abs_tol => NULL)$$, '22023', '"abs_tol" must not be null', 'rule: NULL abs_tol');
SELECT throws_ok($$SELECT reconcile.rule(rel_tol => NULL)$$, '22023', '"rel_tol" must not be null', 'rule: NULL rel_tol');
SELECT throws_ok($$SELECT reconcile.rule(days_before => NULL)$$, '22023', '"days_before" must not be null', 'rule: NULL days_before');
SELECT throws_ok($$SELECT reconcile.rule(days_after => NULL)$$, '22023', '"days_after" must not be null', 'rule: NULL days_after');
SELECT throws_ok($$SELECT reconcile.rule(use_ref => NULL)$$, '22023', '"use_ref" must not be null', 'rule: NULL use_ref');
SELECT is((reconcile.rule(as_of => NULL)).as_of, NULL, 'rule: NULL as_of means no in_transit');

-- match_agg: each argument NULL
SELECT throws_ok($$SELECT reconcile.match_agg(NULL, 'a', 1, '2026-01-01', 'r', 'b', reconcile.rule())$$,
                 '22023', '"is_ledger" must not be null', 'match_agg: NULL is_ledger');
SELECT throws_ok($$SELECT reconcile.match_agg(true, NULL, 1, '2026-01-01', 'r', 'b', reconcile.rule())$$,
                 '23505', NULL, 'match_agg: NULL id');
SELECT is((SELECT m.category::text FROM unnest((SELECT reconcile.match_agg(true, 'a', NULL, '2026-01-01', 'r', 'b', reconcile.rule()))) m),
          'invalid', 'match_agg: NULL amount is invalid');
SELECT is((SELECT m.category::text FROM unnest((SELECT reconcile.match_agg(false, 'a', 1, NULL, 'r', 'b', reconcile.rule()))) m),
          'invalid', 'match_agg: NULL tx_date is invalid');
SELECT is((SELECT m.category::text FROM unnest((SELECT reconcile.match_agg(l, 'a', 1, '2026-01-01', NULL, 'b', reconcile.rule())
                                                FROM (VALUES (true), (false)) v(l))) m LIMIT 1),
          'matched', 'match_agg: NULL ref still matches by amount and date');
SELECT is((SELECT m.category::text FROM unnest((SELECT reconcile.match_agg(l, 'a', 1, '2026-01-01', 'r', NULL, reconcile.rule())
                                                FROM (VALUES (true), (false)) v(l))) m LIMIT 1),
          'matched', 'match_agg: NULL batch is no batch');
SELECT throws_ok($$SELECT reconcile.match_agg(true, 'a', 1, '2026-01-01', 'r', 'b', NULL)$$,
                 '22023', '"rule" must not be null', 'match_agg: NULL rule');
SELECT is((SELECT reconcile.match_agg(true, 'a', 1, '2026-01-01', NULL, NULL, reconcile.rule()) WHERE false),
          NULL, 'match_agg: no rows gives NULL, like array_agg');

-- create / drop
CREATE TABLE public.n_l (id text, amount numeric, tx_date date);
CREATE TABLE public.n_s (id text, amount numeric, tx_date date);
SELECT throws_ok($$SELECT reconcile.create(NULL, 'public.n_l', 'public.n_s')$$, '22023', NULL, 'create: NULL name');
SELECT throws_ok($$SELECT reconcile.create('n1', NULL, 'public.n_s')$$, '22023', NULL, 'create: NULL ledger');
SELECT throws_ok($$SELECT reconcile.create('n1', 'public.n_l', NULL)$$, '22023', NULL, 'create: NULL statement');
SELECT throws_ok($$SELECT reconcile.create('n1', 'public.n_l', 'public.n_s', NULL)$$, '22023', NULL, 'create: NULL rule');
SELECT lives_ok($$SELECT reconcile.create('n1', 'public.n_l', 'public.n_s', reconcile.rule(), NULL)$$, 'create: NULL columns means the canonical names');
SELECT throws_ok($$SELECT reconcile.drop(NULL)$$, '42704', NULL, 'drop: NULL name');

SELECT * FROM finish();
ROLLBACK;
