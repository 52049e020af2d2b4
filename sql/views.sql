-- reconcile.create / reconcile.drop and the three views
\set VERBOSITY terse
CREATE SCHEMA shop;
CREATE TABLE shop.orders (order_no text, net_amount numeric(12,2), paid_on date,
                          payout_id text, currency text);
CREATE TABLE shop.bank (line_id integer, amount numeric(12,2), value_date date, memo text,
                        currency text);
INSERT INTO shop.orders VALUES
  ('A-1001', 120.00, '2026-11-02', NULL, 'CNY'),
  ('A-1002',  59.90, '2026-11-02', NULL, 'CNY'),
  ('A-1003',  30.00, '2026-11-03', 'P-77', 'CNY'),
  ('A-1004',  45.00, '2026-11-03', 'P-77', 'CNY'),
  ('A-1005',  25.00, '2026-11-03', 'P-77', 'CNY'),
  ('A-1006',  80.00, '2026-11-03', NULL, 'CNY'),
  ('U-1',     19.99, '2026-11-02', NULL, 'USD');
INSERT INTO shop.bank VALUES
  (1, 120.00, '2026-11-03', 'TRANSFER A-1001', 'CNY'),
  (2,  59.91, '2026-11-04', 'SETTLEMENT', 'CNY'),
  (3, 100.00, '2026-11-05', 'PAYOUT P-77', 'CNY'),
  (4,  -4.50, '2026-11-05', 'BANK FEE NOV', 'CNY'),
  (5,  19.99, '2026-11-02', 'U-1', 'USD'),
  (6,  19.99, '2026-11-02', 'U-1', 'USD');

SET search_path = shop, public;
SELECT reconcile.create('shop', 'shop.orders', 'shop.bank',
         reconcile.rule(abs_tol => 0.01, days_after => 3),
         '{"ledger":    {"id": "order_no", "amount": "net_amount", "tx_date": "paid_on",
                         "ref": "order_no", "batch": "payout_id", "key": "currency"},
           "statement": {"id": "line_id", "tx_date": "value_date", "ref": "memo",
                         "key": "currency"}}');

SELECT key, ledger_id, statement_id, category, amount_diff, days_diff, group_id,
       ledger_amount, statement_amount, ledger_date, statement_date
FROM shop.shop_matches ORDER BY key, category, ledger_id, statement_id;
SELECT key, ledger_id, statement_id, category, note
FROM shop.shop_discrepancies ORDER BY key, category, ledger_id, statement_id;
SELECT * FROM shop.shop_summary ORDER BY key, category;

-- column names and types, as BI tools see them
SELECT table_name, column_name, data_type
FROM information_schema.columns
WHERE table_schema = 'shop' AND table_name LIKE 'shop\_%'
ORDER BY table_name, ordinal_position;
SELECT relname, reloptions FROM pg_class WHERE relname LIKE 'shop\_%' ORDER BY relname;
SELECT name, ledger, statement, rule, columns, view_schema FROM reconcile.reconciliations;

-- the views are live
INSERT INTO shop.bank VALUES (7, 80.00, '2026-11-04', 'A-1006', 'CNY');
SELECT ledger_id, statement_id, category FROM shop.shop_matches
WHERE ledger_id = 'A-1006' OR statement_id = '7';

-- no key column: one group; columns default to the canonical names
CREATE TABLE public.l (id text, amount numeric, tx_date date);
CREATE TABLE public.s (id text, amount numeric, tx_date date, ref text);
INSERT INTO public.l VALUES ('a', 1, '2026-01-01'), ('b', 2, '2026-01-01');
INSERT INTO public.s VALUES ('x', 1, '2026-01-02', NULL), ('y', 3, '2026-01-02', NULL);
SET search_path = public;
SELECT reconcile.create('plain', 'l', 's');
SELECT * FROM plain_matches ORDER BY ledger_id, statement_id;
SELECT * FROM plain_summary ORDER BY category;

-- errors
SELECT reconcile.create('Bad-Name', 'l', 's');
SELECT reconcile.create('plain', 'l', 's');
CREATE VIEW other_matches AS SELECT 1;
SELECT reconcile.create('other', 'l', 's');
SELECT reconcile.create('x1', 'l', 's', columns => '{"ledger": {"amount": "amt"}}');
SELECT reconcile.create('x2', 'l', 's', columns => '{"ledger": {"ref": "memo"}}');
SELECT reconcile.create('x3', 'l', 's', columns => '{"ledgr": {}}');
SELECT reconcile.create('x4', 'l', 's', columns => '{"ledger": {"amount_x": "amount"}}');
SELECT reconcile.create('x5', 'l', 's', columns => '{"ledger": {"amount": 1}}');
SELECT reconcile.create('x6', 'l', 's', reconcile.rule(days_after => -1));
SELECT reconcile.create('x7', 'l', 's', NULL);
SELECT reconcile.create('x8', 'l', 's', columns => '{"statement": {"key": "ref"}}');
SELECT reconcile.create('x9', 'nosuchtable', 's');
SELECT reconcile.drop('nosuch');

-- drop removes views and registration
SELECT reconcile.drop('plain');
SELECT reconcile.drop('shop');
SELECT count(*) FROM pg_class WHERE relname LIKE 'shop\_%' OR relname LIKE 'plain\_%';
SELECT count(*) FROM reconcile.reconciliations;
