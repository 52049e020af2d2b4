-- bench/candidates.sql (\ir from bench/run and bench/incremental.sql): reconcile.candidates of
-- reconciliation :cname for 21 ledger rows (the query :cids lists them), with an index on the
-- ledger source's id column (:cself) and on the statement source's amount column (:cother), as
-- the README advises.  Prints one line:
--   candidates <label>: median <ms> ms, max <ms> ms over <n> calls (<rows> counterparts each)
\set ON_ERROR_STOP on
SELECT format('CREATE INDEX IF NOT EXISTS %I ON %s (amount)', replace(:'cother', '.', '_') || '_amount', :'cother') \gexec
SELECT format('CREATE INDEX IF NOT EXISTS %I ON %s (id)', replace(:'cself', '.', '_') || '_id', :'cself') \gexec
SELECT format('ANALYZE %s', :'cother') \gexec
SELECT format('ANALYZE %s', :'cself') \gexec
CREATE OR REPLACE FUNCTION pg_temp.time_candidates(cname text, id text, OUT ms numeric, OUT n_found bigint)
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := clock_timestamp();
BEGIN
    SELECT count(*) INTO n_found FROM reconcile.candidates(cname, id);
    ms := round(extract(epoch FROM clock_timestamp() - t)::numeric * 1000, 1);
END
$$;
SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY (c).ms) AS cand_median, max((c).ms) AS cand_max, count(*) AS cand_calls,
       min((c).n_found) AS cand_found
FROM (SELECT pg_temp.time_candidates(:'cname', x.id) AS c FROM (:cids) x(id)) y \gset
\echo candidates :clabel: median :cand_median ms, max :cand_max ms over :cand_calls calls (:cand_found counterparts each at least)
