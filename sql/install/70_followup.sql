/* 70_followup.sql: open items and their follow-up (maker-checker), manual matches */

----------------------------------------------------------------------------
-- Items
----------------------------------------------------------------------------

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

ALTER TABLE reconcile.items ENABLE ROW LEVEL SECURITY;
CREATE POLICY items_visible ON reconcile.items FOR SELECT USING (reconcile.can_see(name));
GRANT SELECT ON reconcile.items TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('reconcile.items', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.items_item_id_seq', '');

----------------------------------------------------------------------------
-- Internal: items and source rows, for the functions below
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

----------------------------------------------------------------------------
-- Follow-up
----------------------------------------------------------------------------

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

----------------------------------------------------------------------------
-- Manual matches
----------------------------------------------------------------------------

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
