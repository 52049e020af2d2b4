// bench/duckdb.mjs: the peers' way, beside reconcile in `make bench` (bench/run, part 2).
//
//   node bench/duckdb.mjs DIR RUNS ABS_TOL DAYS_AFTER
//
// Reads DIR/ledger.csv, DIR/statement.csv and DIR/truth.csv (exported from the same tables the
// reconciliation reads, with COPY), then pairs them in DuckDB with plain SQL by the same rule:
//   1. exact: for k = 0 .. DAYS_AFTER, the rows left are paired by rank within (key, amount,
//      date + k): the n-th ledger row of a (key, amount, date) with the n-th statement row of
//      (key, amount, date + k), ids in order;
//   2. within tolerance: the rows left, joined on key, on the statement date the ledger date plus
//      0 .. DAYS_AFTER days and on the statement amount within ABS_TOL of the ledger's (an equi-join
//      per day and cent offset: a band join on amount alone would compare a group with itself), and
//      of those candidate pairs the ones that are each other's best choice (amount difference, then
//      days, then id).
// Prints one line: "duckdb <best ms of RUNS> <pairs> <true pairs> <truth>" (the load is not timed).
import { DuckDBInstance } from '@duckdb/node-api';

const [dir, runsArg, tolArg, daysArg] = process.argv.slice(2);
const runs = Number(runsArg || 3);
const tolCents = Math.round(Number(tolArg || 0.01) * 100);
const daysAfter = Number(daysArg || 3);

const instance = await DuckDBInstance.create(':memory:');
const db = await instance.connect();
const cols = "{'id': 'BIGINT', 'key': 'VARCHAR', 'amount': 'DECIMAL(12,2)', 'tx_date': 'DATE', 'ref': 'VARCHAR', 'batch': 'VARCHAR'}";
await db.run(`CREATE TABLE l AS SELECT * FROM read_csv('${dir}/ledger.csv', header = true, columns = ${cols})`);
await db.run(`CREATE TABLE s AS SELECT * FROM read_csv('${dir}/statement.csv', header = true, columns = ${cols})`);
await db.run(`CREATE TABLE truth AS SELECT * FROM read_csv('${dir}/truth.csv', header = true,
              columns = {'statement_id': 'BIGINT', 'ledger_id': 'BIGINT'})`);

async function pair() {
	await db.run('CREATE OR REPLACE TEMP TABLE pairs (lid BIGINT, sid BIGINT)');
	for (let k = 0; k <= daysAfter; k++) {
		await db.run(`
			INSERT INTO pairs
			WITH lr AS (SELECT id, key, amount, tx_date + ${k} AS d,
			                   row_number() OVER (PARTITION BY key, amount, tx_date ORDER BY id) AS rn
			            FROM l WHERE NOT EXISTS (SELECT 1 FROM pairs p WHERE p.lid = l.id)),
			     sr AS (SELECT id, key, amount, tx_date AS d,
			                   row_number() OVER (PARTITION BY key, amount, tx_date ORDER BY id) AS rn
			            FROM s WHERE NOT EXISTS (SELECT 1 FROM pairs p WHERE p.sid = s.id))
			SELECT lr.id, sr.id FROM lr JOIN sr ON lr.key IS NOT DISTINCT FROM sr.key AND lr.amount = sr.amount
			                                    AND lr.d = sr.d AND lr.rn = sr.rn`);
	}
	await db.run(`
		INSERT INTO pairs
		WITH lr AS (SELECT l.* FROM l WHERE NOT EXISTS (SELECT 1 FROM pairs p WHERE p.lid = l.id)),
		     sr AS (SELECT s.*, CAST(round(s.amount * 100) AS BIGINT) AS cents
		            FROM s WHERE NOT EXISTS (SELECT 1 FROM pairs p WHERE p.sid = s.id)),
		     probe AS (SELECT lr.id, lr.key, lr.amount, lr.tx_date, lr.tx_date + CAST(dd.k AS INTEGER) AS d,
		                      CAST(round(lr.amount * 100) AS BIGINT) + c.c AS cents
		               FROM lr, range(0, ${daysAfter + 1}) dd(k), range(${-tolCents}, ${tolCents + 1}) c(c)),
		     cand AS (SELECT p.id AS lid, sr.id AS sid, abs(sr.amount - p.amount) AS ad, sr.tx_date - p.tx_date AS dd
		              FROM probe p JOIN sr ON sr.key IS NOT DISTINCT FROM p.key AND sr.tx_date = p.d
		                                  AND sr.cents = p.cents),
		     bl AS (SELECT lid, arg_min(sid, (ad, dd, sid)) AS best FROM cand GROUP BY lid),
		     bs AS (SELECT sid, arg_min(lid, (ad, dd, lid)) AS best FROM cand GROUP BY sid)
		SELECT bl.lid, bl.best FROM bl JOIN bs ON bs.sid = bl.best AND bs.best = bl.lid`);
}

let best = Infinity;
for (let i = 0; i < runs; i++) {
	const t0 = process.hrtime.bigint();
	await pair();
	const ms = Number(process.hrtime.bigint() - t0) / 1e6;
	if (ms < best) best = ms;
}
const reader = await db.runAndReadAll(`
	SELECT count(*) AS pairs, count(t.ledger_id) AS true_pairs, (SELECT count(*) FROM truth) AS truth
	FROM pairs p LEFT JOIN truth t ON t.statement_id = p.sid AND t.ledger_id = p.lid`);
const [pairs, truePairs, truth] = reader.getRows()[0].map(Number);
console.log(`duckdb ${best.toFixed(0)} ${pairs} ${truePairs} ${truth}`);
