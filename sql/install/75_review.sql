/* 75_review.sql: review before clearing, write-offs and adjustments, the match rate (SPEC 8, 0.6.0) */

----------------------------------------------------------------------------
-- Options of a reconciliation
----------------------------------------------------------------------------

-- One row per registration that has options (reconcile.configure).  Read by reconcile.run's
-- bookkeeping, as the tables' owner; readable by everyone, like the registry and the rules.
CREATE TABLE reconcile.recon_options (
    recon_id         bigint PRIMARY KEY,
    review_below     double precision,
    writeoff_limit   numeric,
    writeoff_account text,
    alert_amount     numeric,
    writeoff_by      name,
    writeoff_session name,
    set_by           name NOT NULL,
    set_at           timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE reconcile.recon_options IS
'The options of reconciliations (reconcile.configure): review, write-offs, alerts';
COMMENT ON COLUMN reconcile.recon_options.recon_id IS 'The registration';
COMMENT ON COLUMN reconcile.recon_options.review_below IS 'Matches with a lower score wait for review (suggested items) instead of clearing';
COMMENT ON COLUMN reconcile.recon_options.writeoff_limit IS 'amount_mismatch and fee_difference items of at most this difference are written off by the run';
COMMENT ON COLUMN reconcile.recon_options.writeoff_account IS 'The account the write-offs go to';
COMMENT ON COLUMN reconcile.recon_options.alert_amount IS 'A run that opens an item of at least this amount (or a duplicate or reversal) notifies channel reconcile_alert';
COMMENT ON COLUMN reconcile.recon_options.writeoff_by IS 'The role that set the write-off limit: the maker of the write-offs, who cannot approve them';
COMMENT ON COLUMN reconcile.recon_options.writeoff_session IS 'The person (the role that logged in) who set the write-off limit';
COMMENT ON COLUMN reconcile.recon_options.set_by IS 'The role that changed the options last';
COMMENT ON COLUMN reconcile.recon_options.set_at IS 'When';
SELECT pg_catalog.pg_extension_config_dump('reconcile.recon_options', '');
ALTER TABLE reconcile.recon_options ENABLE ROW LEVEL SECURITY;
CREATE POLICY recon_options_read ON reconcile.recon_options FOR SELECT USING (true);
GRANT SELECT ON reconcile.recon_options TO PUBLIC;

CREATE VIEW reconcile.options WITH (security_invoker = true) AS
SELECT r.name, o.review_below, o.writeoff_limit, o.writeoff_account, o.alert_amount, o.writeoff_by,
       o.set_by, o.set_at
FROM reconcile.recon_options o
JOIN reconcile.reconciliations r ON r.id = o.recon_id;
COMMENT ON VIEW reconcile.options IS
'The options of each reconciliation that has any (reconcile.configure): review_below, writeoff_limit, writeoff_account, alert_amount, who set the write-off limit and who changed them last';
GRANT SELECT ON reconcile.options TO PUBLIC;

-- The options of registration recon_id, for its owner (42704 unknown name, 42501 not the owner).
CREATE FUNCTION reconcile.owned_registration(name text, actor name)
RETURNS reconcile.reconciliations
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg reconcile.reconciliations;
BEGIN
    SELECT * INTO reg FROM reconcile.reconciliations g WHERE g.name = owned_registration.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reconciliation "%" does not exist', name USING ERRCODE = '42704';
    END IF;
    IF NOT reconcile.owns(reg.owner, actor) THEN
        RAISE EXCEPTION 'permission denied to configure reconciliation "%"', name
            USING ERRCODE = '42501', HINT = 'Only its owner can change its options.';
    END IF;
    RETURN reg;
END
$$;
COMMENT ON FUNCTION reconcile.owned_registration(text, name) IS
'Internal to reconcile.configure and reconcile.reset_option: the registration of a name when the role owns it (42704 unknown, 42501 not the owner)';
REVOKE ALL ON FUNCTION reconcile.owned_registration(text, name) FROM PUBLIC;

-- Set the options of reconciliation name that are not NULL, for its owner; audited with the
-- values they replace.  The role that sets the write-off limit is the maker of the write-offs.
CREATE FUNCTION reconcile.configure_by(actor name, person name, name text, review_below double precision,
                                       writeoff_limit numeric, writeoff_account text, alert_amount numeric)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    reg reconcile.reconciliations := reconcile.owned_registration(name, actor);
    was reconcile.recon_options;
    now reconcile.recon_options;
BEGIN
    IF review_below IS NOT NULL AND NOT (review_below >= 0 AND review_below <= 1) THEN
        RAISE EXCEPTION '"review_below" must be between 0 and 1' USING ERRCODE = '22023';
    END IF;
    IF writeoff_limit IS NOT NULL AND NOT (writeoff_limit >= 0 AND writeoff_limit < 'Infinity') THEN
        RAISE EXCEPTION '"writeoff_limit" must be a finite amount of at least 0' USING ERRCODE = '22023';
    END IF;
    IF writeoff_account = '' THEN
        RAISE EXCEPTION '"writeoff_account" must not be empty' USING ERRCODE = '22023';
    END IF;
    IF alert_amount IS NOT NULL AND NOT (alert_amount >= 0 AND alert_amount < 'Infinity') THEN
        RAISE EXCEPTION '"alert_amount" must be a finite amount of at least 0' USING ERRCODE = '22023';
    END IF;
    SELECT * INTO was FROM reconcile.recon_options o WHERE o.recon_id = reg.id FOR UPDATE;
    INSERT INTO reconcile.recon_options AS o (recon_id, review_below, writeoff_limit, writeoff_account,
                                              alert_amount, writeoff_by, writeoff_session, set_by)
    VALUES (reg.id, review_below, writeoff_limit, writeoff_account, alert_amount,
            CASE WHEN writeoff_limit IS NOT NULL THEN actor END,
            CASE WHEN writeoff_limit IS NOT NULL THEN person END, actor)
    ON CONFLICT (recon_id) DO UPDATE
    SET review_below = COALESCE(excluded.review_below, o.review_below),
        writeoff_limit = COALESCE(excluded.writeoff_limit, o.writeoff_limit),
        writeoff_account = COALESCE(excluded.writeoff_account, o.writeoff_account),
        alert_amount = COALESCE(excluded.alert_amount, o.alert_amount),
        writeoff_by = COALESCE(excluded.writeoff_by, o.writeoff_by),
        writeoff_session = COALESCE(excluded.writeoff_session, o.writeoff_session),
        set_by = excluded.set_by, set_at = excluded.set_at
    RETURNING * INTO now;
    IF now.writeoff_limit IS NOT NULL AND now.writeoff_account IS NULL THEN
        RAISE EXCEPTION 'a write-off limit needs an account to write off to' USING ERRCODE = '22023',
            HINT = 'Give writeoff_account too.';
    END IF;
    PERFORM reconcile.audit(reg.id, 'configure', name, NULL,
                            pg_catalog.jsonb_build_object(
                                'review_below', now.review_below, 'writeoff_limit', now.writeoff_limit,
                                'writeoff_account', now.writeoff_account, 'alert_amount', now.alert_amount,
                                'was', CASE WHEN was.recon_id IS NOT NULL THEN pg_catalog.jsonb_build_object(
                                    'review_below', was.review_below, 'writeoff_limit', was.writeoff_limit,
                                    'writeoff_account', was.writeoff_account, 'alert_amount', was.alert_amount) END),
                            actor);
END
$$;
COMMENT ON FUNCTION reconcile.configure_by(name, name, text, double precision, numeric, text, numeric) IS
'Internal to reconcile.configure (src/act.c), as the tables'' owner: sets the options given of a reconciliation for its owner, and audits them';
REVOKE ALL ON FUNCTION reconcile.configure_by(name, name, text, double precision, numeric, text, numeric) FROM PUBLIC;

CREATE FUNCTION reconcile.configure(name text, review_below double precision DEFAULT NULL,
                                    writeoff_limit numeric DEFAULT NULL, writeoff_account text DEFAULT NULL,
                                    alert_amount numeric DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'rc_act'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.configure(text, double precision, numeric, text, numeric) IS
'Sets options of a reconciliation (NULL keeps the current value): review_below (matches scoring lower wait for reconcile.accept or reconcile.reject), writeoff_limit and writeoff_account (the run writes off smaller amount_mismatch and fee_difference items, for a checker to approve), alert_amount (notifications on channel reconcile_alert).  Owner only (42501); unknown name 42704; invalid values 22023; audited';

-- Unset one option (review_below, writeoff_limit with its account, alert_amount), for the owner.
CREATE FUNCTION reconcile.reset_option_by(actor name, person name, name text, option text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    reg reconcile.reconciliations := reconcile.owned_registration(name, actor);
BEGIN
    IF option IS NULL OR option NOT IN ('review_below', 'writeoff_limit', 'alert_amount') THEN
        RAISE EXCEPTION 'unknown option "%"', option USING ERRCODE = '22023',
            HINT = 'The options are review_below, writeoff_limit (with writeoff_account) and alert_amount.';
    END IF;
    UPDATE reconcile.recon_options o
    SET review_below = CASE WHEN option = 'review_below' THEN NULL ELSE o.review_below END,
        writeoff_limit = CASE WHEN option = 'writeoff_limit' THEN NULL ELSE o.writeoff_limit END,
        writeoff_account = CASE WHEN option = 'writeoff_limit' THEN NULL ELSE o.writeoff_account END,
        writeoff_by = CASE WHEN option = 'writeoff_limit' THEN NULL ELSE o.writeoff_by END,
        writeoff_session = CASE WHEN option = 'writeoff_limit' THEN NULL ELSE o.writeoff_session END,
        alert_amount = CASE WHEN option = 'alert_amount' THEN NULL ELSE o.alert_amount END,
        set_by = actor, set_at = pg_catalog.now()
    WHERE o.recon_id = reg.id;
    PERFORM reconcile.audit(reg.id, 'reset_option', name, NULL, pg_catalog.jsonb_build_object('option', option), actor);
END
$$;
COMMENT ON FUNCTION reconcile.reset_option_by(name, name, text, text) IS
'Internal to reconcile.reset_option (src/act.c), as the tables'' owner';
REVOKE ALL ON FUNCTION reconcile.reset_option_by(name, name, text, text) FROM PUBLIC;

CREATE FUNCTION reconcile.reset_option(name text, option text)
RETURNS void
AS 'MODULE_PATHNAME', 'rc_act'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.reset_option(text, text) IS
'Unsets one option of a reconciliation (review_below, writeoff_limit with its account, or alert_amount), which reconcile.configure cannot since NULL keeps the value.  Owner only (42501); audited';

----------------------------------------------------------------------------
-- Review: matches held back, accepted or rejected
----------------------------------------------------------------------------

-- The rows of each rejected match (reconcile.reject), one row each, the rows of one rejection
-- sharing its rejection_id.  The matching query hands each row the ids of the rejections it is in
-- (reconcile.source_sql), and the core never puts a ledger row and a statement row that share one
-- together again.  Read by the views and runs as their readers, like reconcile.cleared.
CREATE TABLE reconcile.rejections (
    rejection_id bigint NOT NULL,
    recon_id     bigint NOT NULL,
    item_id      bigint NOT NULL,
    key          text,
    is_ledger    boolean NOT NULL,
    id           text NOT NULL,
    made_by      name NOT NULL,
    made_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE SEQUENCE reconcile.rejections_rejection_id_seq OWNED BY reconcile.rejections.rejection_id;
CREATE INDEX rejections_rows ON reconcile.rejections (recon_id, is_ledger, id);
COMMENT ON TABLE reconcile.rejections IS
'The rows of the matches rejected with reconcile.reject: later runs and the views never pair or group the ledger and statement rows of one rejection again';
COMMENT ON COLUMN reconcile.rejections.rejection_id IS 'One rejection: the rows that must not be matched together';
COMMENT ON COLUMN reconcile.rejections.recon_id IS 'The registration';
COMMENT ON COLUMN reconcile.rejections.item_id IS 'The (first) item rejected';
COMMENT ON COLUMN reconcile.rejections.key IS 'Group key of the row';
COMMENT ON COLUMN reconcile.rejections.is_ledger IS 'Ledger (true) or statement row';
COMMENT ON COLUMN reconcile.rejections.id IS 'Id of the row';
COMMENT ON COLUMN reconcile.rejections.made_by IS 'The role that rejected it';
COMMENT ON COLUMN reconcile.rejections.made_at IS 'When';
ALTER TABLE reconcile.rejections ENABLE ROW LEVEL SECURITY;
CREATE POLICY rejections_visible ON reconcile.rejections FOR SELECT
    USING (recon_id IN (SELECT reconcile.readable(true))
           OR (recon_id IN (SELECT reconcile.readable(false)) AND made_by = current_user));
GRANT SELECT ON reconcile.rejections TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('reconcile.rejections', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.rejections_rejection_id_seq', '');

-- The suggested item and the others of its group (group_tag), locked, once the registration is
-- locked (waiting for a run): 42704 when the role may not see it (checked before any lock, so an
-- outsider cannot hold a reconciliation's lock), 55000 unless it is suggested.  The registration
-- is locked before the item, in the order a run takes them.
CREATE FUNCTION reconcile.suggested_items(item_id bigint, actor name)
RETURNS SETOF reconcile.items
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    it reconcile.items;
BEGIN
    SELECT * INTO it FROM reconcile.items i WHERE i.item_id = suggested_items.item_id;
    IF NOT FOUND OR NOT reconcile.item_visible(it, actor) THEN
        RAISE EXCEPTION 'item % does not exist', item_id USING ERRCODE = '42704';
    END IF;
    PERFORM reconcile.lock_registration(it.recon_id, false);
    it := reconcile.item_for_update(item_id, actor);
    IF it.status <> 'suggested' THEN
        RAISE EXCEPTION 'item % is %, not suggested', item_id, it.status USING ERRCODE = '55000',
            HINT = 'Only a match held for review is accepted or rejected.';
    END IF;
    -- a group is decided whole, as the run proposed it
    IF it.group_tag IS NOT NULL AND EXISTS (SELECT FROM reconcile.items i
                                            WHERE i.recon_id = it.recon_id AND i.group_tag = it.group_tag
                                              AND i.status <> 'suggested') THEN
        RAISE EXCEPTION 'the group of item % is no longer proposed whole', item_id USING ERRCODE = '55000',
            HINT = 'The next run proposes what its rows match now.';
    END IF;
    RETURN QUERY
    SELECT * FROM reconcile.items i
    WHERE i.item_id = it.item_id
       OR (it.group_tag IS NOT NULL AND i.recon_id = it.recon_id AND i.group_tag = it.group_tag
           AND i.status = 'suggested')
    ORDER BY i.item_id FOR UPDATE;
END
$$;
COMMENT ON FUNCTION reconcile.suggested_items(bigint, name) IS
'Internal to reconcile.accept and reconcile.reject: a suggested item with the rest of its group, locked (42704 out of sight, 55000 not suggested)';
REVOKE ALL ON FUNCTION reconcile.suggested_items(bigint, name) FROM PUBLIC;

-- The rows of items (a pair's two, a group's each once), with what the run found them as.
CREATE FUNCTION reconcile.item_rows(its reconcile.items[])
RETURNS TABLE (is_ledger boolean, key text, id text, category reconcile.category, last_run_id bigint)
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT DISTINCT side.is_ledger, x.key, side.id, x.category, x.last_run_id
    FROM pg_catalog.unnest(its) x
    CROSS JOIN LATERAL (VALUES (true, x.ledger_id), (false, x.statement_id)) AS side(is_ledger, id)
    WHERE side.id IS NOT NULL
$$;
COMMENT ON FUNCTION reconcile.item_rows(reconcile.items[]) IS
'Internal to reconcile.accept and reconcile.reject: the source rows of items, each once, with the category and run of its item';
REVOKE ALL ON FUNCTION reconcile.item_rows(reconcile.items[]) FROM PUBLIC;

-- Accept a match held for review: its rows are cleared as the run found them (the category, the
-- run), tagged by the acceptance, and its items (a group's all) cleared.
CREATE FUNCTION reconcile.accept_by(actor name, person name, item_id bigint, note text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    its  reconcile.items[];
    it   reconcile.items;
    part record;
    n    bigint;
    want bigint;
BEGIN
    SELECT pg_catalog.array_agg(s ORDER BY s.item_id) INTO its FROM reconcile.suggested_items(item_id, actor) s;
    it := its[1];
    SELECT * INTO part FROM reconcile.cleared_target(it.recon_id);
    IF part.bare THEN
        PERFORM reconcile.cleared_index(part.part);
    END IF;
    WITH r AS (SELECT * FROM reconcile.item_rows(its)),
    ins AS (
        INSERT INTO reconcile.cleared (name, is_ledger, key, id, category, run_id, match_tag, recon_id, made_by)
        SELECT it.name, r.is_ledger, r.key, r.id, r.category, r.last_run_id, 'a' || it.item_id, it.recon_id, actor
        FROM r
        ON CONFLICT DO NOTHING
        RETURNING 1)
    SELECT pg_catalog.count(*), (SELECT pg_catalog.count(*) FROM r) INTO n, want FROM ins;
    IF n <> want THEN
        RAISE EXCEPTION 'a row of item % is already matched', item_id USING ERRCODE = '55000',
            HINT = 'reconcile.unmatch releases it first.';
    END IF;
    UPDATE reconcile.items i
    SET status = 'cleared', resolution = 'accepted', note = COALESCE(accept_by.note, i.note),
        resolved_by = actor, resolved_session = person, resolved_at = pg_catalog.now()
    FROM pg_catalog.unnest(its) x WHERE i.item_id = x.item_id;
    PERFORM reconcile.audit(it.recon_id, 'accept', it.name, x.item_id,
                            pg_catalog.jsonb_build_object('category', x.category, 'score', x.score,
                                                          'ledger_id', x.ledger_id, 'statement_id', x.statement_id,
                                                          'run_id', x.last_run_id, 'note', note), actor)
    FROM pg_catalog.unnest(its) x;
END
$$;
COMMENT ON FUNCTION reconcile.accept_by(name, name, bigint, text) IS
'Internal to reconcile.accept (src/act.c), as the tables'' owner';
REVOKE ALL ON FUNCTION reconcile.accept_by(name, name, bigint, text) FROM PUBLIC;

CREATE FUNCTION reconcile.accept(item_id bigint, note text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'rc_act'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.accept(bigint, text) IS
'Accepts a match held for review (a suggested item; a many_to_one or one_to_many group whole): its rows are cleared, so later runs leave them alone.  42704 out of sight, 55000 not suggested or a row matched since; audited';

-- Reject a match held for review: its items (a group's all) are rejected, its rows recorded as
-- one rejection (never matched together again) and released, so that the next run reads them
-- again even from a mark and matches them with others if it can.
CREATE FUNCTION reconcile.reject_by(actor name, person name, item_id bigint, note text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    its reconcile.items[];
    it  reconcile.items;
    rej bigint := pg_catalog.nextval('reconcile.rejections_rejection_id_seq');
BEGIN
    SELECT pg_catalog.array_agg(s ORDER BY s.item_id) INTO its FROM reconcile.suggested_items(item_id, actor) s;
    it := its[1];
    WITH r AS (SELECT DISTINCT x.is_ledger, x.key, x.id FROM reconcile.item_rows(its) x),
    j AS (
        INSERT INTO reconcile.rejections (rejection_id, recon_id, item_id, key, is_ledger, id, made_by)
        SELECT rej, it.recon_id, it.item_id, r.key, r.is_ledger, r.id, actor FROM r)
    INSERT INTO reconcile.released (recon_id, is_ledger, key, id)
    SELECT it.recon_id, r.is_ledger, r.key, r.id FROM r
    ON CONFLICT DO NOTHING;
    UPDATE reconcile.items i
    SET status = 'rejected', resolution = 'rejected', note = COALESCE(reject_by.note, i.note),
        resolved_by = actor, resolved_session = person, resolved_at = pg_catalog.now()
    FROM pg_catalog.unnest(its) x WHERE i.item_id = x.item_id;
    PERFORM reconcile.audit(it.recon_id, 'reject', it.name, x.item_id,
                            pg_catalog.jsonb_build_object('category', x.category, 'score', x.score,
                                                          'ledger_id', x.ledger_id, 'statement_id', x.statement_id,
                                                          'run_id', x.last_run_id, 'rejection_id', rej,
                                                          'note', note), actor)
    FROM pg_catalog.unnest(its) x;
END
$$;
COMMENT ON FUNCTION reconcile.reject_by(name, name, bigint, text) IS
'Internal to reconcile.reject (src/act.c), as the tables'' owner';
REVOKE ALL ON FUNCTION reconcile.reject_by(name, name, bigint, text) FROM PUBLIC;

CREATE FUNCTION reconcile.reject(item_id bigint, note text)
RETURNS void
AS 'MODULE_PATHNAME', 'rc_act'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.reject(bigint, text) IS
'Rejects a match held for review (a suggested item; a group whole): its rows are released and never proposed together again, so a later run matches them with others if it can.  42704 out of sight, 55000 not suggested; audited';

----------------------------------------------------------------------------
-- Adjustments: what resolved differences mean for the books
----------------------------------------------------------------------------

CREATE TABLE reconcile.adjustment_entries (
    adjustment_id bigserial PRIMARY KEY,
    item_id       bigint NOT NULL,
    recon_id      bigint NOT NULL,
    name          text NOT NULL,
    key           text,
    account       text NOT NULL,
    amount        numeric NOT NULL,
    memo          text,
    run_id        bigint NOT NULL,
    made_by       name NOT NULL,
    made_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    exported_by   name,
    exported_at   timestamptz,
    cancelled_at  timestamptz
);
CREATE INDEX adjustment_entries_item ON reconcile.adjustment_entries (item_id);
CREATE INDEX adjustment_entries_recon ON reconcile.adjustment_entries (recon_id, adjustment_id);
COMMENT ON TABLE reconcile.adjustment_entries IS
'The adjustments of resolved items (reconcile.resolve with an account, and the write-offs of runs): reconcile.adjustments shows them with their status';
COMMENT ON COLUMN reconcile.adjustment_entries.adjustment_id IS 'Adjustment id';
COMMENT ON COLUMN reconcile.adjustment_entries.item_id IS 'The item it resolves (of a group, the first)';
COMMENT ON COLUMN reconcile.adjustment_entries.recon_id IS 'The registration';
COMMENT ON COLUMN reconcile.adjustment_entries.name IS 'Reconciliation';
COMMENT ON COLUMN reconcile.adjustment_entries.key IS 'Group key';
COMMENT ON COLUMN reconcile.adjustment_entries.account IS 'The account it goes to';
COMMENT ON COLUMN reconcile.adjustment_entries.amount IS 'Minus the contribution of what it resolves to the proof (ledger minus statement amounts): the run''s adjustments plus those contributions are zero';
COMMENT ON COLUMN reconcile.adjustment_entries.memo IS 'What it is for';
COMMENT ON COLUMN reconcile.adjustment_entries.run_id IS 'The run whose item it resolves';
COMMENT ON COLUMN reconcile.adjustment_entries.made_by IS 'The role that made it (the maker of its item''s resolution)';
COMMENT ON COLUMN reconcile.adjustment_entries.made_at IS 'When';
COMMENT ON COLUMN reconcile.adjustment_entries.exported_by IS 'The role whose reconcile.export_adjustments returned it';
COMMENT ON COLUMN reconcile.adjustment_entries.exported_at IS 'When it was exported, once';
COMMENT ON COLUMN reconcile.adjustment_entries.cancelled_at IS 'When its item was reopened or cleared before it was exported';
ALTER TABLE reconcile.adjustment_entries ENABLE ROW LEVEL SECURITY;
CREATE POLICY adjustment_entries_visible ON reconcile.adjustment_entries FOR SELECT
    USING (recon_id IN (SELECT reconcile.readable(true))
           OR (recon_id IN (SELECT reconcile.readable(false))
               AND run_id IN (SELECT u.run_id FROM reconcile.runs u WHERE u.run_by = current_user)));
GRANT SELECT ON reconcile.adjustment_entries TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('reconcile.adjustment_entries', '');
SELECT pg_catalog.pg_extension_config_dump('reconcile.adjustment_entries_adjustment_id_seq', '');

CREATE VIEW reconcile.adjustments WITH (security_invoker = true) AS
SELECT a.adjustment_id, a.item_id, a.name, a.key, a.account, a.amount, a.memo,
       CASE WHEN a.cancelled_at IS NOT NULL THEN 'cancelled'
            WHEN a.exported_at IS NOT NULL THEN 'exported'
            WHEN i.status = 'approved' THEN 'approved'
            ELSE 'pending' END AS status,
       i.resolved_by, i.approved_by, i.approved_at, a.run_id, a.exported_at
FROM reconcile.adjustment_entries a
LEFT JOIN reconcile.items i ON i.item_id = a.item_id;
COMMENT ON VIEW reconcile.adjustments IS
'The adjustments of resolved items: pending until the item is approved, then approved, then exported (once, by reconcile.export_adjustments); cancelled when the item was reopened or cleared before export';
COMMENT ON COLUMN reconcile.adjustments.status IS 'pending, approved, exported, or cancelled';
GRANT SELECT ON reconcile.adjustments TO PUBLIC;

-- One adjustment for items (one item, or the items of one group resolved together), to account,
-- of minus their contribution to the proof: the ledger amounts minus the statement amounts.
CREATE FUNCTION reconcile.adjust(item_ids bigint[], account text, memo text, actor name)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO reconcile.adjustment_entries (item_id, recon_id, name, key, account, amount, memo, run_id, made_by)
    SELECT (pg_catalog.array_agg(i.item_id ORDER BY i.item_id))[1], pg_catalog.min(i.recon_id), pg_catalog.min(i.name),
           (pg_catalog.array_agg(i.key ORDER BY i.item_id))[1], account,
           pg_catalog.sum(COALESCE(i.ledger_amount, 0) - COALESCE(i.statement_amount, 0)), memo,
           pg_catalog.max(i.last_run_id), actor
    FROM reconcile.items i WHERE i.item_id = ANY (item_ids)
$$;
COMMENT ON FUNCTION reconcile.adjust(bigint[], text, text, name) IS
'Internal: one adjustment to an account for resolved items (one, or a group''s), of minus their contribution to the proof';
REVOKE ALL ON FUNCTION reconcile.adjust(bigint[], text, text, name) FROM PUBLIC;

-- An item leaving resolved or approved (reopened by hand or by a run, or cleared by a match)
-- cancels its adjustments not exported yet: approved means approved for those amounts.
CREATE FUNCTION reconcile.cancel_adjustments()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE reconcile.adjustment_entries a SET cancelled_at = pg_catalog.now()
    WHERE a.item_id = NEW.item_id AND a.exported_at IS NULL AND a.cancelled_at IS NULL;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION reconcile.cancel_adjustments() IS
'Internal: trigger of reconcile.items: an item that leaves resolved or approved cancels its adjustments not exported yet';
REVOKE ALL ON FUNCTION reconcile.cancel_adjustments() FROM PUBLIC;
CREATE TRIGGER items_cancel_adjustments AFTER UPDATE OF status ON reconcile.items
    FOR EACH ROW WHEN (OLD.status IN ('resolved', 'approved') AND NEW.status NOT IN ('resolved', 'approved'))
    EXECUTE FUNCTION reconcile.cancel_adjustments();

-- The approved adjustments of reconciliation name not exported yet, marked exported and returned,
-- each once: two exports racing lock the same rows, and the second finds them exported.  For a
-- role that may read the whole reconciliation (42704 unknown, 42501 no access or narrowed).
CREATE FUNCTION reconcile.take_adjustments_by(actor name, person name, name text)
RETURNS reconcile.adjustments[]
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg reconcile.reconciliations := reconcile.registered(name, actor);
    out reconcile.adjustments[];
BEGIN
    IF reg.id NOT IN (SELECT reconcile.readable(true, actor)) THEN
        RAISE EXCEPTION 'permission denied to export the adjustments of reconciliation "%"', name
            USING ERRCODE = '42501',
                  HINT = 'Row level security on its sources hides part of it from this role.';
    END IF;
    WITH taken AS (
        UPDATE reconcile.adjustment_entries a SET exported_at = pg_catalog.now(), exported_by = actor
        FROM reconcile.items i
        WHERE a.recon_id = reg.id AND a.exported_at IS NULL AND a.cancelled_at IS NULL
          AND i.item_id = a.item_id AND i.status = 'approved'
        RETURNING a.*, i.resolved_by, i.approved_by, i.approved_at)
    SELECT COALESCE(pg_catalog.array_agg(ROW(t.adjustment_id, t.item_id, t.name, t.key, t.account, t.amount, t.memo,
                                             'exported', t.resolved_by, t.approved_by, t.approved_at, t.run_id,
                                             t.exported_at)::reconcile.adjustments ORDER BY t.adjustment_id), '{}')
    INTO out FROM taken t;
    PERFORM reconcile.audit(reg.id, 'export_adjustments', name, NULL,
                            pg_catalog.jsonb_build_object('adjustment_ids',
                                (SELECT pg_catalog.jsonb_agg((x).adjustment_id) FROM pg_catalog.unnest(out) x)), actor)
    WHERE pg_catalog.cardinality(out) > 0;
    RETURN out;
END
$$;
COMMENT ON FUNCTION reconcile.take_adjustments_by(name, name, text) IS
'Internal to reconcile.export_adjustments (src/act.c), as the tables'' owner: marks the approved adjustments exported and returns them';
REVOKE ALL ON FUNCTION reconcile.take_adjustments_by(name, name, text) FROM PUBLIC;

CREATE FUNCTION reconcile.take_adjustments(name text)
RETURNS reconcile.adjustments[]
AS 'MODULE_PATHNAME', 'rc_act'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.take_adjustments(text) IS
'reconcile.export_adjustments as an array: marks the approved adjustments of a reconciliation exported and returns them, each once';

CREATE FUNCTION reconcile.export_adjustments(name text)
RETURNS SETOF reconcile.adjustments
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM pg_catalog.unnest(reconcile.take_adjustments(name))
$$;
COMMENT ON FUNCTION reconcile.export_adjustments(text) IS
'Marks the approved adjustments of a reconciliation exported and returns them, each once however many exports run at the same time (a journal import reads them).  42704 unknown; 42501 for a role that may not read the whole reconciliation; audited';

----------------------------------------------------------------------------
-- Internal: what a run does with its options (reconcile.record_run calls these)
----------------------------------------------------------------------------

-- The items of run rid that qualify for a write-off (amount_mismatch and fee_difference, open,
-- the difference of the item, or of its group whole, at most the limit) are resolved as
-- write-offs to the account, by the role that set the limit (the maker: it cannot approve them),
-- each item or group with one adjustment.  Returns how many items.
CREATE FUNCTION reconcile.write_off(recon_id bigint, rid bigint)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    opt  reconcile.recon_options;
    unit record;
    n    bigint := 0;
BEGIN
    SELECT * INTO opt FROM reconcile.recon_options o WHERE o.recon_id = write_off.recon_id;
    IF opt.writeoff_limit IS NULL THEN
        RETURN 0;
    END IF;
    FOR unit IN
        SELECT pg_catalog.array_agg(i.item_id ORDER BY i.item_id) AS items
        FROM reconcile.items i
        WHERE i.recon_id = write_off.recon_id AND i.last_run_id = rid AND i.status IN ('open', 'resolved', 'approved')
        GROUP BY COALESCE(i.group_tag, 'i' || i.item_id)
        HAVING pg_catalog.bool_and(i.status = 'open' AND i.category::text IN ('amount_mismatch', 'fee_difference'))
           AND pg_catalog.abs(pg_catalog.sum(i.amount_diff)) <= opt.writeoff_limit
    LOOP
        UPDATE reconcile.items i
        SET status = 'resolved', resolution = 'write-off', resolved_by = opt.writeoff_by,
            resolved_session = opt.writeoff_session, resolved_at = pg_catalog.now()
        WHERE i.item_id = ANY (unit.items);
        PERFORM reconcile.adjust(unit.items, opt.writeoff_account, pg_catalog.format('write-off of run %s', rid),
                                 opt.writeoff_by);
        PERFORM reconcile.audit(i.recon_id, 'resolve', i.name, i.item_id,
                                pg_catalog.jsonb_build_object('resolution', 'write-off', 'account', opt.writeoff_account,
                                                              'limit', opt.writeoff_limit, 'run_id', rid),
                                opt.writeoff_by)
        FROM reconcile.items i WHERE i.item_id = ANY (unit.items);
        n := n + pg_catalog.cardinality(unit.items);
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION reconcile.write_off(bigint, bigint) IS
'Internal to reconcile.record_run: writes off the items of a run within the reconciliation''s write-off limit, for a checker to approve';
REVOKE ALL ON FUNCTION reconcile.write_off(bigint, bigint) FROM PUBLIC;

-- One notification on channel reconcile_alert when run rid opened items of at least the alert
-- amount (the larger side) or any duplicate or reversal, and alerts are on; sent when the run
-- commits, with the name, the run id and the count only (any role may LISTEN).
CREATE FUNCTION reconcile.alert(recon_id bigint, rid bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lim numeric;
    n   bigint;
    nm  text;
BEGIN
    SELECT o.alert_amount INTO lim FROM reconcile.recon_options o WHERE o.recon_id = alert.recon_id;
    IF lim IS NULL THEN
        RETURN;
    END IF;
    SELECT pg_catalog.count(*), pg_catalog.min(i.name) INTO n, nm FROM reconcile.items i
    WHERE i.recon_id = alert.recon_id AND i.first_run_id = rid AND reconcile.is_discrepancy(i.category)
      AND (GREATEST(pg_catalog.abs(i.ledger_amount), pg_catalog.abs(i.statement_amount)) >= lim
           OR i.category::text IN ('duplicate', 'reversal'));
    IF n > 0 THEN
        PERFORM pg_catalog.pg_notify('reconcile_alert',
            pg_catalog.jsonb_build_object('name', nm, 'run_id', rid, 'items', n)::text);
    END IF;
END
$$;
COMMENT ON FUNCTION reconcile.alert(bigint, bigint) IS
'Internal to reconcile.record_run: notifies channel reconcile_alert once when the run opened items of at least the alert amount, or duplicates or reversals';
REVOKE ALL ON FUNCTION reconcile.alert(bigint, bigint) FROM PUBLIC;

----------------------------------------------------------------------------
-- The match rate
----------------------------------------------------------------------------

-- Per run, its rows by what became of them: cleared by the run itself, by review (accepted), by
-- hand (manual matches it reported), written off (the rows of its discrepancies whose items are
-- now resolved or approved with an adjustment: a write-off, or resolve with an account), and the
-- rest, left open.  Each row of a run counts once; the shares are of all of them.  A later run
-- that reads the same open rows counts them again, as its own.
CREATE VIEW reconcile.match_rate WITH (security_invoker = true) AS
SELECT u.run_id, u.name, u.as_of, x.total_rows, c.auto AS auto_rows, c.reviewed AS reviewed_rows,
       c.manual AS manual_rows, w.rows AS written_off_rows,
       x.total_rows - c.auto - c.reviewed - c.manual - w.rows AS open_rows,
       pg_catalog.round(c.auto::numeric / NULLIF(x.total_rows, 0), 4) AS auto_share,
       pg_catalog.round(c.reviewed::numeric / NULLIF(x.total_rows, 0), 4) AS reviewed_share,
       pg_catalog.round(c.manual::numeric / NULLIF(x.total_rows, 0), 4) AS manual_share,
       pg_catalog.round(w.rows::numeric / NULLIF(x.total_rows, 0), 4) AS written_off_share,
       pg_catalog.round((x.total_rows - c.auto - c.reviewed - c.manual - w.rows)::numeric / NULLIF(x.total_rows, 0), 4)
           AS open_share
FROM reconcile.runs u
CROSS JOIN LATERAL (SELECT u.ledger_rows + u.statement_rows AS total_rows) x
CROSS JOIN LATERAL (
    SELECT pg_catalog.count(*) FILTER (WHERE k.category::text <> 'manual' AND k.made_by IS NULL) AS auto,
           pg_catalog.count(*) FILTER (WHERE k.category::text <> 'manual' AND k.made_by IS NOT NULL) AS reviewed,
           pg_catalog.count(*) FILTER (WHERE k.category::text = 'manual') AS manual
    FROM reconcile.cleared k WHERE k.recon_id = u.recon_id AND k.run_id = u.run_id) c
CROSS JOIN LATERAL (
    SELECT pg_catalog.count(x.ledger_id) + pg_catalog.count(x.statement_id) AS rows
    FROM reconcile.results x
    WHERE x.run_id = u.run_id AND reconcile.is_discrepancy(x.category)
      AND EXISTS (SELECT FROM reconcile.items i
                  WHERE i.recon_id = u.recon_id AND i.status NOT IN ('cleared', 'rejected')
                    AND reconcile.item_ident(i.key, i.ledger_id, i.statement_id)
                        = reconcile.item_ident(x.key, x.ledger_id, x.statement_id)
                    AND i.status IN ('resolved', 'approved')
                    AND EXISTS (SELECT FROM reconcile.adjustment_entries a
                                WHERE a.recon_id = i.recon_id AND a.cancelled_at IS NULL
                                  AND (a.item_id = i.item_id
                                       OR (i.group_tag IS NOT NULL
                                           AND a.item_id IN (SELECT g.item_id FROM reconcile.items g
                                                             WHERE g.recon_id = i.recon_id
                                                               AND g.group_tag = i.group_tag)))))) w;
COMMENT ON VIEW reconcile.match_rate IS
'Per run: its rows cleared automatically, by review (accepted), by hand (manual matches it reported), written off (resolved with an adjustment) and left open, with the share of each (the match rate finance teams report)';
GRANT SELECT ON reconcile.match_rate TO PUBLIC;
