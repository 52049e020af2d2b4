-- reconcile.report: the reconciliation statement of a run, in markdown and text, exactly.
-- The extension is made afresh so that run and item ids are those of this file alone; the times
-- of the run, which change each time, are masked.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION reconcile CASCADE;
CREATE EXTENSION reconcile;
RESET client_min_messages;
CREATE SCHEMA stmt;
CREATE TABLE stmt.books (doc text, amount numeric(14,2), booked date, cur text, ref text);
CREATE TABLE stmt.bank (line text, amount numeric(14,2), value_date date, cur text, memo text);
INSERT INTO stmt.books VALUES
  ('INV-1',  1200.00, '2026-10-02', 'CNY', 'INV-1'),
  ('INV-2',  5999.90, '2026-10-20', 'CNY', 'INV-2'),
  ('INV-3',   300.00, '2026-11-25', 'CNY', 'INV-3'),
  ('INV-4', 12000.00, '2026-07-01', 'CNY', 'INV-4'),
  ('INV-|5*',  80.00, '2026-11-28', 'CNY', NULL),
  ('US-1',    199.99, '2026-11-02', 'USD', 'US-1'),
  ('US-2',   1000.00, '2026-11-10', 'USD', 'US-2');
INSERT INTO stmt.bank VALUES
  ('B-1',  1200.00, '2026-10-03', 'CNY', 'TRANSFER INV-1'),
  ('B-2',  5999.00, '2026-10-21', 'CNY', 'INV-2'),
  ('B-3',  -45.50, '2026-11-30', 'CNY', 'ACCOUNT FEE'),
  ('B-4',   199.99, '2026-11-02', 'USD', 'US-1'),
  ('B-5',  2500.00, '2026-11-15', 'USD', 'UNKNOWN <wire>');
SELECT reconcile.create('stmt', 'stmt.books', 'stmt.bank', reconcile.rule(abs_tol => 0.01, days_after => 3),
         '{"ledger":    {"id": "doc", "tx_date": "booked", "key": "cur"},
           "statement": {"id": "line", "tx_date": "value_date", "ref": "memo", "key": "cur"}}');
SELECT reconcile.run('stmt', '2026-11-30') AS run \gset
SELECT reconcile.resolve(item_id, 'bank charge', 'November account fee', account => '6600 Bank charges')
FROM reconcile.items WHERE statement_id = 'B-3';

-- the report as reconcile.proof says, with the times masked
CREATE FUNCTION pg_temp.masked(t text) RETURNS text LANGUAGE sql AS $$
    SELECT regexp_replace(t, '\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC', 'YYYY-MM-DD HH:MM:SS UTC', 'g')
$$;
SELECT key, line, item, rows, amount FROM reconcile.proof(:run) ORDER BY key, line;
\pset format unaligned
\pset tuples_only on
SELECT pg_temp.masked(reconcile.report(:run, 'markdown'));
SELECT pg_temp.masked(reconcile.report(:run, 'text'));
\pset tuples_only off
\pset format aligned

-- the html's outline: its tags in order (the values escaped, so none of them a tag)
SELECT string_agg(m[1], ' ' ORDER BY n) AS tags
FROM regexp_matches(reconcile.report(:run, 'html'), '<(/?[a-z0-9]+)', 'g') WITH ORDINALITY AS t(m, n)
WHERE m[1] NOT IN ('tr', '/tr', 'td', '/td', 'th', '/th', 'text', '/text', 'rect', 'p', '/p', 'meta');
SELECT reconcile.report(:run) = reconcile.report(:run, 'html') AS html_by_default,
       length(reconcile.report(:run)) > 5000 AS long_enough;

-- the errors
SELECT reconcile.report(0);
SELECT reconcile.report(:run, 'pdf');
SELECT reconcile.report(NULL) IS NULL AS null_run, reconcile.report(:run, NULL) IS NULL AS null_format;

SELECT reconcile.drop('stmt');
DROP SCHEMA stmt CASCADE;
