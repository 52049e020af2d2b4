-- bench/incremental_day.sql (\ir from bench/incremental.sql): daily run :day, with :new new rows per side.
INSERT INTO inc.ledger SELECT 'ORD' || lpad(i::text, 9, '0'), key, price, day, 'ORD' || lpad(i::text, 9, '0')
FROM g WHERE i > :rows + (:day - 1) * :new AND i <= :rows + :day * :new;
INSERT INTO inc.statement SELECT 'BNK' || lpad(i::text, 9, '0'), key, price, day + lag, 'PAYOUT ORD' || lpad(i::text, 9, '0')
FROM g WHERE i > :rows + (:day - 1) * :new AND i <= :rows + :day * :new;
ANALYZE inc.ledger;
ANALYZE inc.statement;
UPDATE t0 SET t = clock_timestamp();
SELECT reconcile.run('inc', '2027-01-10') AS daily_run \gset
INSERT INTO timing SELECT 'daily run ' || :day, round(extract(epoch FROM clock_timestamp() - t) * 1000), ledger_rows,
       statement_rows, counts
FROM t0, reconcile.runs WHERE run_id = :daily_run;
