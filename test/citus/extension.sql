-- Citus: CREATE EXTENSION and ALTER EXTENSION ... UPDATE run once on the coordinator reach
-- every worker (the extension's files are installed on every node).
SELECT plan(7);
-- the version CREATE EXTENSION installs and ALTER EXTENSION ... UPDATE reaches
SELECT default_version AS v FROM pg_available_extensions WHERE name = 'reconcile' \gset

SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
               $$SELECT extversion FROM pg_extension WHERE extname = 'reconcile'$$)),
          ARRAY[:'v', :'v'], 'CREATE EXTENSION on the coordinator created reconcile on both workers');
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
               $$SELECT count(*) FROM pg_proc WHERE proname = 'match_detail_agg' AND prokind = 'a' AND pronargs = 8$$)),
          ARRAY['1', '1'], 'the aggregate (with its manual argument) exists on both workers');

DROP EXTENSION reconcile CASCADE;
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
               $$SELECT count(*) FROM pg_extension WHERE extname = 'reconcile'$$)),
          ARRAY['0', '0'], 'DROP EXTENSION on the coordinator dropped it on both workers');

CREATE EXTENSION reconcile VERSION '0.1.0';
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
               $$SELECT extversion FROM pg_extension WHERE extname = 'reconcile'$$)),
          ARRAY['0.1.0', '0.1.0'], 'CREATE EXTENSION ... VERSION 0.1.0 reached both workers');

ALTER EXTENSION reconcile UPDATE;
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'reconcile'), :'v',
          'ALTER EXTENSION reconcile UPDATE on the coordinator: the current version there');
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
               $$SELECT extversion FROM pg_extension WHERE extname = 'reconcile'$$)),
          ARRAY[:'v', :'v'], 'and on both workers');
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
               $$SELECT count(*) FROM pg_proc WHERE proname = 'run' AND pronamespace = 'reconcile'::regnamespace$$)),
          ARRAY['1', '1'], 'the workers have the 0.2.0 objects too');

SELECT * FROM finish();
