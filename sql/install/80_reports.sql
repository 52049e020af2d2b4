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

CREATE FUNCTION reconcile.proof(run_id bigint)
RETURNS TABLE (key text, line integer, item text, rows bigint, amount numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH r AS (SELECT * FROM reconcile.results x WHERE x.run_id = proof.run_id),
    l AS (SELECT DISTINCT ON (r.key, r.ledger_id) r.key, r.category, r.ledger_amount AS amount
          FROM r WHERE r.ledger_id IS NOT NULL AND r.category <> 'invalid' ORDER BY r.key, r.ledger_id),
    s AS (SELECT DISTINCT ON (r.key, r.statement_id) r.key, r.category, r.statement_amount AS amount
          FROM r WHERE r.statement_id IS NOT NULL AND r.category <> 'invalid' ORDER BY r.key, r.statement_id),
    keys AS (SELECT DISTINCT r.key FROM r),
    cats AS (SELECT c.key, c.category, pg_catalog.count(*) AS n,
                    COALESCE((SELECT pg_catalog.sum(s.amount) FROM s
                              WHERE s.key IS NOT DISTINCT FROM c.key AND s.category = c.category), 0)
                  - COALESCE((SELECT pg_catalog.sum(l.amount) FROM l
                              WHERE l.key IS NOT DISTINCT FROM c.key AND l.category = c.category), 0) AS contribution
             FROM r c GROUP BY c.key, c.category),
    lines AS (
        SELECT k.key, 1 AS line, 'ledger total' AS item,
               (SELECT pg_catalog.count(*) FROM l WHERE l.key IS NOT DISTINCT FROM k.key) AS rows,
               COALESCE((SELECT pg_catalog.sum(l.amount) FROM l WHERE l.key IS NOT DISTINCT FROM k.key), 0) AS amount
        FROM keys k
        UNION ALL
        SELECT c.key, 1 + pg_catalog.row_number() OVER (PARTITION BY c.key ORDER BY c.category)::integer,
               c.category::text, c.n, c.contribution
        FROM cats c
        UNION ALL
        SELECT k.key, 2 + (SELECT pg_catalog.count(*) FROM cats c WHERE c.key IS NOT DISTINCT FROM k.key)::integer,
               'statement total',
               (SELECT pg_catalog.count(*) FROM s WHERE s.key IS NOT DISTINCT FROM k.key),
               COALESCE((SELECT pg_catalog.sum(s.amount) FROM s WHERE s.key IS NOT DISTINCT FROM k.key), 0)
        FROM keys k)
    SELECT lines.key, lines.line, lines.item, lines.rows, lines.amount FROM lines
    ORDER BY lines.key, lines.line
$$;
COMMENT ON FUNCTION reconcile.proof(bigint) IS
'The reconciliation statement of one run, per key: ledger total, each category''s contribution (its statement rows minus its ledger rows), statement total; ledger total plus the contributions equals the statement total; invalid rows are counted on their line but left out of every amount';
