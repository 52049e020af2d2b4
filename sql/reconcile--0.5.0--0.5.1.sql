/* reconcile--0.5.0--0.5.1.sql: fees within payout batches */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION reconcile UPDATE TO '0.5.1'" to load this file. \quit

-- What changes for users (see the README's "0.5.1"): a payout batch whose members all carry a fee
-- is compared gross with gross against one row with a fee (the library's pass 4); when the gross
-- agrees and the net does not, the batch is a fee_difference group: the one row appears once, on
-- the first member's result with the whole difference, the other members each on a result of
-- their own with the same group_id.  Nothing in the views or runs changes for that (each row is
-- on one result, so the summaries and the proof count it once); reconcile.patterns counts such a
-- batch as one pair of its sums, and the comments on group_id say what else it groups.

COMMENT ON TYPE reconcile.match IS
'One result of reconcile.match_agg: the ledger and statement ids paired (either may be NULL), the category, statement minus ledger amount and date, a score in [0,1] (1 = exact), the group of a many_to_one/one_to_many set, a manual set or a fee_difference payout batch, and a short reason';
COMMENT ON COLUMN reconcile.results.group_id IS 'Group of a many_to_one / one_to_many set, a manual set or a fee_difference payout batch, within the run and key';

-- What the current discrepancies of reconciliation name have in common: one read of its live
-- <name>_discrepancies view as the caller (its rights and row level security apply), kept in
-- memory, then one aggregation per pattern over it; never a comparison of pairs of rows.  A
-- pattern is reported for a key when it covers at least 5 rows and more than half of the key's
-- rows of its kind (the pairs with both amounts for fee_rate, the timing differences for
-- settlement_lag, the rows missing in the ledger for recurring_unbooked); sign_flip and duplicates
-- when the key holds at least 5 and more than half of all the reconciliation's reversals or
-- duplicates (duplicates also when one date holds more than half of the key's).
CREATE OR REPLACE FUNCTION reconcile.patterns(name text)
RETURNS TABLE (key text, pattern text, rows bigint, amount numeric, evidence text, suggestion text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    reg reconcile.reconciliations := reconcile.registered(name, current_user);
    stmt text := reconcile.side_sql(reg.statement, false, reg.columns -> 'statement', false);
BEGIN
    RETURN QUERY EXECUTE pg_catalog.format($q$
    WITH d AS MATERIALIZED (
        SELECT x.key, x.ledger_id, x.statement_id, x.category, x.amount_diff, x.days_diff,
               x.ledger_amount, x.statement_amount, x.ledger_date, x.statement_date, x.note, x.group_id
        FROM %I.%I x),
    -- fee_rate: the pairs whose net amounts differ beyond tolerance (amount_mismatch and
    -- fee_difference, compared as text: in the transaction that updates to 0.5.0 the new label
    -- cannot be read as an enum yet), by their relative difference; a payout batch that is a
    -- fee_difference (0.5.1: its rows share a group_id, each row once) counts as one pair of its
    -- sums
    pairs AS (
        SELECT d.key, pg_catalog.sum(d.amount_diff) AS amount_diff,
               pg_catalog.round(100 * pg_catalog.sum(d.amount_diff) / pg_catalog.sum(d.ledger_amount), 2) AS pct
        FROM d WHERE d.category::text IN ('amount_mismatch', 'fee_difference')
        GROUP BY d.key, d.group_id, CASE WHEN d.group_id IS NULL THEN d.ledger_id END,
                 CASE WHEN d.group_id IS NULL THEN d.statement_id END
        HAVING pg_catalog.bool_or(d.ledger_id IS NOT NULL) AND pg_catalog.bool_or(d.statement_id IS NOT NULL)
           AND pg_catalog.sum(d.ledger_amount) <> 0 AND pg_catalog.sum(d.amount_diff) IS NOT NULL
           AND NOT pg_catalog.sum(d.amount_diff) = 'NaN'),
    rate AS (
        SELECT DISTINCT ON (p.key) p.key, p.pct
        FROM (SELECT p.key, p.pct, pg_catalog.count(*) AS n FROM pairs p GROUP BY 1, 2) p
        ORDER BY p.key, p.n DESC, pg_catalog.abs(p.pct), p.pct),
    fee AS (
        SELECT p.key, pg_catalog.count(*) FILTER (WHERE pg_catalog.abs(p.pct - r.pct) <= 0.05) AS n,
               pg_catalog.count(*) AS total,
               pg_catalog.sum(p.amount_diff) FILTER (WHERE pg_catalog.abs(p.pct - r.pct) <= 0.05) AS amount,
               pg_catalog.percentile_disc(0.5) WITHIN GROUP (ORDER BY p.pct)
                   FILTER (WHERE pg_catalog.abs(p.pct - r.pct) <= 0.05) AS pct
        FROM pairs p JOIN rate r ON r.key IS NOT DISTINCT FROM p.key
        GROUP BY p.key, r.pct),
    -- and, for the fee differences, the rates of gross charged and expected, from the sources'
    -- fee columns (read as the caller; nothing is read when there is no fee difference)
    fee_pairs AS (
        SELECT d.key, d.ledger_id, d.statement_id, d.ledger_date, d.group_id
        FROM d WHERE d.category::text = 'fee_difference'),
    fee_units AS (
        SELECT p.key, pg_catalog.min(p.ledger_date) AS since,
               pg_catalog.round(100 * pg_catalog.sum(s.fee) / NULLIF(pg_catalog.sum(s.amount + s.fee), 0), 2) AS charged,
               pg_catalog.round(100 * pg_catalog.sum(l.fee) / NULLIF(pg_catalog.sum(l.amount + l.fee), 0), 2) AS expected
        FROM fee_pairs p
        LEFT JOIN (%s) l ON l.id = p.ledger_id AND l.key IS NOT DISTINCT FROM p.key
        LEFT JOIN (%s) s ON s.id = p.statement_id AND s.key IS NOT DISTINCT FROM p.key
        GROUP BY p.key, p.group_id, CASE WHEN p.group_id IS NULL THEN p.ledger_id END,
                 CASE WHEN p.group_id IS NULL THEN p.statement_id END),
    fee_rates AS (
        SELECT u.key, pg_catalog.min(u.since) AS since,
               pg_catalog.percentile_disc(0.5) WITHIN GROUP (ORDER BY u.charged) AS charged,
               pg_catalog.percentile_disc(0.5) WITHIN GROUP (ORDER BY u.expected) AS expected
        FROM fee_units u GROUP BY u.key),
    -- settlement_lag: the timing differences, by their days
    lag AS (
        SELECT d.key, pg_catalog.count(*) AS total,
               pg_catalog.count(*) FILTER (WHERE d.days_diff > 0) AS later,
               pg_catalog.count(*) FILTER (WHERE d.days_diff < 0) AS earlier,
               pg_catalog.percentile_disc(0.95) WITHIN GROUP (ORDER BY d.days_diff) FILTER (WHERE d.days_diff > 0) AS after95,
               pg_catalog.percentile_disc(0.95) WITHIN GROUP (ORDER BY -d.days_diff) FILTER (WHERE d.days_diff < 0) AS before95,
               pg_catalog.min(d.days_diff) FILTER (WHERE d.days_diff > 0) AS after_min,
               pg_catalog.max(d.days_diff) FILTER (WHERE d.days_diff > 0) AS after_max,
               pg_catalog.min(-d.days_diff) FILTER (WHERE d.days_diff < 0) AS before_min,
               pg_catalog.max(-d.days_diff) FILTER (WHERE d.days_diff < 0) AS before_max,
               pg_catalog.sum(d.amount_diff) AS amount
        FROM d WHERE d.category = 'timing_difference' AND d.days_diff IS NOT NULL
        GROUP BY d.key),
    lag_fix AS (
        SELECT l.*, r.rule,
               CASE WHEN l.later >= l.earlier
                    THEN ROW((r.rule).abs_tol, (r.rule).rel_tol, (r.rule).days_before, GREATEST((r.rule).days_after, l.after95),
                             (r.rule).use_ref, (r.rule).as_of)::reconcile.rule
                    ELSE ROW((r.rule).abs_tol, (r.rule).rel_tol, GREATEST((r.rule).days_before, l.before95), (r.rule).days_after,
                             (r.rule).use_ref, (r.rule).as_of)::reconcile.rule END AS fixed
        FROM lag l CROSS JOIN LATERAL (SELECT reconcile.key_rule(%s, l.key) AS rule) r),
    lag_cleared AS (
        SELECT f.key, pg_catalog.count(*) AS n
        FROM lag_fix f JOIN d ON d.key IS NOT DISTINCT FROM f.key AND d.category = 'timing_difference'
        WHERE d.days_diff BETWEEN -(f.fixed).days_before AND (f.fixed).days_after
        GROUP BY f.key),
    -- recurring_unbooked: the rows missing in the ledger, by normalised ref (read from the
    -- statement source, as the caller, for these rows only) and by amount, on different dates
    unbooked AS (
        SELECT d.key, d.statement_id, d.statement_amount, d.statement_date,
               NULLIF(reconcile.normalized_ref(s.ref), '') AS nref
        FROM d LEFT JOIN (%s) s ON s.id = d.statement_id AND s.key IS NOT DISTINCT FROM d.key
        WHERE d.category = 'missing_in_ledger'),
    by_amount AS (
        SELECT u.key, u.statement_amount, pg_catalog.count(*) AS n FROM unbooked u
        GROUP BY 1, 2 HAVING pg_catalog.count(DISTINCT u.statement_date) >= 2),
    by_ref AS (
        SELECT u.key, u.nref, pg_catalog.count(*) AS n FROM unbooked u WHERE u.nref IS NOT NULL
        GROUP BY 1, 2 HAVING pg_catalog.count(DISTINCT u.statement_date) >= 2),
    recurring AS (
        SELECT u.key, pg_catalog.count(*) FILTER (WHERE a.n IS NOT NULL OR r.n IS NOT NULL) AS n,
               pg_catalog.count(*) AS total,
               pg_catalog.sum(u.statement_amount) FILTER (WHERE a.n IS NOT NULL OR r.n IS NOT NULL) AS amount
        FROM unbooked u
        LEFT JOIN by_amount a ON a.key IS NOT DISTINCT FROM u.key AND a.statement_amount = u.statement_amount
        LEFT JOIN by_ref r ON r.key IS NOT DISTINCT FROM u.key AND r.nref = u.nref
        GROUP BY u.key),
    top_group AS (
        SELECT DISTINCT ON (g.key) g.key, g.what, g.n
        FROM (SELECT a.key, pg_catalog.format('amount %%s', a.statement_amount) AS what, a.n, 1 AS o FROM by_amount a
              UNION ALL
              SELECT r.key, pg_catalog.format('reference %%L', r.nref), r.n, 0 FROM by_ref r) g
        ORDER BY g.key, g.n DESC, g.o, g.what),
    -- sign_flip and duplicates: concentrated on one key (or one date)
    flips AS (
        SELECT d.key, pg_catalog.count(*) AS n, pg_catalog.sum(d.amount_diff) AS amount,
               pg_catalog.sum(pg_catalog.count(*)) OVER () AS total
        FROM d WHERE d.category = 'reversal' GROUP BY d.key),
    dups AS (
        SELECT d.key, COALESCE(d.ledger_date, d.statement_date) AS day, COALESCE(d.ledger_amount, d.statement_amount) AS amt
        FROM d WHERE d.category = 'duplicate'),
    dup_keys AS (
        SELECT x.key, pg_catalog.count(*) AS n, pg_catalog.sum(x.amt) AS amount,
               pg_catalog.sum(pg_catalog.count(*)) OVER () AS total
        FROM dups x GROUP BY x.key),
    dup_day AS (
        SELECT DISTINCT ON (x.key) x.key, x.day, pg_catalog.count(*) AS n
        FROM dups x GROUP BY x.key, x.day ORDER BY x.key, pg_catalog.count(*) DESC, x.day)
    SELECT * FROM (
        SELECT f.key, 'fee_rate'::text, f.n, f.amount,
               pg_catalog.format('%%s: %%s of %%s pairs are %%s%%%% %%s the ledger%%s',
                                 COALESCE(f.key, '(no key)'), f.n, f.total, pg_catalog.abs(f.pct),
                                 CASE WHEN f.pct < 0 THEN 'below' ELSE 'above' END,
                                 CASE WHEN fr.charged IS NOT NULL AND fr.expected IS NOT NULL
                                      THEN pg_catalog.format(': the platform charges %%s%%%%, the fee schedule says %%s%%%%',
                                                             fr.charged, fr.expected) ELSE '' END),
               CASE WHEN fr.charged IS NOT NULL AND fr.expected IS NOT NULL
                    THEN pg_catalog.format('put %%s%%%% in the fee schedule from %%s (the first order that differs), and the next run matches them',
                                           fr.charged, fr.since)
                    WHEN f.pct < 0
                    THEN pg_catalog.format('the platform deducts a fee of %%s%%%% of the amount that the ledger does not book: book it, or accept it with reconcile.set_rule(%%L, %%L, %%s)',
                                           pg_catalog.abs(f.pct), %L, f.key,
                                           reconcile.rule_call(ROW((r.rule).abs_tol, GREATEST((r.rule).rel_tol, pg_catalog.round(pg_catalog.abs(f.pct) / 100 + 0.0005, 4)),
                                                                   (r.rule).days_before, (r.rule).days_after, (r.rule).use_ref, (r.rule).as_of)::reconcile.rule))
                    ELSE pg_catalog.format('the statement pays %%s%%%% more than the ledger expects: check the ledger''s prices or the platform''s surcharges for this key',
                                           f.pct) END
        FROM fee f CROSS JOIN LATERAL (SELECT reconcile.key_rule(%s, f.key) AS rule) r
        LEFT JOIN fee_rates fr ON fr.key IS NOT DISTINCT FROM f.key
        WHERE f.n >= 5 AND 2 * f.n > f.total AND f.pct <> 0
        UNION ALL
        SELECT f.key, 'settlement_lag', f.total, f.amount,
               CASE WHEN f.later >= f.earlier
                    THEN pg_catalog.format('%%s: %%s of %%s timing differences are paid %%s days after the ledger date, outside the %%s the rule allows',
                                           COALESCE(f.key, '(no key)'), f.later, f.total,
                                           CASE WHEN f.after_min = f.after_max THEN f.after_min::text
                                                ELSE f.after_min || ' to ' || f.after_max END, (f.rule).days_after)
                    ELSE pg_catalog.format('%%s: %%s of %%s timing differences are dated %%s days before the ledger date, outside the %%s the rule allows',
                                           COALESCE(f.key, '(no key)'), f.earlier, f.total,
                                           CASE WHEN f.before_min = f.before_max THEN f.before_min::text
                                                ELSE f.before_min || ' to ' || f.before_max END, (f.rule).days_before) END,
               pg_catalog.format('reconcile.set_rule(%%L, %%L, %%s) would clear %%s of %%s timing differences',
                                 %L, f.key, reconcile.rule_call(f.fixed), COALESCE(c.n, 0), f.total)
        FROM lag_fix f LEFT JOIN lag_cleared c ON c.key IS NOT DISTINCT FROM f.key
        WHERE GREATEST(f.later, f.earlier) >= 5 AND 2 * GREATEST(f.later, f.earlier) > f.total
        UNION ALL
        SELECT r.key, 'recurring_unbooked', r.n, r.amount,
               pg_catalog.format('%%s: %%s of %%s rows missing in the ledger recur on different dates, %%s alone %%s times',
                                 COALESCE(r.key, '(no key)'), r.n, r.total, t.what, t.n),
               pg_catalog.format('book them in the ledger (bank charges, subscriptions: a recurring journal entry for the %%s), and the next run matches them',
                                 t.what)
        FROM recurring r JOIN top_group t ON t.key IS NOT DISTINCT FROM r.key
        WHERE r.n >= 5 AND 2 * r.n > r.total
        UNION ALL
        SELECT f.key, 'sign_flip', f.n, f.amount,
               pg_catalog.format('%%s: %%s of the %%s reversals (the statement amount is minus the ledger''s) are on this key',
                                 COALESCE(f.key, '(no key)'), f.n, f.total),
               'check how this key''s refunds are booked: the ledger or the platform gives them the wrong sign'
        FROM flips f WHERE f.n >= 5 AND 2 * f.n > f.total
        UNION ALL
        SELECT k.key, 'duplicates', k.n, k.amount,
               pg_catalog.format('%%s: %%s of the %%s duplicate rows are on this key%%s',
                                 COALESCE(k.key, '(no key)'), k.n, k.total,
                                 CASE WHEN 2 * y.n > k.n THEN pg_catalog.format(', %%s of them dated %%s', y.n, y.day) ELSE '' END),
               'ask the platform whether these were paid twice, or reverse the double booking in the ledger'
        FROM dup_keys k JOIN dup_day y ON y.key IS NOT DISTINCT FROM k.key
        WHERE k.n >= 5 AND (2 * k.n > k.total OR 2 * y.n > k.n)
    ) p(key, pattern, rows, amount, evidence, suggestion)
    ORDER BY p.key, p.pattern
    $q$, reg.view_schema, reg.name || '_discrepancies',
         reconcile.side_sql(reg.ledger, true, reg.columns -> 'ledger', false), stmt, reg.id, stmt,
         reg.name, reg.id, reg.name);
END
$$;
COMMENT ON FUNCTION reconcile.patterns(text) IS
'What the current discrepancies of a reconciliation have in common, per key: fee_rate, settlement_lag, recurring_unbooked, sign_flip, duplicates, each with its evidence and a suggestion; read from its live view as the caller, in key, pattern order (42704 unknown, 42501 no access to its sources)';
