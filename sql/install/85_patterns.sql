/* 85_patterns.sql: what a reconciliation's discrepancies have in common, and the likely counterparts of one row (SPEC 7) */

----------------------------------------------------------------------------
-- The rule of one key
----------------------------------------------------------------------------

CREATE FUNCTION reconcile.key_rule(recon_id bigint, key text)
RETURNS reconcile.rule
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE((SELECT k.rule FROM reconcile.key_rules k WHERE k.recon_id = key_rule.recon_id AND k.key = key_rule.key),
                    (SELECT r.rule FROM reconcile.reconciliations r WHERE r.id = key_rule.recon_id))
$$;
COMMENT ON FUNCTION reconcile.key_rule(bigint, text) IS
'Internal: the rule the rows of one key of a registration are matched by (its own, else the reconciliation''s)';

-- A rule as the reconcile.rule(...) call that makes it, naming days_after and the other arguments
-- that differ from the defaults, for suggestions an accountant can paste.
CREATE FUNCTION reconcile.rule_call(r reconcile.rule)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'reconcile.rule(' || COALESCE(pg_catalog.string_agg(a, ', ' ORDER BY n), '') || ')'
    FROM (VALUES (1, CASE WHEN r.abs_tol <> 0 THEN 'abs_tol => ' || r.abs_tol END),
                 (2, CASE WHEN r.rel_tol <> 0 THEN 'rel_tol => ' || r.rel_tol END),
                 (3, CASE WHEN r.days_before <> 0 THEN 'days_before => ' || r.days_before END),
                 (4, 'days_after => ' || r.days_after),
                 (5, CASE WHEN NOT r.use_ref THEN 'use_ref => false' END),
                 (6, CASE WHEN r.as_of IS NOT NULL THEN pg_catalog.format('as_of => %L', r.as_of) END)) v(n, a)
    WHERE a IS NOT NULL
$$;
COMMENT ON FUNCTION reconcile.rule_call(reconcile.rule) IS
'Internal to reconcile.patterns: a rule as the reconcile.rule(...) call that builds it (days_after, and the arguments that differ from the defaults)';

----------------------------------------------------------------------------
-- Patterns
----------------------------------------------------------------------------

-- What the current discrepancies of reconciliation name have in common: one read of its live
-- <name>_discrepancies view as the caller (its rights and row level security apply), kept in
-- memory, then one aggregation per pattern over it; never a comparison of pairs of rows.  A
-- pattern is reported for a key when it covers at least 5 rows and more than half of the key's
-- rows of its kind (the pairs with both amounts for fee_rate, the timing differences for
-- settlement_lag, the rows missing in the ledger for recurring_unbooked); sign_flip and duplicates
-- when the key holds at least 5 and more than half of all the reconciliation's reversals or
-- duplicates (duplicates also when one date holds more than half of the key's).
CREATE FUNCTION reconcile.patterns(name text)
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

----------------------------------------------------------------------------
-- Candidates
----------------------------------------------------------------------------

-- The n likeliest counterparts of one row that no run has cleared, among the other side's rows
-- that no run has cleared, as the caller.  The other side is never read whole: per key, it walks
-- the other side in amount order outwards from the row's amount and from minus it (a reversal),
-- skipping cleared rows, and from the row's date among the rows of the same amount, taking at
-- most 50 rows each way; an index on the other side's amount column (or key and amount, and
-- amount and date) makes each walk an index scan, without one each is a scan of the source.  The
-- candidates are scored by amount (half), days (three tenths) and reference similarity (a
-- fifth), and ranked by score, then amount difference, days and id.
CREATE FUNCTION reconcile.candidates(name text, id text, side text DEFAULT 'ledger', n integer DEFAULT 5)
RETURNS TABLE (rank integer, counterpart_id text, amount numeric, tx_date date, ref text, score double precision,
               reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    reg    reconcile.reconciliations := reconcile.registered(name, current_user);
    mine   boolean;
    rel    regclass;
    other  regclass;
    cols   jsonb;
    ocols  jsonb;
    me     record;
    r      reconcile.rule;
    okey   text;
    oamt   text;
    odate  text;
    walk   text;
    b      text;
    oid_   text;
    head   text;
    probe  text;
    scan   text;
    live   text[];
BEGIN
    IF side IS NULL OR side NOT IN ('ledger', 'statement') THEN
        RAISE EXCEPTION 'side must be ''ledger'' or ''statement'', not %', COALESCE(pg_catalog.quote_literal(side), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF n IS NULL OR n < 1 OR n > 1000 THEN
        RAISE EXCEPTION 'n must be between 1 and 1000' USING ERRCODE = '22023';
    END IF;
    IF id IS NULL THEN
        RAISE EXCEPTION 'id must not be null' USING ERRCODE = '22023';
    END IF;
    mine := side = 'ledger';
    b := CASE WHEN mine THEN 'true' ELSE 'false' END;
    rel := CASE WHEN mine THEN reg.ledger ELSE reg.statement END;
    other := CASE WHEN mine THEN reg.statement ELSE reg.ledger END;
    cols := reg.columns -> side;
    ocols := reg.columns -> CASE WHEN mine THEN 'statement' ELSE 'ledger' END;

    -- the row, as the caller reads it
    EXECUTE pg_catalog.format('SELECT x.key, x.id, x.amount, x.tx_date, x.ref FROM (%s) x WHERE x.id OPERATOR(pg_catalog.=) $1',
                              reconcile.side_sql(rel, mine, cols, false))
        INTO me USING id;
    IF me.id IS NULL THEN
        RAISE EXCEPTION 'no % row with id % in reconciliation "%"', side, pg_catalog.quote_literal(id), name
            USING ERRCODE = '42704';
    END IF;
    IF me.amount IS NULL OR me.tx_date IS NULL OR me.amount IN ('NaN', 'Infinity', '-Infinity')
       OR NOT pg_catalog.isfinite(me.tx_date) THEN
        RETURN;                         -- an invalid row has no counterpart
    END IF;
    IF EXISTS (SELECT FROM reconcile.cleared c
               WHERE c.recon_id = reg.id AND c.is_ledger = mine
                 AND reconcile.row_ident(c.key, c.id) = reconcile.row_ident(me.key, me.id)) THEN
        RAISE EXCEPTION '% row % of reconciliation "%" is already matched', side, pg_catalog.quote_literal(id), name
            USING ERRCODE = '55000', HINT = 'reconcile.unmatch releases a match.';
    END IF;
    r := reconcile.key_rule(reg.id, me.key);

    -- the other side's rows of the row's key that no run has cleared, in its own columns where
    -- an index can serve the walk
    okey := CASE WHEN ocols ? 'key' THEN reconcile.text_sql(other, ocols ->> 'key') END;
    oid_ := reconcile.text_sql(other, ocols ->> 'id');
    oamt := pg_catalog.format('o.%I', ocols ->> 'amount');
    odate := pg_catalog.format('o.%I', ocols ->> 'tx_date');
    -- a walk: at most cap rows of the other side in an index order (scan), in canonical columns
    -- (x), of which the first k that no run has cleared
    head := pg_catalog.format('SELECT x.* FROM (SELECT %s AS key, %s AS id, (%s)::numeric AS amount, (%s)::date AS tx_date, '
                              '%s AS ref FROM (',
                              COALESCE(okey, 'NULL::text'), oid_, oamt, odate,
                              CASE WHEN ocols ? 'ref' THEN pg_catalog.format('(o.%I)::text', ocols ->> 'ref') ELSE 'NULL::text' END);
    probe := pg_catalog.format(') o) x WHERE NOT EXISTS (SELECT FROM reconcile.cleared c WHERE c.recon_id OPERATOR(pg_catalog.=) %s '
                               'AND c.is_ledger OPERATOR(pg_catalog.=) %s '
                               'AND reconcile.row_ident(c.key, c.id) OPERATOR(pg_catalog.=) reconcile.row_ident(x.key, x.id)) LIMIT ',
                               reg.id, CASE WHEN mine THEN 'false' ELSE 'true' END);
    scan := pg_catalog.format('SELECT o.* FROM %s o WHERE %s AND ', other,
                              CASE WHEN okey IS NULL THEN 'true' ELSE pg_catalog.format('%s IS NOT DISTINCT FROM $1', okey) END);
    walk := '(' || head || scan || oamt || ' OPERATOR(pg_catalog.>=) $2 ORDER BY ' || oamt || ' LIMIT 200' || probe || '50) UNION '
         || '(' || head || scan || oamt || ' OPERATOR(pg_catalog.<) $2 ORDER BY ' || oamt || ' DESC LIMIT 200' || probe || '50) UNION '
         || '(' || head || scan || oamt || ' OPERATOR(pg_catalog.=) $2 AND ' || odate || ' OPERATOR(pg_catalog.>=) $3 ORDER BY '
         || odate || ' LIMIT 100' || probe || '50) UNION '
         || '(' || head || scan || oamt || ' OPERATOR(pg_catalog.=) $2 AND ' || odate || ' OPERATOR(pg_catalog.<) $3 ORDER BY '
         || odate || ' DESC LIMIT 100' || probe || '50) UNION '
         || '(' || head || scan || oamt || ' OPERATOR(pg_catalog.>=) -$2 ORDER BY ' || oamt || ' LIMIT 50' || probe || '10) UNION '
         || '(' || head || scan || oamt || ' OPERATOR(pg_catalog.<) -$2 ORDER BY ' || oamt || ' DESC LIMIT 50' || probe || '10)';
    -- the other side's rows of the key's live items, nearest in amount first: the open rows that
    -- the walks, past many cleared rows, may not reach (looked up by id: an index on it serves)
    SELECT COALESCE(pg_catalog.array_agg(x.id), '{}') INTO live
    FROM (SELECT CASE WHEN mine THEN i.statement_id ELSE i.ledger_id END AS id
          FROM reconcile.items i
          WHERE i.recon_id = reg.id AND i.status NOT IN ('cleared', 'rejected') AND i.key IS NOT DISTINCT FROM me.key
            AND CASE WHEN mine THEN i.statement_id ELSE i.ledger_id END IS NOT NULL
          ORDER BY pg_catalog.abs(CASE WHEN mine THEN i.statement_amount ELSE i.ledger_amount END - me.amount) NULLS LAST,
                   CASE WHEN mine THEN i.statement_id ELSE i.ledger_id END
          LIMIT 100) x;
    IF pg_catalog.cardinality(live) > 0 THEN
        walk := walk || ' UNION (' || head || scan || oid_ || ' OPERATOR(pg_catalog.=) ANY ($10)' || probe || '100)';
    END IF;

    RETURN QUERY EXECUTE pg_catalog.format($q$
        WITH c AS (SELECT w.*, w.amount - $2 AS diff, w.tx_date - $3 AS days,
                          COALESCE(reconcile.ref_similarity($4, w.ref), 0) AS sim
                   FROM (%1$s) w
                   WHERE w.amount IS NOT NULL AND w.tx_date IS NOT NULL AND w.amount NOT IN ('NaN', 'Infinity', '-Infinity')
                     AND pg_catalog.isfinite(w.tx_date)),
        s AS (SELECT c.*,
                     pg_catalog.round((0.5 * (1 - LEAST(1, pg_catalog.abs(pg_catalog.abs(c.amount) - pg_catalog.abs($2))
                                                          / GREATEST(pg_catalog.abs($2), 0.01) * 10))
                                           * CASE WHEN pg_catalog.sign(c.amount) = -pg_catalog.sign($2) AND $2 <> 0 THEN 0.5 ELSE 1 END
                                       + 0.3 * (1 - LEAST(1, pg_catalog.abs(c.days) / 30.0))
                                       + 0.2 * c.sim)::numeric, 4)::double precision AS score
              FROM c)
        SELECT (pg_catalog.row_number() OVER (ORDER BY s.score DESC, pg_catalog.abs(s.diff), pg_catalog.abs(s.days), s.id))::integer,
               s.id, s.amount, s.tx_date, s.ref, s.score,
               pg_catalog.concat_ws(', ',
                   CASE WHEN s.diff = 0 THEN 'same amount'
                        WHEN s.amount = -$2 THEN 'the opposite amount (a reversal?)'
                        ELSE pg_catalog.format('amount %%s %%s (%%s%%%%)%%s', pg_catalog.abs(s.diff),
                                               CASE WHEN %2$s THEN CASE WHEN s.diff < 0 THEN 'less' ELSE 'more' END
                                                    ELSE CASE WHEN s.diff < 0 THEN 'less than the statement''s' ELSE 'more than the statement''s' END END,
                                               pg_catalog.round(100 * pg_catalog.abs(s.diff) / GREATEST(pg_catalog.abs($2), 0.01), 2),
                                               CASE WHEN (%2$s AND reconcile.amount_within($2, s.amount, $5, $6))
                                                      OR (NOT %2$s AND reconcile.amount_within(s.amount, $2, $5, $6)) THEN ', within tolerance'
                                                    ELSE ', beyond tolerance' END) END,
                   CASE WHEN s.days = 0 THEN 'same day'
                        ELSE pg_catalog.format('%%s day%%s %%s%%s', pg_catalog.abs(s.days),
                                               CASE WHEN pg_catalog.abs(s.days) = 1 THEN '' ELSE 's' END,
                                               CASE WHEN s.days > 0 THEN 'later' ELSE 'earlier' END,
                                               CASE WHEN (%2$s AND s.days BETWEEN -$7 AND $8) OR (NOT %2$s AND -s.days BETWEEN -$7 AND $8)
                                                    THEN ', within the window' ELSE ', outside the window' END) END,
                   CASE WHEN s.sim = 1 THEN 'the reference matches'
                        WHEN s.sim > 0 THEN pg_catalog.format('references %%s%%%% alike', pg_catalog.round((100 * s.sim)::numeric))
                        ELSE NULL END)
        FROM s
        ORDER BY 1
        LIMIT $9
    $q$, walk, b)
    USING me.key, me.amount, me.tx_date, me.ref, r.abs_tol, r.rel_tol, r.days_before, r.days_after, n, live;
END
$$;
COMMENT ON FUNCTION reconcile.candidates(text, text, text, integer) IS
'The n likeliest counterparts, on the other side, of one row no run has cleared, among the rows no run has cleared: rank, id, amount, date, ref, a score in [0,1] and the reason in words; walks the other side in amount order from the row''s amount (use an index on its amount column), as the caller (42704 unknown name or id, 55000 a matched row, 22023 a bad side or n)';
