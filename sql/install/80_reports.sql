/* 80_reports.sql: open items with their aging, the summary per run, the reconciliation statement */

----------------------------------------------------------------------------
-- Views and the reconciliation statement
----------------------------------------------------------------------------

CREATE VIEW reconcile.open_items WITH (security_invoker = true) AS
SELECT i.item_id, i.name, i.key, i.ledger_id, i.statement_id, i.category, i.amount_diff,
       i.ledger_amount, i.statement_amount, i.ledger_date, i.statement_date, i.status,
       i.assignee, i.resolution, i.note, i.resolved_by, i.resolved_at,
       i.first_run_id, i.last_run_id,
       a.days AS age_days,
       CASE WHEN a.days <= 7 THEN '0-7'
            WHEN a.days <= 30 THEN '8-30'
            WHEN a.days <= 90 THEN '31-90'
            WHEN a.days > 90 THEN '90+'
       END AS aging_bucket,
       i.score, i.reason, i.group_tag
FROM reconcile.items i
LEFT JOIN LATERAL (SELECT ru.as_of FROM reconcile.runs ru WHERE ru.recon_id = i.recon_id
                   ORDER BY ru.run_id DESC LIMIT 1) r ON true
CROSS JOIN LATERAL (SELECT CASE WHEN pg_catalog.isfinite(LEAST(i.ledger_date, i.statement_date))
                                THEN (r.as_of - LEAST(i.ledger_date, i.statement_date))::integer END AS days) a
WHERE i.status IN ('open', 'resolved', 'suggested');
COMMENT ON VIEW reconcile.open_items IS
'Items still to be handled (open, resolved but not approved, or (0.6.0) suggested: a match held for review), with age_days from the older row''s date to the latest run''s as_of, aging_bucket 0-7, 8-30, 31-90, 90+, and the score, note (reason) and group of what the latest run found';

CREATE VIEW reconcile.run_summary WITH (security_invoker = true) AS
SELECT run_id, name, key, category, pg_catalog.sum(n)::bigint AS rows, pg_catalog.sum(la) AS ledger_amount,
       pg_catalog.sum(sa) AS statement_amount, pg_catalog.sum(ad) AS amount_diff
FROM (SELECT run_id, name, key, category, group_id, pg_catalog.count(*) AS n,
             CASE WHEN category = 'one_to_many' THEN pg_catalog.max(ledger_amount)
                  ELSE pg_catalog.sum(ledger_amount) END AS la,
             CASE WHEN category = 'many_to_one' THEN pg_catalog.max(statement_amount)
                  ELSE pg_catalog.sum(statement_amount) END AS sa,
             pg_catalog.sum(amount_diff) AS ad
      FROM reconcile.results GROUP BY run_id, name, key, category, group_id) x
GROUP BY run_id, name, key, category;
GRANT SELECT ON reconcile.open_items, reconcile.run_summary TO PUBLIC;
COMMENT ON COLUMN reconcile.open_items.age_days IS 'Days from the older row''s date to the as_of of the reconciliation''s latest run (NULL for an infinite date)';
COMMENT ON COLUMN reconcile.open_items.aging_bucket IS '0-7, 8-30, 31-90 or 90+ (from age_days)';
COMMENT ON COLUMN reconcile.open_items.score IS 'The score of what the latest run found (a suggested match: below review_below)';
COMMENT ON COLUMN reconcile.open_items.reason IS 'The note of what the latest run found';
COMMENT ON COLUMN reconcile.open_items.group_tag IS 'Shared by the items of one group, accepted or rejected whole';
COMMENT ON COLUMN reconcile.run_summary.rows IS 'Result rows of the run in this key and category';
COMMENT ON COLUMN reconcile.run_summary.ledger_amount IS 'Sum of the ledger amounts, a one_to_many group''s ledger row once';
COMMENT ON COLUMN reconcile.run_summary.statement_amount IS 'Sum of the statement amounts, a many_to_one group''s statement row once';
COMMENT ON COLUMN reconcile.run_summary.amount_diff IS 'Sum of amount_diff (statement minus ledger)';
COMMENT ON VIEW reconcile.run_summary IS
'Per run, key and category: result rows, ledger amount, statement amount and difference (a group''s single row counted once)';

-- What each category of a run holds, per key: its rows, and its ledger and statement rows counted
-- once each (a group's shared row once; a row whose category is invalid counted on its line but
-- in no amount, and among the rows read).  A row is on one line of its run but the one row of a
-- group (SPEC 3), so only the lines of groups are looked at row by row (the row on its first
-- line by category); every other line is counted as it is, by hashing: a run of 10,000 keys, or of
-- 2,000,000 lines, costs a pass over its lines (the key NULL apart from '').
CREATE FUNCTION reconcile.run_sides(run_id bigint)
RETURNS TABLE (key text, category reconcile.category, rows bigint, ledger_rows bigint, ledger_amount numeric,
               statement_rows bigint, statement_amount numeric, ledger_read bigint, statement_read bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH r AS MATERIALIZED (
        SELECT x.key, x.category, x.ledger_id, x.statement_id, x.ledger_amount, x.statement_amount, x.group_id
        FROM reconcile.results x WHERE x.run_id = run_sides.run_id),
    -- the lines of no group: each row on them once
    c AS (SELECT r.key, r.category, pg_catalog.count(*) AS n,
                 pg_catalog.count(r.ledger_id) FILTER (WHERE r.group_id IS NULL AND r.category <> 'invalid') AS ln,
                 pg_catalog.sum(r.ledger_amount) FILTER (WHERE r.group_id IS NULL AND r.ledger_id IS NOT NULL
                                                         AND r.category <> 'invalid') AS la,
                 pg_catalog.count(r.ledger_id) FILTER (WHERE r.group_id IS NULL) AS lr,
                 pg_catalog.count(r.statement_id) FILTER (WHERE r.group_id IS NULL AND r.category <> 'invalid') AS sn,
                 pg_catalog.sum(r.statement_amount) FILTER (WHERE r.group_id IS NULL AND r.statement_id IS NOT NULL
                                                            AND r.category <> 'invalid') AS sa,
                 pg_catalog.count(r.statement_id) FILTER (WHERE r.group_id IS NULL) AS sr
          FROM r GROUP BY r.key, r.category),
    -- the lines of groups: each row once, on its first line by category
    l AS (SELECT DISTINCT ON (r.key, r.ledger_id) r.key, r.category, r.ledger_amount AS amount
          FROM r WHERE r.ledger_id IS NOT NULL AND r.group_id IS NOT NULL
          ORDER BY r.key, r.ledger_id, r.category),
    s AS (SELECT DISTINCT ON (r.key, r.statement_id) r.key, r.category, r.statement_amount AS amount
          FROM r WHERE r.statement_id IS NOT NULL AND r.group_id IS NOT NULL
          ORDER BY r.key, r.statement_id, r.category),
    d AS (SELECT l.key, l.category, true AS is_ledger, pg_catalog.count(*) FILTER (WHERE l.category <> 'invalid') AS n,
                 pg_catalog.sum(l.amount) FILTER (WHERE l.category <> 'invalid') AS amount, pg_catalog.count(*) AS n_read
          FROM l GROUP BY l.key, l.category
          UNION ALL
          SELECT s.key, s.category, false, pg_catalog.count(*) FILTER (WHERE s.category <> 'invalid'),
                 pg_catalog.sum(s.amount) FILTER (WHERE s.category <> 'invalid'), pg_catalog.count(*)
          FROM s GROUP BY s.key, s.category)
    SELECT c.key, c.category, c.n,
           (c.ln + COALESCE(pg_catalog.sum(d.n) FILTER (WHERE d.is_ledger), 0))::bigint,
           COALESCE(c.la, 0) + COALESCE(pg_catalog.sum(d.amount) FILTER (WHERE d.is_ledger), 0),
           (c.sn + COALESCE(pg_catalog.sum(d.n) FILTER (WHERE NOT d.is_ledger), 0))::bigint,
           COALESCE(c.sa, 0) + COALESCE(pg_catalog.sum(d.amount) FILTER (WHERE NOT d.is_ledger), 0),
           (c.lr + COALESCE(pg_catalog.sum(d.n_read) FILTER (WHERE d.is_ledger), 0))::bigint,
           (c.sr + COALESCE(pg_catalog.sum(d.n_read) FILTER (WHERE NOT d.is_ledger), 0))::bigint
    FROM c
    LEFT JOIN d ON (d.key IS NULL) = (c.key IS NULL) AND COALESCE(d.key, '') = COALESCE(c.key, '')
               AND d.category = c.category
    GROUP BY c.key, c.category, c.n, c.ln, c.la, c.lr, c.sn, c.sa, c.sr
$$;
COMMENT ON FUNCTION reconcile.run_sides(bigint) IS
'Internal (reconcile.proof, reconcile.report): per key and category of one run, its result rows and its ledger and statement rows and amounts, each row once, invalid rows in no amount; and the rows read, invalid ones too';

CREATE FUNCTION reconcile.proof(run_id bigint)
RETURNS TABLE (key text, line integer, item text, rows bigint, amount numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH p AS MATERIALIZED (SELECT * FROM reconcile.run_sides(proof.run_id))
    SELECT q.key, q.line, q.item, q.rows, q.amount FROM (
        SELECT p.key, 1 AS line, 'ledger total' AS item, pg_catalog.sum(p.ledger_rows)::bigint AS rows,
               pg_catalog.sum(p.ledger_amount) AS amount
        FROM p GROUP BY p.key
        UNION ALL
        SELECT p.key, 1 + pg_catalog.row_number() OVER (PARTITION BY p.key ORDER BY p.category)::integer,
               p.category::text, p.rows, p.statement_amount - p.ledger_amount
        FROM p
        UNION ALL
        SELECT p.key, 2 + pg_catalog.count(*)::integer, 'statement total', pg_catalog.sum(p.statement_rows)::bigint,
               pg_catalog.sum(p.statement_amount)
        FROM p GROUP BY p.key) q
    ORDER BY q.key, q.line
$$;
COMMENT ON FUNCTION reconcile.proof(bigint) IS
'The reconciliation statement of one run, per key: ledger total, each category''s contribution (its statement rows minus its ledger rows), statement total; ledger total plus the contributions equals the statement total; invalid rows are counted on their line but left out of every amount';
