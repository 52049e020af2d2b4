/* 45_key_rules.sql: a rule per key (platform, shop, account) of a reconciliation (SPEC 7) */

----------------------------------------------------------------------------
-- Rules per key
----------------------------------------------------------------------------

-- One row per key with a rule of its own; the rows of other keys use the reconciliation's rule
-- (reconcile.reconciliations.rule).  Read by the views and runs of every reconciliation, as their
-- readers: the matching query joins it on the key (reconcile.matching_sql), so a change takes
-- effect on the next read and the next run.  Rows of a dropped registration stay with it, out of
-- reconcile.rules.
CREATE TABLE reconcile.key_rules (
    recon_id bigint NOT NULL,
    key      text NOT NULL,
    rule     reconcile.rule NOT NULL,
    set_by   name NOT NULL,
    set_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (recon_id, key)
);
COMMENT ON TABLE reconcile.key_rules IS
'The rules of single keys of reconciliations (reconcile.set_rule); the other keys use the reconciliation''s rule';
COMMENT ON COLUMN reconcile.key_rules.recon_id IS 'The registration';
COMMENT ON COLUMN reconcile.key_rules.key IS 'The key (as text, as the views show it)';
COMMENT ON COLUMN reconcile.key_rules.rule IS 'Its rule';
COMMENT ON COLUMN reconcile.key_rules.set_by IS 'The role that set it';
COMMENT ON COLUMN reconcile.key_rules.set_at IS 'When it was set';
SELECT pg_catalog.pg_extension_config_dump('reconcile.key_rules', '');

-- like the registry: everyone may read it (every reader of a view reads it), only set_rule writes
ALTER TABLE reconcile.key_rules ENABLE ROW LEVEL SECURITY;
CREATE POLICY key_rules_read ON reconcile.key_rules FOR SELECT USING (true);
GRANT SELECT ON reconcile.key_rules TO PUBLIC;

CREATE VIEW reconcile.rules WITH (security_invoker = true) AS
SELECT r.name, k.key, k.rule
FROM reconcile.key_rules k
JOIN reconcile.reconciliations r ON r.id = k.recon_id;
COMMENT ON VIEW reconcile.rules IS
'The rules set per key with reconcile.set_rule, by reconciliation name and key; the keys not listed use the reconciliation''s rule (reconcile.reconciliations.rule)';
GRANT SELECT ON reconcile.rules TO PUBLIC;

-- Set (or, with a NULL rule, remove) the rule of one key of reconciliation name, for its owner (a
-- member of the owning role; superusers), audited with the rule it replaces.  The rows without a
-- key use the reconciliation's rule: a NULL key is refused (22023).  Views made before 0.5.0 do not
-- read the rules per key until reconcile.refresh_views: a warning says so.
CREATE FUNCTION reconcile.set_rule_by(actor name, person name, name text, key text, rule reconcile.rule)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    reg  reconcile.reconciliations;
    r    reconcile.rule;
    was  jsonb;
    removing boolean := rule IS NULL;  -- a composite IS NULL: every field NULL, as a NULL argument
BEGIN
    SELECT * INTO reg FROM reconcile.reconciliations g WHERE g.name = set_rule_by.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reconciliation "%" does not exist', name USING ERRCODE = '42704';
    END IF;
    IF NOT reconcile.owns(reg.owner, actor) THEN
        RAISE EXCEPTION 'permission denied to set a rule of reconciliation "%"', name
            USING ERRCODE = '42501', HINT = 'Only its owner can change its rules.';
    END IF;
    IF key IS NULL THEN
        RAISE EXCEPTION 'a rule per key needs a key' USING ERRCODE = '22023',
            HINT = 'The rows without a key use the reconciliation''s rule.';
    END IF;
    IF NOT removing THEN
        r := reconcile.rule(rule.abs_tol, rule.rel_tol, rule.days_before, rule.days_after, rule.use_ref, rule.as_of);
    END IF;

    SELECT pg_catalog.to_jsonb(k.rule) INTO was FROM reconcile.key_rules k
    WHERE k.recon_id = reg.id AND k.key = set_rule_by.key FOR UPDATE;
    IF removing THEN
        DELETE FROM reconcile.key_rules k WHERE k.recon_id = reg.id AND k.key = set_rule_by.key;
    ELSE
        INSERT INTO reconcile.key_rules AS k (recon_id, key, rule, set_by)
        VALUES (reg.id, key, r, actor)
        ON CONFLICT ON CONSTRAINT key_rules_pkey DO UPDATE SET rule = excluded.rule, set_by = excluded.set_by,
                                                 set_at = excluded.set_at;
    END IF;
    PERFORM reconcile.audit(reg.id, 'set_rule', name, NULL,
                            pg_catalog.jsonb_build_object('key', key,
                                                          'rule', CASE WHEN NOT removing THEN pg_catalog.to_jsonb(r) END,
                                                          'was', was), actor);

    -- views defined before 0.5.0 match every key by the reconciliation's rule
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_rewrite w
                   JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = w.oid
                   WHERE w.ev_class = pg_catalog.to_regclass(pg_catalog.format('%I.%I', reg.view_schema, reg.name || '_matches'))
                     AND d.refclassid = 'pg_catalog.pg_class'::regclass
                     AND d.refobjid = 'reconcile.key_rules'::regclass) THEN
        RAISE WARNING 'the views of reconciliation "%" do not read the rules per key yet', name
            USING HINT = pg_catalog.format('Its runs use them. Run SELECT reconcile.refresh_views(%L) as its owner to bring the views up to date.', name);
    END IF;
END
$$;
COMMENT ON FUNCTION reconcile.set_rule_by(name, name, text, text, reconcile.rule) IS
'Internal to reconcile.set_rule (src/act.c), as the tables'' owner: sets or removes the rule of one key of a reconciliation for its owner, and audits it';
REVOKE ALL ON FUNCTION reconcile.set_rule_by(name, name, text, text, reconcile.rule) FROM PUBLIC;

CREATE FUNCTION reconcile.set_rule(name text, key text, rule reconcile.rule)
RETURNS void
AS 'MODULE_PATHNAME', 'rc_act'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.set_rule(text, text, reconcile.rule) IS
'Sets the rule of one key (platform, shop, account) of a reconciliation, or with a NULL rule removes it; the other keys use the reconciliation''s rule.  The views and the next run use it at once.  Owner only (42501); unknown name 42704; invalid rule or NULL key 22023; audited';
