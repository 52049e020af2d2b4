-- bench/incremental_day.sql (\ir from bench/incremental.sql): a daily run, with :new new rows per side.
SELECT pg_temp.add(:next + 1, :next + :new, 0) \g /dev/null
\set next :next + :new
ANALYZE inc.ledger;
ANALYZE inc.statement;
UPDATE t0 SET t = clock_timestamp();
SELECT reconcile.run('inc', '2027-01-10') AS daily_run \gset
INSERT INTO timing SELECT :'label' || ' ' || :day, round(extract(epoch FROM clock_timestamp() - t) * 1000), ledger_rows,
       statement_rows, (SELECT count(*) FROM reconcile.items i WHERE i.name = 'inc' AND i.status = 'open')
FROM t0, reconcile.runs WHERE run_id = :daily_run;
