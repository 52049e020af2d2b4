/* reconcile--0.3.1--0.4.0.sql: trust: sources read with the caller's rights, history that belongs to
   its reconciliation, controls that cannot be bypassed */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION reconcile UPDATE TO '0.4.0'" to load this file. \quit

-- What changes for users (see the README's "Security model" and "0.4.0"):
-- - reconcile.run and reconcile.manual_match are C functions that read the sources with the
--   caller's rights and write the bookkeeping with the owner's, in a security-restricted operation;
-- - every run, result, cleared row, item and audit entry carries the id of the registration it was
--   made for; after drop, a reconciliation created under the same name sees none of it;
-- - the NOTIFY payload on channel reconcile is {"name", "run_id"} only;
-- - the registry is written only by reconcile.create and reconcile.drop;
-- - NULL and '' keys are two keys; ids of any length; invalid rows are left out of the proof's totals;
-- - maker-checker compares persons (the roles that logged in), acting roles and memberships;
-- - the follow-up functions are C entry points that read who acts where it cannot be faked, and
--   refuse to act inside a security-restricted operation; the registry's owner is a role id;
-- - keys and ids of date, time, interval, float and bytea types are written the same way in
--   every session (reconcile.key_text);
-- - views made before keep their query: reconcile.refresh_views(name) replaces them.


-- the new transition function and aggregate: rows matched by hand
CREATE FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text,
                                            reconcile.rule, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'rc_match_agg_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text, reconcile.rule, text) IS
'Internal: transition function of the views'' and runs'' reconcile.match_detail_agg: collects one row, with the match tag of a row matched by hand';
REVOKE ALL ON FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text, reconcile.rule, text) FROM PUBLIC;
CREATE AGGREGATE reconcile.match_detail_agg(is_ledger boolean, id text, amount numeric,
                                            tx_date date, ref text, batch text,
                                            rule reconcile.rule, manual text) (
    SFUNC = reconcile.match_agg_transfn,
    STYPE = internal,
    FINALFUNC = reconcile.match_detail_agg_finalfn,
    FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = reconcile.match_agg_combinefn,
    SERIALFUNC = reconcile.match_agg_serialfn,
    DESERIALFUNC = reconcile.match_agg_deserialfn,
    PARALLEL = RESTRICTED
);
COMMENT ON AGGREGATE reconcile.match_detail_agg(boolean, text, numeric, date, text, text, reconcile.rule, text) IS
'reconcile.match_detail_agg with the match tag of each row matched by hand (NULL for the others): those rows come back as manual, in pairs or groups as they were matched; used by the views and runs of reconcile.create';

-- the registry: an id per registration, written by the extension only
ALTER TABLE reconcile.reconciliations ADD COLUMN id bigserial UNIQUE;
COMMENT ON COLUMN reconcile.reconciliations.id IS 'The registration: its runs, results, cleared rows, items and audit entries carry it (recon_id), so that a reconciliation created again under a dropped one''s name sees none of its history';
SELECT pg_catalog.pg_extension_config_dump('reconcile.reconciliations_id_seq', '');
DROP POLICY reconciliations_insert ON reconcile.reconciliations;
DROP POLICY reconciliations_delete ON reconcile.reconciliations;
REVOKE INSERT, DELETE ON reconcile.reconciliations FROM PUBLIC;
-- the owner by its id: a role created later under a dropped owner's name is not its owner
ALTER TABLE reconcile.reconciliations ALTER COLUMN owner DROP DEFAULT, ALTER COLUMN owner DROP NOT NULL,
    ALTER COLUMN owner TYPE regrole USING pg_catalog.to_regrole(pg_catalog.quote_ident(owner));
COMMENT ON COLUMN reconcile.reconciliations.owner IS 'Role that created the reconciliation (by its id: a role created later under the same name is not its owner; NULL when the role was dropped before 0.4.0, then only superusers drop it)';

-- history keeps the registration it was made for (a run of a name that was dropped and made
-- again before this update belongs to the registration that existed when it ran, or to none)
ALTER TABLE reconcile.runs ADD COLUMN recon_id bigint;
ALTER TABLE reconcile.results ADD COLUMN recon_id bigint;
ALTER TABLE reconcile.cleared ADD COLUMN recon_id bigint;
ALTER TABLE reconcile.audit_log ADD COLUMN recon_id bigint;
ALTER TABLE reconcile.items ADD COLUMN recon_id bigint, ADD COLUMN resolved_session name, ADD COLUMN approved_session name;
ALTER TABLE reconcile.cleared ADD COLUMN made_by name;
UPDATE reconcile.runs u SET recon_id = r.id FROM reconcile.reconciliations r
WHERE u.name = r.name AND u.started_at >= r.created_at;
UPDATE reconcile.results x SET recon_id = u.recon_id FROM reconcile.runs u WHERE x.run_id = u.run_id;
UPDATE reconcile.items i SET recon_id = u.recon_id FROM reconcile.runs u WHERE i.first_run_id = u.run_id;
UPDATE reconcile.cleared c SET recon_id = r.id FROM reconcile.reconciliations r
WHERE c.name = r.name AND (c.run_id IS NULL OR EXISTS (SELECT FROM reconcile.runs u WHERE u.run_id = c.run_id AND u.recon_id = r.id));
ALTER TABLE reconcile.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE reconcile.audit_log a SET recon_id = r.id FROM reconcile.reconciliations r
WHERE a.name = r.name AND a.at >= r.created_at;
ALTER TABLE reconcile.audit_log ENABLE TRIGGER audit_log_append_only;
COMMENT ON COLUMN reconcile.runs.recon_id IS 'The registration the run was made for (reconciliations.id); NULL for history from before 0.4.0 that belonged to a dropped reconciliation';
COMMENT ON COLUMN reconcile.results.recon_id IS 'The registration the run was made for';
COMMENT ON COLUMN reconcile.cleared.recon_id IS 'The registration the rows were cleared for';
COMMENT ON COLUMN reconcile.audit_log.recon_id IS 'The registration the action was on';
COMMENT ON COLUMN reconcile.items.recon_id IS 'The registration it was found for';
COMMENT ON COLUMN reconcile.items.resolved_session IS 'The maker as a person: the role that logged in (SET SESSION AUTHORIZATION does not change it)';
COMMENT ON COLUMN reconcile.items.approved_session IS 'The checker as a person: the role that logged in';
COMMENT ON COLUMN reconcile.items.resolved_by IS 'Role that resolved it (the maker), as it acted';
COMMENT ON COLUMN reconcile.audit_log.action IS 'create, drop, run, assign, resolve, approve, reopen, manual_match or unmatch';
COMMENT ON COLUMN reconcile.cleared.made_by IS 'The role that matched the row by hand (a manual match; NULL for rows a run cleared)';

-- NULL and '' keys are two keys; unique indexes on hashes, which hold ids of any length
ALTER TABLE reconcile.cleared DROP CONSTRAINT cleared_pkey;
ALTER TABLE reconcile.cleared ALTER COLUMN key DROP NOT NULL;
UPDATE reconcile.cleared c SET key = NULL FROM reconcile.reconciliations r
WHERE c.recon_id = r.id AND c.key = '' AND NOT (r.columns -> 'ledger' ? 'key');
DROP INDEX reconcile.cleared_name_match_tag_idx;
DROP INDEX reconcile.items_identity;
ALTER TABLE reconcile.results DROP CONSTRAINT results_run_id_fkey;
CREATE FUNCTION reconcile.row_ident(key text, id text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'rc_row_ident'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.row_ident(text, text) IS
'Internal: the identity of a source row within its side (key, NULL apart from '''', and id), as a SHA-256 a unique index can hold';
CREATE FUNCTION reconcile.item_ident(key text, ledger_id text, statement_id text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'rc_item_ident'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.item_ident(text, text, text) IS
'Internal: the identity of an item (key, ledger row, statement row), as a SHA-256 a unique index can hold';
CREATE UNIQUE INDEX cleared_identity ON reconcile.cleared (recon_id, is_ledger, reconcile.row_ident(key, id));
CREATE INDEX ON reconcile.cleared (recon_id, match_tag);
CREATE INDEX cleared_manual ON reconcile.cleared (recon_id, is_ledger) WHERE category = 'manual';
CREATE UNIQUE INDEX items_identity ON reconcile.items
    (recon_id, reconcile.item_ident(key, ledger_id, statement_id))
    WHERE status <> 'cleared';
CREATE INDEX ON reconcile.runs (recon_id, run_id);

-- who may read what (replacing can_see)
DROP POLICY runs_visible ON reconcile.runs;
DROP POLICY results_visible ON reconcile.results;
DROP POLICY audit_visible ON reconcile.audit_log;
DROP POLICY cleared_visible ON reconcile.cleared;
DROP POLICY items_visible ON reconcile.items;
CREATE FUNCTION reconcile.narrowed(rel regclass, who name)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE reach(oid, reader) AS (
        SELECT rel::oid, (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = who)
        UNION
        SELECT d.refobjid,
               CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_options_to_table(v.reloptions) o
                                 WHERE o.option_name = 'security_invoker' AND o.option_value::boolean)
                    THEN b.reader ELSE v.relowner END
        FROM reach b
        JOIN pg_catalog.pg_class v ON v.oid = b.oid AND v.relkind = 'v'
        JOIN pg_catalog.pg_rewrite w ON w.ev_class = v.oid
        JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = w.oid
             AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> v.oid)
    SELECT EXISTS (
        SELECT FROM reach b
        LEFT JOIN pg_catalog.pg_class c ON c.oid = b.oid
        LEFT JOIN pg_catalog.pg_roles r ON r.oid = b.reader
        WHERE c.oid IS NULL OR r.oid IS NULL
           OR c.relkind NOT IN ('r', 'p', 'v', 'm')
           -- a table: its row level security, for the role that reads it
           OR (c.relkind IN ('r', 'p') AND c.relrowsecurity
               AND NOT (r.rolsuper OR r.rolbypassrls
                        OR (pg_catalog.pg_has_role(r.oid, c.relowner, 'USAGE') AND NOT c.relforcerowsecurity))
               AND NOT (EXISTS (SELECT FROM pg_catalog.pg_policy p
                                WHERE p.polrelid = c.oid AND p.polcmd IN ('r', '*') AND p.polpermissive
                                  AND (0::oid = ANY (p.polroles)
                                       OR EXISTS (SELECT FROM pg_catalog.unnest(p.polroles) pr
                                                  WHERE pg_catalog.pg_has_role(r.oid, pr, 'MEMBER')))
                                  AND pg_catalog.textregexeq(p.polqual::text,
                                      '^\{CONST :consttype 16 [^{}]* :constisnull false [^{}]*:constvalue 1 \[ (1 0 0 0 0 0 0 0|0 0 0 0 0 0 0 1) \]\}$'))
                        AND NOT EXISTS (SELECT FROM pg_catalog.pg_policy p
                                        WHERE p.polrelid = c.oid AND p.polcmd IN ('r', '*') AND NOT p.polpermissive
                                          AND (0::oid = ANY (p.polroles)
                                               OR EXISTS (SELECT FROM pg_catalog.unnest(p.polroles) pr
                                                          WHERE pg_catalog.pg_has_role(r.oid, pr, 'MEMBER'))))))
           -- a view: what its query calls (functions of other schemas, and operators, are in
           -- pg_depend; pg_catalog's are not, so they are read from the query's node tree)
           OR (c.relkind = 'v' AND EXISTS (
                   SELECT FROM pg_catalog.pg_rewrite w
                   WHERE w.ev_class = c.oid
                     AND (pg_catalog.textregexeq(w.ev_action::text, '\{SQLVALUEFUNCTION :op (9|1[0-4]) ')
                          OR EXISTS (SELECT FROM pg_catalog.pg_depend d
                                     WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = w.oid
                                       AND d.refclassid IN ('pg_catalog.pg_proc'::regclass,
                                                            'pg_catalog.pg_operator'::regclass,
                                                            'pg_catalog.pg_aggregate'::regclass))
                          OR EXISTS (SELECT FROM pg_catalog.regexp_matches(w.ev_action::text,
                                                     ':(?:funcid|opfuncid|aggfnoid|winfnoid) (\d+) ', 'g') m
                                     JOIN pg_catalog.pg_proc f ON f.oid = m[1]::oid
                                     WHERE f.provolatile = 'v' OR f.prosecdef
                                        OR f.proname ~ '^(current_|session_|has_.*_privilege$|pg_has_role$|row_security_active$|pg_my_temp_schema$|pg_is_other_temp_schema$|pg_backend_pid$|inet_client_|pg_current_)'))))
    )
$$;
COMMENT ON FUNCTION reconcile.narrowed(regclass, name) IS
'Internal: whether what the relation shows may depend, for the role, on who reads it (row level security that narrows it, on it or on what its views read; a view calling functions that may depend on the reader, or a foreign table); not when a permissive USING (true) policy applies and no restrictive one';
CREATE FUNCTION reconcile.readable(whole boolean, who name DEFAULT current_user)
RETURNS SETOF bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.id FROM reconcile.reconciliations r
    WHERE pg_catalog.has_table_privilege(who, r.ledger, 'SELECT')
      AND pg_catalog.has_table_privilege(who, r.statement, 'SELECT')
      AND (reconcile.narrowed(r.ledger, who) OR reconcile.narrowed(r.statement, who)) <> whole
$$;
COMMENT ON FUNCTION reconcile.readable(boolean, name) IS
'Internal (the row level security of the extension''s tables): the reconciliations whose whole history the role may read (whole), or only what its own runs made (not whole: row level security narrows a source for it)';
CREATE POLICY runs_visible ON reconcile.runs FOR SELECT
    USING (recon_id IN (SELECT reconcile.readable(true))
           OR (run_by = current_user AND recon_id IN (SELECT reconcile.readable(false))));
CREATE POLICY results_visible ON reconcile.results FOR SELECT
    USING (recon_id IN (SELECT reconcile.readable(true))
           OR (recon_id IN (SELECT reconcile.readable(false))
               AND run_id IN (SELECT u.run_id FROM reconcile.runs u WHERE u.run_by = current_user)));
CREATE POLICY audit_visible ON reconcile.audit_log FOR SELECT
    USING (recon_id IN (SELECT reconcile.readable(true))
           OR (acting_role = current_user AND recon_id IN (SELECT reconcile.readable(false))));
CREATE POLICY cleared_visible ON reconcile.cleared FOR SELECT
    USING (recon_id IN (SELECT reconcile.readable(true))
           OR (recon_id IN (SELECT reconcile.readable(false))
               AND (run_id IN (SELECT u.run_id FROM reconcile.runs u WHERE u.run_by = current_user)
                    OR made_by = current_user)));
CREATE POLICY items_visible ON reconcile.items FOR SELECT
    USING (recon_id IN (SELECT reconcile.readable(true))
           OR (recon_id IN (SELECT reconcile.readable(false))
               AND last_run_id IN (SELECT u.run_id FROM reconcile.runs u WHERE u.run_by = current_user)));

-- the audit log names the registration
DROP FUNCTION reconcile.audit(text, text, bigint, jsonb);
CREATE FUNCTION reconcile.audit(recon_id bigint, action text, name text, item_id bigint, details jsonb,
                                actor name)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO reconcile.audit_log (acting_role, action, name, item_id, details, recon_id)
    VALUES (actor, action, name, item_id, details, recon_id)
$$;
COMMENT ON FUNCTION reconcile.audit(bigint, text, text, bigint, jsonb, name) IS
'Internal: appends one audit_log entry, for the acting role the entry point read (src/act.c, src/run.c)';
REVOKE ALL ON FUNCTION reconcile.audit(bigint, text, text, bigint, jsonb, name) FROM PUBLIC;

-- registrations, their locks, create and drop
DROP FUNCTION reconcile.registered(text, boolean);
CREATE FUNCTION reconcile.registered(name text, who name)
RETURNS reconcile.reconciliations
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg reconcile.reconciliations;
BEGIN
    SELECT * INTO reg FROM reconcile.reconciliations r WHERE r.name = registered.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reconciliation "%" does not exist', name USING ERRCODE = '42704';
    END IF;
    -- (has_table_privilege is NULL for a relation that was dropped)
    IF NOT COALESCE(pg_catalog.has_table_privilege(who, reg.ledger, 'SELECT')
                    AND pg_catalog.has_table_privilege(who, reg.statement, 'SELECT'), false) THEN
        RAISE EXCEPTION 'permission denied for reconciliation "%"', name
            USING ERRCODE = '42501',
                  HINT = 'The role needs SELECT on both of its source relations.';
    END IF;
    RETURN reg;
END
$$;
COMMENT ON FUNCTION reconcile.registered(text, name) IS
'Internal: the registry row of a reconciliation whose sources the role may SELECT (42704 unknown, 42501 no access)';
CREATE FUNCTION reconcile.lock_registration(id bigint, nowait boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF nowait THEN
        PERFORM FROM reconcile.reconciliations r WHERE r.id = lock_registration.id FOR UPDATE NOWAIT;
    ELSE
        PERFORM FROM reconcile.reconciliations r WHERE r.id = lock_registration.id FOR UPDATE;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reconciliation % was dropped', id USING ERRCODE = '42704';
    END IF;
EXCEPTION WHEN lock_not_available THEN
    RAISE EXCEPTION 'reconciliation "%" is being run by another session',
                    (SELECT r.name FROM reconcile.reconciliations r WHERE r.id = lock_registration.id)
        USING ERRCODE = '55P03', HINT = 'One run of a reconciliation at a time; try again when it has ended.';
END
$$;
COMMENT ON FUNCTION reconcile.lock_registration(bigint, boolean) IS
'Internal: locks a registration for the rest of the transaction (with nowait, 55P03 at once when a run holds it)';
REVOKE ALL ON FUNCTION reconcile.lock_registration(bigint, boolean) FROM PUBLIC;
CREATE FUNCTION reconcile.register_by(actor name, person name, name text, ledger regclass,
                                      statement regclass, rule reconcile.rule, columns jsonb,
                                      view_schema name)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r   reconcile.rule;
    rid bigint;
BEGIN
    IF name IS NULL OR name !~ '^[a-z_][a-z0-9_]{0,40}$' THEN
        RAISE EXCEPTION 'invalid reconciliation name "%"', name USING ERRCODE = '22023';
    END IF;
    IF ledger IS NULL OR statement IS NULL OR rule IS NULL OR columns IS NULL OR view_schema IS NULL THEN
        RAISE EXCEPTION 'a registration needs every argument' USING ERRCODE = '22023';
    END IF;
    r := reconcile.rule(rule.abs_tol, rule.rel_tol, rule.days_before, rule.days_after, rule.use_ref, rule.as_of);
    IF NOT COALESCE(pg_catalog.has_table_privilege(actor, ledger, 'SELECT')
                    AND pg_catalog.has_table_privilege(actor, statement, 'SELECT'), false) THEN
        RAISE EXCEPTION 'permission denied to reconcile % against %', ledger, statement
            USING ERRCODE = '42501', HINT = 'The role needs SELECT on both relations.';
    END IF;
    INSERT INTO reconcile.reconciliations (name, ledger, statement, rule, columns, view_schema, owner)
    VALUES (register_by.name, ledger, statement, r, columns, view_schema,
            (SELECT o.oid FROM pg_catalog.pg_roles o WHERE o.rolname = actor)::regrole)
    ON CONFLICT DO NOTHING
    RETURNING id INTO rid;
    IF rid IS NULL THEN
        RAISE EXCEPTION 'reconciliation "%" already exists', name USING ERRCODE = '42710';
    END IF;
    PERFORM reconcile.audit(rid, 'create', name, NULL,
                            pg_catalog.jsonb_build_object('ledger', ledger::text, 'statement', statement::text,
                                                          'rule', pg_catalog.to_jsonb(r), 'columns', columns,
                                                          'view_schema', view_schema), actor);
    RETURN rid;
END
$$;
COMMENT ON FUNCTION reconcile.register_by(name, name, text, regclass, regclass, reconcile.rule, jsonb, name) IS
'Internal to reconcile.register (src/act.c), as the tables'' owner: registers a reconciliation for the acting role (who must be able to SELECT both sources) and audits it; 42710 when the name is taken';
REVOKE ALL ON FUNCTION reconcile.register_by(name, name, text, regclass, regclass, reconcile.rule, jsonb, name) FROM PUBLIC;
CREATE FUNCTION reconcile.register(name text, ledger regclass, statement regclass, rule reconcile.rule,
                                   columns jsonb, view_schema name)
RETURNS bigint
AS 'MODULE_PATHNAME', 'rc_act'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.register(text, regclass, regclass, reconcile.rule, jsonb, name) IS
'Internal to reconcile.create: registers a reconciliation for the acting role (who must be able to SELECT both sources) and audits it; 42710 when the name is taken';
CREATE FUNCTION reconcile.unregister_by(actor name, person name, name text)
RETURNS reconcile.reconciliations
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg reconcile.reconciliations;
    me  oid := (SELECT o.oid FROM pg_catalog.pg_roles o WHERE o.rolname = actor);
BEGIN
    SELECT * INTO reg FROM reconcile.reconciliations r WHERE r.name = unregister_by.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reconciliation "%" does not exist', name USING ERRCODE = '42704';
    END IF;
    IF NOT (SELECT o.rolsuper FROM pg_catalog.pg_roles o WHERE o.oid = me)
       AND NOT COALESCE(EXISTS (SELECT FROM pg_catalog.pg_roles o WHERE o.oid = reg.owner)
                        AND pg_catalog.pg_has_role(me, reg.owner, 'MEMBER'), false) THEN
        RAISE EXCEPTION 'permission denied to drop reconciliation "%"', name
            USING ERRCODE = '42501', HINT = 'Only its owner can drop it.';
    END IF;
    DELETE FROM reconcile.reconciliations r WHERE r.id = reg.id;
    PERFORM reconcile.audit(reg.id, 'drop', name, NULL, '{}', actor);
    RETURN reg;
END
$$;
COMMENT ON FUNCTION reconcile.unregister_by(name, name, text) IS
'Internal to reconcile.unregister (src/act.c), as the tables'' owner: removes a registration for its owner, after any run that holds it, and audits it; its history keeps the registration id';
REVOKE ALL ON FUNCTION reconcile.unregister_by(name, name, text) FROM PUBLIC;
CREATE FUNCTION reconcile.unregister(name text)
RETURNS reconcile.reconciliations
AS 'MODULE_PATHNAME', 'rc_act'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.unregister(text) IS
'Internal to reconcile.drop: removes a registration for its owner, after any run that holds it, and audits it; its history keeps the registration id';
-- keys and ids written the same way in every session
CREATE FUNCTION reconcile.key_text(value anyelement)
RETURNS text
AS 'MODULE_PATHNAME', 'rc_key_text'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.key_text(anyelement) IS
'Internal: the text of a date, timestamp, timestamptz, interval, float or bytea key or id, the same under any DateStyle, TimeZone, IntervalStyle, extra_float_digits and bytea_output (ISO, UTC, postgres, shortest exact, hex)';
CREATE FUNCTION reconcile.text_sql(rel regclass, col text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE t(oid, base) AS (
        SELECT y.oid, y.typbasetype
        FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type y ON y.oid = a.atttypid
        WHERE a.attrelid = rel AND a.attname = col AND NOT a.attisdropped
        UNION ALL
        SELECT y.oid, y.typbasetype FROM t JOIN pg_catalog.pg_type y ON y.oid = t.base WHERE t.base <> 0)
    SELECT CASE WHEN EXISTS (SELECT FROM t WHERE t.base = 0 AND t.oid IN (
                    'pg_catalog.date'::pg_catalog.regtype, 'pg_catalog.timestamp'::pg_catalog.regtype,
                    'pg_catalog.timestamptz'::pg_catalog.regtype, 'pg_catalog.interval'::pg_catalog.regtype,
                    'pg_catalog.float4'::pg_catalog.regtype, 'pg_catalog.float8'::pg_catalog.regtype,
                    'pg_catalog.bytea'::pg_catalog.regtype))
                THEN pg_catalog.format('reconcile.key_text(%I)', col)
                ELSE pg_catalog.format('(%I)::text', col) END
$$;
COMMENT ON FUNCTION reconcile.text_sql(regclass, text) IS
'Internal to reconcile.side_sql: the SQL that writes a key or id column as text the same way in every session';
CREATE OR REPLACE FUNCTION reconcile.side_sql(rel regclass, is_ledger boolean, cols jsonb, raw_key boolean)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.format(
        'SELECT %s AS key, %s AS is_ledger, %s AS id, %s AS amount, %s AS tx_date, %s AS ref, %s AS batch FROM %s',
        CASE WHEN NOT cols ? 'key' THEN 'NULL::text'
             WHEN raw_key THEN pg_catalog.format('%I', cols ->> 'key')
             ELSE reconcile.text_sql(rel, cols ->> 'key') END,
        CASE WHEN is_ledger THEN 'true' ELSE 'false' END,
        reconcile.text_sql(rel, cols ->> 'id'),
        pg_catalog.format('(%I)::numeric', cols ->> 'amount'),
        pg_catalog.format('(%I)::date', cols ->> 'tx_date'),
        CASE WHEN cols ? 'ref' THEN pg_catalog.format('(%I)::text', cols ->> 'ref') ELSE 'NULL::text' END,
        CASE WHEN cols ? 'batch' THEN pg_catalog.format('(%I)::text', cols ->> 'batch') ELSE 'NULL::text' END,
        rel)
$$;
COMMENT ON FUNCTION reconcile.side_sql(regclass, boolean, jsonb, boolean) IS
'Internal to reconcile.matching_sql: the SELECT of one source in canonical columns (key first, as Citus needs; as stored when raw_key)';
DROP FUNCTION reconcile.matching_sql(regclass, regclass, jsonb, reconcile.rule, text);
DROP FUNCTION reconcile.open_side_sql(regclass, boolean, jsonb, text, boolean);
CREATE FUNCTION reconcile.source_sql(rel regclass, is_ledger boolean, cols jsonb, raw_key boolean,
                                     recon_id bigint, mode text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE mode
        WHEN 'run_by_value' THEN pg_catalog.format(
            'SELECT src.*, m.tag AS manual FROM (%s) src '
            'LEFT JOIN pg_catalog.unnest($%s::bytea[]) x(h) '
            'ON x.h OPERATOR(pg_catalog.=) reconcile.row_ident((src.key)::text, src.id) '
            'LEFT JOIN ROWS FROM (pg_catalog.unnest($%s::bytea[]), pg_catalog.unnest($%s::text[])) m(h, tag) '
            'ON m.h OPERATOR(pg_catalog.=) reconcile.row_ident((src.key)::text, src.id) WHERE x.h IS NULL',
            reconcile.side_sql(rel, is_ledger, cols, raw_key),
            CASE WHEN is_ledger THEN 1 ELSE 4 END, CASE WHEN is_ledger THEN 2 ELSE 5 END,
            CASE WHEN is_ledger THEN 3 ELSE 6 END)
        WHEN 'run' THEN pg_catalog.format(
            'SELECT src.*, m.match_tag AS manual FROM (%s) src '
            'LEFT JOIN (SELECT c.key, c.id FROM reconcile.cleared c WHERE c.recon_id OPERATOR(pg_catalog.=) %s '
            'AND c.is_ledger OPERATOR(pg_catalog.=) %s AND c.run_id IS NOT NULL) c '
            'ON c.id OPERATOR(pg_catalog.=) src.id '
            'AND c.key IS NOT DISTINCT FROM (src.key)::text '
            'LEFT JOIN (SELECT c.key, c.id, c.match_tag FROM reconcile.cleared c '
            'WHERE c.recon_id OPERATOR(pg_catalog.=) %s AND c.is_ledger OPERATOR(pg_catalog.=) %s '
            'AND c.category OPERATOR(pg_catalog.=) ''manual''::reconcile.category AND c.run_id IS NULL) m '
            'ON m.id OPERATOR(pg_catalog.=) src.id AND m.key IS NOT DISTINCT FROM (src.key)::text '
            'WHERE c.id IS NULL',
            reconcile.side_sql(rel, is_ledger, cols, raw_key), recon_id,
            CASE WHEN is_ledger THEN 'true' ELSE 'false' END, recon_id,
            CASE WHEN is_ledger THEN 'true' ELSE 'false' END)
        ELSE pg_catalog.format(
            'SELECT src.*, c.match_tag AS manual FROM (%s) src LEFT JOIN (SELECT c.key, c.id, c.match_tag '
            'FROM reconcile.cleared c WHERE c.recon_id OPERATOR(pg_catalog.=) %s '
            'AND c.is_ledger OPERATOR(pg_catalog.=) %s AND c.category OPERATOR(pg_catalog.=) '
            '''manual''::reconcile.category) c ON c.id OPERATOR(pg_catalog.=) src.id '
            'AND c.key IS NOT DISTINCT FROM (src.key)::text',
            reconcile.side_sql(rel, is_ledger, cols, raw_key), recon_id,
            CASE WHEN is_ledger THEN 'true' ELSE 'false' END)
    END
$$;
COMMENT ON FUNCTION reconcile.source_sql(regclass, boolean, jsonb, boolean, bigint, text) IS
'Internal to reconcile.matching_sql: the SELECT of one source with the match tag of its manual rows; for a run (mode run, or run_by_value with the cleared rows as parameters), only the rows no earlier run cleared and the manual ones not yet reported';
CREATE FUNCTION reconcile.matching_sql(reg reconcile.reconciliations, as_of date, mode text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.format(
        'SELECT (s.key)::text AS key, (s.m).* '
        'FROM (SELECT g.key, pg_catalog.unnest(g.ms) AS m '
        'FROM (SELECT u.key, reconcile.match_detail_agg(u.is_ledger, u.id, u.amount, u.tx_date, u.ref, '
        'u.batch, %s, u.manual) AS ms FROM (%s UNION ALL %s) u GROUP BY u.key) g) s',
        reconcile.rule_sql(CASE WHEN mode <> 'view'
                                THEN ROW((reg.rule).abs_tol, (reg.rule).rel_tol, (reg.rule).days_before,
                                         (reg.rule).days_after, (reg.rule).use_ref, as_of)::reconcile.rule
                                ELSE reg.rule END),
        reconcile.source_sql(reg.ledger, true, reg.columns -> 'ledger', k.raw, reg.id, mode),
        reconcile.source_sql(reg.statement, false, reg.columns -> 'statement', k.raw, reg.id, mode))
    FROM (SELECT reconcile.raw_key(reg.ledger, reg.statement, reg.columns) AS raw) k
$$;
COMMENT ON FUNCTION reconcile.matching_sql(reconcile.reconciliations, date, text) IS
'Internal to reconcile.create and reconcile.run: the query that matches a reconciliation''s sources per key (for a run, as of a date, only the rows no earlier run cleared); Citus pushes it down';
CREATE FUNCTION reconcile.define_views(reg reconcile.reconciliations, replace boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    how  text := CASE WHEN replace THEN 'CREATE OR REPLACE VIEW' ELSE 'CREATE VIEW' END;
    nsp  name := reg.view_schema;
    name text := reg.name;
BEGIN
    EXECUTE pg_catalog.format('%s %I.%I WITH (security_invoker = true) AS %s',
                              how, nsp, name || '_matches', reconcile.matching_sql(reg, NULL, 'view'));
    EXECUTE pg_catalog.format(
        '%s %I.%I WITH (security_invoker = true) AS SELECT * FROM %I.%I '
        'WHERE reconcile.is_discrepancy(category)',
        how, nsp, name || '_discrepancies', nsp, name || '_matches');
    EXECUTE pg_catalog.format(
        '%s %I.%I WITH (security_invoker = true) AS '
        'SELECT key, category, pg_catalog.sum(n)::bigint AS rows, pg_catalog.sum(la) AS ledger_amount, '
        'pg_catalog.sum(sa) AS statement_amount, pg_catalog.sum(ad) AS amount_diff '
        'FROM (SELECT key, category, group_id, pg_catalog.count(*) AS n, '
        'CASE WHEN category OPERATOR(pg_catalog.=) ''one_to_many'' THEN pg_catalog.max(ledger_amount) '
        'ELSE pg_catalog.sum(ledger_amount) END AS la, '
        'CASE WHEN category OPERATOR(pg_catalog.=) ''many_to_one'' THEN pg_catalog.max(statement_amount) '
        'ELSE pg_catalog.sum(statement_amount) END AS sa, '
        'pg_catalog.sum(amount_diff) AS ad FROM %I.%I GROUP BY key, category, group_id) x '
        'GROUP BY key, category',
        how, nsp, name || '_summary', nsp, name || '_matches');

    EXECUTE pg_catalog.format('COMMENT ON VIEW %I.%I IS %L', nsp, name || '_matches',
        pg_catalog.format('Reconciliation %s: every row of %s and %s with its category (reconcile.create)', name, reg.ledger, reg.statement));
    EXECUTE pg_catalog.format('COMMENT ON VIEW %I.%I IS %L', nsp, name || '_discrepancies',
        pg_catalog.format('Reconciliation %s: the rows of %s_matches that need follow-up (not matched, matched_within_tolerance, many_to_one, one_to_many or manual)', name, name));
    EXECUTE pg_catalog.format('COMMENT ON VIEW %I.%I IS %L', nsp, name || '_summary',
        pg_catalog.format('Reconciliation %s: rows, ledger and statement amounts and difference per key and category (each statement row of a many_to_one group and ledger row of a one_to_many group counted once)', name));
END
$$;
COMMENT ON FUNCTION reconcile.define_views(reconcile.reconciliations, boolean) IS
'Internal to reconcile.create (and the update to 0.4.0): creates or replaces the three views of a registration, as the calling role';
CREATE OR REPLACE FUNCTION reconcile.create_in(nsp text, name text, ledger regclass, statement regclass,
                                    rule reconcile.rule, columns jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r         reconcile.rule;
    side      text;
    canonical text;
    resolved  jsonb := '{}';
    sidecols  jsonb;
    rel       regclass;
    col       text;
    rid       bigint;
BEGIN
    IF name IS NULL OR name !~ '^[a-z_][a-z0-9_]{0,40}$' THEN
        RAISE EXCEPTION 'invalid reconciliation name "%"', name
            USING ERRCODE = '22023',
                  HINT = 'A name is 1 to 41 lower-case letters, digits and underscores, not starting with a digit.';
    END IF;
    IF ledger IS NULL OR statement IS NULL THEN
        RAISE EXCEPTION 'ledger and statement must not be null' USING ERRCODE = '22023';
    END IF;
    IF rule IS NULL THEN
        RAISE EXCEPTION '"rule" must not be null' USING ERRCODE = '22023';
    END IF;
    -- the C constructor validates every field
    r := reconcile.rule(rule.abs_tol, rule.rel_tol, rule.days_before, rule.days_after,
                        rule.use_ref, rule.as_of);
    IF nsp IS NULL THEN
        RAISE EXCEPTION 'no schema has been selected to create the views in'
            USING ERRCODE = '3F000';
    END IF;
    IF EXISTS (SELECT 1 FROM reconcile.reconciliations c WHERE c.name = create_in.name) THEN
        RAISE EXCEPTION 'reconciliation "%" already exists', name USING ERRCODE = '42710';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c
               WHERE c.relnamespace = (SELECT n.oid FROM pg_catalog.pg_namespace n WHERE n.nspname = nsp)
                 AND c.relname IN (name || '_matches', name || '_discrepancies', name || '_summary')) THEN
        RAISE EXCEPTION 'relation "%" already exists in schema "%"', name || '_matches', nsp
            USING ERRCODE = '42710',
                  DETAIL = 'One of the views of the reconciliation would replace it.';
    END IF;

    -- resolve the column mapping, side by side
    columns := COALESCE(columns, '{}');
    IF pg_catalog.jsonb_typeof(columns) <> 'object' THEN
        RAISE EXCEPTION '"columns" must be a JSON object' USING ERRCODE = '22023';
    END IF;
    FOR side IN SELECT pg_catalog.jsonb_object_keys(columns) LOOP
        IF side NOT IN ('ledger', 'statement') THEN
            RAISE EXCEPTION 'unknown side "%" in "columns"', side
                USING ERRCODE = '22023', HINT = 'The sides are "ledger" and "statement".';
        END IF;
        IF pg_catalog.jsonb_typeof(columns -> side) <> 'object' THEN
            RAISE EXCEPTION 'column mapping of the % must be a JSON object', side USING ERRCODE = '22023';
        END IF;
        FOR canonical IN SELECT pg_catalog.jsonb_object_keys(columns -> side) LOOP
            IF canonical NOT IN ('id', 'amount', 'tx_date', 'ref', 'batch', 'key') THEN
                RAISE EXCEPTION 'unknown column "%" in the % mapping', canonical, side
                    USING ERRCODE = '22023',
                          HINT = 'The canonical columns are id, amount, tx_date, ref, batch and key.';
            END IF;
        END LOOP;
    END LOOP;
    FOREACH side IN ARRAY ARRAY['ledger', 'statement'] LOOP
        rel := CASE side WHEN 'ledger' THEN ledger ELSE statement END;
        sidecols := '{}';
        FOREACH canonical IN ARRAY ARRAY['id', 'amount', 'tx_date', 'ref', 'batch', 'key'] LOOP
            col := reconcile.resolve_column(rel, side, canonical, COALESCE(columns -> side, '{}'),
                                            canonical IN ('id', 'amount', 'tx_date'));
            IF col IS NOT NULL THEN
                sidecols := sidecols || pg_catalog.jsonb_build_object(canonical, col);
            END IF;
        END LOOP;
        resolved := resolved || pg_catalog.jsonb_build_object(side, sidecols);
    END LOOP;
    IF (resolved -> 'ledger' ? 'key') <> (resolved -> 'statement' ? 'key') THEN
        RAISE EXCEPTION 'a key column must be on both sides or on neither'
            USING ERRCODE = '22023',
                  DETAIL = pg_catalog.format('The key is only on the %s side.',
                                             CASE WHEN resolved -> 'ledger' ? 'key' THEN 'ledger' ELSE 'statement' END);
    END IF;

    -- the registry is the extension's; the views are the caller's
    rid := reconcile.register(name, ledger, statement, r, resolved, nsp);
    PERFORM reconcile.define_views(reg, false) FROM reconcile.reconciliations reg WHERE reg.id = rid;
END
$$;
DROP FUNCTION reconcile.forget(text);
CREATE OR REPLACE FUNCTION reconcile."drop"(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg reconcile.reconciliations := reconcile.unregister(name);
BEGIN
    EXECUTE pg_catalog.format('DROP VIEW IF EXISTS %I.%I, %I.%I, %I.%I',
                              reg.view_schema, name || '_summary',
                              reg.view_schema, name || '_discrepancies',
                              reg.view_schema, name || '_matches');
    IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron')
       AND pg_catalog.has_schema_privilege('cron', 'USAGE') THEN
        EXECUTE 'SELECT cron.unschedule(j.jobid) FROM cron.job j WHERE j.jobname = $1'
            USING 'reconcile:' || name;
    END IF;
END
$$;
COMMENT ON FUNCTION reconcile."drop"(text) IS
'Drops a reconciliation: its registration (42704 when unknown, 42501 for anyone but its owner), its three views and its pg_cron job; its runs, results, items and audit entries stay with the registration they were made for, readable by superusers';
CREATE FUNCTION reconcile.refresh_views(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg reconcile.reconciliations := reconcile.registered(name, current_user);
BEGIN
    PERFORM reconcile.define_views(reg, true);
END
$$;
COMMENT ON FUNCTION reconcile.refresh_views(text) IS
'Replaces the three views of a reconciliation with the current version''s (after an update: 0.4.0''s show manual matches), as the calling role, who must own them';
CREATE OR REPLACE FUNCTION reconcile.schedule(name text, schedule text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM reconcile.require_pg_cron();
    PERFORM reconcile.registered(name, current_user);
    RETURN cron.schedule('reconcile:' || name, schedule,
                         pg_catalog.format('SELECT reconcile.run(%L)', name));
END
$$;

-- runs: one C entry point, the bookkeeping as the owner
CREATE FUNCTION reconcile.run_query(recon_id bigint, as_of date, caller name)
RETURNS TABLE (query text, ledger_out bytea[], ledger_manual bytea[], ledger_tags text[],
               statement_out bytea[], statement_manual bytea[], statement_tags text[])
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    reg reconcile.reconciliations;
BEGIN
    PERFORM reconcile.lock_registration(recon_id, true);
    SELECT * INTO STRICT reg FROM reconcile.reconciliations r WHERE r.id = run_query.recon_id;
    IF NOT (reconcile.narrowed(reg.ledger, caller) OR reconcile.narrowed(reg.statement, caller)) THEN
        RETURN QUERY SELECT reconcile.matching_sql(reg, run_query.as_of, 'run'), NULL::bytea[], NULL::bytea[],
                            NULL::text[], NULL::bytea[], NULL::bytea[], NULL::text[];
        RETURN;
    END IF;
    RETURN QUERY
    SELECT reconcile.matching_sql(reg, run_query.as_of, 'run_by_value'),
           COALESCE(pg_catalog.array_agg(c.h) FILTER (WHERE c.is_ledger AND NOT c.unreported), '{}'),
           COALESCE(pg_catalog.array_agg(c.h) FILTER (WHERE c.is_ledger AND c.unreported), '{}'),
           COALESCE(pg_catalog.array_agg(c.match_tag) FILTER (WHERE c.is_ledger AND c.unreported), '{}'),
           COALESCE(pg_catalog.array_agg(c.h) FILTER (WHERE NOT c.is_ledger AND NOT c.unreported), '{}'),
           COALESCE(pg_catalog.array_agg(c.h) FILTER (WHERE NOT c.is_ledger AND c.unreported), '{}'),
           COALESCE(pg_catalog.array_agg(c.match_tag) FILTER (WHERE NOT c.is_ledger AND c.unreported), '{}')
    FROM (SELECT x.is_ledger, x.match_tag, reconcile.row_ident(x.key, x.id) AS h,
                 x.category = 'manual' AND x.run_id IS NULL AS unreported
          FROM reconcile.cleared x WHERE x.recon_id = reg.id) c;
END
$$;
COMMENT ON FUNCTION reconcile.run_query(bigint, date, name) IS
'Internal to reconcile.run: locks the registration (55P03 at once while another run holds it) and returns the query of the run, with the cleared rows as parameters for a caller narrowed by row level security';
REVOKE ALL ON FUNCTION reconcile.run_query(bigint, date, name) FROM PUBLIC;
CREATE FUNCTION reconcile.captured()
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'rc_captured'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.captured() IS
'Internal: the rows reconcile.run or reconcile.manual_match read with the caller''s rights, to their own bookkeeping only (42501 anywhere else)';
REVOKE ALL ON FUNCTION reconcile.captured() FROM PUBLIC;
CREATE FUNCTION reconcile.record_run(recon_id bigint, as_of date, started_at timestamptz, run_by name,
                                     read_rows bigint)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_nestloop = off
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    reg     reconcile.reconciliations;
    rid     bigint;
    cnt     jsonb;
    lrows   bigint;
    srows   bigint;
    unread  bigint[] := '{}';
BEGIN
    SELECT * INTO STRICT reg FROM reconcile.reconciliations r WHERE r.id = record_run.recon_id;
    INSERT INTO reconcile.runs (name, as_of, started_at, run_by, recon_id)
    VALUES (reg.name, record_run.as_of, record_run.started_at, record_run.run_by, reg.id)
    RETURNING run_id INTO rid;

    INSERT INTO reconcile.results (run_id, name, key, ledger_id, statement_id, category, amount_diff,
                                   days_diff, score, group_id, note, ledger_amount, statement_amount,
                                   ledger_date, statement_date, recon_id)
    SELECT rid, reg.name, t.key, t.ledger_id, t.statement_id, t.category, t.amount_diff, t.days_diff,
           t.score, t.group_id, t.note, t.ledger_amount, t.statement_amount, t.ledger_date,
           t.statement_date, reg.id
    FROM reconcile.captured() AS t(key text, ledger_id text, statement_id text, category reconcile.category,
                                   amount_diff numeric, days_diff integer, score double precision,
                                   group_id integer, note text, ledger_amount numeric,
                                   statement_amount numeric, ledger_date date, statement_date date);

    -- matched rows are cleared for good; the rows matched together share a tag
    -- (a pair's rows are on one result row each; the shared row of a group is on each of its lines,
    -- so only groups need DISTINCT, and the unique index would refuse any other repeat)
    INSERT INTO reconcile.cleared (name, is_ledger, key, id, category, run_id, match_tag, recon_id)
    SELECT reg.name, side.is_ledger, x.key, side.id, x.category, rid,
           'r' || rid || ':' || pg_catalog.encode(reconcile.row_ident(x.key, 'l' || x.ledger_id), 'hex'),
           reg.id
    FROM reconcile.results x
    CROSS JOIN LATERAL (VALUES (true, x.ledger_id), (false, x.statement_id)) AS side(is_ledger, id)
    WHERE x.run_id = rid AND side.id IS NOT NULL AND reconcile.clears(x.category) AND x.group_id IS NULL
    UNION ALL
    SELECT DISTINCT ON (side.is_ledger, x.key, side.id)
           reg.name, side.is_ledger, x.key, side.id, x.category, rid,
           'r' || rid || ':' || pg_catalog.encode(reconcile.row_ident(x.key, 'g' || x.group_id), 'hex'),
           reg.id
    FROM reconcile.results x
    CROSS JOIN LATERAL (VALUES (true, x.ledger_id), (false, x.statement_id)) AS side(is_ledger, id)
    WHERE x.run_id = rid AND side.id IS NOT NULL AND reconcile.clears(x.category) AND x.group_id IS NOT NULL;

    -- the manual matches this run reported are reported once
    WITH reported AS MATERIALIZED (
        SELECT side.is_ledger, x.key, side.id
        FROM reconcile.results x
        CROSS JOIN LATERAL (VALUES (true, x.ledger_id), (false, x.statement_id)) AS side(is_ledger, id)
        WHERE x.run_id = rid AND x.category = 'manual' AND side.id IS NOT NULL)
    UPDATE reconcile.cleared c SET run_id = rid
    FROM reported m
    WHERE c.recon_id = reg.id AND c.category = 'manual' AND c.run_id IS NULL
      AND c.is_ledger = m.is_ledger AND c.id = m.id AND c.key IS NOT DISTINCT FROM m.key;

    -- A run that row level security narrows saw only part of the sources: the live items with a
    -- row it did not read are out of its sight, and it neither touches them nor opens items for
    -- their rows (the rest of such an item may be a row it cannot see).
    IF reconcile.narrowed(reg.ledger, run_by) OR reconcile.narrowed(reg.statement, run_by) THEN
        SELECT COALESCE(pg_catalog.array_agg(i.item_id), '{}') INTO unread
        FROM reconcile.items i
        WHERE i.recon_id = reg.id AND i.status <> 'cleared'
          AND ((i.ledger_id IS NOT NULL
                AND NOT EXISTS (SELECT FROM reconcile.results x
                                WHERE x.run_id = rid AND x.ledger_id = i.ledger_id
                                  AND x.key IS NOT DISTINCT FROM i.key))
               OR (i.statement_id IS NOT NULL
                   AND NOT EXISTS (SELECT FROM reconcile.results x
                                   WHERE x.run_id = rid AND x.statement_id = i.statement_id
                                     AND x.key IS NOT DISTINCT FROM i.key)));
    END IF;

    -- items found again with other amounts, dates or category: approved for those amounts only
    WITH found AS (
        SELECT x.* FROM reconcile.results x WHERE x.run_id = rid AND reconcile.is_discrepancy(x.category)),
    changed AS (
        SELECT i.item_id, i.status, i.resolution, i.resolved_by, i.approved_by,
               pg_catalog.jsonb_build_object(
                   'category', i.category, 'amount_diff', i.amount_diff, 'ledger_amount', i.ledger_amount,
                   'statement_amount', i.statement_amount, 'ledger_date', i.ledger_date,
                   'statement_date', i.statement_date) AS was,
               pg_catalog.jsonb_build_object(
                   'category', f.category, 'amount_diff', f.amount_diff, 'ledger_amount', f.ledger_amount,
                   'statement_amount', f.statement_amount, 'ledger_date', f.ledger_date,
                   'statement_date', f.statement_date) AS now
        FROM reconcile.items i
        JOIN found f ON reconcile.item_ident(f.key, f.ledger_id, f.statement_id)
                        = reconcile.item_ident(i.key, i.ledger_id, i.statement_id)
        WHERE i.recon_id = reg.id AND i.status IN ('resolved', 'approved')
          AND (i.category, i.amount_diff, i.ledger_amount, i.statement_amount, i.ledger_date, i.statement_date)
              IS DISTINCT FROM
              (f.category, f.amount_diff, f.ledger_amount, f.statement_amount, f.ledger_date, f.statement_date)),
    reopened AS (
        UPDATE reconcile.items i
        SET status = 'open', resolution = NULL, resolved_by = NULL, resolved_at = NULL, resolved_session = NULL,
            approved_by = NULL, approved_at = NULL, approved_session = NULL
        FROM changed c WHERE i.item_id = c.item_id
        RETURNING i.item_id)
    INSERT INTO reconcile.audit_log (acting_role, action, name, item_id, details, recon_id)
    SELECT record_run.run_by, 'reopen', reg.name, c.item_id,
           pg_catalog.jsonb_build_object('run_id', rid, 'why', 'its amounts, dates or category changed',
                                         'was_status', c.status, 'resolution', c.resolution,
                                         'resolved_by', c.resolved_by, 'approved_by', c.approved_by,
                                         'was', c.was, 'now', c.now),
           reg.id
    FROM changed c JOIN reopened r ON r.item_id = c.item_id;

    -- items: the discrepancies found, one per pair or row, kept across runs
    WITH out_of_sight AS MATERIALIZED (
        SELECT i.key, i.ledger_id, i.statement_id
        FROM reconcile.items i JOIN pg_catalog.unnest(unread) AS u(item_id) ON u.item_id = i.item_id)
    INSERT INTO reconcile.items AS i (name, key, ledger_id, statement_id, category, amount_diff,
                                      ledger_amount, statement_amount, ledger_date, statement_date,
                                      first_run_id, last_run_id, recon_id)
    SELECT reg.name, x.key, x.ledger_id, x.statement_id, x.category, x.amount_diff, x.ledger_amount,
           x.statement_amount, x.ledger_date, x.statement_date, rid, rid, reg.id
    FROM reconcile.results x
    WHERE x.run_id = rid AND reconcile.is_discrepancy(x.category)
      AND NOT EXISTS (SELECT FROM out_of_sight o
                      WHERE o.ledger_id = x.ledger_id AND o.key IS NOT DISTINCT FROM x.key)
      AND NOT EXISTS (SELECT FROM out_of_sight o
                      WHERE o.statement_id = x.statement_id AND o.key IS NOT DISTINCT FROM x.key)
    ON CONFLICT (recon_id, reconcile.item_ident(key, ledger_id, statement_id)) WHERE status <> 'cleared'
    DO UPDATE SET last_run_id = excluded.last_run_id, category = excluded.category,
                  amount_diff = excluded.amount_diff, ledger_amount = excluded.ledger_amount,
                  statement_amount = excluded.statement_amount, ledger_date = excluded.ledger_date,
                  statement_date = excluded.statement_date;

    -- items not found again: what became of the rows this run read
    WITH seen AS MATERIALIZED (
        SELECT side.is_ledger, x.key, side.id,
               reconcile.clears(x.category) OR x.category = 'manual' AS settled
        FROM reconcile.results x
        CROSS JOIN LATERAL (VALUES (true, x.ledger_id), (false, x.statement_id)) AS side(is_ledger, id)
        WHERE x.run_id = rid AND side.id IS NOT NULL),
    item_rows AS (
        SELECT i.item_id, i.status, true AS is_ledger, i.key, i.ledger_id AS id FROM reconcile.items i
        WHERE i.recon_id = reg.id AND i.status IN ('open', 'resolved', 'approved') AND i.last_run_id <> rid
          AND i.ledger_id IS NOT NULL
        UNION ALL
        SELECT i.item_id, i.status, false, i.key, i.statement_id FROM reconcile.items i
        WHERE i.recon_id = reg.id AND i.status IN ('open', 'resolved', 'approved') AND i.last_run_id <> rid
          AND i.statement_id IS NOT NULL),
    fate AS (
        SELECT r.item_id, r.status, pg_catalog.bool_and(s.settled) AS matched
        FROM item_rows r JOIN seen s ON s.is_ledger = r.is_ledger AND s.id = r.id AND s.key IS NOT DISTINCT FROM r.key
        WHERE NOT EXISTS (SELECT FROM pg_catalog.unnest(unread) AS u(item_id) WHERE u.item_id = r.item_id)
        GROUP BY r.item_id, r.status),
    moved AS (
        UPDATE reconcile.items i
        SET status = CASE WHEN f.matched OR f.status = 'open' THEN 'cleared' ELSE 'open' END,
            resolution = CASE WHEN f.matched OR f.status = 'open' THEN i.resolution END,
            resolved_by = CASE WHEN f.matched OR f.status = 'open' THEN i.resolved_by END,
            resolved_at = CASE WHEN f.matched OR f.status = 'open' THEN i.resolved_at END,
            resolved_session = CASE WHEN f.matched OR f.status = 'open' THEN i.resolved_session END,
            approved_by = CASE WHEN f.matched OR f.status = 'open' THEN i.approved_by END,
            approved_at = CASE WHEN f.matched OR f.status = 'open' THEN i.approved_at END,
            approved_session = CASE WHEN f.matched OR f.status = 'open' THEN i.approved_session END
        FROM fate f WHERE i.item_id = f.item_id
        RETURNING i.item_id, f.status AS was_status, f.matched)
    INSERT INTO reconcile.audit_log (acting_role, action, name, item_id, details, recon_id)
    SELECT record_run.run_by, 'reopen', reg.name, m.item_id,
           pg_catalog.jsonb_build_object('run_id', rid, 'why', 'its rows are now in another discrepancy',
                                         'was_status', m.was_status),
           reg.id
    FROM moved m WHERE NOT m.matched AND m.was_status <> 'open';

    SELECT COALESCE(pg_catalog.jsonb_object_agg(c, n), '{}') INTO cnt
    FROM (SELECT x.category::text AS c, pg_catalog.count(*) AS n FROM reconcile.results x
          WHERE x.run_id = rid GROUP BY x.category ORDER BY x.category) t;
    -- rows, not result lines: only a group's shared row repeats
    SELECT pg_catalog.count(*) FILTER (WHERE x.ledger_id IS NOT NULL AND x.group_id IS NULL)
           + pg_catalog.count(DISTINCT (x.key, x.ledger_id)) FILTER (WHERE x.ledger_id IS NOT NULL AND x.group_id IS NOT NULL),
           pg_catalog.count(*) FILTER (WHERE x.statement_id IS NOT NULL AND x.group_id IS NULL)
           + pg_catalog.count(DISTINCT (x.key, x.statement_id)) FILTER (WHERE x.statement_id IS NOT NULL AND x.group_id IS NOT NULL)
    INTO lrows, srows FROM reconcile.results x WHERE x.run_id = rid;
    UPDATE reconcile.runs SET finished_at = pg_catalog.clock_timestamp(), ledger_rows = lrows,
                              statement_rows = srows, counts = cnt
    WHERE run_id = rid;
    PERFORM reconcile.audit(reg.id, 'run', reg.name, NULL,
                            pg_catalog.jsonb_build_object('run_id', rid, 'as_of', record_run.as_of,
                                                          'counts', cnt, 'rows_read', read_rows),
                            record_run.run_by);
    -- delivered when the transaction commits; any role may LISTEN, so the name and the id only
    PERFORM pg_catalog.pg_notify('reconcile',
        pg_catalog.jsonb_build_object('name', reg.name, 'run_id', rid)::text);
    RETURN rid;
END
$$;
COMMENT ON FUNCTION reconcile.record_run(bigint, date, timestamptz, name, bigint) IS
'Internal to reconcile.run: records a run from the rows it read (results, cleared rows, reported manual matches, items, counts, audit entry, notification); runs as the tables'' owner, within reconcile.run only';
REVOKE ALL ON FUNCTION reconcile.record_run(bigint, date, timestamptz, name, bigint) FROM PUBLIC;
CREATE OR REPLACE FUNCTION reconcile.run(name text, as_of date DEFAULT current_date)
RETURNS bigint
AS 'MODULE_PATHNAME', 'rc_run'
LANGUAGE C
SET jit = off                           -- the work is in C; compiling the plan only costs
;
COMMENT ON FUNCTION reconcile.run(text, date) IS
'Matches the reconciliation''s rows that no earlier run cleared, reading the sources with the caller''s rights, stores the results, clears what matched, opens or updates items, writes audit_log and notifies channel reconcile with the name and run id; returns the run id (55P03 while another run of it is under way)';

-- follow-up: items as the caller may see them, maker-checker between persons
DROP FUNCTION reconcile.item_for_update(bigint);
CREATE FUNCTION reconcile.item_for_update(item_id bigint, who name)
RETURNS reconcile.items
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    it  reconcile.items;
BEGIN
    SELECT * INTO it FROM reconcile.items i WHERE i.item_id = item_for_update.item_id FOR UPDATE;
    IF NOT FOUND
       OR NOT (it.recon_id IN (SELECT reconcile.readable(true, who))
               OR (it.recon_id IN (SELECT reconcile.readable(false, who))
                   AND EXISTS (SELECT FROM reconcile.runs u WHERE u.run_id = it.last_run_id AND u.run_by = who))) THEN
        RAISE EXCEPTION 'item % does not exist', item_id USING ERRCODE = '42704';
    END IF;
    RETURN it;
END
$$;
REVOKE ALL ON FUNCTION reconcile.item_for_update(bigint, name) FROM PUBLIC;
COMMENT ON FUNCTION reconcile.item_for_update(bigint, name) IS
'Internal: the item, locked for update, when the role may see it (42704 otherwise, revealing nothing)';

-- follow-up: C entry points that read who acts and which person (src/act.c), the writing as the owner
CREATE FUNCTION reconcile.assign_by(actor name, person name, item_id bigint, assignee text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    it reconcile.items := reconcile.item_for_update(item_id, actor);
BEGIN
    UPDATE reconcile.items i SET assignee = assign_by.assignee WHERE i.item_id = it.item_id;
    PERFORM reconcile.audit(it.recon_id, 'assign', it.name, it.item_id,
                            pg_catalog.jsonb_build_object('from', it.assignee, 'to', assignee), actor);
END
$$;
COMMENT ON FUNCTION reconcile.assign_by(name, name, bigint, text) IS
'Internal to reconcile.assign (src/act.c), as the tables'' owner';
REVOKE ALL ON FUNCTION reconcile.assign_by(name, name, bigint, text) FROM PUBLIC;
CREATE OR REPLACE FUNCTION reconcile.assign(item_id bigint, assignee text)
RETURNS void
AS 'MODULE_PATHNAME', 'rc_act'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.assign(bigint, text) IS 'Assigns an item to someone to follow up';
CREATE FUNCTION reconcile.resolve_by(actor name, person name, item_id bigint, resolution text,
                                     note text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    it reconcile.items := reconcile.item_for_update(item_id, actor);
BEGIN
    IF it.status <> 'open' THEN
        RAISE EXCEPTION 'item % is %, not open', item_id, it.status USING ERRCODE = '55000';
    END IF;
    IF resolution IS NULL OR resolution = '' THEN
        RAISE EXCEPTION '"resolution" must not be empty' USING ERRCODE = '22023';
    END IF;
    UPDATE reconcile.items i
    SET status = 'resolved', resolution = resolve_by.resolution, note = COALESCE(resolve_by.note, i.note),
        resolved_by = actor, resolved_session = person, resolved_at = pg_catalog.now()
    WHERE i.item_id = it.item_id;
    PERFORM reconcile.audit(it.recon_id, 'resolve', it.name, it.item_id,
                            pg_catalog.jsonb_build_object('resolution', resolution, 'note', note), actor);
END
$$;
COMMENT ON FUNCTION reconcile.resolve_by(name, name, bigint, text, text) IS
'Internal to reconcile.resolve (src/act.c), as the tables'' owner';
REVOKE ALL ON FUNCTION reconcile.resolve_by(name, name, bigint, text, text) FROM PUBLIC;
CREATE OR REPLACE FUNCTION reconcile.resolve(item_id bigint, resolution text, note text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'rc_act'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.resolve(bigint, text, text) IS 'Resolves an open item (the maker): records the resolution, who (the role that logged in and the role it acted as) and when';
CREATE FUNCTION reconcile.approve_by(actor name, person name, item_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    it reconcile.items := reconcile.item_for_update(item_id, actor);
    me name;
    maker name;
BEGIN
    IF it.status <> 'resolved' THEN
        RAISE EXCEPTION 'item % is %, not resolved', item_id, it.status USING ERRCODE = '55000';
    END IF;
    FOREACH me IN ARRAY ARRAY[person, actor] LOOP
        FOREACH maker IN ARRAY ARRAY[it.resolved_session, it.resolved_by] LOOP
            IF maker IS NOT NULL AND EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname = maker)
               AND pg_catalog.pg_has_role(me, maker, 'MEMBER') THEN
                RAISE EXCEPTION 'item % was resolved by %, who cannot also approve it', item_id, it.resolved_by
                    USING ERRCODE = '42501',
                          DETAIL = pg_catalog.format('%s acts as or is a member of %s.', me, maker),
                          HINT = 'A second person approves (maker-checker).';
            END IF;
        END LOOP;
    END LOOP;
    UPDATE reconcile.items i
    SET status = 'approved', approved_by = actor, approved_session = person, approved_at = pg_catalog.now()
    WHERE i.item_id = it.item_id;
    PERFORM reconcile.audit(it.recon_id, 'approve', it.name, it.item_id,
                            pg_catalog.jsonb_build_object('resolved_by', it.resolved_by,
                                                          'resolved_session', it.resolved_session,
                                                          'approved_session', person), actor);
END
$$;
COMMENT ON FUNCTION reconcile.approve_by(name, name, bigint) IS
'Internal to reconcile.approve (src/act.c), as the tables'' owner';
REVOKE ALL ON FUNCTION reconcile.approve_by(name, name, bigint) FROM PUBLIC;
CREATE OR REPLACE FUNCTION reconcile.approve(item_id bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'rc_act'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.approve(bigint) IS 'Approves a resolved item (the checker); 42501 when the approving person (the role that logged in) or acting role is, or is a member of, the one who resolved it';
CREATE FUNCTION reconcile.reopen_by(actor name, person name, item_id bigint, note text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    it reconcile.items := reconcile.item_for_update(item_id, actor);
BEGIN
    IF it.status NOT IN ('resolved', 'approved') THEN
        RAISE EXCEPTION 'item % is %, not resolved or approved', item_id, it.status USING ERRCODE = '55000';
    END IF;
    UPDATE reconcile.items i
    SET status = 'open', note = reopen_by.note, resolution = NULL, resolved_by = NULL, resolved_at = NULL,
        resolved_session = NULL, approved_by = NULL, approved_at = NULL, approved_session = NULL
    WHERE i.item_id = it.item_id;
    PERFORM reconcile.audit(it.recon_id, 'reopen', it.name, it.item_id,
                            pg_catalog.jsonb_build_object('was', it.status, 'resolution', it.resolution,
                                                          'resolved_by', it.resolved_by,
                                                          'approved_by', it.approved_by, 'note', note), actor);
END
$$;
COMMENT ON FUNCTION reconcile.reopen_by(name, name, bigint, text) IS
'Internal to reconcile.reopen (src/act.c), as the tables'' owner';
REVOKE ALL ON FUNCTION reconcile.reopen_by(name, name, bigint, text) FROM PUBLIC;
CREATE OR REPLACE FUNCTION reconcile.reopen(item_id bigint, note text)
RETURNS void
AS 'MODULE_PATHNAME', 'rc_act'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.reopen(bigint, text) IS 'Reopens a resolved or approved item; the earlier resolution stays in audit_log';

-- manual matches: one C entry point; they show, as manual, in the views and the next run
DROP FUNCTION reconcile.row_key(reconcile.reconciliations, boolean, text);
CREATE FUNCTION reconcile.rows_query(reg reconcile.reconciliations)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    raw boolean := reconcile.raw_key(reg.ledger, reg.statement, reg.columns);
BEGIN
    RETURN pg_catalog.format(
        'SELECT true AS is_ledger, (s.key)::text AS key, s.id FROM (%s) s WHERE s.id OPERATOR(pg_catalog.=) ANY ($1) '
        'UNION ALL SELECT false, (s.key)::text, s.id FROM (%s) s WHERE s.id OPERATOR(pg_catalog.=) ANY ($2)',
        reconcile.side_sql(reg.ledger, true, reg.columns -> 'ledger', raw),
        reconcile.side_sql(reg.statement, false, reg.columns -> 'statement', raw));
END
$$;
COMMENT ON FUNCTION reconcile.rows_query(reconcile.reconciliations) IS
'Internal to reconcile.manual_match and reconcile.unmatch: the query that finds source rows by id ($1 ledger, $2 statement), run with the caller''s rights';
REVOKE ALL ON FUNCTION reconcile.rows_query(reconcile.reconciliations) FROM PUBLIC;
CREATE FUNCTION reconcile.manual_query(recon_id bigint)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg reconcile.reconciliations;
BEGIN
    PERFORM reconcile.lock_registration(recon_id, false);
    SELECT * INTO STRICT reg FROM reconcile.reconciliations r WHERE r.id = manual_query.recon_id;
    RETURN reconcile.rows_query(reg);
END
$$;
COMMENT ON FUNCTION reconcile.manual_query(bigint) IS
'Internal to reconcile.manual_match: locks the registration (waiting for a run) and returns the query that finds the rows to match';
REVOKE ALL ON FUNCTION reconcile.manual_query(bigint) FROM PUBLIC;
CREATE FUNCTION reconcile.record_manual(recon_id bigint, ledger_ids text[], statement_ids text[], note text,
                                        actor name, name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tag   text := 'm' || pg_catalog.gen_random_uuid();
    hits  jsonb;
    bad   record;
    n     bigint;
BEGIN
    SELECT COALESCE(pg_catalog.jsonb_agg(DISTINCT pg_catalog.jsonb_build_object('l', t.is_ledger, 'k', t.key, 'i', t.id)), '[]')
    INTO hits
    FROM reconcile.captured() AS t(is_ledger boolean, key text, id text);

    SELECT w.side, w.id INTO bad
    FROM (SELECT true AS side, x AS id FROM pg_catalog.unnest(ledger_ids) x
          UNION SELECT false, x FROM pg_catalog.unnest(statement_ids) x) w
    WHERE NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(hits) AS e(f)
                      WHERE (f ->> 'l')::boolean = w.side AND f ->> 'i' = w.id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '% row "%" does not exist', CASE WHEN bad.side THEN 'ledger' ELSE 'statement' END, bad.id
            USING ERRCODE = '42704';
    END IF;
    SELECT (f ->> 'l')::boolean AS side, f ->> 'i' AS id INTO bad
    FROM pg_catalog.jsonb_array_elements(hits) AS e(f)
    GROUP BY 1, 2 HAVING pg_catalog.count(*) > 1 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION '% id "%" stands under more than one key', CASE WHEN bad.side THEN 'ledger' ELSE 'statement' END, bad.id
            USING ERRCODE = '22023', HINT = 'Match its rows by hand in a reconciliation grouped by that key.';
    END IF;

    WITH ins AS (
        INSERT INTO reconcile.cleared (name, is_ledger, key, id, category, run_id, match_tag, recon_id, made_by)
        SELECT record_manual.name, (f ->> 'l')::boolean, f ->> 'k', f ->> 'i', 'manual', NULL, tag, record_manual.recon_id,
               actor
        FROM pg_catalog.jsonb_array_elements(hits) AS e(f)
        ON CONFLICT DO NOTHING
        RETURNING 1)
    SELECT pg_catalog.count(*) INTO n FROM ins;
    IF n <> pg_catalog.jsonb_array_length(hits) THEN
        SELECT (f ->> 'l')::boolean AS side, f ->> 'i' AS id INTO bad
        FROM pg_catalog.jsonb_array_elements(hits) AS e(f)
        WHERE EXISTS (SELECT FROM reconcile.cleared c
                      WHERE c.recon_id = record_manual.recon_id AND c.match_tag <> tag
                        AND c.is_ledger = (f ->> 'l')::boolean AND c.id = f ->> 'i'
                        AND c.key IS NOT DISTINCT FROM f ->> 'k')
        LIMIT 1;
        RAISE EXCEPTION '% row "%" is already matched', CASE WHEN bad.side THEN 'ledger' ELSE 'statement' END, bad.id
            USING ERRCODE = '55000', HINT = 'reconcile.unmatch releases it first.';
    END IF;

    UPDATE reconcile.items i SET status = 'cleared'
    FROM pg_catalog.jsonb_array_elements(hits) AS e(f)
    WHERE i.recon_id = record_manual.recon_id AND i.status <> 'cleared'
      AND i.key IS NOT DISTINCT FROM f ->> 'k'
      AND CASE WHEN (f ->> 'l')::boolean THEN i.ledger_id ELSE i.statement_id END = f ->> 'i';
    PERFORM reconcile.audit(recon_id, 'manual_match', name, NULL,
                            pg_catalog.jsonb_build_object('ledger_ids', ledger_ids,
                                                          'statement_ids', statement_ids,
                                                          'note', note, 'match_tag', tag), actor);
END
$$;
COMMENT ON FUNCTION reconcile.record_manual(bigint, text[], text[], text, name, text) IS
'Internal to reconcile.manual_match: records a manual match from the rows it found with the caller''s rights; runs as the tables'' owner, within reconcile.manual_match only';
REVOKE ALL ON FUNCTION reconcile.record_manual(bigint, text[], text[], text, name, text) FROM PUBLIC;
CREATE OR REPLACE FUNCTION reconcile.manual_match(name text, ledger_ids text[], statement_ids text[], note text)
RETURNS void
AS 'MODULE_PATHNAME', 'rc_manual_match'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.manual_match(text, text[], text[], text) IS
'Matches ledger and statement rows by hand (category manual), finding them in the sources with the caller''s rights: they show as manual in the views and in the next run''s results, every later run leaves them alone, and their items are cleared';
CREATE FUNCTION reconcile.unmatch_query(recon_id bigint, ledger_id text)
RETURNS TABLE (query text, ledger_ids text[], statement_ids text[])
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    reg  reconcile.reconciliations;
    tags text[];
BEGIN
    PERFORM reconcile.lock_registration(recon_id, false);
    SELECT * INTO STRICT reg FROM reconcile.reconciliations r WHERE r.id = unmatch_query.recon_id;
    SELECT pg_catalog.array_agg(DISTINCT c.match_tag) INTO tags
    FROM reconcile.cleared c WHERE c.recon_id = reg.id AND c.is_ledger AND c.id = unmatch_query.ledger_id;
    IF tags IS NULL THEN
        RAISE EXCEPTION 'ledger row "%" of "%" is not matched', unmatch_query.ledger_id, reg.name
            USING ERRCODE = '42704';
    END IF;
    RETURN QUERY
    SELECT reconcile.rows_query(reg),
           COALESCE(pg_catalog.array_agg(c.id) FILTER (WHERE c.is_ledger), '{}'),
           COALESCE(pg_catalog.array_agg(c.id) FILTER (WHERE NOT c.is_ledger), '{}')
    FROM reconcile.cleared c WHERE c.recon_id = reg.id AND c.match_tag = ANY (tags);
END
$$;
COMMENT ON FUNCTION reconcile.unmatch_query(bigint, text) IS
'Internal to reconcile.unmatch: locks the registration (waiting for a run), and returns the ids of the rows matched with the ledger row and the query that finds them in the sources (42704 when it is not matched)';
REVOKE ALL ON FUNCTION reconcile.unmatch_query(bigint, text) FROM PUBLIC;
CREATE FUNCTION reconcile.record_unmatch(recon_id bigint, ledger_id text, actor name, name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg   reconcile.reconciliations;
    tags  text[];
    hits  jsonb;
    nl    boolean;
    ns    boolean;
    freed jsonb;
BEGIN
    SELECT * INTO STRICT reg FROM reconcile.reconciliations r WHERE r.id = record_unmatch.recon_id;
    SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('l', t.is_ledger, 'k', t.key, 'i', t.id)), '[]')
    INTO hits
    FROM reconcile.captured() AS t(is_ledger boolean, key text, id text);
    nl := reconcile.narrowed(reg.ledger, actor);
    ns := reconcile.narrowed(reg.statement, actor);
    SELECT pg_catalog.array_agg(DISTINCT c.match_tag) INTO tags
    FROM reconcile.cleared c WHERE c.recon_id = reg.id AND c.is_ledger AND c.id = record_unmatch.ledger_id;
    IF tags IS NULL
       OR EXISTS (SELECT FROM reconcile.cleared c
                  WHERE c.recon_id = reg.id AND c.match_tag = ANY (tags)
                    AND CASE WHEN c.is_ledger THEN nl ELSE ns END
                    AND NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(hits) AS e(f)
                                    WHERE (f ->> 'l')::boolean = c.is_ledger AND f ->> 'i' = c.id
                                      AND f ->> 'k' IS NOT DISTINCT FROM c.key)) THEN
        RAISE EXCEPTION 'ledger row "%" of "%" is not matched', ledger_id, name USING ERRCODE = '42704';
    END IF;
    WITH d AS (DELETE FROM reconcile.cleared c WHERE c.recon_id = reg.id AND c.match_tag = ANY (tags)
               RETURNING c.is_ledger, c.id, c.category)
    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('ledger', d.is_ledger, 'id', d.id,
                                                              'category', d.category))
    INTO freed FROM d;
    PERFORM reconcile.audit(reg.id, 'unmatch', name, NULL,
                            pg_catalog.jsonb_build_object('ledger_id', ledger_id, 'released', freed), actor);
END
$$;
COMMENT ON FUNCTION reconcile.record_unmatch(bigint, text, name, text) IS
'Internal to reconcile.unmatch: releases the matches of a ledger row, when an actor narrowed by row level security found all their rows; runs as the tables'' owner, within reconcile.unmatch only';
REVOKE ALL ON FUNCTION reconcile.record_unmatch(bigint, text, name, text) FROM PUBLIC;
CREATE OR REPLACE FUNCTION reconcile.unmatch(name text, ledger_id text)
RETURNS void
AS 'MODULE_PATHNAME', 'rc_unmatch'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.unmatch(text, text) IS
'Releases a matched ledger row and the rows matched with it (under every key it stands under), so that the next run matches them again; a role that row level security narrows must see all of them';

-- reports: hostile rows do not stop them
CREATE OR REPLACE VIEW reconcile.open_items WITH (security_invoker = true) AS
SELECT i.item_id, i.name, i.key, i.ledger_id, i.statement_id, i.category, i.amount_diff,
       i.ledger_amount, i.statement_amount, i.ledger_date, i.statement_date, i.status,
       i.assignee, i.resolution, i.note, i.resolved_by, i.resolved_at,
       i.first_run_id, i.last_run_id,
       a.days AS age_days,
       CASE WHEN a.days <= 7 THEN '0-7'
            WHEN a.days <= 30 THEN '8-30'
            WHEN a.days <= 90 THEN '31-90'
            WHEN a.days > 90 THEN '90+'
       END AS aging_bucket
FROM reconcile.items i
LEFT JOIN LATERAL (SELECT ru.as_of FROM reconcile.runs ru WHERE ru.recon_id = i.recon_id
                   ORDER BY ru.run_id DESC LIMIT 1) r ON true
CROSS JOIN LATERAL (SELECT CASE WHEN pg_catalog.isfinite(LEAST(i.ledger_date, i.statement_date))
                                THEN (r.as_of - LEAST(i.ledger_date, i.statement_date))::integer END AS days) a
WHERE i.status IN ('open', 'resolved');
COMMENT ON COLUMN reconcile.open_items.age_days IS 'Days from the older row''s date to the as_of of the reconciliation''s latest run (NULL for an infinite date)';
CREATE OR REPLACE FUNCTION reconcile.proof(run_id bigint)
RETURNS TABLE (key text, line integer, item text, rows bigint, amount numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH r AS (SELECT * FROM reconcile.results x WHERE x.run_id = proof.run_id),
    l AS (SELECT DISTINCT ON (r.key, r.ledger_id) r.key, r.category, r.ledger_amount AS amount
          FROM r WHERE r.ledger_id IS NOT NULL AND r.category <> 'invalid' ORDER BY r.key, r.ledger_id),
    s AS (SELECT DISTINCT ON (r.key, r.statement_id) r.key, r.category, r.statement_amount AS amount
          FROM r WHERE r.statement_id IS NOT NULL AND r.category <> 'invalid' ORDER BY r.key, r.statement_id),
    keys AS (SELECT DISTINCT r.key FROM r),
    cats AS (SELECT c.key, c.category, pg_catalog.count(*) AS n,
                    COALESCE((SELECT pg_catalog.sum(s.amount) FROM s
                              WHERE s.key IS NOT DISTINCT FROM c.key AND s.category = c.category), 0)
                  - COALESCE((SELECT pg_catalog.sum(l.amount) FROM l
                              WHERE l.key IS NOT DISTINCT FROM c.key AND l.category = c.category), 0) AS contribution
             FROM r c GROUP BY c.key, c.category),
    lines AS (
        SELECT k.key, 1 AS line, 'ledger total' AS item,
               (SELECT pg_catalog.count(*) FROM l WHERE l.key IS NOT DISTINCT FROM k.key) AS rows,
               COALESCE((SELECT pg_catalog.sum(l.amount) FROM l WHERE l.key IS NOT DISTINCT FROM k.key), 0) AS amount
        FROM keys k
        UNION ALL
        SELECT c.key, 1 + pg_catalog.row_number() OVER (PARTITION BY c.key ORDER BY c.category)::integer,
               c.category::text, c.n, c.contribution
        FROM cats c
        UNION ALL
        SELECT k.key, 2 + (SELECT pg_catalog.count(*) FROM cats c WHERE c.key IS NOT DISTINCT FROM k.key)::integer,
               'statement total',
               (SELECT pg_catalog.count(*) FROM s WHERE s.key IS NOT DISTINCT FROM k.key),
               COALESCE((SELECT pg_catalog.sum(s.amount) FROM s WHERE s.key IS NOT DISTINCT FROM k.key), 0)
        FROM keys k)
    SELECT lines.key, lines.line, lines.item, lines.rows, lines.amount FROM lines
    ORDER BY lines.key, lines.line
$$;
COMMENT ON FUNCTION reconcile.proof(bigint) IS
'The reconciliation statement of one run, per key: ledger total, each category''s contribution (its statement rows minus its ledger rows), statement total; ledger total plus the contributions equals the statement total; invalid rows are counted on their line but left out of every amount';

DROP FUNCTION reconcile.can_see(text, name);
DROP FUNCTION reconcile.caller();
