/* 30_aggregates.sql: reconcile.match_agg and reconcile.match_detail_agg, and their support functions */

----------------------------------------------------------------------------
-- Internal: the aggregates' support functions (the aggregate owner calls them; nobody else may)
----------------------------------------------------------------------------

CREATE FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text,
                                            reconcile.rule)
RETURNS internal
AS 'MODULE_PATHNAME', 'rc_match_agg_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text, reconcile.rule) IS
'Internal: transition function of reconcile.match_agg and reconcile.match_detail_agg: collects one row';
REVOKE ALL ON FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text, reconcile.rule) FROM PUBLIC;

CREATE FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text,
                                            reconcile.rule, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'rc_match_agg_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text, reconcile.rule, text) IS
'Internal: transition function of the views'' and runs'' reconcile.match_detail_agg: collects one row, with the match tag of a row matched by hand';
REVOKE ALL ON FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text, reconcile.rule, text) FROM PUBLIC;

CREATE FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text,
                                            reconcile.rule, text, numeric)
RETURNS internal
AS 'MODULE_PATHNAME', 'rc_match_agg_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text, reconcile.rule, text, numeric) IS
'Internal: transition function of the views'' and runs'' reconcile.match_detail_agg with fees (0.5.0): collects one row, with the match tag of a row matched by hand and the row''s fee';
REVOKE ALL ON FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text, reconcile.rule, text, numeric) FROM PUBLIC;

CREATE FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text,
                                            reconcile.rule, text, numeric, text)
RETURNS internal
AS 'MODULE_PATHNAME', 'rc_match_agg_transfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text, reconcile.rule, text, numeric, text) IS
'Internal: transition function of the views'' and runs'' reconcile.match_detail_agg with rejections (0.6.0): collects one row, with the match tag of a row matched by hand, the row''s fee and the tags of the rejections it is in';
REVOKE ALL ON FUNCTION reconcile.match_agg_transfn(internal, boolean, text, numeric, date, text, text, reconcile.rule, text, numeric, text) FROM PUBLIC;

CREATE FUNCTION reconcile.match_agg_combinefn(internal, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'rc_match_agg_combinefn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.match_agg_combinefn(internal, internal) IS
'Internal: combine function of reconcile.match_agg and reconcile.match_detail_agg: merges two partial states (parallel aggregation)';
REVOKE ALL ON FUNCTION reconcile.match_agg_combinefn(internal, internal) FROM PUBLIC;

CREATE FUNCTION reconcile.match_agg_serialfn(internal)
RETURNS bytea
AS 'MODULE_PATHNAME', 'rc_match_agg_serialfn'
LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.match_agg_serialfn(internal) IS
'Internal: serial function of reconcile.match_agg and reconcile.match_detail_agg: a partial state as bytea';
REVOKE ALL ON FUNCTION reconcile.match_agg_serialfn(internal) FROM PUBLIC;

CREATE FUNCTION reconcile.match_agg_deserialfn(bytea, internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'rc_match_agg_deserialfn'
LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.match_agg_deserialfn(bytea, internal) IS
'Internal: deserial function of reconcile.match_agg and reconcile.match_detail_agg: a partial state from bytea';
REVOKE ALL ON FUNCTION reconcile.match_agg_deserialfn(bytea, internal) FROM PUBLIC;

CREATE FUNCTION reconcile.match_agg_finalfn(internal)
RETURNS reconcile.match[]
AS 'MODULE_PATHNAME', 'rc_match_agg_finalfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.match_agg_finalfn(internal) IS
'Internal: final function of reconcile.match_agg: matches the group and returns its results';
REVOKE ALL ON FUNCTION reconcile.match_agg_finalfn(internal) FROM PUBLIC;

CREATE FUNCTION reconcile.match_detail_agg_finalfn(internal)
RETURNS reconcile.match_detail[]
AS 'MODULE_PATHNAME', 'rc_match_detail_agg_finalfn'
LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.match_detail_agg_finalfn(internal) IS
'Internal: final function of reconcile.match_detail_agg: matches the group and returns its results with amounts and dates';
REVOKE ALL ON FUNCTION reconcile.match_detail_agg_finalfn(internal) FROM PUBLIC;


----------------------------------------------------------------------------
-- The matching aggregates
----------------------------------------------------------------------------

CREATE AGGREGATE reconcile.match_agg(is_ledger boolean, id text, amount numeric, tx_date date,
                                     ref text, batch text, rule reconcile.rule) (
    SFUNC = reconcile.match_agg_transfn,
    STYPE = internal,
    FINALFUNC = reconcile.match_agg_finalfn,
    FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = reconcile.match_agg_combinefn,
    SERIALFUNC = reconcile.match_agg_serialfn,
    DESERIALFUNC = reconcile.match_agg_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE reconcile.match_agg(boolean, text, numeric, date, text, text, reconcile.rule) IS
'Matches the ledger rows (is_ledger) and statement rows of one group and returns one reconcile.match per row; NULL or repeated ids on one side raise 23505, a result over 1 GB raises 54000';

CREATE AGGREGATE reconcile.match_detail_agg(is_ledger boolean, id text, amount numeric,
                                            tx_date date, ref text, batch text,
                                            rule reconcile.rule) (
    SFUNC = reconcile.match_agg_transfn,
    STYPE = internal,
    FINALFUNC = reconcile.match_detail_agg_finalfn,
    FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = reconcile.match_agg_combinefn,
    SERIALFUNC = reconcile.match_agg_serialfn,
    DESERIALFUNC = reconcile.match_agg_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE reconcile.match_detail_agg(boolean, text, numeric, date, text, text, reconcile.rule) IS
'reconcile.match_agg returning reconcile.match_detail (with both rows'' amounts and dates); used by the views of reconcile.create';

-- The views and runs of reconcile.create hand the aggregate, with each row matched by hand, the
-- tag it shares with the rows matched with it (reconcile.cleared.match_tag): such rows are
-- reported as matched (manual) and take part in no pass.  PARALLEL RESTRICTED: a group is
-- matched in one process anyway, and a partial state is the group's rows; shipping them from
-- workers to the leader doubles the leader's memory and costs more time than it saves, so the
-- scans below it may be parallel, the aggregate runs in the leader.
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

-- The views and runs of 0.5.0 on: the same, with each row's fee (the canonical column fee; NULL
-- where the source has none).  No partial aggregation: like the variant above it runs in the
-- leader, and Citus pushes the whole grouping down to the shards.
CREATE AGGREGATE reconcile.match_detail_agg(is_ledger boolean, id text, amount numeric,
                                            tx_date date, ref text, batch text,
                                            rule reconcile.rule, manual text, fee numeric) (
    SFUNC = reconcile.match_agg_transfn,
    STYPE = internal,
    FINALFUNC = reconcile.match_detail_agg_finalfn,
    FINALFUNC_MODIFY = READ_ONLY,
    PARALLEL = RESTRICTED
);
COMMENT ON AGGREGATE reconcile.match_detail_agg(boolean, text, numeric, date, text, text, reconcile.rule, text, numeric) IS
'reconcile.match_detail_agg with the match tag of each row matched by hand and each row''s fee (NULL for none): a pair whose net amounts differ beyond tolerance but whose gross amounts (amount + fee, both rows with a fee) agree is fee_difference; used by the views and runs of reconcile.create';

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
