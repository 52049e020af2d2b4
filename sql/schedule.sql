-- scheduling needs pg_cron in this database: 55000 with a hint otherwise
\set SHOW_CONTEXT never
SELECT reconcile.schedule('anything', '0 2 * * *');
SELECT reconcile.unschedule('anything');
DO $$
BEGIN
    PERFORM reconcile.schedule('anything', '0 2 * * *');
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'SQLSTATE %', SQLSTATE;
END
$$;
