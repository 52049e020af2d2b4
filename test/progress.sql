-- Progress: a run shows where it is in pg_stat_activity, for a DBA watching from another session,
-- and puts the query text back when it is done (or fails).  The run is made slow by a source
-- view that sleeps once, and is started in a second session (dblink) while this one watches.
CREATE EXTENSION IF NOT EXISTS reconcile;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS dblink;
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS prog CASCADE;
SELECT reconcile.drop(name) FROM reconcile.reconciliations WHERE name IN ('prog', 'progfail');
DROP ROLE IF EXISTS rc_prog_runner;
CREATE ROLE rc_prog_runner LOGIN PASSWORD 'rc-test-login';
CREATE SCHEMA prog;
CREATE TABLE prog.l (id text, amount numeric, tx_date date, ref text);
CREATE TABLE prog.s (id text, amount numeric, tx_date date, ref text);
INSERT INTO prog.l SELECT 'L' || i, i, date '2026-03-01', NULL FROM generate_series(1, 100) i;
INSERT INTO prog.s SELECT 'S' || i, i, date '2026-03-01', NULL FROM generate_series(1, 100) i;
-- evaluated once per scan (a qual of a stable function without columns is a one-time filter)
CREATE FUNCTION prog.pause(seconds float8) RETURNS boolean LANGUAGE plpgsql STABLE
AS $$ BEGIN PERFORM pg_sleep(seconds); RETURN true; END $$;
CREATE FUNCTION prog.boom() RETURNS boolean LANGUAGE plpgsql VOLATILE
AS $$ BEGIN PERFORM pg_sleep(1.5); RAISE EXCEPTION 'the source failed'; END $$;
CREATE VIEW prog.lv AS SELECT * FROM prog.l WHERE prog.pause(2.5);
CREATE VIEW prog.lf AS SELECT * FROM prog.l WHERE prog.boom();
SET search_path = prog, public;
SELECT reconcile.create('prog', 'prog.lv', 'prog.s');
SELECT reconcile.create('progfail', 'prog.lf', 'prog.s');
RESET search_path;
GRANT USAGE ON SCHEMA prog TO rc_prog_runner;
GRANT SELECT ON ALL TABLES IN SCHEMA prog TO rc_prog_runner;
RESET client_min_messages;

\ir lib/logins.sql
SELECT pg_temp.login('runner', 'rc_prog_runner') \g /dev/null

-- the line of the runner's backend while its run is under way (waits up to 5 s for a line like)
CREATE FUNCTION pg_temp.watch(pid int, pattern text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE q text;
BEGIN
    FOR i IN 1 .. 100 LOOP
        SELECT a.query INTO q FROM pg_stat_activity a WHERE a.pid = watch.pid;
        IF q ~ pattern THEN RETURN q; END IF;
        PERFORM pg_sleep(0.05);
        PERFORM pg_stat_clear_snapshot();
    END LOOP;
    RETURN q;
END $$;

BEGIN;
SELECT plan(7);
SELECT pg_temp.as_login('runner', 'SELECT pg_backend_pid()')::int AS runner \gset
SELECT dblink_send_query('runner', $$SELECT reconcile.run('prog', '2026-03-31')$$) \g /dev/null
SELECT matches(pg_temp.watch(:runner, '^reconcile\.run prog: '),
               '^reconcile\.run prog: reading and matching; [0-9]+ rows read, [0-9]+ matched; [0-9]+ s$',
               'another session sees the run''s phase, rows read and rows matched in pg_stat_activity');
SELECT ok((SELECT x FROM dblink_get_result('runner') AS t(x bigint)) > 0, 'the run finishes');
SELECT count(*) FROM dblink_get_result('runner') AS t(x bigint) \g /dev/null
SELECT is(pg_temp.watch(:runner, '^SELECT reconcile\.run'), $$SELECT reconcile.run('prog', '2026-03-31')$$,
          'then its line shows the query again');
SELECT is((SELECT (counts->>'matched')::int FROM reconcile.runs WHERE name = 'prog' ORDER BY run_id DESC LIMIT 1), 100,
          'and it matched every row');

-- a run that fails puts the query text back too
SELECT dblink_send_query('runner', $$SELECT reconcile.run('progfail', '2026-03-31')$$) \g /dev/null
SELECT matches(pg_temp.watch(:runner, '^reconcile\.run progfail: '), '^reconcile\.run progfail: reading and matching',
               'a failing run shows its phase while it lasts');
SELECT throws_ok($$SELECT x FROM dblink_get_result('runner') AS t(x bigint)$$, NULL, NULL, 'it fails');
SELECT count(*) FROM dblink_get_result('runner', false) AS t(x bigint) \g /dev/null
SELECT is(pg_temp.watch(:runner, '^SELECT reconcile\.run\(''progfail'), $$SELECT reconcile.run('progfail', '2026-03-31')$$,
          'and its line shows the query again');
SELECT * FROM finish();
ROLLBACK;
SELECT dblink_disconnect('runner') \g /dev/null
SET client_min_messages = warning;
SELECT reconcile.drop(name) FROM reconcile.reconciliations WHERE name IN ('prog', 'progfail') \g /dev/null
DROP SCHEMA prog CASCADE;
DROP ROLE rc_prog_runner;
