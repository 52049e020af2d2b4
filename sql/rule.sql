-- reconcile.rule(): defaults, named arguments, validation
\set VERBOSITY terse
SELECT reconcile.rule();
SELECT * FROM reconcile.rule(abs_tol => 0.01, days_after => 7, as_of => '2026-11-30');
SELECT (reconcile.rule(rel_tol => 0.005, use_ref => false)).*;

-- every invalid value is 22023
SELECT reconcile.rule(abs_tol => -0.01);
SELECT reconcile.rule(rel_tol => -1);
SELECT reconcile.rule(abs_tol => 'NaN');
SELECT reconcile.rule(rel_tol => 'Infinity');
SELECT reconcile.rule(days_before => -1);
SELECT reconcile.rule(days_after => -3);
SELECT reconcile.rule(as_of => 'infinity');
SELECT reconcile.rule(abs_tol => NULL);
SELECT reconcile.rule(use_ref => NULL);

-- a rule built by hand is checked where it is used
SELECT reconcile.match_agg(true, 'L1', 1, '2026-11-01', NULL, NULL,
                           ROW(-1, 0, 0, 3, true, NULL)::reconcile.rule);
SELECT reconcile.match_agg(true, 'L1', 1, '2026-11-01', NULL, NULL, NULL);

-- the rule must be the same for every row of a group
SELECT reconcile.match_agg(l, id, 1, '2026-11-01', NULL, NULL, reconcile.rule(abs_tol => t))
FROM (VALUES (true, 'L1', 0.01), (false, 'S1', 0.02)) v(l, id, t);
-- equal values written differently are the same rule
SELECT cardinality(reconcile.match_agg(l, id, 1, '2026-11-01', NULL, NULL, reconcile.rule(abs_tol => t)))
FROM (VALUES (true, 'L1', 0.01), (false, 'S1', 0.010)) v(l, id, t);
