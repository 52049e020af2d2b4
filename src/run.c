/*-------------------------------------------------------------------------
 *
 * run.c
 *	  reconcile.run, reconcile.manual_match and reconcile.unmatch: read a
 *	  reconciliation's sources with the caller's rights, record what they
 *	  found with the owner's (trust.c).
 *
 * Each is one entry point in four steps:
 *	1. as the caller: the registration, if the caller may see it
 *	   (reconcile.registered: 42704, 42501);
 *	2. as the owner: its lock (a run fails at once, 55P03, while another
 *	   holds it; a manual match waits) and the SQL to read the sources with;
 *	3. as the caller: that SQL, the rows kept in memory (rc_capture);
 *	4. as the owner, in a security-restricted operation: the bookkeeping
 *	   (reconcile.record_run, reconcile.record_manual, reconcile.record_unmatch),
 *	   which reads those rows through reconcile.captured().
 * None of them acts inside a security-restricted operation (act.c).
 * Everything the owner's steps run is the extension's own SQL, with
 * search_path pinned; what the caller's step runs (views, casts, policies of
 * the sources) runs with the caller's rights only.
 *
 * IDENTIFICATION
 *	  src/run.c
 *
 *-------------------------------------------------------------------------
 */
#include "reconcile.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datum.h"
#include "utils/timestamp.h"

/* Run query with its parameters as whoever is current; the first column of its first row. */
static Datum
spi_value(const char *query, int nargs, Oid *types, Datum *values, const char *nulls,
		  bool *isnull)
{
	int			ret = SPI_execute_with_args(query, nargs, types, values, nulls, false, 1);

	if (ret < 0)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
	{
		*isnull = true;
		return (Datum) 0;
	}
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
}

/* Refuse a NULL argument n (22023). */
static void
require_arg(FunctionCallInfo fcinfo, int n, const char *argname)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" must not be null", argname)));
}

/* Step 1: the id of the registration name, as the caller; 42704 or 42501 otherwise. */
static int64
registration_of(Datum name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {name};
	bool		isnull;
	Datum		id;

	id = spi_value("SELECT r.id FROM reconcile.registered($1, pg_catalog.current_user()) r",
				   1, types, values, " ", &isnull);
	if (isnull)
		elog(ERROR, "reconcile.registered returned no registration");
	return DatumGetInt64(id);
}

/*
 * reconcile.run(name text, as_of date DEFAULT current_date) RETURNS bigint:
 * match the reconciliation's rows that no earlier run cleared, record the
 * run; the run id.
 */
PG_FUNCTION_INFO_V1(rc_run);
Datum
rc_run(PG_FUNCTION_ARGS)
{
	MemoryContext callcxt = CurrentMemoryContext;
	TimestampTz started = GetCurrentTimestamp();
	Oid			caller = GetUserId();
	Datum		name;
	DateADT		as_of;
	int64		recon_id;
	int64		run_id;
	char	   *query;
	int			nparams;
	Datum		params[6];
	Oid			ptypes[6];
	bool		pnulls[6];
	RcScope		scope;
	RcCapture	capture;
	bool		isnull;

	require_arg(fcinfo, 0, "name");
	require_arg(fcinfo, 1, "as_of");
	rc_refuse_restricted("reconcile.run");
	name = PG_GETARG_DATUM(0);
	as_of = PG_GETARG_DATEADT(1);
	if (DATE_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"as_of\" must be a finite date")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	recon_id = registration_of(name);

	/* 2: the lock, at once or not at all, and the query of this run (with its parameters) */
	rc_owner_begin(&scope, NULL);
	PG_TRY();
	{
		Oid			types[3] = {INT8OID, DATEOID, NAMEOID};
		Datum		values[3];
		NameData	who;
		int			ret;
		HeapTuple	tup;
		TupleDesc	desc;
		MemoryContext old;

		namestrcpy(&who, GetUserNameFromId(caller, false));
		values[0] = Int64GetDatum(recon_id);
		values[1] = DateADTGetDatum(as_of);
		values[2] = NameGetDatum(&who);
		ret = SPI_execute_with_args("SELECT * FROM reconcile.run_query($1, $2, $3)", 3, types, values,
									"   ", false, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "reconcile.run_query returned no query");
		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		query = MemoryContextStrdup(callcxt, TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull)));
		nparams = 0;
		old = MemoryContextSwitchTo(callcxt);
		for (int i = 0; i < 6; i++)
		{
			Datum		v = SPI_getbinval(tup, desc, 2 + i, &isnull);

			if (isnull)
				break;
			params[i] = datumCopy(v, false, -1);
			ptypes[i] = SPI_gettypeid(desc, 2 + i);
			pnulls[i] = false;
			nparams = i + 1;
		}
		MemoryContextSwitchTo(old);
	}
	PG_CATCH();
	{
		rc_owner_abort();
		PG_RE_THROW();
	}
	PG_END_TRY();
	rc_owner_end(&scope);

	/* 3: the sources, with the caller's rights */
	rc_capture(&capture, callcxt, query, nparams, ptypes, params, pnulls);

	/* 4: the bookkeeping */
	rc_owner_begin(&scope, &capture);
	PG_TRY();
	{
		Oid			types[5] = {INT8OID, DATEOID, TIMESTAMPTZOID, NAMEOID, INT8OID};
		Datum		values[5];
		Datum		r;
		NameData	run_by;

		namestrcpy(&run_by, GetUserNameFromId(caller, false));
		values[0] = Int64GetDatum(recon_id);
		values[1] = DateADTGetDatum(as_of);
		values[2] = TimestampTzGetDatum(started);
		values[3] = NameGetDatum(&run_by);
		values[4] = Int64GetDatum((int64) capture.rows);
		r = spi_value("SELECT reconcile.record_run($1, $2, $3, $4, $5)", 5, types, values, "     ",
					  &isnull);
		if (isnull)
			elog(ERROR, "reconcile.record_run returned NULL");
		run_id = DatumGetInt64(r);
	}
	PG_CATCH();
	{
		rc_owner_abort();
		PG_RE_THROW();
	}
	PG_END_TRY();
	rc_owner_end(&scope);

	SPI_finish();
	PG_RETURN_INT64(run_id);
}

/* The elements of text[] argument n, refusing NULL and empty arrays (22023). */
static Datum
ids_arg(FunctionCallInfo fcinfo, int n)
{
	ArrayType  *a;

	if (PG_ARGISNULL(n) || ArrayGetNItems(ARR_NDIM(PG_GETARG_ARRAYTYPE_P(n)),
										  ARR_DIMS(PG_GETARG_ARRAYTYPE_P(n))) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a manual match needs at least one ledger and one statement id")));
	a = PG_GETARG_ARRAYTYPE_P(n);
	if (array_contains_nulls(a))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the ids of a manual match must not be null")));
	return PointerGetDatum(a);
}

/*
 * reconcile.manual_match(name text, ledger_ids text[], statement_ids text[],
 * note text): match those rows by hand, after reading them from the sources
 * with the caller's rights.
 */
PG_FUNCTION_INFO_V1(rc_manual_match);
Datum
rc_manual_match(PG_FUNCTION_ARGS)
{
	MemoryContext callcxt = CurrentMemoryContext;
	Oid			caller = GetUserId();
	Datum		name;
	Datum		ledger_ids;
	Datum		statement_ids;
	int64		recon_id;
	char	   *query;
	RcScope		scope;
	RcCapture	capture;
	bool		isnull;

	require_arg(fcinfo, 0, "name");
	rc_refuse_restricted("reconcile.manual_match");
	name = PG_GETARG_DATUM(0);
	ledger_ids = ids_arg(fcinfo, 1);
	statement_ids = ids_arg(fcinfo, 2);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	recon_id = registration_of(name);

	/* 2: the lock (waiting for a run to end) and the query that finds the rows */
	rc_owner_begin(&scope, NULL);
	PG_TRY();
	{
		Oid			types[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(recon_id)};
		Datum		q;

		q = spi_value("SELECT reconcile.manual_query($1)", 1, types, values, " ", &isnull);
		if (isnull)
			elog(ERROR, "reconcile.manual_query returned NULL");
		query = MemoryContextStrdup(callcxt, TextDatumGetCString(q));
	}
	PG_CATCH();
	{
		rc_owner_abort();
		PG_RE_THROW();
	}
	PG_END_TRY();
	rc_owner_end(&scope);

	/* 3: the rows, with the caller's rights */
	{
		Oid			types[2] = {TEXTARRAYOID, TEXTARRAYOID};
		Datum		values[2] = {ledger_ids, statement_ids};
		bool		nulls[2] = {false, false};

		rc_capture(&capture, callcxt, query, 2, types, values, nulls);
	}

	/* 4: the bookkeeping */
	rc_owner_begin(&scope, &capture);
	PG_TRY();
	{
		Oid			types[6] = {INT8OID, TEXTARRAYOID, TEXTARRAYOID, TEXTOID, NAMEOID, TEXTOID};
		Datum		values[6];
		char		nulls[7] = "      ";
		NameData	actor;

		namestrcpy(&actor, GetUserNameFromId(caller, false));
		values[0] = Int64GetDatum(recon_id);
		values[1] = ledger_ids;
		values[2] = statement_ids;
		values[3] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
		nulls[3] = PG_ARGISNULL(3) ? 'n' : ' ';
		values[4] = NameGetDatum(&actor);
		values[5] = name;
		(void) spi_value("SELECT reconcile.record_manual($1, $2, $3, $4, $5, $6)", 6, types, values,
						 nulls, &isnull);
	}
	PG_CATCH();
	{
		rc_owner_abort();
		PG_RE_THROW();
	}
	PG_END_TRY();
	rc_owner_end(&scope);

	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * reconcile.unmatch(name text, ledger_id text): release a matched ledger
 * row and the rows matched with it.  A caller that row level security
 * narrows on a source must see every one of those rows there (read with its
 * rights); otherwise the row is "not matched" (42704), as if it did not
 * exist.
 */
PG_FUNCTION_INFO_V1(rc_unmatch);
Datum
rc_unmatch(PG_FUNCTION_ARGS)
{
	MemoryContext callcxt = CurrentMemoryContext;
	Oid			caller = GetUserId();
	Datum		name;
	Datum		ledger_id;
	int64		recon_id;
	char	   *query;
	Datum		ids[2];
	RcScope		scope;
	RcCapture	capture;
	bool		isnull;

	require_arg(fcinfo, 0, "name");
	require_arg(fcinfo, 1, "ledger_id");
	rc_refuse_restricted("reconcile.unmatch");
	name = PG_GETARG_DATUM(0);
	ledger_id = PG_GETARG_DATUM(1);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	recon_id = registration_of(name);

	/* 2: the lock (waiting for a run to end), the rows of the match, the query that finds them */
	rc_owner_begin(&scope, NULL);
	PG_TRY();
	{
		Oid			types[2] = {INT8OID, TEXTOID};
		Datum		values[2] = {Int64GetDatum(recon_id), ledger_id};
		int			ret;
		HeapTuple	tup;
		TupleDesc	desc;
		MemoryContext old;

		ret = SPI_execute_with_args("SELECT * FROM reconcile.unmatch_query($1, $2)", 2, types, values,
									"  ", false, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "reconcile.unmatch_query returned no query");
		tup = SPI_tuptable->vals[0];
		desc = SPI_tuptable->tupdesc;
		old = MemoryContextSwitchTo(callcxt);
		query = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
		for (int i = 0; i < 2; i++)
		{
			ids[i] = SPI_getbinval(tup, desc, 2 + i, &isnull);
			if (isnull)
				elog(ERROR, "reconcile.unmatch_query returned no ids");
			ids[i] = datumCopy(ids[i], false, -1);
		}
		MemoryContextSwitchTo(old);
	}
	PG_CATCH();
	{
		rc_owner_abort();
		PG_RE_THROW();
	}
	PG_END_TRY();
	rc_owner_end(&scope);

	/* 3: those rows, with the caller's rights */
	{
		Oid			types[2] = {TEXTARRAYOID, TEXTARRAYOID};
		bool		nulls[2] = {false, false};

		rc_capture(&capture, callcxt, query, 2, types, ids, nulls);
	}

	/* 4: the release */
	rc_owner_begin(&scope, &capture);
	PG_TRY();
	{
		Oid			types[4] = {INT8OID, TEXTOID, NAMEOID, TEXTOID};
		Datum		values[4];
		NameData	actor;

		namestrcpy(&actor, GetUserNameFromId(caller, false));
		values[0] = Int64GetDatum(recon_id);
		values[1] = ledger_id;
		values[2] = NameGetDatum(&actor);
		values[3] = name;
		(void) spi_value("SELECT reconcile.record_unmatch($1, $2, $3, $4)", 4, types, values, "    ",
						 &isnull);
	}
	PG_CATCH();
	{
		rc_owner_abort();
		PG_RE_THROW();
	}
	PG_END_TRY();
	rc_owner_end(&scope);

	SPI_finish();
	PG_RETURN_VOID();
}
