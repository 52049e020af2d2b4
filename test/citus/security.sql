-- Citus: a role without SELECT on a source sees nothing through the views or the extension's
-- tables, and the shard queries run as the calling role (a grant missing on a shard denies it).
SELECT plan(9);

CREATE TABLE public.sec_l (id text, shop text, amount numeric, tx_date date);
CREATE TABLE public.sec_s (id text, shop text, amount numeric, tx_date date);
SELECT create_distributed_table('public.sec_l', 'shop', shard_count => 4);
SELECT create_distributed_table('public.sec_s', 'shop', colocate_with => 'public.sec_l');
INSERT INTO public.sec_l SELECT 'L' || i, 'shop' || (i % 5), i, '2026-11-01' FROM generate_series(1, 100) i;
INSERT INTO public.sec_s SELECT 'S' || i, 'shop' || (i % 5), i, '2026-11-02' FROM generate_series(1, 90) i;
SELECT reconcile.create('sec', 'public.sec_l', 'public.sec_s',
                        columns => '{"ledger": {"key": "shop"}, "statement": {"key": "shop"}}');
SELECT reconcile.run('sec', '2026-12-31');

CREATE ROLE rc_creader LOGIN;
CREATE ROLE rc_coutsider LOGIN;
GRANT SELECT ON public.sec_l, public.sec_s TO rc_creader;
GRANT SELECT ON public.sec_matches TO rc_creader, rc_coutsider;

SET ROLE rc_coutsider;
SELECT throws_ok('SELECT count(*) FROM public.sec_matches', '42501', NULL,
                 'a role without SELECT on the sources cannot read the view');
SELECT is((SELECT count(*) FROM reconcile.results WHERE name = 'sec'), 0::bigint, 'nor its results');
SELECT is((SELECT count(*) FROM reconcile.items WHERE name = 'sec'), 0::bigint, 'nor its items');
SELECT is((SELECT count(*) FROM reconcile.runs WHERE name = 'sec'), 0::bigint, 'nor its runs');
SELECT throws_ok($$SELECT reconcile.run('sec')$$, '42501', NULL, 'nor run it');
RESET ROLE;

SET ROLE rc_creader;
SELECT is((SELECT count(*) FROM public.sec_matches), 100::bigint, 'a role with SELECT on both sources reads the view');
SELECT is((SELECT count(*) FROM reconcile.items WHERE name = 'sec'), 10::bigint, 'and the items');
RESET ROLE;

-- take the grant away on the shards of sec_s only, behind Citus's back: the coordinator still
-- allows the query, so only a worker running the shard query as rc_creader can refuse it
SELECT count(*) FROM run_command_on_placements('public.sec_s', 'REVOKE SELECT ON %s FROM rc_creader');
SET ROLE rc_creader;
SELECT throws_ok('SELECT count(*) FROM public.sec_matches', '42501', NULL,
                 'the shard queries run as the calling role: a worker refuses a shard it was not granted');
RESET ROLE;
SELECT count(*) FROM run_command_on_placements('public.sec_s', 'GRANT SELECT ON %s TO rc_creader');
SET ROLE rc_creader;
SELECT is((SELECT count(*) FROM public.sec_matches), 100::bigint, 'and reads again once the shards grant it');
RESET ROLE;

SELECT reconcile.drop('sec');
DROP TABLE public.sec_l, public.sec_s;
DROP OWNED BY rc_creader, rc_coutsider;
DROP ROLE rc_creader, rc_coutsider;
SELECT * FROM finish();
