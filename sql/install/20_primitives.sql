/* 20_primitives.sql: amount_within, days_within, ref_similarity and the rule constructor */

----------------------------------------------------------------------------
-- Primitives
----------------------------------------------------------------------------

CREATE FUNCTION reconcile.amount_within(expected numeric, actual numeric,
                                        abs_tol numeric DEFAULT 0, rel_tol numeric DEFAULT 0)
RETURNS boolean
AS 'MODULE_PATHNAME', 'rc_amount_within'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.amount_within(numeric, numeric, numeric, numeric) IS
'True when abs(actual - expected) <= greatest(abs_tol, rel_tol * abs(expected)), computed exactly in numeric';

CREATE FUNCTION reconcile.days_within(expected date, actual date,
                                      days_before integer DEFAULT 0, days_after integer DEFAULT 0)
RETURNS boolean
AS 'MODULE_PATHNAME', 'rc_days_within'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.days_within(date, date, integer, integer) IS
'True when expected - days_before <= actual <= expected + days_after';

CREATE FUNCTION reconcile.ref_similarity(a text, b text)
RETURNS double precision
AS 'MODULE_PATHNAME', 'rc_ref_similarity'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.ref_similarity(text, text) IS
'Similarity of two references after normalising (case folded, letters and digits only): 1 when the shorter has at least 4 characters and occurs in the longer, else shared character bigrams / (bigrams of the longer + 1), 0 when either is empty';

CREATE FUNCTION reconcile.rule(abs_tol numeric DEFAULT 0, rel_tol numeric DEFAULT 0,
                               days_before integer DEFAULT 0, days_after integer DEFAULT 3,
                               use_ref boolean DEFAULT true, as_of date DEFAULT NULL)
RETURNS reconcile.rule
AS 'MODULE_PATHNAME', 'rc_rule'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.rule(numeric, numeric, integer, integer, boolean, date) IS
'A validated matching rule; negative, NaN or infinite tolerances, negative day counts and NULLs (but as_of) raise 22023';

CREATE FUNCTION reconcile.normalized_ref(ref text)
RETURNS text
AS 'MODULE_PATHNAME', 'rc_normalized_ref'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION reconcile.normalized_ref(text) IS
'Internal (reconcile.patterns): a ref as the matching compares it, case folded, only letters and digits (CJK letters included)';
