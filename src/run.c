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
 *	3. as the caller: for a run, each side's mark first (the greatest seq, SPEC
 *	   5a; rc_caller_text), then that SQL, the rows kept in memory (rc_capture);
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

#include "access/htup_details.h"
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

/* Run query as the tables' owner (trust.c); its first row, which must exist, in cxt. */
static HeapTuple
owner_row(RcCapture *capture, MemoryContext cxt, const char *query, int nargs, Oid *types,
		  Datum *values, const char *nulls, TupleDesc *desc)
{
	HeapTuple	row = rc_owner_query(capture, cxt, query, nargs, types, values, nulls, desc);

	if (row == NULL)
		elog(ERROR, "\"%s\" returned no row", query);
	return row;
}

/* Column n (from 1) of row, not NULL. */
static Datum
column(HeapTuple row, TupleDesc desc, int n)
{
	bool		isnull;
	Datum		v = heap_getattr(row, n, desc, &isnull);

	if (isnull)
		elog(ERROR, "column %d of the extension's bookkeeping query is null", n);
	return v;
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

/* The name of the current user, as a name Datum in *buf. */
static Datum
user_name(NameData *buf)
{
	namestrcpy(buf, GetUserNameFromId(GetUserId(), false));
	return NameGetDatum(buf);
}

/* Column n (from 1) of row as a C string in cxt, or NULL. */
static char *
column_text(HeapTuple row, TupleDesc desc, int n, MemoryContext cxt)
{
	bool		isnull;
	Datum		v = heap_getattr(row, n, desc, &isnull);

	return isnull ? NULL : MemoryContextStrdup(cxt, TextDatumGetCString(v));
}

/*
 * The parameters a run's query may have (reconcile.run_query's p1..p10: the
 * cleared rows, the manual tags and, since 0.6.0, the rejections, for a
 * caller narrowed by row level security; the open rows, for a side read from
 * its mark).  An older version's run_query gives fewer: the first NULL ends
 * them.
 */
#define RUN_PARAMS 10

/*
 * reconcile.run(name text, as_of date DEFAULT current_date, full boolean
 * DEFAULT false) RETURNS bigint: match the reconciliation's rows that no
 * earlier run cleared, record the run; the run id.  A side with a seq column
 * is read from the previous run's mark on (SPEC 5a) unless full; the new mark
 * is read, as the caller, before the rows are.
 */
PG_FUNCTION_INFO_V1(rc_run);
Datum
rc_run(PG_FUNCTION_ARGS)
{
	MemoryContext callcxt = CurrentMemoryContext;
	TimestampTz started = GetCurrentTimestamp();
	NameData	caller;
	DateADT		as_of;
	int64		recon_id;
	HeapTuple	row;
	TupleDesc	desc;
	char	   *query;
	char	   *marks[2];
	int			nparams = 0;
	Datum		params[RUN_PARAMS];
	Oid			ptypes[RUN_PARAMS];
	bool		pnulls[RUN_PARAMS];
	RcCapture	capture;

	/* the SQL of 0.4.0, until ALTER EXTENSION reconcile UPDATE: two arguments, no marks */
	bool		sql_040 = PG_NARGS() < 3;

	require_arg(fcinfo, 0, "name");
	require_arg(fcinfo, 1, "as_of");
	if (!sql_040)
		require_arg(fcinfo, 2, "full");
	rc_refuse_restricted("reconcile.run");
	as_of = PG_GETARG_DATEADT(1);
	if (DATE_NOT_FINITE(as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"as_of\" must be a finite date")));
	(void) user_name(&caller);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	recon_id = registration_of(PG_GETARG_DATUM(0));
	{
		char	   *name = TextDatumGetCString(PG_GETARG_DATUM(0));

		rc_progress_begin(name, callcxt);
	}

	/*
	 * 2: the lock, at once or not at all, and the query of this run (with its
	 * parameters); per side, the query of its new mark or the mark it keeps
	 */
	{
		Oid			types[4] = {INT8OID, DATEOID, NAMEOID, BOOLOID};
		Datum		values[4] = {Int64GetDatum(recon_id), DateADTGetDatum(as_of),
								 NameGetDatum(&caller), sql_040 ? BoolGetDatum(false) : PG_GETARG_DATUM(2)};
		int			first_param = sql_040 ? 2 : 6;

		row = owner_row(NULL, callcxt,
						sql_040 ? "SELECT * FROM reconcile.run_query($1, $2, $3)"
						: "SELECT * FROM reconcile.run_query($1, $2, $3, $4)",
						sql_040 ? 3 : 4, types, values, "    ", &desc);
		query = TextDatumGetCString(column(row, desc, 1));
		for (int i = 0; i < RUN_PARAMS; i++)
		{
			bool		isnull;
			Datum		v;

			if (first_param + i > desc->natts)
				break;
			v = heap_getattr(row, first_param + i, desc, &isnull);
			if (isnull)
				break;
			params[i] = v;
			ptypes[i] = TupleDescAttr(desc, first_param - 1 + i)->atttypid;
			pnulls[i] = false;
			nparams = i + 1;
		}
	}

	/*
	 * 3: the sources, with the caller's rights: first each side's mark (the
	 * greatest seq it holds), so that a row committed while the rows are read
	 * is read again by the next run rather than never, then the rows
	 */
	rc_progress_phase("reading and matching");
	for (int side = 0; side < 2; side++)
	{
		char	   *mark_sql = sql_040 ? NULL : column_text(row, desc, 2 + side, callcxt);

		marks[side] = mark_sql != NULL ? rc_caller_text(callcxt, mark_sql)
			: sql_040 ? NULL : column_text(row, desc, 4 + side, callcxt);
	}
	rc_capture(&capture, callcxt, query, nparams, ptypes, params, pnulls);
	rc_progress_phase("recording");

	/* 4: the bookkeeping */
	{
		Oid			types[7] = {INT8OID, DATEOID, TIMESTAMPTZOID, NAMEOID, INT8OID, TEXTOID, TEXTOID};
		Datum		values[7] = {Int64GetDatum(recon_id), DateADTGetDatum(as_of),
								 TimestampTzGetDatum(started), NameGetDatum(&caller),
								 Int64GetDatum((int64) capture.rows),
								 marks[0] ? CStringGetTextDatum(marks[0]) : (Datum) 0,
								 marks[1] ? CStringGetTextDatum(marks[1]) : (Datum) 0};
		char		nulls[8] = "       ";

		nulls[5] = marks[0] ? ' ' : 'n';
		nulls[6] = marks[1] ? ' ' : 'n';
		row = owner_row(&capture, callcxt,
						sql_040 ? "SELECT reconcile.record_run($1, $2, $3, $4, $5)"
						: "SELECT reconcile.record_run($1, $2, $3, $4, $5, $6, $7)",
						sql_040 ? 5 : 7, types, values, nulls, &desc);
	}

	SPI_finish();
	rc_progress_end();
	PG_RETURN_DATUM(column(row, desc, 1));
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
	NameData	actor;
	Datum		ids[2];
	int64		recon_id;
	HeapTuple	row;
	TupleDesc	desc;
	RcCapture	capture;

	require_arg(fcinfo, 0, "name");
	rc_refuse_restricted("reconcile.manual_match");
	ids[0] = ids_arg(fcinfo, 1);
	ids[1] = ids_arg(fcinfo, 2);
	(void) user_name(&actor);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	recon_id = registration_of(PG_GETARG_DATUM(0));

	/* 2: the lock (waiting for a run to end) and the query that finds the rows */
	{
		Oid			types[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(recon_id)};

		row = owner_row(NULL, callcxt, "SELECT reconcile.manual_query($1)", 1, types, values, " ",
						&desc);
	}

	/* 3: the rows, with the caller's rights */
	{
		Oid			types[2] = {TEXTARRAYOID, TEXTARRAYOID};
		bool		nulls[2] = {false, false};

		rc_capture(&capture, callcxt, TextDatumGetCString(column(row, desc, 1)), 2, types, ids,
				   nulls);
	}

	/* 4: the bookkeeping */
	{
		Oid			types[6] = {INT8OID, TEXTARRAYOID, TEXTARRAYOID, TEXTOID, NAMEOID, TEXTOID};
		Datum		values[6] = {Int64GetDatum(recon_id), ids[0], ids[1],
								 PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3),
								 NameGetDatum(&actor), PG_GETARG_DATUM(0)};
		char		nulls[7] = "      ";

		nulls[3] = PG_ARGISNULL(3) ? 'n' : ' ';
		(void) owner_row(&capture, callcxt, "SELECT reconcile.record_manual($1, $2, $3, $4, $5, $6)",
						 6, types, values, nulls, &desc);
	}

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
	NameData	actor;
	int64		recon_id;
	HeapTuple	row;
	TupleDesc	desc;
	RcCapture	capture;

	require_arg(fcinfo, 0, "name");
	require_arg(fcinfo, 1, "ledger_id");
	rc_refuse_restricted("reconcile.unmatch");
	(void) user_name(&actor);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	recon_id = registration_of(PG_GETARG_DATUM(0));

	/* 2: the lock (waiting for a run to end), the rows of the match, the query that finds them */
	{
		Oid			types[2] = {INT8OID, TEXTOID};
		Datum		values[2] = {Int64GetDatum(recon_id), PG_GETARG_DATUM(1)};

		row = owner_row(NULL, callcxt, "SELECT * FROM reconcile.unmatch_query($1, $2)", 2, types,
						values, "  ", &desc);
	}

	/* 3: those rows, with the caller's rights */
	{
		Oid			types[2] = {TEXTARRAYOID, TEXTARRAYOID};
		Datum		ids[2] = {column(row, desc, 2), column(row, desc, 3)};
		bool		nulls[2] = {false, false};

		rc_capture(&capture, callcxt, TextDatumGetCString(column(row, desc, 1)), 2, types, ids,
				   nulls);
	}

	/* 4: the release */
	{
		Oid			types[4] = {INT8OID, TEXTOID, NAMEOID, TEXTOID};
		Datum		values[4] = {Int64GetDatum(recon_id), PG_GETARG_DATUM(1), NameGetDatum(&actor),
								 PG_GETARG_DATUM(0)};

		(void) owner_row(&capture, callcxt, "SELECT reconcile.record_unmatch($1, $2, $3, $4)", 4,
						 types, values, "    ", &desc);
	}

	SPI_finish();
	PG_RETURN_VOID();
}
