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
    created_at  timestamptz NOT NULL DEFAULT now()
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

SELECT pg_catalog.pg_extension_config_dump('reconcile.reconciliations', '');

ALTER TABLE reconcile.reconciliations ENABLE ROW LEVEL SECURITY;
CREATE POLICY reconciliations_read ON reconcile.reconciliations
    FOR SELECT USING (true);
CREATE POLICY reconciliations_insert ON reconcile.reconciliations
    FOR INSERT WITH CHECK (owner = current_user);
CREATE POLICY reconciliations_delete ON reconcile.reconciliations
    FOR DELETE USING (pg_catalog.pg_has_role(current_user, owner, 'MEMBER'));
GRANT SELECT, INSERT, DELETE ON reconcile.reconciliations TO PUBLIC;

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

-- Used by the row level security policies of the extension's tables, so it runs with the rights of
-- whoever reads them and stays executable by PUBLIC.
CREATE FUNCTION reconcile.can_see(name text, who name DEFAULT current_user)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE(bool_and(pg_catalog.has_table_privilege(who, r.ledger, 'SELECT')
                             AND pg_catalog.has_table_privilege(who, r.statement, 'SELECT')), false)
    FROM reconcile.reconciliations r WHERE r.name = can_see.name
$$;
COMMENT ON FUNCTION reconcile.can_see(text, name) IS
'Internal (the row level security of the extension''s tables): true when the role may SELECT both source relations of the reconciliation, which decides who sees its runs, results, items and audit entries';

-- The registry row of a reconciliation the caller may see; 42704 or 42501 otherwise.
CREATE FUNCTION reconcile.registered(name text, for_run boolean DEFAULT false)
RETURNS reconcile.reconciliations
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg reconcile.reconciliations;
BEGIN
    IF for_run THEN
        -- one run per reconciliation at a time: fail at once (55P03), do not wait
        SELECT * INTO reg FROM reconcile.reconciliations r WHERE r.name = registered.name
        FOR UPDATE NOWAIT;
    ELSE
        SELECT * INTO reg FROM reconcile.reconciliations r WHERE r.name = registered.name;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reconciliation "%" does not exist', name USING ERRCODE = '42704';
    END IF;
    IF NOT reconcile.can_see(name, reconcile.caller()) THEN
        RAISE EXCEPTION 'permission denied for reconciliation "%"', name
            USING ERRCODE = '42501',
                  HINT = 'The role needs SELECT on both of its source relations.';
    END IF;
    RETURN reg;
END
$$;
COMMENT ON FUNCTION reconcile.registered(text, boolean) IS
'Internal: the registry row of a reconciliation the caller may see (42704 unknown, 42501 no access); with for_run, locks it and fails at once with 55P03 when a run holds it';
