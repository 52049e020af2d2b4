-- Every SQLSTATE the spec names, and what is deliberately not an error.
BEGIN;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT plan(44);

-- primitives: 22023 naming the argument
SELECT throws_ok($$SELECT reconcile.amount_within(1, 1, -0.01)$$, '22023', '"abs_tol" must not be negative', 'amount_within: negative abs_tol');
SELECT throws_ok($$SELECT reconcile.amount_within(1, 1, 0, -0.5)$$, '22023', '"rel_tol" must not be negative', 'amount_within: negative rel_tol');
SELECT throws_ok($$SELECT reconcile.amount_within(1, 1, 'NaN')$$, '22023', '"abs_tol" must be a finite number', 'amount_within: NaN abs_tol');
SELECT throws_ok($$SELECT reconcile.amount_within(1, 1, 'Infinity')$$, '22023', '"abs_tol" must be a finite number', 'amount_within: infinite abs_tol');
SELECT throws_ok($$SELECT reconcile.amount_within(1, 1, 0, 'NaN')$$, '22023', '"rel_tol" must be a finite number', 'amount_within: NaN rel_tol');
SELECT throws_ok($$SELECT reconcile.amount_within(1, 1, 0, 'Infinity')$$, '22023', '"rel_tol" must be a finite number', 'amount_within: infinite rel_tol');
SELECT throws_ok($$SELECT reconcile.amount_within('NaN', 1)$$, '22023', '"expected" must be a finite number', 'amount_within: NaN expected');
SELECT throws_ok($$SELECT reconcile.amount_within(1, 'NaN')$$, '22023', '"actual" must be a finite number', 'amount_within: NaN actual');
SELECT throws_ok($$SELECT reconcile.amount_within('Infinity', 1)$$, '22023', '"expected" must be a finite number', 'amount_within: infinite expected');
SELECT throws_ok($$SELECT reconcile.amount_within(1, '-Infinity')$$, '22023', '"actual" must be a finite number', 'amount_within: -infinite actual');
SELECT throws_ok($$SELECT reconcile.days_within('2026-01-01', '2026-01-02', -1, 0)$$, '22023', '"days_before" must not be negative', 'days_within: negative days_before');
SELECT throws_ok($$SELECT reconcile.days_within('2026-01-01', '2026-01-02', 0, -1)$$, '22023', '"days_after" must not be negative', 'days_within: negative days_after');

-- rule(): 22023
SELECT throws_ok($$SELECT reconcile.rule(abs_tol => -1)$$, '22023', NULL, 'rule: negative abs_tol');
SELECT throws_ok($$SELECT reconcile.rule(rel_tol => -1)$$, '22023', NULL, 'rule: negative rel_tol');
SELECT throws_ok($$SELECT reconcile.rule(abs_tol => 'NaN')$$, '22023', NULL, 'rule: NaN abs_tol');
SELECT throws_ok($$SELECT reconcile.rule(rel_tol => 'Infinity')$$, '22023', NULL, 'rule: infinite rel_tol');
SELECT throws_ok($$SELECT reconcile.rule(days_before => -1)$$, '22023', NULL, 'rule: negative days_before');
SELECT throws_ok($$SELECT reconcile.rule(days_after => -1)$$, '22023', NULL, 'rule: negative days_after');
SELECT throws_ok($$SELECT reconcile.rule(as_of => '-infinity')$$, '22023', NULL, 'rule: infinite as_of');
SELECT throws_ok($$SELECT reconcile.match_agg(true, 'a', 1, '2026-01-01', NULL, NULL, ROW(0, 0, -2, 3, true, NULL)::reconcile.rule)$$,
                 '22023', NULL, 'match_agg: a hand-made invalid rule');
SELECT throws_ok($$SELECT reconcile.match_agg(l, 'a', 1, '2026-01-01', NULL, NULL, reconcile.rule(days_after => d))
                   FROM (VALUES (true, 1), (false, 2)) v(l, d)$$,
                 '22023', 'the rule must be the same for every row of a group', 'match_agg: two rules in one group');

-- match_agg: 23505 for NULL and repeated ids on one side
SELECT throws_ok($$SELECT reconcile.match_agg(true, NULL, 1, '2026-01-01', NULL, NULL, reconcile.rule())$$,
                 '23505', 'null id in the ledger', 'match_agg: NULL ledger id');
SELECT throws_ok($$SELECT reconcile.match_agg(false, NULL, 1, '2026-01-01', NULL, NULL, reconcile.rule())$$,
                 '23505', 'null id in the statement', 'match_agg: NULL statement id');
SELECT throws_ok($$SELECT reconcile.match_agg(true, id, 1, '2026-01-01', NULL, NULL, reconcile.rule())
                   FROM (VALUES ('A-1'), ('A-2'), ('A-1')) v(id)$$,
                 '23505', 'duplicate id "A-1" in the ledger', 'match_agg: ledger id twice');
SELECT throws_ok($$SELECT reconcile.match_agg(false, id, 1, '2026-01-01', NULL, NULL, reconcile.rule())
                   FROM (VALUES ('7'), ('7')) v(id)$$,
                 '23505', 'duplicate id "7" in the statement', 'match_agg: statement id twice');
SELECT lives_ok($$SELECT reconcile.match_agg(l, 'same', 1, '2026-01-01', NULL, NULL, reconcile.rule())
                  FROM (VALUES (true), (false)) v(l)$$,
                'match_agg: one id on both sides is fine');
SELECT lives_ok($$SELECT k, reconcile.match_agg(true, 'same', 1, '2026-01-01', NULL, NULL, reconcile.rule())
                  FROM (VALUES (1), (2)) v(k) GROUP BY k$$,
                'match_agg: one id in two groups is fine');

-- match_agg: 54000 for a group whose result cannot be one value (1,100 ids of 1 MB)
SELECT throws_ok($$SELECT cardinality(reconcile.match_agg(true, i || repeat('x', 1048576), 1, '2026-01-01',
                                                             NULL, NULL, reconcile.rule()))
                   FROM generate_series(1, 1100) i$$,
                 '54000', NULL, 'match_agg: a result over 1 GB is refused, not truncated');

-- create / drop
CREATE TABLE public.err_l (id text, amount numeric, tx_date date);
CREATE TABLE public.err_s (id text, amount numeric, tx_date date);
SELECT throws_ok($$SELECT reconcile.create('Upper', 'public.err_l', 'public.err_s')$$, '22023', NULL, 'create: upper case name');
SELECT throws_ok($$SELECT reconcile.create('1abc', 'public.err_l', 'public.err_s')$$, '22023', NULL, 'create: name starting with a digit');
SELECT throws_ok($$SELECT reconcile.create('', 'public.err_l', 'public.err_s')$$, '22023', NULL, 'create: empty name');
SELECT throws_ok($$SELECT reconcile.create(repeat('a', 42), 'public.err_l', 'public.err_s')$$, '22023', NULL, 'create: name of 42 characters');
SELECT throws_ok($$SELECT reconcile.create('a;drop table x', 'public.err_l', 'public.err_s')$$, '22023', NULL, 'create: name with a semicolon');
SELECT throws_ok($$SELECT reconcile.create('a"b', 'public.err_l', 'public.err_s')$$, '22023', NULL, 'create: name with a quote');
SELECT lives_ok($$SELECT reconcile.create(repeat('a', 41), 'public.err_l', 'public.err_s')$$, 'create: name of 41 characters');
SELECT lives_ok($$SELECT reconcile.create('_ok_1', 'public.err_l', 'public.err_s')$$, 'create: a good name');
SELECT throws_ok($$SELECT reconcile.create('_ok_1', 'public.err_l', 'public.err_s')$$, '42710', 'reconciliation "_ok_1" already exists', 'create: name taken');
SELECT throws_ok($$SELECT reconcile.create('other', 'public.err_l', 'public.err_s',
                                           columns => '{"statement": {"amount": "amt"}}')$$,
                 '42703', 'column "amt" of relation public.err_s does not exist', 'create: mapped column missing, named');
SELECT throws_ok($$SELECT reconcile.create('other', 'public.err_l', 'public.err_s',
                                           columns => '{"ledger": {"batch": "payout"}}')$$,
                 '42703', NULL, 'create: optional column mapped but missing');
SELECT throws_ok($$SELECT reconcile.create('other', 'public.err_l', 'public.err_s',
                                           columns => '{"ledger": {"id": "x\"; drop table err_l; --"}}')$$,
                 '42703', NULL, 'create: a column name with SQL in it is only a name');
SELECT throws_ok($$SELECT reconcile.create('other', 'public.err_l', 'public.err_s',
                                           columns => '{"ledger": {"iban": "id"}}')$$,
                 '22023', NULL, 'create: unknown canonical name');
SELECT throws_ok($$SELECT reconcile.drop('nosuch')$$, '42704', 'reconciliation "nosuch" does not exist', 'drop: unknown name');
SELECT lives_ok($$SELECT reconcile.drop('_ok_1')$$, 'drop: a registered name');
SELECT throws_ok($$SELECT reconcile.drop('_ok_1')$$, '42704', NULL, 'drop: twice');

SELECT * FROM finish();
ROLLBACK;
