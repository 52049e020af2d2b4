#!/usr/bin/env bash
# test/sh/catalog.sh: a fresh install of the current version and 0.1.0 updated step by step to it
# have the same catalogue: every function's definition and privileges, the aggregates, types,
# tables (columns, defaults, constraints, indexes, triggers, row level security and its policies),
# views, sequences, comments, the extension's dump configuration and its initial privileges.
# Run by test/sh/run against its cluster (PGHOST, PGPORT, PGUSER set); prints TAP.
#
#   test/sh/catalog.sh             compare, print the difference if there is one
#   test/sh/catalog.sh describe [PSQL ARGS]   print the description of a database's extension
set -uo pipefail
cd "$(dirname "$0")/../.."
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

# One line per fact about an object of the extension, identified by name, never by OID.
describe() {
	psql -X -At -v ON_ERROR_STOP=1 "$@" <<'SQL'
WITH ext AS (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'reconcile'),
mem AS (SELECT d.classid, d.objid FROM pg_catalog.pg_depend d, ext
        WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = ext.oid
          AND d.deptype = 'e'),
fns AS (SELECT p.* FROM pg_catalog.pg_proc p JOIN mem ON mem.classid = 'pg_catalog.pg_proc'::regclass
        AND mem.objid = p.oid),
rels AS (SELECT c.* FROM pg_catalog.pg_class c JOIN mem ON mem.classid = 'pg_catalog.pg_class'::regclass
         AND mem.objid = c.oid),
typs AS (SELECT t.* FROM pg_catalog.pg_type t JOIN mem ON mem.classid = 'pg_catalog.pg_type'::regclass
         AND mem.objid = t.oid),
facts(f) AS (
    -- functions and aggregates
    SELECT 'function ' || p.oid::regprocedure || E'\n' || pg_catalog.pg_get_functiondef(p.oid)
    FROM fns p WHERE p.prokind <> 'a'
    UNION ALL
    SELECT pg_catalog.format('aggregate %s(%s): trans %s, state %s, final %s (%s), combine %s, serial %s, deserial %s, %s',
                             p.oid::regproc, pg_catalog.pg_get_function_arguments(p.oid), a.aggtransfn,
                             a.aggtranstype::regtype, a.aggfinalfn, a.aggfinalmodify, a.aggcombinefn,
                             a.aggserialfn, a.aggdeserialfn, p.proparallel)
    FROM fns p JOIN pg_catalog.pg_aggregate a ON a.aggfnoid = p.oid
    UNION ALL
    SELECT pg_catalog.format('privileges of %s: %s', p.oid::regprocedure, COALESCE(p.proacl::text, 'default'))
    FROM fns p
    UNION ALL
    SELECT pg_catalog.format('comment on %s: %s', p.oid::regprocedure, pg_catalog.obj_description(p.oid, 'pg_proc'))
    FROM fns p
    -- types
    UNION ALL
    SELECT pg_catalog.format('enum %s: %s', t.oid::regtype,
                             (SELECT pg_catalog.string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder)
                              FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid))
    FROM typs t WHERE t.typtype = 'e'
    UNION ALL
    SELECT pg_catalog.format('type %s: %s, comment %s, privileges %s', t.oid::regtype, t.typtype,
                             pg_catalog.obj_description(t.oid, 'pg_type'), COALESCE(t.typacl::text, 'default'))
    FROM typs t
    -- relations: kind, options, row level security, privileges, comment
    UNION ALL
    SELECT pg_catalog.format('relation %s: kind %s, options %s, rls %s/%s, privileges %s, comment %s',
                             c.oid::regclass, c.relkind, c.reloptions, c.relrowsecurity, c.relforcerowsecurity,
                             COALESCE(c.relacl::text, 'default'), pg_catalog.obj_description(c.oid, 'pg_class'))
    FROM rels c
    UNION ALL
    SELECT pg_catalog.format('column %s.%s #%s: %s, not null %s, default %s, privileges %s, comment %s',
                             c.oid::regclass, a.attname, a.attnum, pg_catalog.format_type(a.atttypid, a.atttypmod),
                             a.attnotnull, pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attacl,
                             pg_catalog.col_description(c.oid, a.attnum))
    FROM rels c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
    UNION ALL
    SELECT pg_catalog.format('view %s: %s', c.oid::regclass, pg_catalog.pg_get_viewdef(c.oid))
    FROM rels c WHERE c.relkind = 'v'
    UNION ALL
    SELECT pg_catalog.format('constraint %s on %s: %s', con.conname, c.oid::regclass,
                             pg_catalog.pg_get_constraintdef(con.oid))
    FROM rels c JOIN pg_catalog.pg_constraint con ON con.conrelid = c.oid
    UNION ALL
    SELECT pg_catalog.format('index %s', pg_catalog.pg_get_indexdef(i.indexrelid))
    FROM rels c JOIN pg_catalog.pg_index i ON i.indrelid = c.oid
    UNION ALL
    SELECT pg_catalog.format('trigger %s', pg_catalog.pg_get_triggerdef(tg.oid))
    FROM rels c JOIN pg_catalog.pg_trigger tg ON tg.tgrelid = c.oid AND NOT tg.tgisinternal
    UNION ALL
    SELECT pg_catalog.format('policy %s on %s: %s for %s to %s using %s check %s', pol.polname, c.oid::regclass,
                             pol.polpermissive, pol.polcmd, pol.polroles::regrole[],
                             pg_catalog.pg_get_expr(pol.polqual, pol.polrelid),
                             pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid))
    FROM rels c JOIN pg_catalog.pg_policy pol ON pol.polrelid = c.oid
    UNION ALL
    SELECT pg_catalog.format('sequence %s: %s start %s increment %s min %s max %s cache %s cycle %s',
                             c.oid::regclass, s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
                             s.seqcache, s.seqcycle)
    FROM rels c JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid
    -- the schema, what pg_dump dumps of the extension's tables, initial privileges
    UNION ALL
    SELECT pg_catalog.format('schema %s: privileges %s, comment %s', n.nspname, n.nspacl,
                             pg_catalog.obj_description(n.oid, 'pg_namespace'))
    FROM pg_catalog.pg_namespace n WHERE n.nspname = 'reconcile'
    UNION ALL
    SELECT pg_catalog.format('dumped with the data: %s where %L', cfg.rel::regclass, cfg.cond)
    FROM pg_catalog.pg_extension e,
         LATERAL ROWS FROM (pg_catalog.unnest(e.extconfig), pg_catalog.unnest(e.extcondition)) AS cfg(rel, cond)
    WHERE e.extname = 'reconcile'
    UNION ALL
    SELECT pg_catalog.format('initial privileges of %s: %s', pg_catalog.pg_describe_object(ip.classoid, ip.objoid, ip.objsubid),
                             ip.initprivs)
    FROM pg_catalog.pg_init_privs ip JOIN mem ON mem.classid = ip.classoid AND mem.objid = ip.objoid
    UNION ALL
    SELECT 'member ' || pg_catalog.pg_describe_object(mem.classid, mem.objid, 0) FROM mem
)
SELECT f FROM facts ORDER BY f COLLATE "C";
SQL
}

if [ "${1:-}" = describe ]; then
	shift
	describe "$@"
	exit
fi

version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" reconcile.control)
# the update path from 0.1.0: each shipped upgrade script in turn
steps=$(ls sql/reconcile--*--*.sql | sed -E 's/.*--([0-9.]+)\.sql$/\1/' | sort -V | tr '\n' ' ')

fail=0
for db in rc_catalog_fresh rc_catalog_steps; do
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null || fail=1
done
psql -X -q -d rc_catalog_fresh -c 'CREATE EXTENSION reconcile' >/dev/null || fail=1
{
	echo "CREATE EXTENSION reconcile VERSION '0.1.0';"
	for v in $steps; do echo "ALTER EXTENSION reconcile UPDATE TO '$v';"; done
} | psql -X -q -v ON_ERROR_STOP=1 -d rc_catalog_steps >/dev/null || fail=1
echo "# update path: 0.1.0 $steps"

fresh=$(mktemp)
stepped=$(mktemp)
describe -d rc_catalog_fresh >"$fresh" || fail=1
describe -d rc_catalog_steps >"$stepped" || fail=1
got=$(psql -X -At -d rc_catalog_steps -c "SELECT extversion FROM pg_extension WHERE extname = 'reconcile'")

echo "1..3"
if [ "$got" = "$version" ] && [ "$fail" = 0 ]; then
	echo "ok 1 - 0.1.0 updates step by step to $version"
else
	echo "not ok 1 - 0.1.0 updated to '$got', not $version"
fi
n=$(wc -l <"$fresh")
# a description this short would mean the query found nothing to compare
if [ "$(grep -c '^function ' "$fresh")" -ge 40 ] && [ "$(grep -c '^column ' "$fresh")" -ge 60 ]; then
	echo "ok 2 - the description covers every object ($n lines, $(grep -c '^member ' "$fresh") objects)"
else
	echo "not ok 2 - the description is too short ($n lines)"
fi
if [ "$fail" = 0 ] && [ "$n" -gt 0 ] &&
	diff -u --label "fresh $version" --label "0.1.0 updated" "$fresh" "$stepped" >/dev/null; then
	echo "ok 3 - a fresh $version and 0.1.0 updated to it have the same catalogue"
else
	echo "not ok 3 - a fresh $version and 0.1.0 updated to it differ:"
	diff -u --label "fresh $version" --label "0.1.0 updated" "$fresh" "$stepped" | sed 's/^/# /' | head -200
fi
rm -f "$fresh" "$stepped"
for db in rc_catalog_fresh rc_catalog_steps; do
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null
done
