/* reconcile--0.1.0--0.2.0.sql: runs, history, open items and their follow-up, pg_cron */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION reconcile UPDATE TO '0.2.0'" to load this file. \quit

GRANT USAGE ON SCHEMA reconcile TO PUBLIC;

----------------------------------------------------------------------------
-- Who is calling, and may they see a reconciliation
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
'The role the caller acts as (SET ROLE, else the session user), also inside SECURITY DEFINER functions';

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
'True when the role may SELECT both source relations of the reconciliation: what decides who sees its runs, results, items and audit entries';

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

----------------------------------------------------------------------------
-- Tables
----------------------------------------------------------------------------

CREATE TABLE reconcile.runs (
    run_id         bigserial PRIMARY KEY,
    name           text NOT NULL,
    as_of          date NOT NULL,
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz,
    run_by         name NOT NULL,
    ledger_rows    bigint NOT NULL DEFAULT 0,
    statement_rows bigint NOT NULL DEFAULT 0,
    counts         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX ON reconcile.runs (name, run_id);
COMMENT ON TABLE reconcile.runs IS 'One row per reconcile.run: when, by whom, as of which date, how many rows and how many per category';
COMMENT ON COLUMN reconcile.runs.run_id IS 'Run id, returned by reconcile.run';
COMMENT ON COLUMN reconcile.runs.name IS 'Reconciliation';
COMMENT ON COLUMN reconcile.runs.as_of IS 'Date the run reconciled as of (in_transit and aging count from it)';
COMMENT ON COLUMN reconcile.runs.started_at IS 'Start of the run';
COMMENT ON COLUMN reconcile.runs.finished_at IS 'End of the run';
COMMENT ON COLUMN reconcile.runs.run_by IS 'Role that ran it';
COMMENT ON COLUMN reconcile.runs.ledger_rows IS 'Ledger rows the run matched (those not cleared by earlier runs)';
COMMENT ON COLUMN reconcile.runs.statement_rows IS 'Statement rows the run matched (those not cleared by earlier runs)';
COMMENT ON COLUMN reconcile.runs.counts IS 'Result rows per category, {"matched": 120, ...}';

CREATE TABLE reconcile.results (
    run_id           bigint NOT NULL REFERENCES reconcile.runs ON DELETE CASCADE,
    name             text NOT NULL,
    key              text,
    ledger_id        text,
    statement_id     text,
    category         reconcile.category NOT NULL,
    amount_diff      numeric,
    days_diff        integer,
    score            double precision,
    group_id         integer,
    note             text,
    ledger_amount    numeric,
    statement_amount numeric,
    ledger_date      date,
    statement_date   date
);
CREATE INDEX ON reconcile.results (run_id);
COMMENT ON TABLE reconcile.results IS 'What each run found: the columns of <name>_matches for the rows the run matched';
COMMENT ON COLUMN reconcile.results.run_id IS 'Run';
COMMENT ON COLUMN reconcile.results.name IS 'Reconciliation';
COMMENT ON COLUMN reconcile.results.key IS 'Group key (currency, shop, ...)';
COMMENT ON COLUMN reconcile.results.ledger_id IS 'Ledger row, NULL when absent';
COMMENT ON COLUMN reconcile.results.statement_id IS 'Statement row, NULL when absent';
COMMENT ON COLUMN reconcile.results.category IS 'Category';
COMMENT ON COLUMN reconcile.results.amount_diff IS 'Statement minus ledger amount (a group''s on its first member)';
COMMENT ON COLUMN reconcile.results.days_diff IS 'Statement minus ledger date, in days';
COMMENT ON COLUMN reconcile.results.score IS 'Closeness in [0,1], 1 = exact';
COMMENT ON COLUMN reconcile.results.group_id IS 'Group of a many_to_one / one_to_many set, within the run and key';
COMMENT ON COLUMN reconcile.results.note IS 'Short reason';
COMMENT ON COLUMN reconcile.results.ledger_amount IS 'Amount of the ledger row';
COMMENT ON COLUMN reconcile.results.statement_amount IS 'Amount of the statement row';
COMMENT ON COLUMN reconcile.results.ledger_date IS 'Date of the ledger row';
COMMENT ON COLUMN reconcile.results.statement_date IS 'Date of the statement row';

-- Rows a run matched (or a user matched by hand): later runs leave them alone.
CREATE TABLE reconcile.cleared (
    name      text NOT NULL,
    is_ledger boolean NOT NULL,
    key       text NOT NULL,            -- '' when the reconciliation has no key
    id        text NOT NULL,
    category  reconcile.category NOT NULL,
    run_id    bigint,                   -- NULL for a manual match
    match_tag text NOT NULL,            -- shared by the rows matched together
    PRIMARY KEY (name, is_ledger, key, id)
);
CREATE INDEX ON reconcile.cleared (name, match_tag);
COMMENT ON TABLE reconcile.cleared IS 'Rows cleared by a run (matched, matched_within_tolerance, many_to_one, one_to_many) or by reconcile.manual_match; later runs do not match them again';
COMMENT ON COLUMN reconcile.cleared.match_tag IS 'The rows matched together share it; reconcile.unmatch releases them together';

CREATE TABLE reconcile.items (
    item_id        bigserial PRIMARY KEY,
    name           text NOT NULL,
    key            text,
    ledger_id      text,
    statement_id   text,
    category       reconcile.category NOT NULL,
    amount_diff    numeric,
    ledger_amount  numeric,
    statement_amount numeric,
    ledger_date    date,
    statement_date date,
    first_run_id   bigint NOT NULL,
    last_run_id    bigint NOT NULL,
    status         text NOT NULL DEFAULT 'open'
                   CHECK (status IN ('open', 'resolved', 'approved', 'cleared')),
    assignee       text,
    resolution     text,
    note           text,
    resolved_by    name,
    resolved_at    timestamptz,
    approved_by    name,
    approved_at    timestamptz
);
CREATE UNIQUE INDEX items_identity ON reconcile.items
    (name, COALESCE(key, ''), COALESCE(ledger_id, ''), COALESCE(statement_id, ''))
    WHERE status <> 'cleared';
COMMENT ON TABLE reconcile.items IS 'One row per discrepancy found by a run, with its follow-up: open, resolved (by a maker), approved (by a different checker) or cleared (its rows were matched later)';
COMMENT ON COLUMN reconcile.items.item_id IS 'Item id, for assign/resolve/approve/reopen';
COMMENT ON COLUMN reconcile.items.name IS 'Reconciliation';
COMMENT ON COLUMN reconcile.items.key IS 'Group key';
COMMENT ON COLUMN reconcile.items.ledger_id IS 'Ledger row, NULL when absent';
COMMENT ON COLUMN reconcile.items.statement_id IS 'Statement row, NULL when absent';
COMMENT ON COLUMN reconcile.items.category IS 'Category found by the latest run that found it';
COMMENT ON COLUMN reconcile.items.amount_diff IS 'Statement minus ledger amount';
COMMENT ON COLUMN reconcile.items.ledger_amount IS 'Amount of the ledger row';
COMMENT ON COLUMN reconcile.items.statement_amount IS 'Amount of the statement row';
COMMENT ON COLUMN reconcile.items.ledger_date IS 'Date of the ledger row';
COMMENT ON COLUMN reconcile.items.statement_date IS 'Date of the statement row';
COMMENT ON COLUMN reconcile.items.note IS 'Free text of the follow-up';
COMMENT ON COLUMN reconcile.items.resolved_at IS 'When it was resolved';
COMMENT ON COLUMN reconcile.items.approved_at IS 'When it was approved';
COMMENT ON COLUMN reconcile.items.first_run_id IS 'Run that first found it';
COMMENT ON COLUMN reconcile.items.last_run_id IS 'Latest run that found it';
COMMENT ON COLUMN reconcile.items.status IS 'open, resolved, approved or cleared';
COMMENT ON COLUMN reconcile.items.assignee IS 'Who follows it up';
COMMENT ON COLUMN reconcile.items.resolution IS 'How it was resolved (e.g. written off, booked, chased)';
COMMENT ON COLUMN reconcile.items.resolved_by IS 'Role that resolved it (the maker)';
COMMENT ON COLUMN reconcile.items.approved_by IS 'Role that approved the resolution (the checker; never the maker)';

CREATE TABLE reconcile.audit_log (
    audit_id     bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    session_role name NOT NULL DEFAULT session_user,
    acting_role  name NOT NULL,
    action       text NOT NULL,
    name         text NOT NULL,
    item_id      bigint,
    details      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX ON reconcile.audit_log (name, at);
COMMENT ON TABLE reconcile.audit_log IS 'Every run and every manual action, append-only: UPDATE, DELETE and TRUNCATE are refused';
COMMENT ON COLUMN reconcile.audit_log.at IS 'When';
COMMENT ON COLUMN reconcile.audit_log.session_role IS 'session_user of the actor';
COMMENT ON COLUMN reconcile.audit_log.acting_role IS 'current_user of the actor (the role it acted as)';
COMMENT ON COLUMN reconcile.audit_log.action IS 'run, assign, resolve, approve, reopen, manual_match or unmatch';
COMMENT ON COLUMN reconcile.audit_log.details IS 'What changed';

CREATE FUNCTION reconcile.audit_log_refuse()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'reconcile.audit_log is append-only' USING ERRCODE = '42501',
        DETAIL = pg_catalog.format('%s is refused.', TG_OP);
END
$$;
COMMENT ON FUNCTION reconcile.audit_log_refuse() IS 'Trigger function refusing UPDATE, DELETE and TRUNCATE on reconcile.audit_log';
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON reconcile.audit_log
    FOR EACH ROW EXECUTE FUNCTION reconcile.audit_log_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON reconcile.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION reconcile.audit_log_refuse();

CREATE FUNCTION reconcile.audit(action text, name text, item_id bigint, details jsonb)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO reconcile.audit_log (acting_role, action, name, item_id, details)
    VALUES (reconcile.caller(), action, name, item_id, details)
$$;
COMMENT ON FUNCTION reconcile.audit(text, text, bigint, jsonb) IS 'Internal: appends one audit_log entry for the caller';
REVOKE ALL ON FUNCTION reconcile.audit(text, text, bigint, jsonb) FROM PUBLIC;

-- Visibility: only a role that may see both sources sees a reconciliation's rows.
ALTER TABLE reconcile.runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE reconcile.results ENABLE ROW LEVEL SECURITY;
ALTER TABLE reconcile.items ENABLE ROW LEVEL SECURITY;
ALTER TABLE reconcile.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE reconcile.cleared ENABLE ROW LEVEL SECURITY;
CREATE POLICY runs_visible ON reconcile.runs FOR SELECT USING (reconcile.can_see(name));
CREATE POLICY results_visible ON reconcile.results FOR SELECT USING (reconcile.can_see(name));
CREATE POLICY items_visible ON reconcile.items FOR SELECT USING (reconcile.can_see(name));
CREATE POLICY audit_visible ON reconcile.audit_log FOR SELECT USING (reconcile.can_see(name));
CREATE POLICY cleared_visible ON reconcile.cleared FOR SELECT USING (reconcile.can_see(name));
GRANT SELECT ON reconcile.runs, reconcile.results, reconcile.items, reconcile.audit_log,
    reconcile.cleared TO PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('reconcile.runs', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.results', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.cleared', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.items', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.runs_run_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.items_item_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.audit_log_audit_id_seq', '');

----------------------------------------------------------------------------
-- Runs
----------------------------------------------------------------------------

-- The SELECT of one source's rows not yet cleared, in canonical columns.  The key is
-- compared with IS NOT DISTINCT FROM so that the hash anti-join hashes the id alone.
CREATE FUNCTION reconcile.open_side_sql(rel regclass, is_ledger boolean, cols jsonb, name text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.format(
        'SELECT src.* FROM (%s) src WHERE NOT EXISTS (SELECT FROM reconcile.cleared c '
        'WHERE c.name = %L AND c.is_ledger = %s AND c.id = src.id '
        'AND c.key IS NOT DISTINCT FROM COALESCE(src.key, ''''))',
        reconcile.side_sql(rel, is_ledger, cols), name, CASE WHEN is_ledger THEN 'true' ELSE 'false' END)
$$;
COMMENT ON FUNCTION reconcile.open_side_sql(regclass, boolean, jsonb, text) IS
'Internal to reconcile.run: the SELECT of one source''s rows that no earlier run cleared';

CREATE FUNCTION reconcile.run(name text, as_of date DEFAULT current_date)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off                           -- the work is in C; compiling the plan only costs
AS $$
#variable_conflict use_column
DECLARE
    reg     reconcile.reconciliations := reconcile.registered(name, true);
    r       reconcile.rule := reg.rule;
    rid     bigint;
    cnt     jsonb;
    lrows   bigint;
    srows   bigint;
BEGIN
    IF as_of IS NULL THEN
        RAISE EXCEPTION '"as_of" must not be null' USING ERRCODE = '22023';
    END IF;
    INSERT INTO reconcile.runs (name, as_of, started_at, run_by)
    VALUES (run.name, as_of, pg_catalog.clock_timestamp(), reconcile.caller())
    RETURNING run_id INTO rid;

    -- match what no earlier run cleared; CREATE TABLE AS may use parallel workers for the
    -- scans and the anti-joins against reconcile.cleared (INSERT ... SELECT may not)
    EXECUTE pg_catalog.format(
        'CREATE TEMP TABLE reconcile_run_results ON COMMIT DROP AS SELECT g.key, m.* '
        'FROM (SELECT u.key, reconcile.match_detail_agg(u.is_ledger, u.id, u.amount, u.tx_date, u.ref, '
        'u.batch, reconcile.rule(%L::numeric, %L::numeric, %s, %s, %L::boolean, %L::date)) AS ms '
        'FROM (%s UNION ALL %s) u GROUP BY u.key) g CROSS JOIN LATERAL pg_catalog.unnest(g.ms) AS m',
        r.abs_tol, r.rel_tol, r.days_before, r.days_after, r.use_ref, as_of,
        reconcile.open_side_sql(reg.ledger, true, reg.columns -> 'ledger', name),
        reconcile.open_side_sql(reg.statement, false, reg.columns -> 'statement', name));
    INSERT INTO reconcile.results SELECT rid, run.name, t.* FROM pg_temp.reconcile_run_results t;
    DROP TABLE pg_temp.reconcile_run_results;

    -- matched rows are cleared for good
    INSERT INTO reconcile.cleared (name, is_ledger, key, id, category, run_id, match_tag)
    SELECT DISTINCT ON (side.is_ledger, COALESCE(x.key, ''), side.id)
           run.name, side.is_ledger, COALESCE(x.key, ''), side.id, x.category, rid,
           pg_catalog.format('r%s:%s:%s', rid, COALESCE(x.key, ''),
                             COALESCE('g' || x.group_id, 'l' || x.ledger_id))
    FROM reconcile.results x
    CROSS JOIN LATERAL (VALUES (true, x.ledger_id), (false, x.statement_id)) AS side(is_ledger, id)
    WHERE x.run_id = rid AND side.id IS NOT NULL
      AND x.category IN ('matched', 'matched_within_tolerance', 'many_to_one', 'one_to_many');

    -- items: the discrepancies found, one per pair or row, kept across runs
    INSERT INTO reconcile.items AS i (name, key, ledger_id, statement_id, category, amount_diff,
                                      ledger_amount, statement_amount, ledger_date, statement_date,
                                      first_run_id, last_run_id)
    SELECT run.name, x.key, x.ledger_id, x.statement_id, x.category, x.amount_diff, x.ledger_amount,
           x.statement_amount, x.ledger_date, x.statement_date, rid, rid
    FROM reconcile.results x
    WHERE x.run_id = rid
      AND x.category NOT IN ('matched', 'matched_within_tolerance', 'many_to_one', 'one_to_many', 'manual')
    ON CONFLICT (name, COALESCE(key, ''), COALESCE(ledger_id, ''), COALESCE(statement_id, ''))
        WHERE status <> 'cleared'
    DO UPDATE SET last_run_id = excluded.last_run_id, category = excluded.category,
                  amount_diff = excluded.amount_diff, ledger_amount = excluded.ledger_amount,
                  statement_amount = excluded.statement_amount;

    -- an open item this run did not find again no longer stands: its rows were matched or
    -- now form another discrepancy
    UPDATE reconcile.items i SET status = 'cleared'
    WHERE i.name = run.name AND i.status IN ('open', 'resolved') AND i.last_run_id <> rid;

    SELECT COALESCE(pg_catalog.jsonb_object_agg(c, n), '{}') INTO cnt
    FROM (SELECT x.category::text AS c, pg_catalog.count(*) AS n FROM reconcile.results x
          WHERE x.run_id = rid GROUP BY x.category ORDER BY x.category) t;
    SELECT pg_catalog.count(DISTINCT (x.key, x.ledger_id)) FILTER (WHERE x.ledger_id IS NOT NULL),
           pg_catalog.count(DISTINCT (x.key, x.statement_id)) FILTER (WHERE x.statement_id IS NOT NULL)
    INTO lrows, srows FROM reconcile.results x WHERE x.run_id = rid;
    UPDATE reconcile.runs SET finished_at = pg_catalog.clock_timestamp(), ledger_rows = lrows,
                              statement_rows = srows, counts = cnt
    WHERE run_id = rid;
    PERFORM reconcile.audit('run', name, NULL,
                            pg_catalog.jsonb_build_object('run_id', rid, 'as_of', as_of, 'counts', cnt));
    -- delivered when the transaction commits
    PERFORM pg_catalog.pg_notify('reconcile',
        pg_catalog.jsonb_build_object('name', name, 'run_id', rid, 'counts', cnt)::text);
    RETURN rid;
END
$$;
COMMENT ON FUNCTION reconcile.run(text, date) IS
'Matches the reconciliation''s rows that no earlier run cleared, stores the results, clears what matched, opens or updates items, writes audit_log and notifies channel reconcile; returns the run id (55P03 while another run of it is under way)';

----------------------------------------------------------------------------
-- Follow-up
----------------------------------------------------------------------------

-- The item, locked, if the caller may see its reconciliation.
CREATE FUNCTION reconcile.item_for_update(item_id bigint)
RETURNS reconcile.items
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    it reconcile.items;
BEGIN
    SELECT * INTO it FROM reconcile.items i WHERE i.item_id = item_for_update.item_id FOR UPDATE;
    IF NOT FOUND OR NOT reconcile.can_see(it.name, reconcile.caller()) THEN
        RAISE EXCEPTION 'item % does not exist', item_id USING ERRCODE = '42704';
    END IF;
    RETURN it;
END
$$;
REVOKE ALL ON FUNCTION reconcile.item_for_update(bigint) FROM PUBLIC;
COMMENT ON FUNCTION reconcile.item_for_update(bigint) IS
'Internal: the item, locked for update, when the caller may see its reconciliation (42704 otherwise, revealing nothing)';

CREATE FUNCTION reconcile.assign(item_id bigint, assignee text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    it reconcile.items := reconcile.item_for_update(item_id);
BEGIN
    UPDATE reconcile.items i SET assignee = assign.assignee WHERE i.item_id = it.item_id;
    PERFORM reconcile.audit('assign', it.name, it.item_id,
                            pg_catalog.jsonb_build_object('from', it.assignee, 'to', assignee));
END
$$;
COMMENT ON FUNCTION reconcile.assign(bigint, text) IS 'Assigns an item to someone to follow up';

CREATE FUNCTION reconcile.resolve(item_id bigint, resolution text, note text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    it reconcile.items := reconcile.item_for_update(item_id);
BEGIN
    IF it.status <> 'open' THEN
        RAISE EXCEPTION 'item % is %, not open', item_id, it.status USING ERRCODE = '55000';
    END IF;
    IF resolution IS NULL OR resolution = '' THEN
        RAISE EXCEPTION '"resolution" must not be empty' USING ERRCODE = '22023';
    END IF;
    UPDATE reconcile.items i
    SET status = 'resolved', resolution = resolve.resolution, note = COALESCE(resolve.note, i.note),
        resolved_by = reconcile.caller(), resolved_at = pg_catalog.now()
    WHERE i.item_id = it.item_id;
    PERFORM reconcile.audit('resolve', it.name, it.item_id,
                            pg_catalog.jsonb_build_object('resolution', resolution, 'note', note));
END
$$;
COMMENT ON FUNCTION reconcile.resolve(bigint, text, text) IS 'Resolves an open item (the maker): records the resolution, who and when';

CREATE FUNCTION reconcile.approve(item_id bigint)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    it reconcile.items := reconcile.item_for_update(item_id);
BEGIN
    IF it.status <> 'resolved' THEN
        RAISE EXCEPTION 'item % is %, not resolved', item_id, it.status USING ERRCODE = '55000';
    END IF;
    IF it.resolved_by = reconcile.caller() THEN
        RAISE EXCEPTION 'item % was resolved by %, who cannot also approve it', item_id, it.resolved_by
            USING ERRCODE = '42501', HINT = 'A second person approves (maker-checker).';
    END IF;
    UPDATE reconcile.items i
    SET status = 'approved', approved_by = reconcile.caller(), approved_at = pg_catalog.now()
    WHERE i.item_id = it.item_id;
    PERFORM reconcile.audit('approve', it.name, it.item_id,
                            pg_catalog.jsonb_build_object('resolved_by', it.resolved_by));
END
$$;
COMMENT ON FUNCTION reconcile.approve(bigint) IS 'Approves a resolved item (the checker); 42501 when the approver is the one who resolved it';

CREATE FUNCTION reconcile.reopen(item_id bigint, note text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    it reconcile.items := reconcile.item_for_update(item_id);
BEGIN
    IF it.status NOT IN ('resolved', 'approved') THEN
        RAISE EXCEPTION 'item % is %, not resolved or approved', item_id, it.status USING ERRCODE = '55000';
    END IF;
    UPDATE reconcile.items i
    SET status = 'open', note = reopen.note, resolution = NULL, resolved_by = NULL, resolved_at = NULL,
        approved_by = NULL, approved_at = NULL
    WHERE i.item_id = it.item_id;
    PERFORM reconcile.audit('reopen', it.name, it.item_id,
                            pg_catalog.jsonb_build_object('was', it.status, 'resolution', it.resolution,
                                                          'resolved_by', it.resolved_by,
                                                          'approved_by', it.approved_by, 'note', note));
END
$$;
COMMENT ON FUNCTION reconcile.reopen(bigint, text) IS 'Reopens a resolved or approved item; the earlier resolution stays in audit_log';

-- The key of a source row, or NULL when the row does not exist.
CREATE FUNCTION reconcile.row_key(reg reconcile.reconciliations, is_ledger boolean, id text)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols jsonb := reg.columns -> CASE WHEN is_ledger THEN 'ledger' ELSE 'statement' END;
    k    text;
BEGIN
    EXECUTE pg_catalog.format('SELECT COALESCE(%s, '''') FROM %s WHERE (%I)::text = $1 LIMIT 1',
                              CASE WHEN cols ? 'key' THEN pg_catalog.format('(%I)::text', cols ->> 'key')
                                   ELSE 'NULL::text' END,
                              CASE WHEN is_ledger THEN reg.ledger ELSE reg.statement END,
                              cols ->> 'id')
        INTO k USING id;
    RETURN k;
END
$$;
REVOKE ALL ON FUNCTION reconcile.row_key(reconcile.reconciliations, boolean, text) FROM PUBLIC;
COMMENT ON FUNCTION reconcile.row_key(reconcile.reconciliations, boolean, text) IS
'Internal: the key of a source row by id ('''' without a key column), NULL when it does not exist';

CREATE FUNCTION reconcile.manual_match(name text, ledger_ids text[], statement_ids text[], note text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg  reconcile.reconciliations := reconcile.registered(name);
    tag  text := 'm' || pg_catalog.gen_random_uuid();
    side boolean;
    ids  text[];
    x    text;
    k    text;
BEGIN
    IF COALESCE(pg_catalog.cardinality(ledger_ids), 0) = 0
       OR COALESCE(pg_catalog.cardinality(statement_ids), 0) = 0 THEN
        RAISE EXCEPTION 'a manual match needs at least one ledger and one statement id'
            USING ERRCODE = '22023';
    END IF;
    FOREACH side IN ARRAY ARRAY[true, false] LOOP
        ids := CASE WHEN side THEN ledger_ids ELSE statement_ids END;
        FOREACH x IN ARRAY ids LOOP
            k := reconcile.row_key(reg, side, x);
            IF k IS NULL THEN
                RAISE EXCEPTION '% row "%" does not exist', CASE WHEN side THEN 'ledger' ELSE 'statement' END, x
                    USING ERRCODE = '42704';
            END IF;
            INSERT INTO reconcile.cleared (name, is_ledger, key, id, category, run_id, match_tag)
            VALUES (manual_match.name, side, k, x, 'manual', NULL, tag)
            ON CONFLICT DO NOTHING;
            IF NOT FOUND THEN
                RAISE EXCEPTION '% row "%" is already matched', CASE WHEN side THEN 'ledger' ELSE 'statement' END, x
                    USING ERRCODE = '55000', HINT = 'reconcile.unmatch releases it first.';
            END IF;
        END LOOP;
    END LOOP;
    UPDATE reconcile.items i SET status = 'cleared'
    WHERE i.name = manual_match.name AND i.status <> 'cleared'
      AND (i.ledger_id = ANY (ledger_ids) OR i.statement_id = ANY (statement_ids));
    PERFORM reconcile.audit('manual_match', name, NULL,
                            pg_catalog.jsonb_build_object('ledger_ids', ledger_ids,
                                                          'statement_ids', statement_ids,
                                                          'note', note, 'match_tag', tag));
END
$$;
COMMENT ON FUNCTION reconcile.manual_match(text, text[], text[], text) IS
'Matches ledger and statement rows by hand (category manual): every later run leaves them alone and their items are cleared';

CREATE FUNCTION reconcile.unmatch(name text, ledger_id text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg   reconcile.reconciliations := reconcile.registered(name);
    tags  text[];
    freed jsonb;
BEGIN
    SELECT pg_catalog.array_agg(DISTINCT c.match_tag) INTO tags
    FROM reconcile.cleared c WHERE c.name = unmatch.name AND c.is_ledger AND c.id = ledger_id;
    IF tags IS NULL THEN
        RAISE EXCEPTION 'ledger row "%" of "%" is not matched', ledger_id, name USING ERRCODE = '42704';
    END IF;
    WITH d AS (DELETE FROM reconcile.cleared c WHERE c.name = unmatch.name AND c.match_tag = ANY (tags)
               RETURNING c.is_ledger, c.id, c.category)
    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('ledger', d.is_ledger, 'id', d.id,
                                                              'category', d.category))
    INTO freed FROM d;
    PERFORM reconcile.audit('unmatch', name, NULL,
                            pg_catalog.jsonb_build_object('ledger_id', ledger_id, 'released', freed));
END
$$;
COMMENT ON FUNCTION reconcile.unmatch(text, text) IS
'Releases a matched ledger row and the rows matched with it, so that the next run matches them again';

----------------------------------------------------------------------------
-- Views and the reconciliation statement
----------------------------------------------------------------------------

CREATE VIEW reconcile.open_items WITH (security_invoker = true) AS
SELECT i.item_id, i.name, i.key, i.ledger_id, i.statement_id, i.category, i.amount_diff,
       i.ledger_amount, i.statement_amount, i.ledger_date, i.statement_date, i.status,
       i.assignee, i.resolution, i.note, i.resolved_by, i.resolved_at,
       i.first_run_id, i.last_run_id,
       (r.as_of - LEAST(i.ledger_date, i.statement_date))::integer AS age_days,
       CASE WHEN r.as_of - LEAST(i.ledger_date, i.statement_date) <= 7 THEN '0-7'
            WHEN r.as_of - LEAST(i.ledger_date, i.statement_date) <= 30 THEN '8-30'
            WHEN r.as_of - LEAST(i.ledger_date, i.statement_date) <= 90 THEN '31-90'
            WHEN r.as_of - LEAST(i.ledger_date, i.statement_date) > 90 THEN '90+'
       END AS aging_bucket
FROM reconcile.items i
LEFT JOIN LATERAL (SELECT ru.as_of FROM reconcile.runs ru WHERE ru.name = i.name
                   ORDER BY ru.run_id DESC LIMIT 1) r ON true
WHERE i.status IN ('open', 'resolved');
COMMENT ON VIEW reconcile.open_items IS
'Items still to be handled (open, or resolved but not approved), with age_days from the older row''s date to the latest run''s as_of and aging_bucket 0-7, 8-30, 31-90, 90+';

CREATE VIEW reconcile.run_summary WITH (security_invoker = true) AS
SELECT run_id, name, key, category, pg_catalog.sum(n)::bigint AS rows, pg_catalog.sum(la) AS ledger_amount,
       pg_catalog.sum(sa) AS statement_amount, pg_catalog.sum(ad) AS amount_diff
FROM (SELECT run_id, name, key, category, group_id, pg_catalog.count(*) AS n,
             CASE WHEN category = 'one_to_many' THEN pg_catalog.max(ledger_amount)
                  ELSE pg_catalog.sum(ledger_amount) END AS la,
             CASE WHEN category = 'many_to_one' THEN pg_catalog.max(statement_amount)
                  ELSE pg_catalog.sum(statement_amount) END AS sa,
             pg_catalog.sum(amount_diff) AS ad
      FROM reconcile.results GROUP BY run_id, name, key, category, group_id) x
GROUP BY run_id, name, key, category;
GRANT SELECT ON reconcile.open_items, reconcile.run_summary TO PUBLIC;
COMMENT ON COLUMN reconcile.open_items.age_days IS 'Days from the older row''s date to the as_of of the reconciliation''s latest run';
COMMENT ON COLUMN reconcile.open_items.aging_bucket IS '0-7, 8-30, 31-90 or 90+ (from age_days)';
COMMENT ON COLUMN reconcile.run_summary.rows IS 'Result rows of the run in this key and category';
COMMENT ON COLUMN reconcile.run_summary.ledger_amount IS 'Sum of the ledger amounts, a one_to_many group''s ledger row once';
COMMENT ON COLUMN reconcile.run_summary.statement_amount IS 'Sum of the statement amounts, a many_to_one group''s statement row once';
COMMENT ON COLUMN reconcile.run_summary.amount_diff IS 'Sum of amount_diff (statement minus ledger)';
COMMENT ON VIEW reconcile.run_summary IS
'Per run, key and category: result rows, ledger amount, statement amount and difference (a group''s single row counted once)';

CREATE FUNCTION reconcile.proof(run_id bigint)
RETURNS TABLE (key text, line integer, item text, rows bigint, amount numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH r AS (SELECT * FROM reconcile.results x WHERE x.run_id = proof.run_id),
    l AS (SELECT DISTINCT ON (r.key, r.ledger_id) r.key, r.category, r.ledger_amount AS amount
          FROM r WHERE r.ledger_id IS NOT NULL ORDER BY r.key, r.ledger_id),
    s AS (SELECT DISTINCT ON (r.key, r.statement_id) r.key, r.category, r.statement_amount AS amount
          FROM r WHERE r.statement_id IS NOT NULL ORDER BY r.key, r.statement_id),
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
'The reconciliation statement of one run, per key: ledger total, each category''s contribution (its statement rows minus its ledger rows), statement total; ledger total plus the contributions equals the statement total';

----------------------------------------------------------------------------
-- Scheduling with pg_cron
----------------------------------------------------------------------------

CREATE FUNCTION reconcile.require_pg_cron()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database'
            USING ERRCODE = '55000',
                  HINT = 'Add pg_cron to shared_preload_libraries, then CREATE EXTENSION pg_cron.';
    END IF;
END
$$;
COMMENT ON FUNCTION reconcile.require_pg_cron() IS 'Internal: 55000 with a hint when pg_cron is not installed';

CREATE FUNCTION reconcile.schedule(name text, schedule text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM reconcile.require_pg_cron();
    PERFORM reconcile.registered(name);
    RETURN cron.schedule('reconcile:' || name, schedule,
                         pg_catalog.format('SELECT reconcile.run(%L)', name));
END
$$;
COMMENT ON FUNCTION reconcile.schedule(text, text) IS
'Schedules SELECT reconcile.run(name) with pg_cron as job reconcile:<name> (cron syntax, e.g. ''0 2 * * *''); returns the job id; 55000 without pg_cron';

CREATE FUNCTION reconcile.unschedule(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM reconcile.require_pg_cron();
    PERFORM cron.unschedule('reconcile:' || name);
END
$$;
COMMENT ON FUNCTION reconcile.unschedule(text) IS 'Removes the pg_cron job reconcile:<name>; 55000 without pg_cron';

----------------------------------------------------------------------------
-- drop: also forget what the reconciliation cleared
----------------------------------------------------------------------------

-- Releases the rows a reconciliation cleared and closes its items, so that one created again
-- under the same name starts afresh; the runs, results and audit_log stay for the auditor.
CREATE FUNCTION reconcile.forget(name text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM reconcile.reconciliations r WHERE r.name = forget.name
                   AND pg_catalog.pg_has_role(reconcile.caller(), r.owner, 'MEMBER')) THEN
        RAISE EXCEPTION 'permission denied to drop reconciliation "%"', name
            USING ERRCODE = '42501', HINT = 'Only its owner can drop it.';
    END IF;
    DELETE FROM reconcile.cleared c WHERE c.name = forget.name;
    UPDATE reconcile.items i SET status = 'cleared' WHERE i.name = forget.name AND i.status <> 'cleared';
    PERFORM reconcile.audit('drop', name, NULL, '{}');
END
$$;
COMMENT ON FUNCTION reconcile.forget(text) IS
'Internal to reconcile.drop: releases the rows a reconciliation cleared and closes its items; its runs, results and audit_log stay';

CREATE OR REPLACE FUNCTION reconcile."drop"(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg reconcile.reconciliations;
BEGIN
    SELECT * INTO reg FROM reconcile.reconciliations c WHERE c.name = "drop".name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reconciliation "%" does not exist', name USING ERRCODE = '42704';
    END IF;
    PERFORM reconcile.forget(name);
    EXECUTE pg_catalog.format('DROP VIEW IF EXISTS %I.%I, %I.%I, %I.%I',
                              reg.view_schema, name || '_summary',
                              reg.view_schema, name || '_discrepancies',
                              reg.view_schema, name || '_matches');
    DELETE FROM reconcile.reconciliations c WHERE c.name = "drop".name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'permission denied to drop reconciliation "%"', name
            USING ERRCODE = '42501', HINT = 'Only its owner can drop it.';
    END IF;
END
$$;
COMMENT ON FUNCTION reconcile."drop"(text) IS
'Drops the three views of a reconciliation and its registration, releases the rows it cleared and closes its items (42704 when unknown); its runs, results and audit_log stay';
