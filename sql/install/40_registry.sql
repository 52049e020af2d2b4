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
    owner       name NOT NULL DEFAULT current_user,
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
COMMENT ON COLUMN reconcile.reconciliations.owner IS 'Role that created the reconciliation';
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

-- The role the caller acts as, also inside SECURITY DEFINER functions: the
-- role GUC (SET ROLE) is not changed by SECURITY DEFINER, current_user is.
CREATE FUNCTION reconcile.caller()
RETURNS name
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN pg_catalog.current_setting('role') = 'none' THEN session_user
                ELSE pg_catalog.current_setting('role')::name END
$$;
COMMENT ON FUNCTION reconcile.caller() IS
'Internal: the role the caller acts as (SET ROLE, else the session user), also inside SECURITY DEFINER functions';

-- Whether row level security narrows, for role who, what rel shows: on the table itself, or on a
-- table that a security_invoker view reads (recursively).  A role is not narrowed on a table whose
-- row level security does not apply to it (superuser, BYPASSRLS, owner), or when a permissive policy
-- that applies to it is USING (true) and no restrictive one applies.  Views that read with their
-- owner's rights show everyone the same rows.
CREATE FUNCTION reconcile.narrowed(rel regclass, who name)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE base(oid) AS (
        SELECT rel::oid
        UNION
        SELECT d.refobjid
        FROM base b
        JOIN pg_catalog.pg_class v ON v.oid = b.oid AND v.relkind = 'v'
             AND EXISTS (SELECT FROM pg_catalog.unnest(v.reloptions) o
                         WHERE o ~* '^security_invoker=(true|on|yes|1|t|y)$')
        JOIN pg_catalog.pg_rewrite w ON w.ev_class = v.oid
        JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = w.oid
             AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> v.oid),
    applying AS (
        SELECT p.polrelid, p.polpermissive, pg_catalog.pg_get_expr(p.polqual, p.polrelid) AS qual
        FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_roles r ON r.rolname = who
        WHERE p.polcmd IN ('r', '*')
          AND (0::oid = ANY (p.polroles)
               OR EXISTS (SELECT FROM pg_catalog.unnest(p.polroles) pr
                          WHERE pg_catalog.pg_has_role(r.oid, pr, 'MEMBER'))))
    SELECT COALESCE(pg_catalog.bool_or(
               c.relrowsecurity
               AND NOT (r.rolsuper OR r.rolbypassrls
                        OR (pg_catalog.pg_has_role(r.oid, c.relowner, 'USAGE') AND NOT c.relforcerowsecurity))
               AND NOT (EXISTS (SELECT FROM applying a WHERE a.polrelid = c.oid AND a.polpermissive AND a.qual = 'true')
                        AND NOT EXISTS (SELECT FROM applying a WHERE a.polrelid = c.oid AND NOT a.polpermissive))),
           false)
    FROM base b
    JOIN pg_catalog.pg_class c ON c.oid = b.oid AND c.relkind IN ('r', 'p')
    JOIN pg_catalog.pg_roles r ON r.rolname = who
$$;
COMMENT ON FUNCTION reconcile.narrowed(regclass, name) IS
'Internal: whether row level security narrows, for the role, what the relation shows (on it, or on a table a security_invoker view reads; not when a permissive USING (true) policy applies to it and no restrictive one)';

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
    IF NOT (pg_catalog.has_table_privilege(who, reg.ledger, 'SELECT')
            AND pg_catalog.has_table_privilege(who, reg.statement, 'SELECT')) THEN
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

-- Register reconciliation name for the calling role, who must be able to SELECT both sources; the
-- new registration's id (42710 when the name is taken).  reconcile.create calls it with the mapping it
-- resolved; called directly it can do no more than reconcile.create (it writes only the registry and
-- the audit log, and reads nothing of the sources).
CREATE FUNCTION reconcile.register(name text, ledger regclass, statement regclass, rule reconcile.rule,
                                   columns jsonb, view_schema name)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    who name := reconcile.caller();
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
    IF NOT (pg_catalog.has_table_privilege(who, ledger, 'SELECT')
            AND pg_catalog.has_table_privilege(who, statement, 'SELECT')) THEN
        RAISE EXCEPTION 'permission denied to reconcile % against %', ledger, statement
            USING ERRCODE = '42501', HINT = 'The role needs SELECT on both relations.';
    END IF;
    INSERT INTO reconcile.reconciliations (name, ledger, statement, rule, columns, view_schema, owner)
    VALUES (register.name, ledger, statement, r, columns, view_schema, who)
    ON CONFLICT DO NOTHING
    RETURNING id INTO rid;
    IF rid IS NULL THEN
        RAISE EXCEPTION 'reconciliation "%" already exists', name USING ERRCODE = '42710';
    END IF;
    PERFORM reconcile.audit(rid, 'create', name, NULL,
                            pg_catalog.jsonb_build_object('ledger', ledger::text, 'statement', statement::text,
                                                          'rule', pg_catalog.to_jsonb(r), 'columns', columns,
                                                          'view_schema', view_schema), who);
    RETURN rid;
END
$$;
COMMENT ON FUNCTION reconcile.register(text, regclass, regclass, reconcile.rule, jsonb, name) IS
'Internal to reconcile.create: registers a reconciliation for the calling role (who must be able to SELECT both sources) and audits it; 42710 when the name is taken';

-- Unregister reconciliation name for its owner (or a member of the owning role), waiting for a
-- run that holds it; the registration as it was.  Its history keeps the registration's id and is
-- left to superusers.
CREATE FUNCTION reconcile.unregister(name text)
RETURNS reconcile.reconciliations
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    who name := reconcile.caller();
    reg reconcile.reconciliations;
BEGIN
    SELECT * INTO reg FROM reconcile.reconciliations r WHERE r.name = unregister.name FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reconciliation "%" does not exist', name USING ERRCODE = '42704';
    END IF;
    IF NOT pg_catalog.pg_has_role(who, reg.owner, 'MEMBER') THEN
        RAISE EXCEPTION 'permission denied to drop reconciliation "%"', name
            USING ERRCODE = '42501', HINT = 'Only its owner can drop it.';
    END IF;
    DELETE FROM reconcile.reconciliations r WHERE r.id = reg.id;
    PERFORM reconcile.audit(reg.id, 'drop', name, NULL, '{}', who);
    RETURN reg;
END
$$;
COMMENT ON FUNCTION reconcile.unregister(text) IS
'Internal to reconcile.drop: removes a registration for its owner, after any run that holds it, and audits it; its history keeps the registration id';
