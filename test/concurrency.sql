-- Two sessions (dblink): one run per reconciliation at a time (55P03 at once), runs of
-- different reconciliations in parallel, and the NOTIFY sent when a run commits.
-- Not in one transaction: the second session must see committed set-up; cleaned up at the end.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS reconcile;
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE TABLE public.cc_l (id text, amount numeric, tx_date date);
CREATE TABLE public.cc_s (id text, amount numeric, tx_date date);
INSERT INTO public.cc_l VALUES ('a', 10, '2026-11-01'), ('b', 20, '2026-11-01');
INSERT INTO public.cc_s VALUES ('x', 10, '2026-11-02');
SELECT reconcile.create('cc1', 'public.cc_l', 'public.cc_s') \g /dev/null
SELECT reconcile.create('cc2', 'public.cc_l', 'public.cc_s') \g /dev/null
SELECT dblink_connect('other', format('host=%s port=%s dbname=%s user=%s',
                      split_part(current_setting('unix_socket_directories'), ',', 1),
                      current_setting('port'), current_database(), current_user)) \g /dev/null
SELECT dblink_exec('other', 'LISTEN reconcile') \g /dev/null
\unset ON_ERROR_STOP

SELECT plan(7);
BEGIN;
CREATE TEMP TABLE mine AS SELECT reconcile.run('cc1', '2026-11-05') AS run_id;
CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS t;
SELECT throws_ok($$SELECT * FROM dblink('other', 'SELECT reconcile.run(''cc1'', ''2026-11-05'')') AS t(r bigint)$$,
                 '55P03', NULL, 'a second run of the same reconciliation fails');
SELECT cmp_ok(clock_timestamp() - (SELECT t FROM t0), '<', interval '2 seconds', 'at once, without waiting');
SELECT ok((SELECT r FROM dblink('other', 'SELECT reconcile.run(''cc2'', ''2026-11-05'')') AS t(r bigint)) > 0,
          'a run of another reconciliation proceeds meanwhile');
COMMIT;

SELECT pg_sleep(0.2);
CREATE TEMP TABLE notes AS SELECT * FROM dblink_get_notify('other');
SELECT is((SELECT count(*) FROM notes WHERE notify_name = 'reconcile' AND extra::jsonb ->> 'name' = 'cc1'),
          1::bigint, 'the committed run notified channel reconcile');
SELECT is((SELECT (extra::jsonb ->> 'run_id')::bigint FROM notes WHERE extra::jsonb ->> 'name' = 'cc1'),
          (SELECT run_id FROM mine), 'the payload carries the run id');
SELECT is((SELECT array_agg(k ORDER BY k) FROM notes, jsonb_object_keys(extra::jsonb) k WHERE extra::jsonb ->> 'name' = 'cc1'),
          ARRAY['name', 'run_id'], 'and nothing else: any role may LISTEN (the counts are in reconcile.runs)');
SELECT is((SELECT count(*) FROM reconcile.runs u,
                  LATERAL (SELECT sum(amount) FILTER (WHERE item <> 'statement total')
                                  - sum(amount) FILTER (WHERE item = 'statement total') AS gap
                           FROM reconcile.proof(u.run_id)) p
           WHERE u.name IN ('cc1', 'cc2') AND p.gap <> 0), 0::bigint, 'the proof of both runs adds up');
SELECT * FROM finish();

SELECT dblink_disconnect('other') \g /dev/null
SELECT reconcile.drop('cc1') \g /dev/null
SELECT reconcile.drop('cc2') \g /dev/null
DELETE FROM reconcile.results WHERE name IN ('cc1', 'cc2');
DELETE FROM reconcile.runs WHERE name IN ('cc1', 'cc2');
DELETE FROM reconcile.items WHERE name IN ('cc1', 'cc2');
DELETE FROM reconcile.cleared WHERE name IN ('cc1', 'cc2');
DROP TABLE public.cc_l, public.cc_s;
