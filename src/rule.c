/*-------------------------------------------------------------------------
 *
 * rule.c
 *	  The matching rule: the SQL constructor reconcile.rule(), the checks
 *	  it shares with the primitives, and the rule as the core takes it.
 *
 * A rule is a reconcile.rule composite.  rule() validates every field;
 * the aggregate reads the rule of each row (rc_rule_read), insists that a
 * group has one rule (rc_rules_equal), and hands it to the core once per
 * group as scaled integers (rc_rule_to_core).  A relative tolerance the
 * core cannot multiply by exactly is refused where a rule is read, by rule()
 * and by rc_rule_read alike, so that the matching takes every rule that is
 * accepted.
 *
 * IDENTIFICATION
 *	  src/rule.c
 *
 *-------------------------------------------------------------------------
 */
#include "reconcile.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/typcache.h"

/* Magnitude from which an absolute tolerance covers any two amounts: 10^37. */
#define RC_TOL_SATURATED ((rc_i128) 1000000000000000000LL * (rc_i128) 10000000000000000000ULL)

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

/* 10^36: a relative tolerance from it on covers any two amounts the core compares */
#define RC_REL_SATURATED ((rc_i128) 1000000000000000000LL * (rc_i128) 1000000000000000000LL)

/* Whether rel_tol is so large that it covers any two amounts (then it saturates). */
static bool
rel_saturates(Numeric rel)
{
	rc_i128		v;

	return !rc_numeric_trunc(rel, 0, &v) || v >= RC_REL_SATURATED;
}

/*
 * Refuse a relative tolerance the matching cannot multiply by exactly: below
 * 10^36, at most 37 significant digits and 76 decimal places.  rule() and
 * every reader of a rule value check it, so that a rule that is accepted is
 * one the matching takes.
 */
static void
check_rel_precision(Numeric rel)
{
	int			scale;
	rc_i128		v;

	if (rel_saturates(rel))
		return;
	scale = rc_numeric_frac_digits(rel);
	if (scale > RC_MAX_REL_SCALE || !rc_numeric_trunc(rel, scale, &v))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"rel_tol\" has too many significant digits"),
				 errdetail("A relative tolerance may have at most 37 significant digits and %d decimal places.",
						   RC_MAX_REL_SCALE)));
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
	check_rel_precision(DatumGetNumeric(values[1]));
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

/* Read the fields of a rule tuple, checked as rule() checks them. */
void
rc_rule_read(HeapTupleHeader rule, RcRuleValues *rv)
{
	static const char *const names[] = {"abs_tol", "rel_tol", "days_before", "days_after", "use_ref", "as_of"};
	TupleDesc	tupdesc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(rule),
												 HeapTupleHeaderGetTypMod(rule));
	HeapTupleData tuple;
	Datum		values[6];
	bool		nulls[6];

	if (tupdesc->natts != 6)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"rule\" is not a reconcile.rule value")));
	tuple.t_len = HeapTupleHeaderGetDatumLength(rule);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = rule;
	heap_deform_tuple(&tuple, tupdesc, values, nulls);
	ReleaseTupleDesc(tupdesc);
	for (int i = 0; i < 5; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%s\" of the rule must not be null", names[i])));
	rv->abs_tol = DatumGetNumeric(values[0]);
	rv->rel_tol = DatumGetNumeric(values[1]);
	rv->days_before = DatumGetInt32(values[2]);
	rv->days_after = DatumGetInt32(values[3]);
	rv->use_ref = DatumGetBool(values[4]);
	rv->has_as_of = !nulls[5];
	rv->as_of = nulls[5] ? 0 : DatumGetDateADT(values[5]);
	rc_check_tolerance(rv->abs_tol, "abs_tol");
	rc_check_tolerance(rv->rel_tol, "rel_tol");
	check_rel_precision(rv->rel_tol);
	rc_check_days(rv->days_before, "days_before");
	rc_check_days(rv->days_after, "days_after");
	if (rv->has_as_of && DATE_NOT_FINITE(rv->as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"as_of\" must be a finite date")));
}

static bool
numeric_equal(Numeric a, Numeric b)
{
	return DatumGetBool(DirectFunctionCall2(numeric_eq, NumericGetDatum(a), NumericGetDatum(b)));
}

/* Whether two rule values are the same rule (numerically equal tolerances). */
bool
rc_rules_equal(const RcRuleValues *a, const RcRuleValues *b)
{
	return numeric_equal(a->abs_tol, b->abs_tol) && numeric_equal(a->rel_tol, b->rel_tol) &&
		a->days_before == b->days_before && a->days_after == b->days_after &&
		a->use_ref == b->use_ref && a->has_as_of == b->has_as_of &&
		(!a->has_as_of || a->as_of == b->as_of);
}

/*
 * The absolute tolerance as abs_tol / 10^abs_scale: at the finest scale, up
 * to the core's, whose value stays below 10^37.  When digits had to be
 * dropped to fit, every finer group scale saturates anyway, so truncating
 * to any group scale gives what truncating the exact value would.
 */
static void
abs_tolerance(Numeric tol, RcRule *out)
{
	int			scale = Min(rc_numeric_frac_digits(tol), RC_MAX_DSCALE);
	rc_i128		v;

	for (; scale >= 0; scale--)
	{
		if (rc_numeric_trunc(tol, scale, &v))
		{
			out->abs_tol = v;
			out->abs_scale = (uint16) scale;
			return;
		}
	}
	out->abs_tol = RC_TOL_SATURATED;
	out->abs_scale = 0;
}

/*
 * The rule of a group as the core takes it.  A relative tolerance of 10^36
 * or more covers any two amounts, as 10^36 does (|s - l| <= |s| + |l| <=
 * 10^36 |l| for amounts below 10^36 and l not zero), so it is taken as
 * that; a finer one was refused when the rule was read (check_rel_precision).
 */
void
rc_rule_to_core(const RcRuleValues *rv, RcRule *out)
{
	int			rel_scale = 0;
	rc_i128		rel = RC_REL_SATURATED;

	memset(out, 0, sizeof(*out));
	if (!rel_saturates(rv->rel_tol))
	{
		rel_scale = rc_numeric_frac_digits(rv->rel_tol);
		if (rel_scale > RC_MAX_REL_SCALE || !rc_numeric_trunc(rv->rel_tol, rel_scale, &rel))
			elog(ERROR, "rel_tol was not checked");
	}
	abs_tolerance(rv->abs_tol, out);
	out->rel_tol = rel;
	out->rel_scale = (uint16) rel_scale;
	out->days_before = rv->days_before;
	out->days_after = rv->days_after;
	out->use_ref = rv->use_ref;
	out->has_as_of = rv->has_as_of;
	out->as_of = rv->as_of;
}
