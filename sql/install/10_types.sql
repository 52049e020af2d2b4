/* 10_types.sql: the category enum, the rule, the result types, and the category sets */

----------------------------------------------------------------------------
-- Types
----------------------------------------------------------------------------

CREATE TYPE reconcile.category AS ENUM (
    'matched',
    'matched_within_tolerance',
    'many_to_one',
    'one_to_many',
    'manual',
    'timing_difference',
    'in_transit',
    'amount_mismatch',
    'fee_difference',
    'reversal',
    'duplicate',
    'missing_in_statement',
    'missing_in_ledger',
    'invalid'
);
COMMENT ON TYPE reconcile.category IS
'How a ledger or statement row was reconciled: matched, matched_within_tolerance, many_to_one, one_to_many, manual, timing_difference, in_transit, amount_mismatch, fee_difference, reversal, duplicate, missing_in_statement, missing_in_ledger, invalid';

CREATE TYPE reconcile.rule AS (
    abs_tol     numeric,
    rel_tol     numeric,
    days_before integer,
    days_after  integer,
    use_ref     boolean,
    as_of       date
);
COMMENT ON TYPE reconcile.rule IS
'Matching rule: absolute and relative amount tolerance, date window [date - days_before, date + days_after], whether refs are used, and the as_of date for in_transit; build it with reconcile.rule()';

CREATE TYPE reconcile.match AS (
    ledger_id    text,
    statement_id text,
    category     reconcile.category,
    amount_diff  numeric,
    days_diff    integer,
    score        double precision,
    group_id     integer,
    note         text
);
COMMENT ON TYPE reconcile.match IS
'One result of reconcile.match_agg: the ledger and statement ids paired (either may be NULL), the category, statement minus ledger amount and date, a score in [0,1] (1 = exact), the group of a many_to_one/one_to_many set, a manual set or a fee_difference payout batch, and a short reason';

CREATE TYPE reconcile.match_detail AS (
    ledger_id        text,
    statement_id     text,
    category         reconcile.category,
    amount_diff      numeric,
    days_diff        integer,
    score            double precision,
    group_id         integer,
    note             text,
    ledger_amount    numeric,
    statement_amount numeric,
    ledger_date      date,
    statement_date   date
);
COMMENT ON TYPE reconcile.match_detail IS
'reconcile.match plus the amounts and dates of both rows; the element type of reconcile.match_detail_agg, which the reconciliation views use';

----------------------------------------------------------------------------
-- Category sets
----------------------------------------------------------------------------

-- Which categories a run clears, and which need follow-up: defined here and nowhere else (the
-- views, reconcile.run and the items all use these two).  Not STRICT, so that they are inlined.
CREATE FUNCTION reconcile.clears(category reconcile.category)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT category OPERATOR(pg_catalog.=) ANY (ARRAY['matched', 'matched_within_tolerance',
                                                      'many_to_one', 'one_to_many']::reconcile.category[])
$$;
COMMENT ON FUNCTION reconcile.clears(reconcile.category) IS
'True for the categories a run clears for good: matched, matched_within_tolerance, many_to_one, one_to_many (later runs leave such rows alone)';

CREATE FUNCTION reconcile.is_discrepancy(category reconcile.category)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT NOT (reconcile.clears(category) OR category OPERATOR(pg_catalog.=) 'manual'::reconcile.category)
$$;
COMMENT ON FUNCTION reconcile.is_discrepancy(reconcile.category) IS
'True for the categories that need follow-up: every category but the four a run clears and manual (what <name>_discrepancies shows and what becomes an item)';
