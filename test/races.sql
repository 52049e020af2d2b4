-- Two sessions (dblink): what a run still holds uncommitted does not survive a drop that commits
-- after it, and a manual match committing during a run does not leave items open for its rows.
-- Not in one transaction: the second session must see committed set-up; cleaned up at the end.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS reconcile;
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE TABLE public.rc_l (id text, amount numeric, tx_date date);
CREATE TABLE public.rc_s (id text, amount numeric, tx_date date);
INSERT INTO public.rc_l VALUES ('a', 10, '2026-11-01'), ('b', 20, '2026-11-01'), ('c', 30, '2026-11-01');
INSERT INTO public.rc_s VALUES ('x', 10, '2026-11-02'), ('y', 25, '2026-11-02');
SELECT reconcile.create('race1', 'public.rc_l', 'public.rc_s') \g /dev/null
SELECT reconcile.create('race2', 'public.rc_l', 'public.rc_s') \g /dev/null
SELECT dblink_connect('other', format('host=%s port=%s dbname=%s user=%s',
                      split_part(current_setting('unix_socket_directories'), ',', 1),
                      current_setting('port'), current_database(), current_user)) \g /dev/null
-- whether the other session waits for a lock now
CREATE FUNCTION pg_temp.other_waits() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..50 LOOP
        IF EXISTS (SELECT FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%reconcile.%'
                   AND pid <> pg_backend_pid()) THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.1);
    END LOOP;
    RETURN false;
END $$;
\unset ON_ERROR_STOP

SELECT plan(9);

-- drop while a run is uncommitted, then create again
BEGIN;
SELECT reconcile.run('race1', '2026-11-05') \g /dev/null
SELECT dblink_send_query('other', $$SELECT reconcile.drop('race1')$$) \g /dev/null
SELECT ok(pg_temp.other_waits(), 'a drop waits for the run that holds the reconciliation');
COMMIT;
SELECT is((SELECT x FROM dblink_get_result('other') AS t(x text)), '', 'then drops it');
SELECT dblink_get_result('other') \g /dev/null
SELECT reconcile.create('race1', 'public.rc_l', 'public.rc_s') \g /dev/null
SELECT is((SELECT count(*) FROM reconcile.cleared c JOIN reconcile.reconciliations r ON r.id = c.recon_id
           WHERE r.name = 'race1'), 0::bigint, 'the new race1 holds none of the old run''s cleared rows');
SELECT ok(reconcile.run('race1', '2026-11-05') > 0, 'and its run');
SELECT is((SELECT ledger_rows FROM reconcile.runs WHERE name = 'race1' ORDER BY run_id DESC LIMIT 1), 3::bigint,
          'matches every ledger row again');

-- a manual match committing during a run
BEGIN;
SELECT reconcile.run('race2', '2026-11-05') \g /dev/null
SELECT dblink_send_query('other', $$SELECT reconcile.manual_match('race2', ARRAY['b'], ARRAY['y'], 'by hand')$$) \g /dev/null
SELECT ok(pg_temp.other_waits(), 'a manual match waits for the run under way');
COMMIT;
SELECT is((SELECT x FROM dblink_get_result('other') AS t(x text)), '', 'then matches');
SELECT dblink_get_result('other') \g /dev/null
SELECT is((SELECT count(*) FROM reconcile.open_items WHERE name = 'race2' AND (ledger_id = 'b' OR statement_id = 'y')),
          0::bigint, 'no item stays open for the rows matched by hand');
SELECT is((SELECT category::text FROM public.race2_matches WHERE ledger_id = 'b'), 'manual', 'they show as manual');
SELECT * FROM finish();

SELECT dblink_disconnect('other') \g /dev/null
SELECT reconcile.drop('race1') \g /dev/null
SELECT reconcile.drop('race2') \g /dev/null
DELETE FROM reconcile.results WHERE name IN ('race1', 'race2');
DELETE FROM reconcile.runs WHERE name IN ('race1', 'race2');
DELETE FROM reconcile.items WHERE name IN ('race1', 'race2');
DELETE FROM reconcile.cleared WHERE name IN ('race1', 'race2');
DROP TABLE public.rc_l, public.rc_s;
