#!/usr/bin/env bash
# test/sh/security.sh: what needs databases of its own.
#   - a schema "reconcile" planted by a database owner before CREATE EXTENSION is refused (42501);
#   - pg_dump and pg_restore -j 4 of a database with reconciliations restore every run, result,
#     cleared row, item and audit entry, and the next run continues from them;
#   - a role that is not a superuser dumps it with the grants the README names, and not without.
# Run by test/sh/suite against its cluster (libpq variables set, as a superuser); prints TAP.
set -uo pipefail
cd "$(dirname "$0")/../.."
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
dir=$(mktemp -d /tmp/reconcile-security.XXXXXX)
chmod 777 "$dir"
trap 'rm -rf "$dir"' EXIT

echo "1..10"
for db in rc_planted rc_dump_src rc_dump_dst; do
	q -d postgres -c "DROP DATABASE IF EXISTS $db"
done
q -d postgres -c 'DROP ROLE IF EXISTS rc_dbowner' -c 'DROP ROLE IF EXISTS rc_dumper'

# a database owner plants schema reconcile, with a function of its own in it
q -d postgres -c 'CREATE ROLE rc_dbowner LOGIN' -c 'CREATE DATABASE rc_planted OWNER rc_dbowner'
q -d rc_planted -c 'SET ROLE rc_dbowner' -c 'CREATE SCHEMA reconcile' \
	-c "CREATE FUNCTION reconcile.caller() RETURNS name LANGUAGE sql AS 'SELECT ''postgres''::name'"
out=$(psql -X -q -d rc_planted -c 'CREATE EXTENSION reconcile' 2>&1)
ok $(grep -q 'schema "reconcile" already exists and belongs to another role' <<<"$out"; echo $?) \
	"CREATE EXTENSION refuses a schema reconcile that another role made first"
ok $([ "$(q -d rc_planted -c "SELECT count(*) FROM pg_extension WHERE extname = 'reconcile'")" = 0 ]; echo $?) \
	"and installs nothing"

# a database with history
q -d postgres -c 'CREATE DATABASE rc_dump_src'
q -d rc_dump_src >/dev/null <<'SQL'
CREATE EXTENSION reconcile;
CREATE TABLE public.d_l (id text, amount numeric, tx_date date, key text);
CREATE TABLE public.d_s (id text, amount numeric, tx_date date, key text);
INSERT INTO public.d_l SELECT 'L' || i, i % 50, date '2026-11-01' + i % 9, (ARRAY['a', 'b'])[1 + i % 2]
FROM generate_series(1, 3000) i;
INSERT INTO public.d_s SELECT 'S' || i, i % 50 + CASE WHEN i % 7 = 0 THEN 0.5 ELSE 0 END,
       date '2026-11-02' + i % 9, (ARRAY['a', 'b'])[1 + i % 2]
FROM generate_series(1, 2700) i;
SELECT reconcile.create('dumped', 'public.d_l', 'public.d_s', reconcile.rule(abs_tol => 0.01), '{}');
SELECT reconcile.run('dumped', '2026-11-20');
SELECT reconcile.resolve(min(item_id), 'booked', 'restored?') FROM reconcile.items;
SELECT reconcile.manual_match('dumped', ARRAY[(SELECT ledger_id FROM reconcile.items WHERE ledger_id IS NOT NULL AND status = 'open' LIMIT 1)],
                              ARRAY[(SELECT statement_id FROM reconcile.items WHERE statement_id IS NOT NULL AND status = 'open' LIMIT 1)], 'by hand');
INSERT INTO public.d_s VALUES ('S9999', 1, '2026-11-03', 'a');
SELECT reconcile.run('dumped', '2026-11-21');
SQL
# what a restore must give back, table by table
state() {
	q -d "$1" -c "SELECT string_agg(t || ' ' || n || ' ' || h, E'\n' ORDER BY t) FROM (
		SELECT 'runs' t, count(*) n, md5(string_agg(r::text, '|' ORDER BY run_id)) h FROM reconcile.runs r
		UNION ALL SELECT 'results', count(*), md5(string_agg(x::text, '|' ORDER BY x::text)) FROM reconcile.results x
		UNION ALL SELECT 'cleared', count(*), md5(string_agg(c::text, '|' ORDER BY c::text)) FROM reconcile.cleared c
		UNION ALL SELECT 'items', count(*), md5(string_agg(i::text, '|' ORDER BY item_id)) FROM reconcile.items i
		UNION ALL SELECT 'audit_log', count(*), md5(string_agg(a::text, '|' ORDER BY audit_id)) FROM reconcile.audit_log a
		UNION ALL SELECT 'reconciliations', count(*), md5(string_agg(g::text, '|' ORDER BY name)) FROM reconcile.reconciliations g) s"
}
before=$(state rc_dump_src)

pg_dump -Fd -j 4 -f "$dir/dump" rc_dump_src >"$dir/dump.log" 2>&1
ok $? "pg_dump -Fd -j 4 of a database with reconciliations"
q -d postgres -c 'CREATE DATABASE rc_dump_dst'
pg_restore -j 4 -d rc_dump_dst "$dir/dump" >"$dir/restore.log" 2>&1
status=$?
ok $status "pg_restore -j 4 restores it without an error"
[ "$status" = 0 ] || sed 's/^/# /' "$dir/restore.log" | head -20
after=$(state rc_dump_dst)
ok $([ "$before" = "$after" ] && [ -n "$before" ]; echo $?) \
	"every registration, run, result, cleared row, item and audit entry comes back as it was"
[ "$before" = "$after" ] || diff <(echo "$before") <(echo "$after") | sed 's/^/# /'
q -d rc_dump_dst -c "INSERT INTO public.d_l VALUES ('L9999', 1, '2026-11-03', 'a')"
ok $(q -d rc_dump_dst -c "SELECT reconcile.run('dumped', '2026-11-22')" >/dev/null 2>&1; echo $?) \
	"and the next run continues from them"
ok $([ "$(q -d rc_dump_dst -c "SELECT count(*) FROM reconcile.results x
	        WHERE x.run_id = (SELECT max(run_id) FROM reconcile.runs) AND x.ledger_id IS NOT NULL
	          AND EXISTS (SELECT FROM reconcile.cleared c WHERE c.is_ledger AND c.id = x.ledger_id
	                      AND c.key IS NOT DISTINCT FROM x.key AND c.run_id < x.run_id AND c.category <> 'manual')")" = 0 ] &&
	[ "$(q -d rc_dump_dst -c "SELECT count(*) FROM reconcile.results WHERE ledger_id = 'L9999'")" = 1 ]; echo $?) \
	"reading only what earlier runs did not clear, and the new row"

# a role that is not a superuser dumps the database: with the README's grants, not without
# (a password: pg_virtualenv's clusters take TCP logins with one; the by-hand ones trust)
q -d postgres -c "CREATE ROLE rc_dumper LOGIN PASSWORD 'rc-dump-pw'"
q -d rc_dump_src -c 'GRANT SELECT ON ALL TABLES IN SCHEMA public TO rc_dumper'
PGPASSWORD=rc-dump-pw pg_dump -U rc_dumper -f "$dir/plain.sql" rc_dump_src >"$dir/nosuper.log" 2>&1
ok $([ $? != 0 ] && grep -q 'permission denied\|row-level security' "$dir/nosuper.log"; echo $?) \
	"without them, a role that is not a superuser cannot dump the extension's tables"
q -d rc_dump_src -c 'GRANT SELECT ON ALL SEQUENCES IN SCHEMA reconcile TO rc_dumper'
q -d postgres -c 'ALTER ROLE rc_dumper BYPASSRLS'
PGPASSWORD=rc-dump-pw pg_dump -U rc_dumper -f "$dir/plain.sql" rc_dump_src >"$dir/super.log" 2>&1
status=$?
ok $status "with SELECT on the extension's sequences and BYPASSRLS it can"
[ "$status" = 0 ] || sed 's/^/# /' "$dir/super.log" | head -10
ok $(grep -q 'restored?' "$dir/plain.sql"; echo $?) "and the dump holds the follow-up history"

for db in rc_planted rc_dump_src rc_dump_dst; do
	q -d postgres -c "DROP DATABASE IF EXISTS $db"
done
q -d postgres -c 'DROP ROLE IF EXISTS rc_dbowner' -c 'DROP ROLE IF EXISTS rc_dumper'
