-- The primitives: amount_within, days_within, ref_similarity
\set VERBOSITY terse

-- amounts: absolute and relative tolerance, exact in numeric
SELECT e, a, abs_tol, rel_tol, reconcile.amount_within(e, a, abs_tol, rel_tol) AS within
FROM (VALUES (100.00, 100.00, 0, 0),
             (100.00, 100.01, 0.01, 0),
             (100.00,  99.99, 0.01, 0),
             (100.00, 100.02, 0.01, 0),
             (1000, 1001, 0, 0.001),
             (1000, 1001.0000000001, 0, 0.001),
             (-50, -50.01, 0.01, 0),
             (0.1000000000000000000000001, 0.1000000000000000000000002, 0.0000000000000000000000001, 0),
             (0.1000000000000000000000001, 0.1000000000000000000000003, 0.0000000000000000000000001, 0),
             (5, 5.30, 0.2, 0.05)) v(e, a, abs_tol, rel_tol)
ORDER BY e, a, abs_tol, rel_tol;
SELECT reconcile.amount_within(100, 100) AS defaults_exact, reconcile.amount_within(100, 100.001) AS defaults_differ;

-- dates: window [expected - days_before, expected + days_after]
SELECT e, a, b, f, reconcile.days_within(e, a, b, f) AS within
FROM (VALUES ('2026-11-01'::date, '2026-11-01'::date, 0, 0),
             ('2026-11-01', '2026-11-04', 0, 3),
             ('2026-11-01', '2026-11-05', 0, 3),
             ('2026-11-01', '2026-10-31', 0, 3),
             ('2026-11-01', '2026-10-30', 2, 0),
             ('2026-11-01', 'infinity', 0, 100000),
             ('infinity', 'infinity', 0, 0)) v(e, a, b, f)
ORDER BY e, a, b, f;

-- references: normalised, >= 4 characters contained = 1
SELECT a, b, round(reconcile.ref_similarity(a, b)::numeric, 4) AS similarity
FROM (VALUES ('TM-2026-0001', 'TMALL SETTLEMENT tm20260001 batch 7'),
             ('ord 1234', 'ORD1234'),
             ('abc', 'xabcx'),
             ('abcd', 'xabcdx'),
             ('JD-88', 'jd 88 payout'),
             ('订单１２３４', '支付 订单1234 成功'),
             ('INV-1001', 'INV-1002'),
             ('', 'anything'),
             ('---', 'abc'),
             ('Ärger', 'ärger')) v(a, b)
ORDER BY a, b;

-- errors name the argument
SELECT reconcile.amount_within(1, 1, -0.01);
SELECT reconcile.amount_within(1, 1, 0, -1);
SELECT reconcile.amount_within(1, 1, 'NaN');
SELECT reconcile.amount_within(1, 1, 0, 'Infinity');
SELECT reconcile.amount_within('NaN', 1);
SELECT reconcile.amount_within(1, '-Infinity');
SELECT reconcile.days_within('2026-01-01', '2026-01-01', -1, 0);
SELECT reconcile.days_within('2026-01-01', '2026-01-01', 0, -1);

-- strict: NULL in, NULL out
SELECT reconcile.amount_within(NULL, 1) IS NULL AS a,
       reconcile.days_within('2026-01-01', NULL) IS NULL AS d,
       reconcile.ref_similarity(NULL, 'x') IS NULL AS r;
