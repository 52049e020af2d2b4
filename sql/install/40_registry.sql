/* 40_registry.sql: the registered reconciliations, and who may see one */

----------------------------------------------------------------------------
-- Registered reconciliations
----------------------------------------------------------------------------

CREATE TABLE reconcile.reconciliations (
    name        text PRIMARY KEY,
    ledger      regclass NOT NULL,
    statement   regclass NOT NULL,
    rule        reconcile.rule NOT NULL,
    columns     jsonb NOT NULL,
    view_schema name NOT NULL,
    owner       regrole,
    created_at  timestamptz NOT NULL DEFAULT now(),
    id          bigserial UNIQUE
);
COMMENT ON TABLE reconcile.reconciliations IS
'Reconciliations registered by reconcile.create: sources, rule, column mapping and where the views are';
COMMENT ON COLUMN reconcile.reconciliations.name IS 'Name of the reconciliation, prefix of its views';
COMMENT ON COLUMN reconcile.reconciliations.ledger IS 'Ledger relation (what should be received)';
COMMENT ON COLUMN reconcile.reconciliations.statement IS 'Statement relation (what was received)';
COMMENT ON COLUMN reconcile.reconciliations.rule IS 'Matching rule';
COMMENT ON COLUMN reconcile.reconciliations.columns IS 'Resolved column names per side: {"ledger": {canonical: column}, "statement": {...}}';
COMMENT ON COLUMN reconcile.reconciliations.view_schema IS 'Schema holding the <name>_matches, _discrepancies and _summary views';
COMMENT ON COLUMN reconcile.reconciliations.owner IS 'Role that created the reconciliation (by its id: a role created later under the same name is not its owner; NULL when the role was dropped before 0.4.0, then only superusers drop it)';
COMMENT ON COLUMN reconcile.reconciliations.created_at IS 'When it was created';
COMMENT ON COLUMN reconcile.reconciliations.id IS 'The registration: its runs, results, cleared rows, items and audit entries carry it (recon_id), so that a reconciliation created again under a dropped one''s name sees none of its history';

SELECT pg_catalog.pg_extension_config_dump('reconcile.reconciliations', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.reconciliations_id_seq', '');

-- everyone may read the registry; only reconcile.create and reconcile.drop write it
ALTER TABLE reconcile.reconciliations ENABLE ROW LEVEL SECURITY;
CREATE POLICY reconciliations_read ON reconcile.reconciliations
    FOR SELECT USING (true);
GRANT SELECT ON reconcile.reconciliations TO PUBLIC;

----------------------------------------------------------------------------
-- Internal: who is calling, and may they see a reconciliation
----------------------------------------------------------------------------

-- Whether what rel shows may depend, for role who, on who reads it: row level security that
-- narrows it, or a view's query that depends on the reader.  rel shows every role that may SELECT
-- it the same rows only when it is
--   - a table whose row level security does not apply to the role reading it (superuser,
--     BYPASSRLS, owner) or lets it see every row (a permissive policy USING (true) applies to it
--     and no restrictive one does);
--   - a materialized view;
--   - a view whose query calls no function but pg_catalog's stable or immutable ones, none of
--     those about roles, privileges or settings (current_setting, pg_has_role, has_*_privilege,
--     ...), and no CURRENT_USER, SESSION_USER or the like, and that reads only relations of these
--     kinds: read as the reader through a security_invoker view, as the view's owner through any
--     other (whose policies can still use current_user, hence the same test for them).
-- Everything else narrows: foreign tables, other functions (one may read a table with row level
-- security as the caller, or look at current_user), other views.  USING (true) is recognised in
-- the stored node tree, not by deparsing it: a policy or view of any depth, on any table, costs a
-- pattern match and cannot make this fail for the readers of every reconciliation.  The patterns
-- are read as written whatever the session's standard_conforming_strings (0.8.0: with it off they
-- lost their backslashes and missed a view's calls).
CREATE FUNCTION reconcile.narrowed(rel regclass, who name)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
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

-- The reconciliations whose history a role may read: every row of it (whole) when it may SELECT both
-- sources and row level security narrows neither for it; only what its own runs made (not whole)
-- when it narrows one.  Used by the row level security policies of the extension's tables, once per
-- query (an uncorrelated subquery), so it runs with the rights of whoever reads them and stays
-- executable by PUBLIC.
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

-- The registry row of reconciliation name, if role who may SELECT both its sources; 42704 or 42501
-- otherwise (the same error whether the sources are out of reach or the name is unknown would hide
-- nothing: the registry is readable by everyone).
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

-- Lock registration id until the transaction ends: at once or not at all (55P03) for a run, waiting
-- for a running one otherwise (manual_match, unmatch, drop).
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

-- Register reconciliation name for actor, who must be able to SELECT both sources; the new
-- registration's id (42710 when the name is taken).  reconcile.create calls reconcile.register
-- with the mapping it resolved; called directly it can do no more than reconcile.create (it writes
-- only the registry, the audit log and the registration's empty partition of reconcile.cleared,
-- and reads nothing of the sources).
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
    PERFORM reconcile.cleared_partition(rid);
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

-- Whether role actor may act as the owner of a registration owned by owner: a superuser, or a
-- member of the owning role (a role dropped before 0.4.0 left owner NULL: superusers only).
CREATE FUNCTION reconcile.owns(owner regrole, actor name)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE((SELECT o.rolsuper FROM pg_catalog.pg_roles o WHERE o.rolname = actor), false)
        OR COALESCE(EXISTS (SELECT FROM pg_catalog.pg_roles o WHERE o.oid = owner)
                    AND pg_catalog.pg_has_role(actor, owner, 'MEMBER'), false)
$$;
COMMENT ON FUNCTION reconcile.owns(regrole, name) IS
'Internal to unregister_by and set_rule_by: whether the role may act as the registration''s owner (a superuser, or a member of the owning role)';
REVOKE ALL ON FUNCTION reconcile.owns(regrole, name) FROM PUBLIC;

-- Unregister reconciliation name for its owner (or a member of the owning role; superusers are
-- members of every role, and the only ones who may drop a reconciliation whose owner was dropped
-- before 0.4.0), waiting for a run that holds it; the registration as it was.  Its history keeps
-- the registration's id and is left to superusers.
CREATE FUNCTION reconcile.unregister_by(actor name, person name, name text)
RETURNS reconcile.reconciliations
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg reconcile.reconciliations;
BEGIN
    SELECT * INTO reg FROM reconcile.reconciliations r WHERE r.name = unregister_by.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reconciliation "%" does not exist', name USING ERRCODE = '42704';
    END IF;
    IF NOT reconcile.owns(reg.owner, actor) THEN
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
