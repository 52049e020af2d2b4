-- Citus: the same reconciliation over distributed, co-located sources gives the single-node
-- results row for row, whatever order the rows were inserted in; runs, open items, follow-up
-- and proofs work on the coordinator.
SELECT plan(16);

-- one data set (kinds of rows by i % 10: pairs, cent off, payout batches, reversals, duplicates,
-- missing on either side, refs inside longer memos), keyed by 12 shops
CREATE TEMP TABLE gen_l AS
SELECT 'shop' || (i % 12) AS shop, 'L' || i AS id,
       CASE WHEN i % 10 = 4 THEN -(10 + (hashint4(i) & 255))::numeric
            ELSE round(10 + (hashint4(i) & 511) * 0.37, 2) END AS amount,
       date '2026-10-01' + (i % 40) AS tx_date,
       CASE WHEN i % 2 = 0 THEN 'ORD-' || lpad(i::text, 6, '0') END AS ref,
       CASE WHEN i % 10 = 2 THEN 'P' || (i / 100) END AS batch
FROM generate_series(1, 20000) i WHERE i % 10 <> 7;
CREATE TEMP TABLE gen_s AS
SELECT shop, 'S' || substr(id, 2) AS id,
       CASE WHEN substr(id, 2)::int % 10 = 4 THEN -amount
            WHEN substr(id, 2)::int % 9 = 0 THEN amount + 0.01 ELSE amount END AS amount,
       tx_date + (hashint4(substr(id, 2)::int) & 3) AS tx_date,
       CASE WHEN ref IS NOT NULL THEN 'SETTLEMENT ' || ref || ' OK' END AS ref
FROM gen_l WHERE substr(id, 2)::int % 10 NOT IN (2, 6)
UNION ALL
SELECT shop, 'SP' || batch, sum(amount), max(tx_date) + 1, NULL FROM gen_l WHERE batch IS NOT NULL GROUP BY shop, batch
UNION ALL
SELECT 'shop' || (i % 12), 'SX' || i, 99.99, date '2026-10-01' + (i % 40), NULL FROM generate_series(1, 20000, 10) i
UNION ALL
SELECT shop, 'SD' || substr(id, 2), amount, tx_date + 1, NULL FROM gen_l WHERE substr(id, 2)::int % 10 = 5;

-- single node: plain tables on the coordinator
CREATE TABLE public.one_l AS SELECT * FROM gen_l ORDER BY id;
CREATE TABLE public.one_s AS SELECT * FROM gen_s ORDER BY id;
-- Citus, twice: inserted in id order, and in a scrambled order
CREATE TABLE public.da_l (LIKE gen_l);
CREATE TABLE public.da_s (LIKE gen_s);
CREATE TABLE public.db_l (LIKE gen_l);
CREATE TABLE public.db_s (LIKE gen_s);
SELECT create_distributed_table('public.da_l', 'shop', shard_count => 4);
SELECT create_distributed_table('public.da_s', 'shop', colocate_with => 'public.da_l');
SELECT create_distributed_table('public.db_l', 'shop', shard_count => 6, colocate_with => 'none');
SELECT create_distributed_table('public.db_s', 'shop', colocate_with => 'public.db_l');
INSERT INTO public.da_l SELECT * FROM gen_l ORDER BY id;
INSERT INTO public.da_s SELECT * FROM gen_s ORDER BY id;
INSERT INTO public.db_l SELECT * FROM gen_l ORDER BY hashint4(length(id) * 7919 + ascii(right(id, 1))), md5(id);
INSERT INTO public.db_s SELECT * FROM gen_s ORDER BY md5(id) DESC;

SELECT reconcile.create(n, ('public.' || p || '_l')::regclass, ('public.' || p || '_s')::regclass,
                        reconcile.rule(abs_tol => 0.01, days_after => 3),
                        columns => '{"ledger": {"key": "shop"}, "statement": {"key": "shop"}}')
FROM (VALUES ('one', 'one'), ('da', 'da'), ('db', 'db')) v(n, p);

-- a EXCEPT ALL b and b EXCEPT ALL a, counted
CREATE FUNCTION pg_temp.differ(a text, b text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM ((%1$s EXCEPT ALL %2$s) UNION ALL (%2$s EXCEPT ALL %1$s)) d', a, b) INTO n;
    RETURN n;
END $$;

SELECT cmp_ok((SELECT count(*) FROM public.one_matches), '>', 20000::bigint, 'the single-node reconciliation has its rows');
SELECT is((SELECT count(DISTINCT category) FROM public.one_matches), 7::bigint, 'in seven categories');
SELECT is(pg_temp.differ('SELECT * FROM public.one_matches', 'SELECT * FROM public.da_matches'), 0::bigint,
          'Citus (id order, 4 shards) gives the single-node results row for row');
SELECT is(pg_temp.differ('SELECT * FROM public.one_matches', 'SELECT * FROM public.db_matches'), 0::bigint,
          'Citus (scrambled order, 6 shards) gives them too');
SELECT is(pg_temp.differ('SELECT * FROM public.one_summary', 'SELECT * FROM public.db_summary'), 0::bigint,
          'and the same summary');

-- runs: the same results, items and proofs
SELECT reconcile.run(n, '2026-12-31') FROM (VALUES ('one'), ('da'), ('db')) v(n) ORDER BY n;
CREATE FUNCTION pg_temp.last_results(n text) RETURNS text LANGUAGE sql AS $$
    SELECT format('SELECT key, ledger_id, statement_id, category, amount_diff, days_diff, score, group_id, note '
                  'FROM reconcile.results WHERE run_id = %s', max(run_id)) FROM reconcile.runs WHERE name = n
$$;
SELECT is(pg_temp.differ(pg_temp.last_results('one'), pg_temp.last_results('da')), 0::bigint,
          'a run over distributed sources stores the single-node results');
SELECT is(pg_temp.differ(pg_temp.last_results('one'), pg_temp.last_results('db')), 0::bigint,
          'whatever the insertion order');

INSERT INTO public.one_l VALUES ('shop1', 'LN1', 12.34, '2026-11-20', NULL, NULL), ('shop2', 'LN2', 50.00, '2026-11-20', NULL, NULL);
INSERT INTO public.one_s VALUES ('shop1', 'SN1', 12.34, '2026-11-21', NULL), ('shop5', 'SN5', 8.88, '2026-11-21', NULL);
INSERT INTO public.da_l SELECT * FROM public.one_l WHERE id LIKE 'LN%';
INSERT INTO public.da_s SELECT * FROM public.one_s WHERE id LIKE 'SN%';
INSERT INTO public.db_l SELECT * FROM public.one_l WHERE id LIKE 'LN%';
INSERT INTO public.db_s SELECT * FROM public.one_s WHERE id LIKE 'SN%';
SELECT reconcile.run(n, '2026-12-31') FROM (VALUES ('one'), ('da'), ('db')) v(n) ORDER BY n;
SELECT is(pg_temp.differ(pg_temp.last_results('one'), pg_temp.last_results('db')), 0::bigint,
          'a second run after new rows: the same results on Citus');
SELECT is((SELECT counts -> 'matched' FROM reconcile.runs WHERE name = 'db' ORDER BY run_id DESC LIMIT 1), '1'::jsonb,
          'it matched only the new pair, leaving cleared rows alone');
SELECT is(pg_temp.differ(
              $$SELECT key, ledger_id, statement_id, category, status FROM reconcile.open_items WHERE name = 'one'$$,
              $$SELECT key, ledger_id, statement_id, category, status FROM reconcile.open_items WHERE name = 'db'$$),
          0::bigint, 'the same open items');
SELECT is(pg_temp.differ(
              $$SELECT key, line, item, rows, amount FROM reconcile.proof((SELECT max(run_id) FROM reconcile.runs WHERE name = 'one'))$$,
              $$SELECT key, line, item, rows, amount FROM reconcile.proof((SELECT max(run_id) FROM reconcile.runs WHERE name = 'db'))$$),
          0::bigint, 'the same proof');
SELECT is((SELECT count(*) FROM (
              SELECT key FROM reconcile.proof((SELECT max(run_id) FROM reconcile.runs WHERE name = 'db'))
              GROUP BY key HAVING sum(amount) FILTER (WHERE item <> 'statement total')
                                 <> sum(amount) FILTER (WHERE item = 'statement total')) x),
          0::bigint, 'and it adds up for every shop');

-- follow-up by two people on the coordinator
-- (the checker logs in: a person is the role that logged in)
\ir ../lib/logins.sql
CREATE ROLE rc_cmaker LOGIN;
CREATE ROLE rc_cchecker LOGIN PASSWORD 'rc-test-login';
GRANT SELECT ON public.db_l, public.db_s TO rc_cmaker, rc_cchecker;
CREATE TABLE public.rc_cpick AS
SELECT item_id FROM reconcile.open_items WHERE name = 'db' AND category = 'missing_in_ledger' ORDER BY item_id LIMIT 1;
GRANT SELECT ON public.rc_cpick TO rc_cmaker, rc_cchecker;
SET ROLE rc_cmaker;
SELECT lives_ok($$SELECT reconcile.resolve((SELECT item_id FROM public.rc_cpick), 'bank charge', 'booked')$$, 'a maker resolves an item');
RESET ROLE;
SELECT pg_temp.login('checker', 'rc_cchecker') \g /dev/null
SELECT is(pg_temp.as_login('checker', $$SELECT reconcile.approve((SELECT item_id FROM public.rc_cpick))$$), '',
          'a different checker approves it, in its own login');
SELECT dblink_disconnect('checker') \g /dev/null
SELECT lives_ok($$SELECT reconcile.manual_match('db', ARRAY['LN2'], ARRAY['SN5'], 'same payment')$$,
                'a manual match over distributed sources');
SELECT is((SELECT count(*) FROM reconcile.audit_log WHERE name = 'db' AND action IN ('run', 'resolve', 'approve', 'manual_match')),
          5::bigint, 'every run and action is in audit_log (two runs, resolve, approve, manual_match)');

SELECT reconcile.drop(n) FROM (VALUES ('one'), ('da'), ('db')) v(n);
DROP TABLE public.one_l, public.one_s, public.da_l, public.da_s, public.db_l, public.db_s, public.rc_cpick;
DROP OWNED BY rc_cmaker, rc_cchecker;
DROP ROLE rc_cmaker, rc_cchecker;
SELECT * FROM finish();
