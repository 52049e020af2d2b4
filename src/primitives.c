/*-------------------------------------------------------------------------
 *
 * primitives.c
 *	  The SQL primitives amount_within, days_within and ref_similarity,
 *	  the rule constructor, and the argument checks they share with the
 *	  aggregate.
 *
 * The primitives work on one pair of values, so they compute in numeric
 * directly (exact, no scaled integers needed).  Every bad argument the
 * spec names is refused with SQLSTATE 22023 and a message naming it.
 *
 * IDENTIFICATION
 *	  src/primitives.c
 *
 *-------------------------------------------------------------------------
 */
#include "reconcile.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/numeric.h"

PG_MODULE_MAGIC;

/* Refuse a tolerance that is NaN, infinite or negative. */
void
rc_check_tolerance(Numeric tol, const char *argname)
{
	if (numeric_is_nan(tol) || numeric_is_inf(tol))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" must be a finite number", argname)));
	if (DatumGetBool(DirectFunctionCall2(numeric_lt, NumericGetDatum(tol),
										 NumericGetDatum(int64_to_numeric(0)))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" must not be negative", argname)));
}

/* Refuse a negative day count. */
void
rc_check_days(int32 days, const char *argname)
{
	if (days < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" must not be negative", argname),
				 errdetail("The value was %d.", days)));
}

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

/* Argument n of rule(), refusing NULL. */
static Datum
rule_arg(FunctionCallInfo fcinfo, int n, const char *argname)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" must not be null", argname)));
	return PG_GETARG_DATUM(n);
}

/*
 * rule(abs_tol, rel_tol, days_before, days_after, use_ref, as_of):
 * a validated reconcile.rule value.
 */
PG_FUNCTION_INFO_V1(rc_rule);
Datum
rc_rule(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function returning record called in context that cannot accept type record")));
	tupdesc = BlessTupleDesc(tupdesc);

	values[0] = rule_arg(fcinfo, 0, "abs_tol");
	values[1] = rule_arg(fcinfo, 1, "rel_tol");
	values[2] = rule_arg(fcinfo, 2, "days_before");
	values[3] = rule_arg(fcinfo, 3, "days_after");
	values[4] = rule_arg(fcinfo, 4, "use_ref");
	rc_check_tolerance(DatumGetNumeric(values[0]), "abs_tol");
	rc_check_tolerance(DatumGetNumeric(values[1]), "rel_tol");
	rc_check_days(DatumGetInt32(values[2]), "days_before");
	rc_check_days(DatumGetInt32(values[3]), "days_after");
	if (PG_ARGISNULL(5))
		nulls[5] = true;
	else
	{
		values[5] = PG_GETARG_DATUM(5);
		if (DATE_NOT_FINITE(DatumGetDateADT(values[5])))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"as_of\" must be a finite date")));
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
