-- Pass 2's tie-break on the shapes accountants meet most, and exactness per row: one bank line
-- against several equal invoices (the right one named only in the memo), one invoice against
-- several equal bank lines; an amount with many decimals beside ordinary ones; rules at their
-- limits accepted by rule() exactly when the matching takes them.
BEGIN;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT plan(16);

-- the pairs of a match_agg result, as 'ledger/statement:category' sorted
CREATE FUNCTION pg_temp.pairs(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE res text;
BEGIN
    EXECUTE 'SELECT string_agg(x, '' '' ORDER BY x) FROM (SELECT coalesce(m.ledger_id, ''-'') || ''/''
             || coalesce(m.statement_id, ''-'') || '':'' || m.category AS x FROM unnest((' || q || ')) m
             WHERE m.ledger_id IS NOT NULL AND m.statement_id IS NOT NULL) y' INTO res;
    RETURN res;
END $$;

-- n equal invoices INV-0001 .. INV-n of 500.00 on one day, and one bank line of 500.00 that day
-- whose memo names invoice 2222 (or the middle one) only inside other text
CREATE FUNCTION pg_temp.one_against(n int, named int) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.pairs(format($q$
        SELECT reconcile.match_agg(l, id, 500.00, date '2026-03-02', ref, NULL, reconcile.rule(days_after => 3))
        FROM (SELECT true AS l, 'L' || lpad(i::text, 4, '0') AS id, 'INV-' || lpad(i::text, 4, '0') AS ref
              FROM generate_series(1, %s) i
              UNION ALL SELECT false, 'S', 'TRANSFER ' || lpad(%s::text, 4, '0') || ' ACME TRADING') v$q$, n, named))
$$;

SELECT is(pg_temp.one_against(3, 2), 'L0002/S:matched', 'one bank line against 3 equal invoices takes the one its memo names');
SELECT is(pg_temp.one_against(40, 22), 'L0022/S:matched', 'against 40 equal invoices');
SELECT is(pg_temp.one_against(5000, 2222), 'L2222/S:matched', 'against 5,000 equal invoices');
SELECT is(pg_temp.one_against(5000, 4999), 'L4999/S:matched', 'against 5,000, naming one of the last');

-- the other way round: one invoice, three equal bank lines, the third naming it
SELECT is(pg_temp.pairs($$
    SELECT reconcile.match_agg(l, id, 500.00, date '2026-03-02', ref, NULL, reconcile.rule())
    FROM (VALUES (true, 'L', 'INV-7301'), (false, 'S1', 'TRANSFER 1166 ACME'), (false, 'S2', 'TRANSFER 5512 ACME'),
                 (false, 'S3', 'TRANSFER 7301 ACME')) v(l, id, ref)$$),
          'L/S3:matched', 'one invoice against three equal bank lines takes the one naming it');

-- the tie-break's order: amount difference, then day difference, before similarity
SELECT is(pg_temp.pairs($$
    SELECT reconcile.match_agg(l, id, a, d, ref, NULL, reconcile.rule(abs_tol => 0.01, days_after => 3))
    FROM (VALUES (true, 'L1', 500.00, date '2026-03-02', 'INV-0001'), (true, 'L2', 500.00, date '2026-03-02', 'INV-0002'),
                 (false, 'S', 500.00, date '2026-03-03', 'TRANSFER 0002 ACME')) v(l, id, a, d, ref)$$),
          'L2/S:matched', 'same amount, same day difference: similarity decides');
SELECT is(pg_temp.pairs($$
    SELECT reconcile.match_agg(l, id, a, d, ref, NULL, reconcile.rule(abs_tol => 0.01, days_after => 3))
    FROM (VALUES (true, 'L1', 500.00, date '2026-03-02', 'INV-0001'), (true, 'L2', 500.00, date '2026-03-01', 'INV-0002'),
                 (false, 'S', 500.00, date '2026-03-02', 'TRANSFER 0002 ACME')) v(l, id, a, d, ref)$$),
          'L1/S:matched', 'a nearer day comes before a more similar memo');

-- no refs on one side: the smaller ids, as before
SELECT is(pg_temp.pairs($$
    SELECT reconcile.match_agg(l, id, 500.00, date '2026-03-02', ref, NULL, reconcile.rule())
    FROM (VALUES (true, 'L1', NULL), (true, 'L2', NULL), (false, 'S', 'TRANSFER 0002 ACME')) v(l, id, ref)$$),
          'L1/S:matched', 'without refs on one side, the smaller id');

-- exactness per row: one amount with 30 decimals does not make the others invalid
SELECT is((SELECT string_agg(coalesce(m.ledger_id, '-') || '/' || coalesce(m.statement_id, '-') || ':' || m.category, ' '
                             ORDER BY m.ledger_id, m.statement_id)
           FROM unnest((SELECT reconcile.match_agg(l, id, a, date '2026-03-02', NULL, NULL, reconcile.rule())
                        FROM (VALUES (true, 'big', 1000000.00), (false, 'big', 1000000.00),
                                     (true, 'fx', 0.123456789012345678901234567891),
                                     (true, 'cent', 99.00), (false, 'cent', 99.000000000000000000000000000000))
                             v(l, id, a))) m),
          'big/big:matched cent/cent:matched fx/-:invalid',
          'a 30-decimal amount leaves exact pairs of 2-decimal amounts matched, and only it is invalid');
SELECT is((SELECT m.note FROM unnest((SELECT reconcile.match_agg(l, id, a, date '2026-03-02', NULL, NULL, reconcile.rule())
                        FROM (VALUES (true, 'big', 1000000.00), (false, 'big', 1000000.00),
                                     (true, 'fx', 0.123456789012345678901234567891)) v(l, id, a))) m
           WHERE m.ledger_id = 'fx'),
          'amount has too many digits to compare exactly', 'and its note says why');
SELECT is(pg_temp.pairs($$
    SELECT reconcile.match_agg(l, id, a, date '2026-03-02', NULL, NULL, reconcile.rule())
    FROM (VALUES (true, 'a', 0.123456789012345678901234567891), (false, 'a', 0.123456789012345678901234567891),
                 (true, 'b', 99.00), (false, 'b', 99.00)) v(l, id, a)$$),
          'a/a:matched b/b:matched', 'fine amounts that fit beside the others are compared at their scale');

-- rules at their limits: what rule() accepts, the matching takes
SELECT is(pg_temp.pairs($$
    SELECT reconcile.match_agg(l, id, a, date '2026-03-02', NULL, NULL, reconcile.rule(abs_tol => 1e100))
    FROM (VALUES (true, 'a', 1.00), (false, 's', -99999999.00)) v(l, id, a)$$),
          'a/s:matched_within_tolerance', 'rule(abs_tol => 1e100) is accepted and matched with');
SELECT is(pg_temp.pairs($$
    SELECT reconcile.match_agg(l, id, a, date '2026-03-02', NULL, NULL, reconcile.rule(rel_tol => 1e100))
    FROM (VALUES (true, 'a', 1.00), (false, 's', -99999999.00)) v(l, id, a)$$),
          'a/s:matched_within_tolerance', 'rule(rel_tol => 1e100) is accepted and matched with');
SELECT throws_ok($$SELECT reconcile.rule(rel_tol => 1e-80)$$, '22023', '"rel_tol" has too many significant digits',
                 'rule() refuses a rel_tol finer than the matching multiplies by exactly');
SELECT throws_ok($$SELECT reconcile.rule(rel_tol => 0.12345678901234567890123456789012345678901)$$, '22023',
                 '"rel_tol" has too many significant digits', 'and one of more than 37 significant digits');
SELECT throws_ok($$SELECT reconcile.match_agg(true, 'a', 1, '2026-03-02', NULL, NULL,
                                               ROW(0, 1e-80, 0, 3, true, NULL)::reconcile.rule)$$,
                 '22023', '"rel_tol" has too many significant digits', 'a rule value made by hand is checked the same way');

SELECT * FROM finish();
ROLLBACK;
