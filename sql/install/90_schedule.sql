/* 90_schedule.sql: scheduling runs with pg_cron */

----------------------------------------------------------------------------
-- Internal: pg_cron
----------------------------------------------------------------------------

CREATE FUNCTION reconcile.require_pg_cron()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database'
            USING ERRCODE = '55000',
                  HINT = 'Add pg_cron to shared_preload_libraries, then CREATE EXTENSION pg_cron.';
    END IF;
END
$$;
COMMENT ON FUNCTION reconcile.require_pg_cron() IS 'Internal: 55000 with a hint when pg_cron is not installed';

----------------------------------------------------------------------------
-- Scheduling with pg_cron
----------------------------------------------------------------------------

CREATE FUNCTION reconcile.schedule(name text, schedule text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM reconcile.require_pg_cron();
    PERFORM reconcile.registered(name, current_user);
    RETURN cron.schedule('reconcile:' || name, schedule,
                         pg_catalog.format('SELECT reconcile.run(%L)', name));
END
$$;
COMMENT ON FUNCTION reconcile.schedule(text, text) IS
'Schedules SELECT reconcile.run(name) with pg_cron as job reconcile:<name> (cron syntax, e.g. ''0 2 * * *''); returns the job id; 55000 without pg_cron';

CREATE FUNCTION reconcile.unschedule(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM reconcile.require_pg_cron();
    PERFORM cron.unschedule('reconcile:' || name);
END
$$;
COMMENT ON FUNCTION reconcile.unschedule(text) IS 'Removes the pg_cron job reconcile:<name>; 55000 without pg_cron';
