-- pg_cron for real: reconcile.schedule registers the job, pg_cron runs it, the run is recorded.
-- Committed (pg_cron reads cron.job from another session); cleaned up at the end.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
CREATE EXTENSION IF NOT EXISTS reconcile;
CREATE TABLE public.cron_l (id text, amount numeric, tx_date date);
CREATE TABLE public.cron_s (id text, amount numeric, tx_date date);
INSERT INTO public.cron_l VALUES ('a', 10, current_date);
INSERT INTO public.cron_s VALUES ('x', 10, current_date);
SELECT reconcile.create('cronrec', 'public.cron_l', 'public.cron_s') \g /dev/null
CREATE FUNCTION pg_temp.wait_for_run(n text, secs int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..secs LOOP
        IF EXISTS (SELECT FROM reconcile.runs WHERE name = n) THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(1);
    END LOOP;
    RETURN false;
END $$;
\unset ON_ERROR_STOP

SELECT plan(9);
SELECT ok(reconcile.schedule('cronrec', '* * * * *') > 0, 'schedule returns the pg_cron job id');
SELECT is((SELECT command FROM cron.job WHERE jobname = 'reconcile:cronrec'),
          $$SELECT reconcile.run('cronrec')$$, 'the job is in cron.job as reconcile:<name>');
SELECT ok(pg_temp.wait_for_run('cronrec', 80), 'pg_cron ran the reconciliation within 80 seconds');
SELECT is((SELECT counts FROM reconcile.runs WHERE name = 'cronrec' ORDER BY run_id LIMIT 1),
          '{"matched": 1}'::jsonb, 'the scheduled run is in reconcile.runs with its counts');
SELECT is((SELECT sum(amount) FILTER (WHERE item <> 'statement total') - sum(amount) FILTER (WHERE item = 'statement total')
           FROM reconcile.proof((SELECT min(run_id) FROM reconcile.runs WHERE name = 'cronrec'))), 0::numeric,
          'the scheduled run''s proof adds up');
SELECT lives_ok($$SELECT reconcile.unschedule('cronrec')$$, 'unschedule');
SELECT is((SELECT count(*) FROM cron.job WHERE jobname = 'reconcile:cronrec'), 0::bigint, 'the job is gone');
SELECT reconcile.schedule('cronrec', '0 3 * * *');
SELECT lives_ok($$SELECT reconcile.drop('cronrec')$$, 'drop a scheduled reconciliation');
SELECT is((SELECT count(*) FROM cron.job WHERE jobname = 'reconcile:cronrec'), 0::bigint, 'its pg_cron job goes with it');
SELECT * FROM finish();

SELECT reconcile.unschedule('cronrec') WHERE EXISTS (SELECT FROM cron.job WHERE jobname = 'reconcile:cronrec') \g /dev/null
SELECT reconcile.drop('cronrec') WHERE EXISTS (SELECT FROM reconcile.reconciliations WHERE name = 'cronrec') \g /dev/null
DELETE FROM reconcile.results WHERE name = 'cronrec';
DELETE FROM reconcile.items WHERE name = 'cronrec';
DELETE FROM reconcile.cleared WHERE name = 'cronrec';
DELETE FROM reconcile.runs WHERE name = 'cronrec';
DROP TABLE public.cron_l, public.cron_s;
