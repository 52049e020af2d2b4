/*-------------------------------------------------------------------------
 *
 * primitives.c
 *	  The SQL primitives amount_within, days_within and ref_similarity, and
 *	  the normalised ref (internal, for reconcile.patterns).
 *
 * The primitives work on one pair of values, so they compute in numeric
 * directly (exact, no scaled integers needed).  Every bad argument (a NaN
 * or infinite amount or tolerance, a negative tolerance or day count) is
 * refused with SQLSTATE 22023 and a message naming it; the checks of
 * tolerances and day counts are rule.c's, shared with reconcile.rule().
 * The module's magic block is here too.
 *
 * IDENTIFICATION
 *	  src/primitives.c
 *
 *-------------------------------------------------------------------------
 */
#include "reconcile.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/numeric.h"

PG_MODULE_MAGIC;

/* Refuse an amount that is NaN or infinite. */
void
rc_check_amount(Numeric amount, const char *argname)
{
	if (numeric_is_nan(amount) || numeric_is_inf(amount))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" must be a finite number", argname)));
}

/*
 * amount_within(expected, actual, abs_tol, rel_tol):
 * abs(actual - expected) <= greatest(abs_tol, rel_tol * abs(expected)).
 */
PG_FUNCTION_INFO_V1(rc_amount_within);
Datum
rc_amount_within(PG_FUNCTION_ARGS)
{
	Numeric		expected = PG_GETARG_NUMERIC(0);
	Numeric		actual = PG_GETARG_NUMERIC(1);
	Numeric		abs_tol = PG_GETARG_NUMERIC(2);
	Numeric		rel_tol = PG_GETARG_NUMERIC(3);
	Datum		diff;
	Datum		rel;
	Datum		limit;

	rc_check_amount(expected, "expected");
	rc_check_amount(actual, "actual");
	rc_check_tolerance(abs_tol, "abs_tol");
	rc_check_tolerance(rel_tol, "rel_tol");

	diff = DirectFunctionCall2(numeric_sub, NumericGetDatum(actual),
							   NumericGetDatum(expected));
	diff = DirectFunctionCall1(numeric_abs, diff);
	rel = DirectFunctionCall2(numeric_mul, NumericGetDatum(rel_tol),
							  DirectFunctionCall1(numeric_abs, NumericGetDatum(expected)));
	limit = DatumGetInt32(DirectFunctionCall2(numeric_cmp, rel, NumericGetDatum(abs_tol))) > 0 ?
		rel : NumericGetDatum(abs_tol);
	PG_RETURN_BOOL(DatumGetInt32(DirectFunctionCall2(numeric_cmp, diff, limit)) <= 0);
}

/*
 * days_within(expected, actual, days_before, days_after):
 * expected - days_before <= actual <= expected + days_after.
 * An infinite date is only within the window of the same infinity.
 */
PG_FUNCTION_INFO_V1(rc_days_within);
Datum
rc_days_within(PG_FUNCTION_ARGS)
{
	DateADT		expected = PG_GETARG_DATEADT(0);
	DateADT		actual = PG_GETARG_DATEADT(1);
	int32		before = PG_GETARG_INT32(2);
	int32		after = PG_GETARG_INT32(3);
	int64		dd;

	rc_check_days(before, "days_before");
	rc_check_days(after, "days_after");
	if (DATE_NOT_FINITE(expected) || DATE_NOT_FINITE(actual))
		PG_RETURN_BOOL(expected == actual);
	dd = (int64) actual - (int64) expected;
	PG_RETURN_BOOL(dd >= -(int64) before && dd <= (int64) after);
}

/* The normalised form of t, palloc'd; its length in *len. */
static char *
normalize_text(text *t, size_t *len)
{
	size_t		n = VARSIZE_ANY_EXHDR(t);
	char	   *out = palloc(n + 1);	/* normalising never lengthens */

	*len = rc_normalize_ref(VARDATA_ANY(t), n, out);
	return out;
}

/*
 * ref_similarity(a, b): 1.0 when the shorter normalised ref has at least
 * four characters and occurs in the longer, else shared bigrams over the
 * longer's bigrams + 1; 0 when either is empty after normalising.
 */
PG_FUNCTION_INFO_V1(rc_ref_similarity);
Datum
rc_ref_similarity(PG_FUNCTION_ARGS)
{
	text	   *a = PG_GETARG_TEXT_PP(0);
	text	   *b = PG_GETARG_TEXT_PP(1);
	size_t		alen,
				blen;
	char	   *na = normalize_text(a, &alen);
	char	   *nb = normalize_text(b, &blen);

	PG_RETURN_FLOAT8(rc_ref_similarity_norm(na, alen, nb, blen));
}

/*
 * normalized_ref(t): the ref as the matching compares it (case folded,
 * only letters and digits, CJK letters included); internal, for
 * reconcile.patterns, which groups refs as the matching sees them.
 */
PG_FUNCTION_INFO_V1(rc_normalized_ref);
Datum
rc_normalized_ref(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	size_t		n;
	char	   *s = normalize_text(t, &n);

	PG_RETURN_TEXT_P(cstring_to_text_with_len(s, (int) n));
}
