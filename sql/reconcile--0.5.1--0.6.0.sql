/* reconcile--0.5.1--0.6.0.sql: review before clearing, write-offs, adjustments, the match rate, alerts */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION reconcile UPDATE TO '0.6.0'" to load this file. \quit

-- What changes for users (see the README's "0.6.0"): reconcile.configure, reset_option and the view
-- reconcile.options; matches held for review (suggested items, reconcile.accept, reconcile.reject,
-- whose rows are never proposed together again); write-offs within a limit; reconcile.resolve's
-- account, reconcile.adjustments and reconcile.export_adjustments; reconcile.match_rate; alerts on
-- channel reconcile_alert.  The matching query hands each row the tags of the rejections it is
-- in; views made before keep their query (an update cannot replace them) until their owner calls
-- reconcile.refresh_views, and until then they do not leave rejected pairs apart.  Runs use the new
-- query at once.
-- the views' and runs' aggregate with rejections
CREATE FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text,
                                            reconcile.rule, text, numeric, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'rc_match_agg_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text, reconcile.rule, text, numeric, text) IS
'Internal: transition function of the views'' and runs'' reconcile.match_detail_agg with rejections (0.6.0): collects one row, with the match tag of a row matched by hand, the row''s fee and the tags of the rejections it is in';
REVOKE ALL ON FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text, reconcile.rule, text, numeric, text) FROM PUBLIC;

-- The views and runs of 0.6.0 on: the same, with the tags of the rejections each row is in
-- (reconcile.reject; NULL for none, space-separated numbers): a ledger row and a statement row
-- that share one are never put together.
CREATE AGGREGATE reconcile.match_detail_agg(is_ledger boolean, id text, amount numeric,
                                            tx_date date, ref text, batch text,
                                            rule reconcile.rule, manual text, fee numeric,
                                            rejections text) (
    SFUNC = reconcile.match_agg_transfn,
    STYPE = internal,
    FINALFUNC = reconcile.match_detail_agg_finalfn,
    FINALFUNC_MODIFY = READ_ONLY,
    PARALLEL = RESTRICTED
);
COMMENT ON AGGREGATE reconcile.match_detail_agg(boolean, text, numeric, date, text, text, reconcile.rule, text, numeric, text) IS
'reconcile.match_detail_agg with the match tag of each row matched by hand, each row''s fee and the tags of the rejections it is in (reconcile.reject): rows that share a rejection are never paired or grouped; used by the views and runs of reconcile.create';

-- items: suggested and rejected, the score, note and group of what the latest run found; the
-- identity of the items still live leaves the rejected ones out
ALTER TABLE reconcile.items DROP CONSTRAINT items_status_check;
ALTER TABLE reconcile.items ADD CONSTRAINT items_status_check
    CHECK (status IN ('open', 'resolved', 'approved', 'cleared', 'suggested', 'rejected'));
ALTER TABLE reconcile.items ADD COLUMN score double precision, ADD COLUMN reason text, ADD COLUMN group_tag text;
DROP INDEX reconcile.items_identity;
CREATE UNIQUE INDEX items_identity ON reconcile.items
    (recon_id, reconcile.item_ident(key, ledger_id, statement_id))
    WHERE status NOT IN ('cleared', 'rejected');
COMMENT ON TABLE reconcile.items IS 'One row per discrepancy found by a run, with its follow-up: open, resolved (by a maker), approved (by a different checker) or cleared (its rows were matched later); and (0.6.0) per match held for review: suggested, then cleared (accepted) or rejected';
COMMENT ON COLUMN reconcile.items.status IS 'open, resolved, approved or cleared; suggested (a match held for review, 0.6.0), then cleared by reconcile.accept or rejected by reconcile.reject';
COMMENT ON COLUMN reconcile.items.score IS 'The score of the match or discrepancy the latest run found (0.6.0)';
COMMENT ON COLUMN reconcile.items.reason IS 'The note of the match or discrepancy the latest run found (0.6.0)';
COMMENT ON COLUMN reconcile.items.group_tag IS 'Shared by the items of one group (a many_to_one or one_to_many match held for review, a fee_difference payout batch), which are accepted, rejected and written off whole (0.6.0)';
ALTER TABLE reconcile.results ADD COLUMN review boolean;
COMMENT ON COLUMN reconcile.results.review IS 'True for a match the run held back for review (its score below review_below, 0.6.0): not cleared, a suggested item instead; NULL without review';

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

-- the functions that change

-- The SELECT of one source, each row with the match tag of a manual match it belongs to (NULL for
-- the others) and (0.6.0) the tags of the rejections it is in (NULL for none).  mode 'view': every row, the manual ones tagged.  mode 'run': the rows no earlier
-- run of the reconciliation cleared, and the manual ones no run has reported yet, tagged; the
-- cleared rows are read through subqueries that Citus sends to the workers as intermediate
-- results (it refuses a correlated NOT EXISTS on a local table): an anti-join against the keys
-- and ids of the rows runs have reported (every cleared row has its run_id but a manual match
-- no run has reported yet), narrow, with a filter that costs a NULL test; then a join with the
-- few manual rows no run has reported, for their tags; the key compared with IS NOT DISTINCT FROM so that NULL and '' are
-- two keys and the hash join hashes the id alone.  mode
-- 'run_by_value': the same, the cleared rows given as parameters (the hashes of the rows to leave
-- out, $1 ledger and $4 statement; the hashes and tags of the manual ones, $2 and $3, $5 and $6),
-- for a caller that row level security narrows, who may not read the cleared rows of others.
-- mode 'run' with a mark (a side whose seq is mapped, SPEC 5a): three disjoint parts, none of
-- which reads history: the rows past the mark or without a seq, each looked up in the cleared
-- rows' unique index (a correlated subquery, never a hash of all of them); the rows at or before
-- the mark that are still open (reconcile.run_query lists them: their hashes in $1 ledger and
-- $4 statement, their ids in $3 and $6, found through the id column's own index when its type
-- is one whose text casts back exactly, else by a scan); and the rows without an id.
CREATE OR REPLACE FUNCTION reconcile.source_sql(rel regclass, is_ledger boolean, cols jsonb, raw_key boolean,
                                     recon_id bigint, mode text, mark text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN mode = 'run' AND mark IS NOT NULL THEN pg_catalog.format(
            'SELECT src.*, m.match_tag AS manual, rj.tags AS rejections FROM ('
            'SELECT n.* FROM (%1$s WHERE %2$s OR %3$I IS NULL) n '
            'WHERE (SELECT 1 FROM reconcile.cleared c WHERE c.recon_id OPERATOR(pg_catalog.=) %4$s '
            'AND c.is_ledger OPERATOR(pg_catalog.=) %5$s AND c.run_id IS NOT NULL '
            'AND reconcile.row_ident(c.key, c.id) OPERATOR(pg_catalog.=) reconcile.row_ident((n.key)::text, n.id) '
            'LIMIT 1) IS NULL '
            'UNION ALL '
            'SELECT p.* FROM (%1$s WHERE %3$I IS NOT NULL AND NOT %2$s%6$s) p '
            'WHERE reconcile.row_ident((p.key)::text, p.id) OPERATOR(pg_catalog.=) ANY ($%7$s::bytea[]) '
            'UNION ALL '
            '%1$s WHERE %3$I IS NOT NULL AND NOT %2$s AND %8$I IS NULL) src %9$s %10$s',
            t.side, pg_catalog.format('%I %s CAST(%L AS %s)', cols ->> 'seq', reconcile.order_operator(sq.typ),
                                      mark, pg_catalog.format_type(sq.typ, NULL)),
            cols ->> 'seq', recon_id, t.b,
            CASE WHEN idc.typ IN ('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype,
                                  'pg_catalog.int8'::pg_catalog.regtype, 'pg_catalog.numeric'::pg_catalog.regtype,
                                  'pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype,
                                  'pg_catalog.bpchar'::pg_catalog.regtype, 'pg_catalog.uuid'::pg_catalog.regtype,
                                  'pg_catalog.date'::pg_catalog.regtype, 'pg_catalog.timestamp'::pg_catalog.regtype,
                                  'pg_catalog.timestamptz'::pg_catalog.regtype)
                 THEN pg_catalog.format(' AND %I OPERATOR(pg_catalog.=) ANY (CAST($%s AS %s[]))', cols ->> 'id',
                                        CASE WHEN is_ledger THEN 3 ELSE 6 END, pg_catalog.format_type(idc.typ, NULL))
                 ELSE '' END,
            CASE WHEN is_ledger THEN 1 ELSE 4 END, cols ->> 'id', t.manual_join, t.rej_join)
        WHEN mode = 'run_by_value' THEN pg_catalog.format(
            'SELECT src.*, m.tag AS manual, rj.tags AS rejections FROM (%s) src '
            'LEFT JOIN pg_catalog.unnest($%s::bytea[]) x(h) '
            'ON x.h OPERATOR(pg_catalog.=) reconcile.row_ident((src.key)::text, src.id) '
            'LEFT JOIN ROWS FROM (pg_catalog.unnest($%s::bytea[]), pg_catalog.unnest($%s::text[])) m(h, tag) '
            'ON m.h OPERATOR(pg_catalog.=) reconcile.row_ident((src.key)::text, src.id) '
            'LEFT JOIN ROWS FROM (pg_catalog.unnest($%s::bytea[]), pg_catalog.unnest($%s::text[])) rj(h, tags) '
            'ON rj.h OPERATOR(pg_catalog.=) reconcile.row_ident((src.key)::text, src.id) WHERE x.h IS NULL',
            t.side, CASE WHEN is_ledger THEN 1 ELSE 4 END, CASE WHEN is_ledger THEN 2 ELSE 5 END,
            CASE WHEN is_ledger THEN 3 ELSE 6 END, CASE WHEN is_ledger THEN 7 ELSE 9 END,
            CASE WHEN is_ledger THEN 8 ELSE 10 END)
        WHEN mode = 'run' THEN pg_catalog.format(
            'SELECT src.*, m.match_tag AS manual, rj.tags AS rejections FROM (%s) src '
            'LEFT JOIN (SELECT c.key, c.id FROM reconcile.cleared c WHERE c.recon_id OPERATOR(pg_catalog.=) %s '
            'AND c.is_ledger OPERATOR(pg_catalog.=) %s AND c.run_id IS NOT NULL) c '
            'ON c.id OPERATOR(pg_catalog.=) src.id '
            'AND c.key IS NOT DISTINCT FROM (src.key)::text %s %s WHERE c.id IS NULL',
            t.side, recon_id, t.b, t.manual_join, t.rej_join)
        ELSE pg_catalog.format(
            'SELECT src.*, c.match_tag AS manual, rj.tags AS rejections FROM (%s) src LEFT JOIN (SELECT c.key, c.id, c.match_tag '
            'FROM reconcile.cleared c WHERE c.recon_id OPERATOR(pg_catalog.=) %s '
            'AND c.is_ledger OPERATOR(pg_catalog.=) %s AND c.category OPERATOR(pg_catalog.=) '
            '''manual''::reconcile.category) c ON c.id OPERATOR(pg_catalog.=) src.id '
            'AND c.key IS NOT DISTINCT FROM (src.key)::text %s',
            t.side, recon_id, t.b, t.rej_join)
    END
    -- the side's SELECT, its is_ledger as SQL, the join that tags the manual rows no run has
    -- reported (a run's, with or without a mark), and the join that gives each row the tags of
    -- the rejections it is in (every mode but by value, which has them as parameters $7 and $8
    -- ledger, $9 and $10 statement); the seq and id columns' types, for a mark
    FROM (SELECT reconcile.side_sql(rel, is_ledger, cols, raw_key) AS side, v.b,
                 pg_catalog.format('LEFT JOIN (SELECT c.key, c.id, c.match_tag FROM reconcile.cleared c '
                                   'WHERE c.recon_id OPERATOR(pg_catalog.=) %s AND c.is_ledger OPERATOR(pg_catalog.=) %s '
                                   'AND c.category OPERATOR(pg_catalog.=) ''manual''::reconcile.category AND c.run_id IS NULL) m '
                                   'ON m.id OPERATOR(pg_catalog.=) src.id AND m.key IS NOT DISTINCT FROM (src.key)::text',
                                   recon_id, v.b) AS manual_join,
                 pg_catalog.format('LEFT JOIN (SELECT j.key, j.id, pg_catalog.string_agg((j.rejection_id)::text, '' '') AS tags '
                                   'FROM reconcile.rejections j WHERE j.recon_id OPERATOR(pg_catalog.=) %s '
                                   'AND j.is_ledger OPERATOR(pg_catalog.=) %s GROUP BY j.key, j.id) rj '
                                   'ON rj.id OPERATOR(pg_catalog.=) src.id AND rj.key IS NOT DISTINCT FROM (src.key)::text',
                                   recon_id, v.b) AS rej_join
          FROM (SELECT CASE WHEN is_ledger THEN 'true' ELSE 'false' END AS b) v) t,
         (SELECT (SELECT a.atttypid::regtype FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = rel AND a.attname = cols ->> 'seq' AND NOT a.attisdropped) AS typ) sq,
         (SELECT (SELECT a.atttypid::regtype FROM pg_catalog.pg_attribute a
                  WHERE a.attrelid = rel AND a.attname = cols ->> 'id' AND NOT a.attisdropped) AS typ) idc
$$;
COMMENT ON FUNCTION reconcile.source_sql(regclass, boolean, jsonb, boolean, bigint, text, text) IS
'Internal to reconcile.matching_sql: the SELECT of one source with the match tag of its manual rows; for a run (mode run, or run_by_value with the cleared rows as parameters), only the rows no earlier run cleared and the manual ones not yet reported; with a mark, of those only the rows past it and the ones still open';

-- The query that matches a reconciliation, for its views and for its runs alike: both sources in
-- canonical columns (for a run, only the rows no earlier run cleared: mode as in source_sql), the
-- rows matched by hand tagged, matched per key by match_detail_agg with the key's rule (from
-- reconcile.key_rules, joined on the key of each side when the query runs, else the reconciliation's), one row
-- per result with the columns of <name>_matches.  A run's as_of replaces the rules'.  Written so
-- that Citus can push the matching down to the shards when the sources are distributed by the key
-- and co-located: the key is grouped on as stored where that is safe (raw_key), the cleared rows
-- and the rules per key come from subqueries (sent to the workers as intermediate results), and
-- the result array is unnested in the SELECT list (a LATERAL join over a subquery that reads an
-- intermediate result cannot be pushed down).
CREATE OR REPLACE FUNCTION reconcile.matching_sql(reg reconcile.reconciliations, as_of date, mode text,
                                       ledger_mark text, statement_mark text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.format(
        'SELECT (s.key)::text AS key, (s.m).* '
        'FROM (SELECT g.key, pg_catalog.unnest(g.ms) AS m '
        'FROM (SELECT u.key, reconcile.match_detail_agg(u.is_ledger, u.id, u.amount, u.tx_date, u.ref, '
        'u.batch, COALESCE(u.key_rule, %1$s), u.manual, u.fee, u.rejections) AS ms FROM ('
        'SELECT l.*, kr.rule AS key_rule FROM (%2$s) l LEFT JOIN (%4$s) kr ON kr.key OPERATOR(pg_catalog.=) (l.key)::text '
        'UNION ALL '
        'SELECT t.*, kr.rule FROM (%3$s) t LEFT JOIN (%4$s) kr ON kr.key OPERATOR(pg_catalog.=) (t.key)::text) u '
        'GROUP BY u.key) g) s',
        reconcile.rule_sql(CASE WHEN mode <> 'view'
                                THEN ROW((reg.rule).abs_tol, (reg.rule).rel_tol, (reg.rule).days_before,
                                         (reg.rule).days_after, (reg.rule).use_ref, as_of)::reconcile.rule
                                ELSE reg.rule END),
        reconcile.source_sql(reg.ledger, true, reg.columns -> 'ledger', k.raw, reg.id, mode, ledger_mark),
        reconcile.source_sql(reg.statement, false, reg.columns -> 'statement', k.raw, reg.id, mode,
                             statement_mark),
        pg_catalog.format('SELECT r.key, %s AS rule FROM reconcile.key_rules r WHERE r.recon_id OPERATOR(pg_catalog.=) %s',
                          CASE WHEN mode <> 'view'
                               THEN pg_catalog.format('ROW((r.rule).abs_tol, (r.rule).rel_tol, (r.rule).days_before, '
                                                      '(r.rule).days_after, (r.rule).use_ref, CAST(%L AS date))::reconcile.rule', as_of)
                               ELSE 'r.rule' END,
                          reg.id))
    FROM (SELECT reconcile.raw_key(reg.ledger, reg.statement, reg.columns) AS raw) k
$$;
COMMENT ON FUNCTION reconcile.matching_sql(reconcile.reconciliations, date, text, text, text) IS
'Internal to reconcile.create and reconcile.run: the query that matches a reconciliation''s sources per key (for a run, as of a date, only the rows no earlier run cleared; with a side''s mark, only its rows past the mark and the ones still open); Citus pushes it down';

DROP FUNCTION reconcile.run_query(bigint, date, name, boolean);
-- The query of a run, once its registration is locked (55P03 at once when another run holds it),
-- and per side what the run records as its mark (SPEC 5a): the query of the side's greatest seq,
-- which reconcile.run reads as the caller before the rows, or the mark it keeps.
-- A caller that row level security narrows on a source may not read the cleared rows of others'
-- runs: for it, they go into the query as parameters (their hashes, and the tags of the manual
-- matches not yet reported), each side's three as source_sql's mode run_by_value expects, and
-- (0.6.0) the rows of the rejections with their tags, two more a side ($7 to $10); it
-- reads every row it can see, and keeps the marks it was given (the rows past them are still
-- to be read by a run that sees everything).
-- Otherwise a side with a seq column and a mark from the previous run (not with full, nor with
-- Citus installed: a correlated subquery on a local table is refused there) is read from that
-- mark: the rows at or before it that are still open go into the query as parameters, in the
-- places of run_by_value's ($1 and $3 ledger, $4 and $6 statement: their hashes and their ids):
-- the live items' rows, the manual matches no run has reported, the rows unmatch released; less
-- those of them that runs have cleared since (reconcile.skipped, which record_run keeps: looking
-- each one up in the cleared rows' index would cost a random read of that index per open row).
CREATE FUNCTION reconcile.run_query(recon_id bigint, as_of date, caller name, "full" boolean)
RETURNS TABLE (query text, ledger_mark_sql text, statement_mark_sql text, ledger_mark text,
               statement_mark text, p1 bytea[], p2 bytea[], p3 text[], p4 bytea[], p5 bytea[], p6 text[],
               p7 bytea[], p8 text[], p9 bytea[], p10 text[])
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    reg      reconcile.reconciliations;
    prev     reconcile.runs;
    lseq     text;
    sseq     text;
    lmark    text;
    smark    text;
    lsql     text;
    ssql     text;
BEGIN
    PERFORM reconcile.lock_registration(recon_id, true);
    SELECT * INTO STRICT reg FROM reconcile.reconciliations r WHERE r.id = run_query.recon_id;
    SELECT * INTO prev FROM reconcile.runs u WHERE u.recon_id = reg.id ORDER BY u.run_id DESC LIMIT 1;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname = 'citus') THEN
        lseq := reg.columns -> 'ledger' ->> 'seq';
        sseq := reg.columns -> 'statement' ->> 'seq';
    END IF;
    IF reconcile.narrowed(reg.ledger, caller) OR reconcile.narrowed(reg.statement, caller) THEN
        RETURN QUERY
        -- the tags of the rejections each row is in, hashes and tags per side
        WITH j AS (
            SELECT COALESCE(pg_catalog.array_agg(r.h) FILTER (WHERE r.is_ledger), '{}') AS lh,
                   COALESCE(pg_catalog.array_agg(r.tags) FILTER (WHERE r.is_ledger), '{}') AS lt,
                   COALESCE(pg_catalog.array_agg(r.h) FILTER (WHERE NOT r.is_ledger), '{}') AS sh,
                   COALESCE(pg_catalog.array_agg(r.tags) FILTER (WHERE NOT r.is_ledger), '{}') AS st
            FROM (SELECT x.is_ledger, reconcile.row_ident(x.key, x.id) AS h,
                         pg_catalog.string_agg((x.rejection_id)::text, ' ') AS tags
                  FROM reconcile.rejections x WHERE x.recon_id = reg.id
                  GROUP BY x.is_ledger, x.key, x.id) r)
        SELECT reconcile.matching_sql(reg, run_query.as_of, 'run_by_value', NULL, NULL), NULL::text, NULL::text,
               CASE WHEN lseq IS NOT NULL THEN prev.ledger_mark END,
               CASE WHEN sseq IS NOT NULL THEN prev.statement_mark END,
               COALESCE(pg_catalog.array_agg(c.h) FILTER (WHERE c.is_ledger AND NOT c.unreported), '{}'),
               COALESCE(pg_catalog.array_agg(c.h) FILTER (WHERE c.is_ledger AND c.unreported), '{}'),
               COALESCE(pg_catalog.array_agg(c.match_tag) FILTER (WHERE c.is_ledger AND c.unreported), '{}'),
               COALESCE(pg_catalog.array_agg(c.h) FILTER (WHERE NOT c.is_ledger AND NOT c.unreported), '{}'),
               COALESCE(pg_catalog.array_agg(c.h) FILTER (WHERE NOT c.is_ledger AND c.unreported), '{}'),
               COALESCE(pg_catalog.array_agg(c.match_tag) FILTER (WHERE NOT c.is_ledger AND c.unreported), '{}'),
               (SELECT j.lh FROM j), (SELECT j.lt FROM j), (SELECT j.sh FROM j), (SELECT j.st FROM j)
        FROM (SELECT x.is_ledger, x.match_tag, reconcile.row_ident(x.key, x.id) AS h,
                     x.category = 'manual' AND x.run_id IS NULL AS unreported
              FROM reconcile.cleared x WHERE x.recon_id = reg.id) c;
        RETURN;
    END IF;
    -- the new marks: the greatest seq of each side, as the text the next run casts back (ordered
    -- by the column itself, not by its text, which an unqualified name in ORDER BY would mean)
    IF lseq IS NOT NULL THEN
        lsql := pg_catalog.format('SELECT %s FROM %s AS src WHERE src.%I IS NOT NULL ORDER BY src.%I DESC LIMIT 1',
                                  reconcile.text_sql(reg.ledger, lseq), reg.ledger, lseq, lseq);
        lmark := CASE WHEN NOT run_query."full" THEN prev.ledger_mark END;
    END IF;
    IF sseq IS NOT NULL THEN
        ssql := pg_catalog.format('SELECT %s FROM %s AS src WHERE src.%I IS NOT NULL ORDER BY src.%I DESC LIMIT 1',
                                  reconcile.text_sql(reg.statement, sseq), reg.statement, sseq, sseq);
        smark := CASE WHEN NOT run_query."full" THEN prev.statement_mark END;
    END IF;
    IF lmark IS NULL AND smark IS NULL THEN
        RETURN QUERY SELECT reconcile.matching_sql(reg, run_query.as_of, 'run', NULL, NULL), lsql, ssql,
                            NULL::text, NULL::text, NULL::bytea[], NULL::bytea[], NULL::text[],
                            NULL::bytea[], NULL::bytea[], NULL::text[], NULL::bytea[], NULL::text[],
                            NULL::bytea[], NULL::text[];
        RETURN;
    END IF;
    -- the rows at or before a mark that are still open
    RETURN QUERY
    WITH pending AS (
        SELECT true AS is_ledger, i.key, i.ledger_id AS id FROM reconcile.items i
        WHERE i.recon_id = reg.id AND i.status NOT IN ('cleared', 'rejected') AND i.ledger_id IS NOT NULL AND lmark IS NOT NULL
        UNION
        SELECT false, i.key, i.statement_id FROM reconcile.items i
        WHERE i.recon_id = reg.id AND i.status NOT IN ('cleared', 'rejected') AND i.statement_id IS NOT NULL AND smark IS NOT NULL
        UNION
        SELECT c.is_ledger, c.key, c.id FROM reconcile.cleared c
        WHERE c.recon_id = reg.id AND c.category = 'manual' AND c.run_id IS NULL
        UNION
        SELECT r.is_ledger, r.key, r.id FROM reconcile.released r WHERE r.recon_id = reg.id),
    open_rows AS (
        SELECT p.is_ledger, p.id, reconcile.row_ident(p.key, p.id) AS h FROM pending p
        WHERE NOT EXISTS (SELECT FROM reconcile.skipped k
                          WHERE k.recon_id = reg.id AND k.is_ledger = p.is_ledger AND k.id = p.id
                            AND k.key IS NOT DISTINCT FROM p.key))
    SELECT reconcile.matching_sql(reg, run_query.as_of, 'run', lmark, smark), lsql, ssql, NULL::text, NULL::text,
           COALESCE(pg_catalog.array_agg(o.h) FILTER (WHERE o.is_ledger), '{}'), '{}'::bytea[],
           COALESCE(pg_catalog.array_agg(o.id) FILTER (WHERE o.is_ledger), '{}'),
           COALESCE(pg_catalog.array_agg(o.h) FILTER (WHERE NOT o.is_ledger), '{}'), '{}'::bytea[],
           COALESCE(pg_catalog.array_agg(o.id) FILTER (WHERE NOT o.is_ledger), '{}'),
           NULL::bytea[], NULL::text[], NULL::bytea[], NULL::text[]
    FROM open_rows o;
END
$$;
COMMENT ON FUNCTION reconcile.run_query(bigint, date, name, boolean) IS
'Internal to reconcile.run: locks the registration (55P03 at once while another run holds it) and returns the query of the run (with the cleared rows as parameters for a caller narrowed by row level security, with the open rows as parameters for a side read from its mark) and per side the query of its new mark or the mark it keeps';
REVOKE ALL ON FUNCTION reconcile.run_query(bigint, date, name, boolean) FROM PUBLIC;

-- Record a run: its results (what reconcile.run read, from reconcile.captured()), the rows it
-- cleared, the manual matches it reported, its items, its counts, the audit entry and the
-- notification.  Items it finds again are updated; a resolved or approved one whose amounts,
-- dates or category changed returns to open (audited); items it does not find again but whose
-- rows it read are cleared when all those rows were matched, else superseded: an open one
-- cleared, a resolved or approved one reopened (audited).  Items whose rows it did not read (out
-- of the caller's sight, or gone from the sources) are left as they are.  Its statements read the
-- run's rows back from reconcile.results before any ANALYZE has seen them, so the planner thinks
-- there are none; nested loops on that guess are quadratic, hence enable_nestloop = off (and the
-- lateral joins that must nest are materialized first), and JIT compiling on it costs more than
-- it saves.
CREATE OR REPLACE FUNCTION reconcile.record_run(recon_id bigint, as_of date, started_at timestamptz, run_by name,
                                     read_rows bigint, ledger_mark text, statement_mark text)
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
    part    record;
    n_cleared bigint;
    review  double precision;
BEGIN
    SELECT * INTO STRICT reg FROM reconcile.reconciliations r WHERE r.id = record_run.recon_id;
    SELECT o.review_below INTO review FROM reconcile.recon_options o WHERE o.recon_id = reg.id;
    INSERT INTO reconcile.runs (name, as_of, started_at, run_by, recon_id, ledger_mark, statement_mark)
    VALUES (reg.name, record_run.as_of, record_run.started_at, record_run.run_by, reg.id,
            record_run.ledger_mark, record_run.statement_mark)
    RETURNING run_id INTO rid;

    -- with review (0.6.0), a match scoring below review_below (a group: its lowest) is held back;
    -- without, nothing is partitioned (captured() is read once either way)
    IF review IS NULL THEN
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
    ELSE
        INSERT INTO reconcile.results (run_id, name, key, ledger_id, statement_id, category, amount_diff,
                                       days_diff, score, group_id, note, ledger_amount, statement_amount,
                                       ledger_date, statement_date, recon_id, review)
        SELECT rid, reg.name, t.key, t.ledger_id, t.statement_id, t.category, t.amount_diff, t.days_diff,
               t.score, t.group_id, t.note, t.ledger_amount, t.statement_amount, t.ledger_date,
               t.statement_date, reg.id,
               CASE WHEN reconcile.clears(t.category)
                    THEN pg_catalog.min(t.score) OVER (PARTITION BY t.key, t.group_id,
                                                       CASE WHEN t.group_id IS NULL THEN t.ledger_id END) < review END
        FROM reconcile.captured() AS t(key text, ledger_id text, statement_id text, category reconcile.category,
                                       amount_diff numeric, days_diff integer, score double precision,
                                       group_id integer, note text, ledger_amount numeric,
                                       statement_amount numeric, ledger_date date, statement_date date);
    END IF;

    -- matched rows are cleared for good; the rows matched together share a tag: the run and 16
    -- bytes of the hash of the pair's ledger row or of the group (unique among the run's, half the
    -- width of the whole hash, which every cleared row carries).  A pair's rows are on one result
    -- row each; the shared row of a group is on each of its lines, so only groups need DISTINCT,
    -- and the unique index refuses any other repeat.  A registration's first clearing fills its
    -- bare partition, then indexes it (the unique index then checks the same).
    SELECT * INTO part FROM reconcile.cleared_target(reg.id);
    INSERT INTO reconcile.cleared (name, is_ledger, key, id, category, run_id, match_tag, recon_id)
    SELECT reg.name, side.is_ledger, x.key, side.id, x.category, rid,
           'r' || rid || ':' || pg_catalog.encode(pg_catalog.substr(reconcile.row_ident(x.key, 'l' || x.ledger_id), 1, 16), 'hex'),
           reg.id
    FROM reconcile.results x
    CROSS JOIN LATERAL (VALUES (true, x.ledger_id), (false, x.statement_id)) AS side(is_ledger, id)
    WHERE x.run_id = rid AND side.id IS NOT NULL AND reconcile.clears(x.category) AND x.group_id IS NULL
      AND x.review IS NOT TRUE
    UNION ALL
    SELECT DISTINCT ON (side.is_ledger, x.key, side.id)
           reg.name, side.is_ledger, x.key, side.id, x.category, rid,
           'r' || rid || ':' || pg_catalog.encode(pg_catalog.substr(reconcile.row_ident(x.key, 'g' || x.group_id), 1, 16), 'hex'),
           reg.id
    FROM reconcile.results x
    CROSS JOIN LATERAL (VALUES (true, x.ledger_id), (false, x.statement_id)) AS side(is_ledger, id)
    WHERE x.run_id = rid AND side.id IS NOT NULL AND reconcile.clears(x.category) AND x.group_id IS NOT NULL
      AND x.review IS NOT TRUE;
    GET DIAGNOSTICS n_cleared = ROW_COUNT;
    IF part.bare AND n_cleared > 0 THEN
        PERFORM reconcile.cleared_index(part.part);
    END IF;

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
        -- (0.6.0) and the other items of a group one of whose items it did not read: a group is
        -- left alone whole
        WITH hidden AS MATERIALIZED (
            SELECT i.item_id, i.group_tag
            FROM reconcile.items i
            WHERE i.recon_id = reg.id AND i.status NOT IN ('cleared', 'rejected')
              AND ((i.ledger_id IS NOT NULL
                    AND NOT EXISTS (SELECT FROM reconcile.results x
                                    WHERE x.run_id = rid AND x.ledger_id = i.ledger_id
                                      AND x.key IS NOT DISTINCT FROM i.key))
                   OR (i.statement_id IS NOT NULL
                       AND NOT EXISTS (SELECT FROM reconcile.results x
                                       WHERE x.run_id = rid AND x.statement_id = i.statement_id
                                         AND x.key IS NOT DISTINCT FROM i.key))))
        SELECT COALESCE(pg_catalog.array_agg(i.item_id), '{}') INTO unread
        FROM reconcile.items i
        WHERE i.recon_id = reg.id AND i.status NOT IN ('cleared', 'rejected')
          AND (i.item_id IN (SELECT h.item_id FROM hidden h)
               OR i.group_tag IN (SELECT h.group_tag FROM hidden h WHERE h.group_tag IS NOT NULL));
    ELSE
        -- it read every row unmatch released, whatever its marks
        DELETE FROM reconcile.released r WHERE r.recon_id = reg.id;
    END IF;

    -- items found again with other amounts, dates or category: approved for those amounts only
    WITH found AS (
        SELECT x.* FROM reconcile.results x
        WHERE x.run_id = rid AND (reconcile.is_discrepancy(x.category) OR x.review)),
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

    -- items: the discrepancies found, one per pair or row, kept across runs; and (0.6.0) the
    -- matches held for review, suggested; the items of one group share its tag
    WITH out_of_sight AS MATERIALIZED (
        SELECT i.key, i.ledger_id, i.statement_id
        FROM reconcile.items i JOIN pg_catalog.unnest(unread) AS u(item_id) ON u.item_id = i.item_id)
    INSERT INTO reconcile.items AS i (name, key, ledger_id, statement_id, category, amount_diff,
                                      ledger_amount, statement_amount, ledger_date, statement_date,
                                      first_run_id, last_run_id, recon_id, status, score, reason, group_tag)
    SELECT reg.name, x.key, x.ledger_id, x.statement_id, x.category, x.amount_diff, x.ledger_amount,
           x.statement_amount, x.ledger_date, x.statement_date, rid, rid, reg.id,
           CASE WHEN x.review THEN 'suggested' ELSE 'open' END, x.score, x.note,
           CASE WHEN x.group_id IS NOT NULL
                THEN 'r' || rid || ':' || pg_catalog.encode(pg_catalog.substr(reconcile.row_ident(x.key, 'g' || x.group_id), 1, 16), 'hex') END
    FROM reconcile.results x
    WHERE x.run_id = rid AND (reconcile.is_discrepancy(x.category) OR x.review)
      AND NOT EXISTS (SELECT FROM out_of_sight o
                      WHERE o.ledger_id = x.ledger_id AND o.key IS NOT DISTINCT FROM x.key)
      AND NOT EXISTS (SELECT FROM out_of_sight o
                      WHERE o.statement_id = x.statement_id AND o.key IS NOT DISTINCT FROM x.key)
    ON CONFLICT (recon_id, reconcile.item_ident(key, ledger_id, statement_id)) WHERE status NOT IN ('cleared', 'rejected')
    DO UPDATE SET last_run_id = excluded.last_run_id, category = excluded.category,
                  amount_diff = excluded.amount_diff, ledger_amount = excluded.ledger_amount,
                  statement_amount = excluded.statement_amount, ledger_date = excluded.ledger_date,
                  statement_date = excluded.statement_date, score = excluded.score, reason = excluded.reason,
                  group_tag = excluded.group_tag,
                  status = CASE WHEN i.status IN ('open', 'suggested') THEN excluded.status ELSE i.status END;

    -- items not found again: what became of the rows this run read
    WITH seen AS MATERIALIZED (
        SELECT side.is_ledger, x.key, side.id,
               reconcile.clears(x.category) OR x.category = 'manual' AS settled
        FROM reconcile.results x
        CROSS JOIN LATERAL (VALUES (true, x.ledger_id), (false, x.statement_id)) AS side(is_ledger, id)
        WHERE x.run_id = rid AND side.id IS NOT NULL),
    item_rows AS (
        SELECT i.item_id, i.status, true AS is_ledger, i.key, i.ledger_id AS id FROM reconcile.items i
        WHERE i.recon_id = reg.id AND i.status IN ('open', 'resolved', 'approved', 'suggested') AND i.last_run_id <> rid
          AND i.ledger_id IS NOT NULL
        UNION ALL
        SELECT i.item_id, i.status, false, i.key, i.statement_id FROM reconcile.items i
        WHERE i.recon_id = reg.id AND i.status IN ('open', 'resolved', 'approved', 'suggested') AND i.last_run_id <> rid
          AND i.statement_id IS NOT NULL),
    fate AS (
        SELECT r.item_id, r.status, pg_catalog.bool_and(s.settled) AS matched
        FROM item_rows r JOIN seen s ON s.is_ledger = r.is_ledger AND s.id = r.id AND s.key IS NOT DISTINCT FROM r.key
        WHERE NOT EXISTS (SELECT FROM pg_catalog.unnest(unread) AS u(item_id) WHERE u.item_id = r.item_id)
        GROUP BY r.item_id, r.status),
    moved AS (
        UPDATE reconcile.items i
        SET status = CASE WHEN f.matched OR f.status IN ('open', 'suggested') THEN 'cleared' ELSE 'open' END,
            resolution = CASE WHEN f.matched OR f.status IN ('open', 'suggested') THEN i.resolution END,
            resolved_by = CASE WHEN f.matched OR f.status IN ('open', 'suggested') THEN i.resolved_by END,
            resolved_at = CASE WHEN f.matched OR f.status IN ('open', 'suggested') THEN i.resolved_at END,
            resolved_session = CASE WHEN f.matched OR f.status IN ('open', 'suggested') THEN i.resolved_session END,
            approved_by = CASE WHEN f.matched OR f.status IN ('open', 'suggested') THEN i.approved_by END,
            approved_at = CASE WHEN f.matched OR f.status IN ('open', 'suggested') THEN i.approved_at END,
            approved_session = CASE WHEN f.matched OR f.status IN ('open', 'suggested') THEN i.approved_session END
        FROM fate f WHERE i.item_id = f.item_id
        RETURNING i.item_id, f.status AS was_status, f.matched)
    INSERT INTO reconcile.audit_log (acting_role, action, name, item_id, details, recon_id)
    SELECT record_run.run_by, 'reopen', reg.name, m.item_id,
           pg_catalog.jsonb_build_object('run_id', rid, 'why', 'its rows are now in another discrepancy',
                                         'was_status', m.was_status),
           reg.id
    FROM moved m WHERE NOT m.matched AND m.was_status NOT IN ('open', 'suggested');

    -- the rows this run cleared or reported that a live item still holds, or that unmatch had
    -- released: a run from a mark leaves them out (run_query); and the ones no longer so held.
    -- Only items this run did not find again can hold such a row (the rows of a discrepancy are
    -- not cleared in the run that finds it): usually none, and then nothing is scanned.
    IF EXISTS (SELECT FROM reconcile.items i WHERE i.recon_id = reg.id AND i.status NOT IN ('cleared', 'rejected') AND i.last_run_id <> rid)
       OR EXISTS (SELECT FROM reconcile.released r WHERE r.recon_id = reg.id) THEN
        WITH live AS MATERIALIZED (
            SELECT true AS is_ledger, i.key, i.ledger_id AS id FROM reconcile.items i
            WHERE i.recon_id = reg.id AND i.status NOT IN ('cleared', 'rejected') AND i.last_run_id <> rid AND i.ledger_id IS NOT NULL
            UNION ALL
            SELECT false, i.key, i.statement_id FROM reconcile.items i
            WHERE i.recon_id = reg.id AND i.status NOT IN ('cleared', 'rejected') AND i.last_run_id <> rid AND i.statement_id IS NOT NULL
            UNION ALL
            SELECT r.is_ledger, r.key, r.id FROM reconcile.released r WHERE r.recon_id = reg.id),
        settled AS (
            SELECT side.is_ledger, x.key, side.id
            FROM reconcile.results x
            CROSS JOIN LATERAL (VALUES (true, x.ledger_id), (false, x.statement_id)) AS side(is_ledger, id)
            WHERE x.run_id = rid AND side.id IS NOT NULL AND (reconcile.clears(x.category) OR x.category = 'manual'))
        INSERT INTO reconcile.skipped (recon_id, is_ledger, key, id)
        SELECT DISTINCT reg.id, l.is_ledger, l.key, l.id FROM live l
        WHERE EXISTS (SELECT FROM settled s WHERE s.is_ledger = l.is_ledger AND s.id = l.id AND s.key IS NOT DISTINCT FROM l.key)
        ON CONFLICT DO NOTHING;
    END IF;
    IF EXISTS (SELECT FROM reconcile.skipped k WHERE k.recon_id = reg.id) THEN
        DELETE FROM reconcile.skipped k
        WHERE k.recon_id = reg.id
          AND NOT EXISTS (SELECT FROM reconcile.items i
                          WHERE k.is_ledger AND i.recon_id = reg.id AND i.status NOT IN ('cleared', 'rejected')
                            AND i.ledger_id = k.id AND i.key IS NOT DISTINCT FROM k.key)
          AND NOT EXISTS (SELECT FROM reconcile.items i
                          WHERE NOT k.is_ledger AND i.recon_id = reg.id AND i.status NOT IN ('cleared', 'rejected')
                            AND i.statement_id = k.id AND i.key IS NOT DISTINCT FROM k.key)
          AND NOT EXISTS (SELECT FROM reconcile.released r
                          WHERE r.recon_id = reg.id AND r.is_ledger = k.is_ledger AND r.id = k.id
                            AND r.key IS NOT DISTINCT FROM k.key);
    END IF;

    -- (0.6.0) the write-offs within the limit, for a checker to approve; the alert, if any
    PERFORM reconcile.write_off(reg.id, rid);
    PERFORM reconcile.alert(reg.id, rid);

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
                                                          'counts', cnt, 'rows_read', read_rows,
                                                          'ledger_mark', record_run.ledger_mark,
                                                          'statement_mark', record_run.statement_mark),
                            record_run.run_by);
    -- delivered when the transaction commits; any role may LISTEN, so the name and the id only
    PERFORM pg_catalog.pg_notify('reconcile',
        pg_catalog.jsonb_build_object('name', reg.name, 'run_id', rid)::text);
    RETURN rid;
END
$$;
COMMENT ON FUNCTION reconcile.record_run(bigint, date, timestamptz, name, bigint, text, text) IS
'Internal to reconcile.run: records a run from the rows it read (results, cleared rows, reported manual matches, items, counts, marks, audit entry, notification); runs as the tables'' owner, within reconcile.run only';
REVOKE ALL ON FUNCTION reconcile.record_run(bigint, date, timestamptz, name, bigint, text, text) FROM PUBLIC;

-- Whether role who may see item it, as items_visible lets it.
CREATE FUNCTION reconcile.item_visible(it reconcile.items, who name)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT it.recon_id IN (SELECT reconcile.readable(true, who))
           OR (it.recon_id IN (SELECT reconcile.readable(false, who))
               AND EXISTS (SELECT FROM reconcile.runs u WHERE u.run_id = it.last_run_id AND u.run_by = who))
$$;
REVOKE ALL ON FUNCTION reconcile.item_visible(reconcile.items, name) FROM PUBLIC;
COMMENT ON FUNCTION reconcile.item_visible(reconcile.items, name) IS
'Internal: whether a role may see an item (as the policy items_visible lets it)';

-- The item, locked, if role who may see it as items_visible lets it: 42704 otherwise, revealing
-- nothing, and locking nothing (a role that may not see it cannot hold it against a run).
CREATE OR REPLACE FUNCTION reconcile.item_for_update(item_id bigint, who name)
RETURNS reconcile.items
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    it  reconcile.items;
BEGIN
    SELECT * INTO it FROM reconcile.items i WHERE i.item_id = item_for_update.item_id;
    IF NOT FOUND OR NOT reconcile.item_visible(it, who) THEN
        RAISE EXCEPTION 'item % does not exist', item_id USING ERRCODE = '42704';
    END IF;
    SELECT * INTO it FROM reconcile.items i WHERE i.item_id = item_for_update.item_id FOR UPDATE;
    RETURN it;
END
$$;
REVOKE ALL ON FUNCTION reconcile.item_for_update(bigint, name) FROM PUBLIC;
COMMENT ON FUNCTION reconcile.item_for_update(bigint, name) IS
'Internal: the item, locked for update, when the role may see it (42704 otherwise, revealing nothing)';

-- Maker-checker between persons: neither the checker's person (the role that logged in: SET
-- SESSION AUTHORIZATION does not change it) nor the role it acts as may be, or be a member of,
-- the maker's person or acting role.  SET ROLE, SET SESSION AUTHORIZATION, membership and other
-- roles' SECURITY DEFINER functions do not make a second person; a superuser is a member of every
-- role, so it approves nothing.
CREATE OR REPLACE FUNCTION reconcile.approve_by(actor name, person name, item_id bigint)
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
    -- a group resolved whole (its items share group_tag and one adjustment) is approved whole
    UPDATE reconcile.items i
    SET status = 'approved', approved_by = actor, approved_session = person, approved_at = pg_catalog.now()
    WHERE i.item_id = it.item_id
       OR (it.group_tag IS NOT NULL AND i.recon_id = it.recon_id AND i.group_tag = it.group_tag
           AND i.status = 'resolved' AND i.resolution IS NOT DISTINCT FROM it.resolution
           AND i.resolved_by IS NOT DISTINCT FROM it.resolved_by);
    PERFORM reconcile.audit(it.recon_id, 'approve', it.name, it.item_id,
                            pg_catalog.jsonb_build_object('resolved_by', it.resolved_by,
                                                          'resolved_session', it.resolved_session,
                                                          'approved_session', person), actor);
END
$$;
COMMENT ON FUNCTION reconcile.approve_by(name, name, bigint) IS
'Internal to reconcile.approve (src/act.c), as the tables'' owner';
REVOKE ALL ON FUNCTION reconcile.approve_by(name, name, bigint) FROM PUBLIC;

CREATE OR REPLACE FUNCTION reconcile.reopen_by(actor name, person name, item_id bigint, note text)
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
    -- a group resolved whole is reopened whole
    UPDATE reconcile.items i
    SET status = 'open', note = reopen_by.note, resolution = NULL, resolved_by = NULL, resolved_at = NULL,
        resolved_session = NULL, approved_by = NULL, approved_at = NULL, approved_session = NULL
    WHERE i.item_id = it.item_id
       OR (it.group_tag IS NOT NULL AND i.recon_id = it.recon_id AND i.group_tag = it.group_tag
           AND i.status IN ('resolved', 'approved'));
    PERFORM reconcile.audit(it.recon_id, 'reopen', it.name, it.item_id,
                            pg_catalog.jsonb_build_object('was', it.status, 'resolution', it.resolution,
                                                          'resolved_by', it.resolved_by,
                                                          'approved_by', it.approved_by, 'note', note), actor);
END
$$;
COMMENT ON FUNCTION reconcile.reopen_by(name, name, bigint, text) IS
'Internal to reconcile.reopen (src/act.c), as the tables'' owner';
REVOKE ALL ON FUNCTION reconcile.reopen_by(name, name, bigint, text) FROM PUBLIC;

-- Record a manual match from the rows reconcile.manual_match found (reconcile.captured()): every
-- id must be a row (42704) of one key (22023) not matched yet (55000); their items are cleared.
CREATE OR REPLACE FUNCTION reconcile.record_manual(recon_id bigint, ledger_ids text[], statement_ids text[], note text,
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
    part  record;
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

    -- a bare partition (no run has cleared rows yet) is indexed first, for ON CONFLICT
    SELECT * INTO part FROM reconcile.cleared_target(record_manual.recon_id);
    IF part.bare THEN
        PERFORM reconcile.cleared_index(part.part);
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
    WHERE i.recon_id = record_manual.recon_id AND i.status NOT IN ('cleared', 'rejected')
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

DROP FUNCTION reconcile.resolve(bigint, text, text);
DROP FUNCTION reconcile.resolve_by(name, name, bigint, text, text);
-- With an account (0.6.0), the item's difference becomes an adjustment to that account, pending
-- until the item is approved (reconcile.adjustments).  An item of a group (a fee_difference payout
-- batch: its items share group_tag) is resolved with the rest of its group, whose difference is
-- the group's, with one adjustment.
CREATE FUNCTION reconcile.resolve_by(actor name, person name, item_id bigint, resolution text,
                                     note text, account text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    it   reconcile.items := reconcile.item_for_update(item_id, actor);
    unit bigint[];
BEGIN
    IF it.status <> 'open' THEN
        RAISE EXCEPTION 'item % is %, not open', item_id, it.status USING ERRCODE = '55000';
    END IF;
    IF resolution IS NULL OR resolution = '' THEN
        RAISE EXCEPTION '"resolution" must not be empty' USING ERRCODE = '22023';
    END IF;
    IF account = '' THEN
        RAISE EXCEPTION '"account" must not be empty' USING ERRCODE = '22023',
            HINT = 'Leave it NULL to resolve without an adjustment.';
    END IF;
    SELECT pg_catalog.array_agg(i.item_id ORDER BY i.item_id) INTO unit FROM reconcile.items i
    WHERE i.item_id = it.item_id
       OR (it.group_tag IS NOT NULL AND i.recon_id = it.recon_id AND i.group_tag = it.group_tag AND i.status = 'open');
    UPDATE reconcile.items i
    SET status = 'resolved', resolution = resolve_by.resolution, note = COALESCE(resolve_by.note, i.note),
        resolved_by = actor, resolved_session = person, resolved_at = pg_catalog.now()
    WHERE i.item_id = ANY (unit);
    IF account IS NOT NULL THEN
        PERFORM reconcile.adjust(unit, account, COALESCE(note, resolution), actor);
    END IF;
    PERFORM reconcile.audit(it.recon_id, 'resolve', it.name, it.item_id,
                            pg_catalog.jsonb_build_object('resolution', resolution, 'note', note, 'account', account),
                            actor);
END
$$;
COMMENT ON FUNCTION reconcile.resolve_by(name, name, bigint, text, text, text) IS
'Internal to reconcile.resolve (src/act.c), as the tables'' owner';
REVOKE ALL ON FUNCTION reconcile.resolve_by(name, name, bigint, text, text, text) FROM PUBLIC;

CREATE FUNCTION reconcile.resolve(item_id bigint, resolution text, note text DEFAULT NULL, account text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'rc_act'
LANGUAGE C;
COMMENT ON FUNCTION reconcile.resolve(bigint, text, text, text) IS 'Resolves an open item (the maker): records the resolution, who (the role that logged in and the role it acted as) and when; with an account (0.6.0) the item''s difference becomes an adjustment to it, pending until a checker approves the item';

-- The n likeliest counterparts of one row that no run has cleared, among the other side's rows
-- that no run has cleared, as the caller.  The other side is never read whole: per key, it walks
-- the other side in amount order outwards from the row's amount and from minus it (a reversal),
-- skipping cleared rows, and from the row's date among the rows of the same amount, taking at
-- most 50 rows each way; an index on the other side's amount column (or key and amount, and
-- amount and date) makes each walk an index scan, without one each is a scan of the source.  The
-- candidates are scored by amount (half), days (three tenths) and reference similarity (a
-- fifth), and ranked by score, then amount difference, days and id.
CREATE OR REPLACE FUNCTION reconcile.candidates(name text, id text, side text DEFAULT 'ledger', n integer DEFAULT 5)
RETURNS TABLE (rank integer, counterpart_id text, amount numeric, tx_date date, ref text, score double precision,
               reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    reg    reconcile.reconciliations := reconcile.registered(name, current_user);
    mine   boolean;
    rel    regclass;
    other  regclass;
    cols   jsonb;
    ocols  jsonb;
    me     record;
    r      reconcile.rule;
    okey   text;
    oamt   text;
    odate  text;
    walk   text;
    b      text;
    oid_   text;
    head   text;
    probe  text;
    scan   text;
    live   text[];
BEGIN
    IF side IS NULL OR side NOT IN ('ledger', 'statement') THEN
        RAISE EXCEPTION 'side must be ''ledger'' or ''statement'', not %', COALESCE(pg_catalog.quote_literal(side), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF n IS NULL OR n < 1 OR n > 1000 THEN
        RAISE EXCEPTION 'n must be between 1 and 1000' USING ERRCODE = '22023';
    END IF;
    IF id IS NULL THEN
        RAISE EXCEPTION 'id must not be null' USING ERRCODE = '22023';
    END IF;
    mine := side = 'ledger';
    b := CASE WHEN mine THEN 'true' ELSE 'false' END;
    rel := CASE WHEN mine THEN reg.ledger ELSE reg.statement END;
    other := CASE WHEN mine THEN reg.statement ELSE reg.ledger END;
    cols := reg.columns -> side;
    ocols := reg.columns -> CASE WHEN mine THEN 'statement' ELSE 'ledger' END;

    -- the row, as the caller reads it
    EXECUTE pg_catalog.format('SELECT x.key, x.id, x.amount, x.tx_date, x.ref FROM (%s) x WHERE x.id OPERATOR(pg_catalog.=) $1',
                              reconcile.side_sql(rel, mine, cols, false))
        INTO me USING id;
    IF me.id IS NULL THEN
        RAISE EXCEPTION 'no % row with id % in reconciliation "%"', side, pg_catalog.quote_literal(id), name
            USING ERRCODE = '42704';
    END IF;
    IF me.amount IS NULL OR me.tx_date IS NULL OR me.amount IN ('NaN', 'Infinity', '-Infinity')
       OR NOT pg_catalog.isfinite(me.tx_date) THEN
        RETURN;                         -- an invalid row has no counterpart
    END IF;
    IF EXISTS (SELECT FROM reconcile.cleared c
               WHERE c.recon_id = reg.id AND c.is_ledger = mine
                 AND reconcile.row_ident(c.key, c.id) = reconcile.row_ident(me.key, me.id)) THEN
        RAISE EXCEPTION '% row % of reconciliation "%" is already matched', side, pg_catalog.quote_literal(id), name
            USING ERRCODE = '55000', HINT = 'reconcile.unmatch releases a match.';
    END IF;
    r := reconcile.key_rule(reg.id, me.key);

    -- the other side's rows of the row's key that no run has cleared, in its own columns where
    -- an index can serve the walk
    okey := CASE WHEN ocols ? 'key' THEN reconcile.text_sql(other, ocols ->> 'key') END;
    oid_ := reconcile.text_sql(other, ocols ->> 'id');
    oamt := pg_catalog.format('o.%I', ocols ->> 'amount');
    odate := pg_catalog.format('o.%I', ocols ->> 'tx_date');
    -- a walk: at most cap rows of the other side in an index order (scan), in canonical columns
    -- (x), of which the first k that no run has cleared
    head := pg_catalog.format('SELECT x.* FROM (SELECT %s AS key, %s AS id, (%s)::numeric AS amount, (%s)::date AS tx_date, '
                              '%s AS ref FROM (',
                              COALESCE(okey, 'NULL::text'), oid_, oamt, odate,
                              CASE WHEN ocols ? 'ref' THEN pg_catalog.format('(o.%I)::text', ocols ->> 'ref') ELSE 'NULL::text' END);
    probe := pg_catalog.format(') o) x WHERE NOT EXISTS (SELECT FROM reconcile.cleared c WHERE c.recon_id OPERATOR(pg_catalog.=) %s '
                               'AND c.is_ledger OPERATOR(pg_catalog.=) %s '
                               'AND reconcile.row_ident(c.key, c.id) OPERATOR(pg_catalog.=) reconcile.row_ident(x.key, x.id)) LIMIT ',
                               reg.id, CASE WHEN mine THEN 'false' ELSE 'true' END);
    scan := pg_catalog.format('SELECT o.* FROM %s o WHERE %s AND ', other,
                              CASE WHEN okey IS NULL THEN 'true' ELSE pg_catalog.format('%s IS NOT DISTINCT FROM $1', okey) END);
    walk := '(' || head || scan || oamt || ' OPERATOR(pg_catalog.>=) $2 ORDER BY ' || oamt || ' LIMIT 200' || probe || '50) UNION '
         || '(' || head || scan || oamt || ' OPERATOR(pg_catalog.<) $2 ORDER BY ' || oamt || ' DESC LIMIT 200' || probe || '50) UNION '
         || '(' || head || scan || oamt || ' OPERATOR(pg_catalog.=) $2 AND ' || odate || ' OPERATOR(pg_catalog.>=) $3 ORDER BY '
         || odate || ' LIMIT 100' || probe || '50) UNION '
         || '(' || head || scan || oamt || ' OPERATOR(pg_catalog.=) $2 AND ' || odate || ' OPERATOR(pg_catalog.<) $3 ORDER BY '
         || odate || ' DESC LIMIT 100' || probe || '50) UNION '
         || '(' || head || scan || oamt || ' OPERATOR(pg_catalog.>=) -$2 ORDER BY ' || oamt || ' LIMIT 50' || probe || '10) UNION '
         || '(' || head || scan || oamt || ' OPERATOR(pg_catalog.<) -$2 ORDER BY ' || oamt || ' DESC LIMIT 50' || probe || '10)';
    -- the other side's rows of the key's live items, nearest in amount first: the open rows that
    -- the walks, past many cleared rows, may not reach (looked up by id: an index on it serves)
    SELECT COALESCE(pg_catalog.array_agg(x.id), '{}') INTO live
    FROM (SELECT CASE WHEN mine THEN i.statement_id ELSE i.ledger_id END AS id
          FROM reconcile.items i
          WHERE i.recon_id = reg.id AND i.status NOT IN ('cleared', 'rejected') AND i.key IS NOT DISTINCT FROM me.key
            AND CASE WHEN mine THEN i.statement_id ELSE i.ledger_id END IS NOT NULL
          ORDER BY pg_catalog.abs(CASE WHEN mine THEN i.statement_amount ELSE i.ledger_amount END - me.amount) NULLS LAST,
                   CASE WHEN mine THEN i.statement_id ELSE i.ledger_id END
          LIMIT 100) x;
    IF pg_catalog.cardinality(live) > 0 THEN
        walk := walk || ' UNION (' || head || scan || oid_ || ' OPERATOR(pg_catalog.=) ANY ($10)' || probe || '100)';
    END IF;

    RETURN QUERY EXECUTE pg_catalog.format($q$
        WITH c AS (SELECT w.*, w.amount - $2 AS diff, w.tx_date - $3 AS days,
                          COALESCE(reconcile.ref_similarity($4, w.ref), 0) AS sim
                   FROM (%1$s) w
                   WHERE w.amount IS NOT NULL AND w.tx_date IS NOT NULL AND w.amount NOT IN ('NaN', 'Infinity', '-Infinity')
                     AND pg_catalog.isfinite(w.tx_date)),
        s AS (SELECT c.*,
                     pg_catalog.round((0.5 * (1 - LEAST(1, pg_catalog.abs(pg_catalog.abs(c.amount) - pg_catalog.abs($2))
                                                          / GREATEST(pg_catalog.abs($2), 0.01) * 10))
                                           * CASE WHEN pg_catalog.sign(c.amount) = -pg_catalog.sign($2) AND $2 <> 0 THEN 0.5 ELSE 1 END
                                       + 0.3 * (1 - LEAST(1, pg_catalog.abs(c.days) / 30.0))
                                       + 0.2 * c.sim)::numeric, 4)::double precision AS score
              FROM c)
        SELECT (pg_catalog.row_number() OVER (ORDER BY s.score DESC, pg_catalog.abs(s.diff), pg_catalog.abs(s.days), s.id))::integer,
               s.id, s.amount, s.tx_date, s.ref, s.score,
               pg_catalog.concat_ws(', ',
                   CASE WHEN s.diff = 0 THEN 'same amount'
                        WHEN s.amount = -$2 THEN 'the opposite amount (a reversal?)'
                        ELSE pg_catalog.format('amount %%s %%s (%%s%%%%)%%s', pg_catalog.abs(s.diff),
                                               CASE WHEN %2$s THEN CASE WHEN s.diff < 0 THEN 'less' ELSE 'more' END
                                                    ELSE CASE WHEN s.diff < 0 THEN 'less than the statement''s' ELSE 'more than the statement''s' END END,
                                               pg_catalog.round(100 * pg_catalog.abs(s.diff) / GREATEST(pg_catalog.abs($2), 0.01), 2),
                                               CASE WHEN (%2$s AND reconcile.amount_within($2, s.amount, $5, $6))
                                                      OR (NOT %2$s AND reconcile.amount_within(s.amount, $2, $5, $6)) THEN ', within tolerance'
                                                    ELSE ', beyond tolerance' END) END,
                   CASE WHEN s.days = 0 THEN 'same day'
                        ELSE pg_catalog.format('%%s day%%s %%s%%s', pg_catalog.abs(s.days),
                                               CASE WHEN pg_catalog.abs(s.days) = 1 THEN '' ELSE 's' END,
                                               CASE WHEN s.days > 0 THEN 'later' ELSE 'earlier' END,
                                               CASE WHEN (%2$s AND s.days BETWEEN -$7 AND $8) OR (NOT %2$s AND -s.days BETWEEN -$7 AND $8)
                                                    THEN ', within the window' ELSE ', outside the window' END) END,
                   CASE WHEN s.sim = 1 THEN 'the reference matches'
                        WHEN s.sim > 0 THEN pg_catalog.format('references %%s%%%% alike', pg_catalog.round((100 * s.sim)::numeric))
                        ELSE NULL END)
        FROM s
        ORDER BY 1
        LIMIT $9
    $q$, walk, b)
    USING me.key, me.amount, me.tx_date, me.ref, r.abs_tol, r.rel_tol, r.days_before, r.days_after, n, live;
END
$$;
COMMENT ON FUNCTION reconcile.candidates(text, text, text, integer) IS
'The n likeliest counterparts, on the other side, of one row no run has cleared, among the rows no run has cleared: rank, id, amount, date, ref, a score in [0,1] and the reason in words; walks the other side in amount order from the row''s amount (use an index on its amount column), as the caller (42704 unknown name or id, 55000 a matched row, 22023 a bad side or n)';

-- open_items: the suggested items, with the score, note and group
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
       END AS aging_bucket,
       i.score, i.reason, i.group_tag
FROM reconcile.items i
LEFT JOIN LATERAL (SELECT ru.as_of FROM reconcile.runs ru WHERE ru.recon_id = i.recon_id
                   ORDER BY ru.run_id DESC LIMIT 1) r ON true
CROSS JOIN LATERAL (SELECT CASE WHEN pg_catalog.isfinite(LEAST(i.ledger_date, i.statement_date))
                                THEN (r.as_of - LEAST(i.ledger_date, i.statement_date))::integer END AS days) a
WHERE i.status IN ('open', 'resolved', 'suggested');
COMMENT ON VIEW reconcile.open_items IS
'Items still to be handled (open, resolved but not approved, or (0.6.0) suggested: a match held for review), with age_days from the older row''s date to the latest run''s as_of, aging_bucket 0-7, 8-30, 31-90, 90+, and the score, note (reason) and group of what the latest run found';

COMMENT ON COLUMN reconcile.open_items.score IS 'The score of what the latest run found (a suggested match: below review_below)';
COMMENT ON COLUMN reconcile.open_items.reason IS 'The note of what the latest run found';
COMMENT ON COLUMN reconcile.open_items.group_tag IS 'Shared by the items of one group, accepted or rejected whole';
