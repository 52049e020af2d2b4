-- Incremental runs (SPEC 5a): with a seq column mapped, a run reads the rows past the previous
-- run's mark and the ones still open, and finds exactly what a run that reads everything finds.
-- An oracle: two reconciliations of the same tables, one with seq and one without, run side by
-- side over days of new rows, discrepancies, manual matches and an unmatch; then what seq
-- promises and what it does not (a row committed late below the mark, seen with full => true),
-- a run narrowed by row level security, the marks, and each bad mapping's SQLSTATE.
BEGIN;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT plan(41);

CREATE SCHEMA sq;
CREATE TABLE sq.ledger (id bigserial PRIMARY KEY, key text, amount numeric(12,2), tx_date date, ref text);
CREATE TABLE sq.bank (id bigserial PRIMARY KEY, key text, amount numeric(12,2), tx_date date, memo text,
                      changed timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE INDEX ON sq.bank (changed);
SELECT reconcile.create('sq_inc', 'sq.ledger', 'sq.bank', reconcile.rule(abs_tol => 0.01, days_after => 3),
                        '{"ledger": {"seq": "id"}, "statement": {"ref": "memo", "seq": "changed"}}');
SELECT reconcile.create('sq_all', 'sq.ledger', 'sq.bank', reconcile.rule(abs_tol => 0.01, days_after => 3),
                        '{"statement": {"ref": "memo"}}');

-- a day: n pairs, every 7th bank line 5.00 short, every 11th ledger row without its bank line,
-- one bank fee nobody booked
CREATE FUNCTION pg_temp.day(d int, n int) RETURNS void LANGUAGE sql AS $$
    INSERT INTO sq.ledger (key, amount, tx_date, ref)
    SELECT CASE WHEN i % 3 = 0 THEN 'USD' ELSE 'CNY' END, 10 + i + d * 0.01, date '2026-03-01' + d,
           'INV-' || d || '-' || i
    FROM generate_series(1, n) i;
    INSERT INTO sq.bank (key, amount, tx_date, memo)
    SELECT CASE WHEN i % 3 = 0 THEN 'USD' ELSE 'CNY' END,
           10 + i + d * 0.01 - CASE WHEN i % 7 = 0 THEN 5 ELSE 0 END, date '2026-03-01' + d + i % 3,
           'PAY INV-' || d || '-' || i
    FROM generate_series(1, n) i WHERE i % 11 <> 0;
    INSERT INTO sq.bank (key, amount, tx_date, memo) VALUES ('CNY', -2.50, date '2026-03-01' + d, 'FEE');
$$;

-- what a reconciliation holds: its live items, its cleared rows, the results of its last run
CREATE FUNCTION pg_temp.state(name text) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(E'\n',
        (SELECT string_agg(concat_ws('/', i.key, i.ledger_id, i.statement_id, i.category, i.status), ' '
                           ORDER BY i.key, i.ledger_id, i.statement_id, i.category, i.status)
         FROM reconcile.items i WHERE i.name = $1 AND i.status <> 'cleared'),
        (SELECT string_agg(concat_ws('/', c.is_ledger, c.key, c.id, c.category), ' '
                           ORDER BY c.is_ledger, c.key, c.id, c.category)
         FROM reconcile.cleared c WHERE c.name = $1),
        (SELECT string_agg(concat_ws('/', x.key, x.ledger_id, x.statement_id, x.category, x.amount_diff, x.days_diff), ' '
                           ORDER BY x.key, x.ledger_id, x.statement_id, x.category)
         FROM reconcile.results x
         WHERE x.run_id = (SELECT max(u.run_id) FROM reconcile.runs u WHERE u.name = $1)))
$$;
CREATE FUNCTION pg_temp.held(name text) RETURNS text LANGUAGE sql AS $$
    SELECT split_part(pg_temp.state($1), E'\n', 1) || E'\n' || split_part(pg_temp.state($1), E'\n', 2)
$$;
CREATE FUNCTION pg_temp.both(as_of date) RETURNS void LANGUAGE sql AS $$
    SELECT reconcile.run('sq_inc', as_of);
    SELECT reconcile.run('sq_all', as_of);
$$;

-- day 1: the first runs read everything
SELECT pg_temp.day(1, 60);
SELECT pg_temp.both('2026-03-10');
SELECT is(pg_temp.state('sq_inc'), pg_temp.state('sq_all'), 'day 1: the first run with seq finds what a run without it finds');
SELECT is((SELECT ledger_mark FROM reconcile.runs WHERE name = 'sq_inc' ORDER BY run_id DESC LIMIT 1),
          (SELECT max(id)::text FROM sq.ledger), 'the run records the ledger''s greatest seq as its mark');
SELECT is((SELECT statement_mark::timestamptz FROM reconcile.runs WHERE name = 'sq_inc' ORDER BY run_id DESC LIMIT 1),
          (SELECT max(changed) FROM sq.bank), 'and the statement''s, a timestamptz, exactly');
SELECT is((SELECT ledger_mark FROM reconcile.runs WHERE name = 'sq_all' ORDER BY run_id DESC LIMIT 1), NULL,
          'a reconciliation without seq records no mark');

-- day 2: new rows; the open rows of day 1 are read again, the cleared ones are not (counted in
-- the ledger's tuples fetched in this transaction, with the planner kept off sequential scans,
-- which it prefers on tables this small)
CREATE FUNCTION pg_temp.fetched() RETURNS bigint LANGUAGE sql AS $$
    SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables
    WHERE relid = 'sq.ledger'::regclass
$$;
SELECT pg_temp.day(2, 60);
SET LOCAL enable_seqscan = off;
CREATE TEMP TABLE f AS SELECT pg_temp.fetched() AS f0;
SELECT reconcile.run('sq_inc', '2026-03-10');
ALTER TABLE f ADD COLUMN f1 bigint;
UPDATE f SET f1 = pg_temp.fetched();
SELECT reconcile.run('sq_all', '2026-03-10');
RESET enable_seqscan;
SELECT is(pg_temp.state('sq_inc'), pg_temp.state('sq_all'), 'day 2: the same items, cleared rows and results');
SELECT cmp_ok((SELECT f1 - f0 FROM f), '<=', 60 + (SELECT count(*) FROM reconcile.items i WHERE i.name = 'sq_inc'
                                                    AND i.first_run_id < i.last_run_id AND i.ledger_id IS NOT NULL)::bigint + 1,
              'day 2: the run with seq fetched the new ledger rows, the open ones and its mark, no more');
SELECT cmp_ok((SELECT pg_temp.fetched() - f1 FROM f), '>=', 120::bigint, 'the run without seq fetched them all');

-- day 3: a manual match of two open rows of day 1 (the 7th pair, 5.00 short), a resolved item
SELECT reconcile.manual_match(r, ARRAY[(SELECT id::text FROM sq.ledger WHERE ref = 'INV-1-7')],
                              ARRAY[(SELECT id::text FROM sq.bank WHERE memo = 'PAY INV-1-7')], 'short-paid, agreed')
FROM unnest(ARRAY['sq_inc', 'sq_all']) r;
SELECT reconcile.resolve(i.item_id, 'bank fee booked')
FROM reconcile.items i WHERE i.name IN ('sq_inc', 'sq_all') AND i.status = 'open' AND i.statement_id IS NOT NULL
  AND i.ledger_id IS NULL AND i.statement_id = (SELECT min(id)::text FROM sq.bank WHERE memo = 'FEE');
SELECT pg_temp.day(3, 30);
SELECT pg_temp.both('2026-03-10');
SELECT is(pg_temp.state('sq_inc'), pg_temp.state('sq_all'), 'day 3: a manual match of old rows is reported, a resolved item kept');
SELECT is((SELECT count(*) FROM reconcile.results x
           WHERE x.run_id = (SELECT max(run_id) FROM reconcile.runs WHERE name = 'sq_inc') AND x.category = 'manual'),
          1::bigint, 'the manual match of two rows before the mark is in the next run''s results');

-- day 4: unmatch a pair cleared on day 1: its rows are before the mark and read again
SELECT reconcile.unmatch(r, (SELECT id::text FROM sq.ledger WHERE ref = 'INV-1-1')) FROM unnest(ARRAY['sq_inc', 'sq_all']) r;
SELECT is((SELECT count(*) FROM reconcile.released r JOIN reconcile.reconciliations g ON g.id = r.recon_id
           WHERE g.name = 'sq_inc'), 2::bigint, 'unmatch lists the two rows it released');
SELECT pg_temp.day(4, 10);
SELECT pg_temp.both('2026-03-10');
SELECT is(pg_temp.state('sq_inc'), pg_temp.state('sq_all'), 'day 4: the rows unmatch released are matched again');
SELECT ok((SELECT ledger_id IS NOT NULL FROM reconcile.results x
           WHERE x.run_id = (SELECT max(run_id) FROM reconcile.runs WHERE name = 'sq_inc')
             AND x.ledger_id = (SELECT id::text FROM sq.ledger WHERE ref = 'INV-1-1')),
          'the released ledger row is in that run''s results');
SELECT is((SELECT count(*) FROM reconcile.released r JOIN reconcile.reconciliations g ON g.id = r.recon_id
           WHERE g.name = 'sq_inc'), 0::bigint, 'and no longer listed');

-- day 5: a row changed while open (its seq advances) and one that is cleared (ignored by both)
UPDATE sq.bank SET amount = amount + 5, changed = clock_timestamp() WHERE memo = 'PAY INV-2-14';
UPDATE sq.bank SET amount = amount + 1, changed = clock_timestamp() WHERE memo = 'PAY INV-2-1';
SELECT pg_temp.both('2026-03-10');
SELECT is(pg_temp.state('sq_inc'), pg_temp.state('sq_all'), 'day 5: an open row changed and a cleared one changed');
SELECT ok(NOT EXISTS (SELECT FROM reconcile.items i WHERE i.name = 'sq_inc' AND i.status <> 'cleared'
                      AND i.statement_id = (SELECT id::text FROM sq.bank WHERE memo = 'PAY INV-2-14')),
          'the open row corrected by its update is matched');

-- a resolved item whose ledger row then matches a new bank line: the item opens again with that row
-- cleared, and a run from the mark must not read the row again (reconcile.skipped)
SELECT reconcile.resolve(i.item_id, 'customer paid 5.00 short')
FROM reconcile.items i WHERE i.name IN ('sq_inc', 'sq_all') AND i.status = 'open'
  AND i.ledger_id = (SELECT id::text FROM sq.ledger WHERE ref = 'INV-2-21');
INSERT INTO sq.bank (key, amount, tx_date, memo)
SELECT key, amount, tx_date, 'PAY INV-2-21 again' FROM sq.ledger WHERE ref = 'INV-2-21';
SELECT pg_temp.both('2026-03-10');
SELECT is(pg_temp.state('sq_inc'), pg_temp.state('sq_all'), 'a resolved item''s row matched elsewhere: the item opens again');
SELECT ok(EXISTS (SELECT FROM reconcile.skipped k JOIN reconcile.reconciliations g ON g.id = k.recon_id
                  WHERE g.name = 'sq_inc' AND k.is_ledger AND k.id = (SELECT id::text FROM sq.ledger WHERE ref = 'INV-2-21')),
          'and its cleared row is listed as one to skip');
SELECT pg_temp.both('2026-03-10');
SELECT is(pg_temp.state('sq_inc'), pg_temp.state('sq_all'), 'the next run from the mark skips it');

-- a run with nothing new reads the open rows and finds what a full read finds
SELECT pg_temp.both('2026-03-10');
SELECT is((SELECT ledger_rows + statement_rows FROM reconcile.runs WHERE name = 'sq_inc' ORDER BY run_id DESC LIMIT 1),
          (SELECT ledger_rows + statement_rows FROM reconcile.runs WHERE name = 'sq_all' ORDER BY run_id DESC LIMIT 1),
          'with nothing new, a run from the mark reads as many rows as one that reads everything');
SELECT is(pg_temp.state('sq_inc'), pg_temp.state('sq_all'), 'and finds what it finds');

-- what seq does not promise: a row committed with a seq below the mark (a late transaction)
INSERT INTO sq.ledger (id, key, amount, tx_date, ref) VALUES (1000000, 'CNY', 77.77, '2026-03-09', 'INV-LATE-A');
SELECT pg_temp.both('2026-03-10');
INSERT INTO sq.ledger (id, key, amount, tx_date, ref) VALUES (999999, 'CNY', 88.88, '2026-03-09', 'INV-LATE-B');
SELECT pg_temp.both('2026-03-10');
SELECT ok(NOT EXISTS (SELECT FROM reconcile.items i WHERE i.name = 'sq_inc' AND i.ledger_id = '999999')
          AND EXISTS (SELECT FROM reconcile.items i WHERE i.name = 'sq_all' AND i.ledger_id = '999999'),
          'a row below the mark that was not there at the last run is not seen by a run from the mark');
SELECT ok(reconcile.run('sq_inc', '2026-03-10', full => true) > 0, 'run(..., full => true)');
SELECT ok(EXISTS (SELECT FROM reconcile.items i WHERE i.name = 'sq_inc' AND i.ledger_id = '999999'
                  AND i.status = 'open' AND i.category = 'in_transit'),
          'full => true reads everything and finds it');
SELECT is((SELECT ledger_mark FROM reconcile.runs WHERE name = 'sq_inc' ORDER BY run_id DESC LIMIT 1), '1000000',
          'and records the mark again');
-- the sequence past the ids given by hand, as an application would keep it
SELECT setval('sq.ledger_id_seq', 2000000);

-- one side only: the ledger from its mark, the bank whole (beside a twin without seq made at once)
SELECT reconcile.create('sq_one', 'sq.ledger', 'sq.bank', reconcile.rule(abs_tol => 0.01, days_after => 3),
                        '{"ledger": {"seq": "id"}, "statement": {"ref": "memo"}}');
SELECT reconcile.create('sq_two', 'sq.ledger', 'sq.bank', reconcile.rule(abs_tol => 0.01, days_after => 3),
                        '{"statement": {"ref": "memo"}}');
SELECT reconcile.run(r, '2026-03-10') FROM unnest(ARRAY['sq_one', 'sq_two']) r;
SELECT pg_temp.day(6, 20);
SELECT reconcile.run(r, '2026-03-10') FROM unnest(ARRAY['sq_one', 'sq_two']) r;
SELECT is(pg_temp.state('sq_one'), pg_temp.state('sq_two'),
          'seq on one side: that side from its mark, the other whole, the same outcome');
SELECT is((SELECT array[ledger_mark IS NOT NULL, statement_mark IS NULL] FROM reconcile.runs WHERE name = 'sq_one'
           ORDER BY run_id DESC LIMIT 1), array[true, true], 'a mark for the side with seq only');

-- a run that row level security narrows reads what it can see and keeps the mark it was given
CREATE ROLE sq_clerk;
GRANT USAGE ON SCHEMA sq TO sq_clerk;
GRANT SELECT ON sq.ledger, sq.bank TO sq_clerk;
ALTER TABLE sq.bank ENABLE ROW LEVEL SECURITY;
CREATE POLICY cny ON sq.bank FOR SELECT TO sq_clerk USING (key = 'CNY');
SELECT pg_temp.day(7, 10);
SET LOCAL ROLE sq_clerk;
SELECT ok(reconcile.run('sq_inc', '2026-03-10') > 0, 'a clerk narrowed by row level security runs it');
RESET ROLE;
SELECT is((SELECT array[ledger_mark, statement_mark] FROM reconcile.runs WHERE name = 'sq_inc' ORDER BY run_id DESC LIMIT 1),
          (SELECT array[ledger_mark, statement_mark] FROM reconcile.runs WHERE name = 'sq_inc' ORDER BY run_id DESC LIMIT 1 OFFSET 1),
          'the narrowed run keeps the marks it was given');
SELECT pg_temp.both('2026-03-10');
SELECT is(pg_temp.held('sq_inc'), pg_temp.held('sq_all'),
          'the next full-sight run still reads the rows the clerk could not see (the same items and cleared rows; the clerk''s run cleared some of them earlier)');
ALTER TABLE sq.bank DISABLE ROW LEVEL SECURITY;

-- a hostile view as a source: its function runs in the mark's read and in the rows', as the caller
-- (a member of the role granted the sources), never as the extension's owner; an outsider cannot run
CREATE ROLE sq_reader;
CREATE ROLE sq_member IN ROLE sq_reader;
CREATE ROLE sq_outsider;
CREATE TABLE sq.spy (who name);
CREATE FUNCTION sq.spy_seq(t timestamptz) RETURNS timestamptz LANGUAGE plpgsql VOLATILE AS $$
BEGIN INSERT INTO sq.spy VALUES (current_user); RETURN t; END $$;
CREATE VIEW sq.bank_v WITH (security_invoker = true) AS
    SELECT id, key, amount, tx_date, memo, sq.spy_seq(changed) AS changed FROM sq.bank;
GRANT USAGE ON SCHEMA sq TO sq_reader, sq_outsider;
GRANT SELECT ON sq.ledger, sq.bank, sq.bank_v TO sq_reader;
GRANT INSERT ON sq.spy TO sq_reader;
SELECT reconcile.create('sq_view', 'sq.ledger', 'sq.bank_v', reconcile.rule(abs_tol => 0.01, days_after => 3),
                        '{"ledger": {"seq": "id"}, "statement": {"ref": "memo", "seq": "changed"}}');
SET LOCAL ROLE sq_member;
SELECT ok(reconcile.run('sq_view', '2026-03-10') > 0, 'a member of the role granted the sources runs a reconciliation with seq over a view');
SELECT ok(reconcile.run('sq_view', '2026-03-10') > 0, 'and again, from the mark');
RESET ROLE;
SELECT is((SELECT array_agg(DISTINCT who) FROM sq.spy), ARRAY['sq_member']::name[],
          'the view''s function ran as the caller only, in the mark''s read and the rows''');
SELECT is((SELECT statement_mark FROM reconcile.runs WHERE name = 'sq_view' ORDER BY run_id DESC LIMIT 1), NULL,
          'a view that calls a function may depend on who reads it: the run reads it whole and records no mark of it');

-- a hostile ordering as a seq: a type whose btree comparison is the attacker's function runs in the
-- mark's read and the rows' comparisons with the mark, as the caller only
CREATE TYPE sq.stamp AS (t bigint);
CREATE FUNCTION sq.stamp_cmp(a sq.stamp, b sq.stamp) RETURNS int LANGUAGE plpgsql AS $$
BEGIN INSERT INTO sq.spy VALUES (current_user); RETURN CASE WHEN a.t < b.t THEN -1 WHEN a.t > b.t THEN 1 ELSE 0 END; END $$;
CREATE FUNCTION sq.stamp_lt(a sq.stamp, b sq.stamp) RETURNS boolean LANGUAGE sql AS 'SELECT sq.stamp_cmp(a, b) < 0';
CREATE FUNCTION sq.stamp_le(a sq.stamp, b sq.stamp) RETURNS boolean LANGUAGE sql AS 'SELECT sq.stamp_cmp(a, b) <= 0';
CREATE FUNCTION sq.stamp_eq(a sq.stamp, b sq.stamp) RETURNS boolean LANGUAGE sql AS 'SELECT sq.stamp_cmp(a, b) = 0';
CREATE FUNCTION sq.stamp_ge(a sq.stamp, b sq.stamp) RETURNS boolean LANGUAGE sql AS 'SELECT sq.stamp_cmp(a, b) >= 0';
CREATE FUNCTION sq.stamp_gt(a sq.stamp, b sq.stamp) RETURNS boolean LANGUAGE sql AS 'SELECT sq.stamp_cmp(a, b) > 0';
CREATE OPERATOR sq.< (LEFTARG = sq.stamp, RIGHTARG = sq.stamp, FUNCTION = sq.stamp_lt);
CREATE OPERATOR sq.<= (LEFTARG = sq.stamp, RIGHTARG = sq.stamp, FUNCTION = sq.stamp_le);
CREATE OPERATOR sq.= (LEFTARG = sq.stamp, RIGHTARG = sq.stamp, FUNCTION = sq.stamp_eq);
CREATE OPERATOR sq.>= (LEFTARG = sq.stamp, RIGHTARG = sq.stamp, FUNCTION = sq.stamp_ge);
CREATE OPERATOR sq.> (LEFTARG = sq.stamp, RIGHTARG = sq.stamp, FUNCTION = sq.stamp_gt);
CREATE OPERATOR CLASS sq.stamp_ops DEFAULT FOR TYPE sq.stamp USING btree AS
    OPERATOR 1 sq.<, OPERATOR 2 sq.<=, OPERATOR 3 sq.=, OPERATOR 4 sq.>=, OPERATOR 5 sq.>,
    FUNCTION 1 sq.stamp_cmp(sq.stamp, sq.stamp);
CREATE TABLE sq.hl (id int PRIMARY KEY, amount numeric, tx_date date, s sq.stamp);
CREATE TABLE sq.hs (id int PRIMARY KEY, amount numeric, tx_date date, s sq.stamp);
INSERT INTO sq.hl SELECT i, i, '2026-03-01', ROW(i)::sq.stamp FROM generate_series(1, 5) i;
INSERT INTO sq.hs SELECT i, i, '2026-03-01', ROW(i)::sq.stamp FROM generate_series(1, 4) i;
GRANT SELECT ON sq.hl, sq.hs TO sq_reader;
SELECT reconcile.create('sq_type', 'sq.hl', 'sq.hs', reconcile.rule(), '{"ledger": {"seq": "s"}, "statement": {"seq": "s"}}');
TRUNCATE sq.spy;
SET LOCAL ROLE sq_member;
SELECT reconcile.run('sq_type', '2026-03-10');
RESET ROLE;
INSERT INTO sq.hs VALUES (5, 5, '2026-03-01', ROW(5));
SET LOCAL ROLE sq_member;
SELECT reconcile.run('sq_type', '2026-03-10');
RESET ROLE;
SELECT is((SELECT array[ledger_mark, statement_mark] FROM reconcile.runs WHERE name = 'sq_type' ORDER BY run_id DESC LIMIT 1),
          ARRAY['(5)', '(5)'], 'a seq of a type with the attacker''s ordering: marks by that ordering');
SELECT is((SELECT counts FROM reconcile.runs WHERE name = 'sq_type' ORDER BY run_id DESC LIMIT 1),
          '{"matched": 1}'::jsonb, 'the second run read from the mark and paired the new bank line with the open ledger row');
SELECT is((SELECT array_agg(DISTINCT who) FROM sq.spy), ARRAY['sq_member']::name[],
          'and the ordering''s function ran as the caller only');
SET LOCAL ROLE sq_outsider;
SELECT throws_ok($$SELECT reconcile.run('sq_view', '2026-03-10')$$, '42501', NULL, 'an outsider cannot run it: 42501');
RESET ROLE;

-- bad mappings and arguments
SELECT throws_ok($$SELECT reconcile.create('sq_bad1', 'sq.ledger', 'sq.bank', reconcile.rule(), '{"ledger": {"seq": "nope"}}')$$,
                 '42703', NULL, 'a seq mapped to a column that does not exist: 42703');
CREATE TABLE sq.j (id int, amount numeric, tx_date date, v json);
SELECT throws_ok($$SELECT reconcile.create('sq_bad2', 'sq.j', 'sq.j', reconcile.rule(), '{"ledger": {"seq": "v"}}')$$,
                 '42804', 'column "v" of relation sq.j cannot be the ledger seq column', 'a seq of a type without ordering: 42804');
SELECT throws_ok($$SELECT reconcile.create('sq_bad3', 'sq.ledger', 'sq.bank', reconcile.rule(), '{"ledger": {"seq": 1}}')$$,
                 '22023', NULL, 'a seq mapping that is not a string: 22023');
SELECT throws_ok($$SELECT reconcile.run('sq_inc', '2026-03-10', NULL)$$, '22023', '"full" must not be null',
                 'full => NULL: 22023');

SELECT * FROM finish();
ROLLBACK;
