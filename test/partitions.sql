-- reconcile.cleared's partitions (0.4.2): made bare by create, indexed by the first clearing,
-- whichever it is; what they hold is what reconcile.cleared shows.
BEGIN;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT plan(13);

CREATE TABLE public.pa_l (id text, amount numeric, tx_date date);
CREATE TABLE public.pa_s (id text, amount numeric, tx_date date);
INSERT INTO public.pa_l VALUES ('a', 10, '2026-11-01'), ('b', 20, '2026-11-01'), ('c', 30, '2026-11-01');
INSERT INTO public.pa_s VALUES ('x', 10, '2026-11-01'), ('y', 20, '2026-11-02'), ('z', 31, '2026-11-02');

CREATE FUNCTION pg_temp.part(n text) RETURNS regclass LANGUAGE sql AS
$$ SELECT format('reconcile.cleared_%s', (SELECT id FROM reconcile.reconciliations WHERE name = n))::regclass $$;
CREATE FUNCTION pg_temp.indexes(n text) RETURNS bigint LANGUAGE sql AS
$$ SELECT count(*) FROM pg_index WHERE indrelid = pg_temp.part(n) $$;

-- a run's first clearing
SELECT reconcile.create('pa', 'public.pa_l', 'public.pa_s') \g /dev/null
SELECT is((SELECT relispartition FROM pg_class WHERE oid = pg_temp.part('pa')), true,
          'create makes the registration''s partition and attaches it');
SELECT is(pg_temp.indexes('pa'), 0::bigint, 'without indexes');
SELECT is((SELECT c.relowner = e.extowner FROM pg_class c, pg_extension e
           WHERE c.oid = pg_temp.part('pa') AND e.extname = 'reconcile'), true, 'owned by the extension''s owner');
SELECT reconcile.run('pa', '2026-11-10') \g /dev/null
SELECT is(pg_temp.indexes('pa'), 4::bigint, 'its first run fills it, then indexes it');
SELECT is((SELECT count(*) FROM ONLY reconcile.cleared), 0::bigint, 'the parent holds no rows of its own');
SELECT is((SELECT count(*) FROM reconcile.cleared WHERE name = 'pa'),
          4::bigint, 'the two pairs it matched');
SELECT throws_ok($$INSERT INTO reconcile.cleared (name, is_ledger, key, id, category, run_id, match_tag, recon_id)
                   SELECT 'pa', true, NULL, 'a', 'matched', 1, 'again', id FROM reconcile.reconciliations WHERE name = 'pa'$$,
                 '23505', NULL, 'and its unique index refuses a row cleared twice');
INSERT INTO public.pa_l VALUES ('d', 40, '2026-11-03');
INSERT INTO public.pa_s VALUES ('w', 40, '2026-11-03');
SELECT reconcile.run('pa', '2026-11-10') \g /dev/null
SELECT is((SELECT count(*) FROM reconcile.cleared WHERE name = 'pa'), 6::bigint, 'a later run inserts into it as before');

-- a manual match before any run indexes the empty partition first
SELECT reconcile.create('pb', 'public.pa_l', 'public.pa_s') \g /dev/null
SELECT reconcile.manual_match('pb', ARRAY['c'], ARRAY['z'], 'fee') \g /dev/null
SELECT is(pg_temp.indexes('pb'), 4::bigint, 'a manual match before the first run indexes the partition');
SELECT throws_ok($$SELECT reconcile.manual_match('pb', ARRAY['c'], ARRAY['y'], 'again')$$, '55000', NULL,
                 'so that a row matched by hand twice is refused');
SELECT reconcile.run('pb', '2026-11-10') AS pb_run \gset
SELECT is((SELECT counts FROM reconcile.runs WHERE run_id = :pb_run),
          '{"manual": 1, "matched": 3}'::jsonb, 'and the first run then matches the rest');

-- a run that clears nothing leaves the partition bare for the first that does
CREATE TABLE public.pa_e (id text, amount numeric, tx_date date);
SELECT reconcile.create('pc', 'public.pa_e', 'public.pa_s') \g /dev/null
SELECT reconcile.run('pc', '2026-11-10') \g /dev/null
SELECT is(pg_temp.indexes('pc'), 0::bigint, 'a run that clears nothing leaves the partition bare');
INSERT INTO public.pa_e VALUES ('e', 10, '2026-11-01');
SELECT reconcile.run('pc', '2026-11-10') \g /dev/null
SELECT is(pg_temp.indexes('pc'), 4::bigint, 'the first run that clears rows indexes it');

SELECT * FROM finish();
ROLLBACK;
