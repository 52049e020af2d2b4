/*-------------------------------------------------------------------------
 *
 * trust.c
 *	  Whose rights: sources are read with the caller's, the extension's own
 *	  tables are written with their owner's, and no user code runs then.
 *
 * A function that must do both (reconcile.run, reconcile.manual_match) is
 * one C entry point, not SECURITY DEFINER, so that it starts with the
 * caller's identity.  It reads the sources as the caller (rc_capture: the
 * rows go into a tuplestore in this backend's memory, which no SQL can
 * reach), then switches to the owner of the extension's tables around the
 * bookkeeping, as REFRESH MATERIALIZED VIEW does around its query:
 * SetUserIdAndSecContext with SECURITY_RESTRICTED_OPERATION, a GUC nest
 * level with search_path pinned to pg_catalog, and back (rc_owner_query,
 * the only way to run anything as the owner).  The bookkeeping reads what was captured through
 * reconcile.captured(), which returns rows only while such a section is
 * under way for the capture; so nobody can hand the bookkeeping rows of
 * their own, and the extension's writers revoked from PUBLIC are useless
 * outside it.
 *
 * IDENTIFICATION
 *	  src/trust.c
 *
 *-------------------------------------------------------------------------
 */
#include "reconcile.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "executor/tstoreReceiver.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

/* An owner's section: what to restore at its end. */
typedef struct RcScope
{
	Oid			saved_user;
	int			saved_context;
	int			nestlevel;
} RcScope;

/* What reconcile.captured() returns, while the owner's section of one capture runs. */
static RcCapture *active_capture = NULL;

/* The role that owns the extension's tables (reconcile.runs stands for them). */
static Oid
tables_owner(void)
{
	Oid			nsp = get_namespace_oid(RC_SCHEMA, false);
	Oid			rel = get_relname_relid("runs", nsp);
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(rel))
		elog(ERROR, "table %s.runs does not exist", RC_SCHEMA);
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(rel));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", rel);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/* search_path pinned for what runs until the GUC nest level is left. */
static void
pin_search_path(void)
{
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/*
 * Become the owner of the extension's tables, in a security-restricted
 * operation, with search_path pinned; capture, if given, is what
 * reconcile.captured() returns until owner_end.
 */
static void
owner_begin(RcScope *scope, RcCapture *capture)
{
	GetUserIdAndSecContext(&scope->saved_user, &scope->saved_context);
	SetUserIdAndSecContext(tables_owner(),
						   scope->saved_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	scope->nestlevel = NewGUCNestLevel();
	pin_search_path();
	active_capture = capture;
}

/* Back to the identity and settings before owner_begin. */
static void
owner_end(RcScope *scope)
{
	active_capture = NULL;
	AtEOXact_GUC(false, scope->nestlevel);
	SetUserIdAndSecContext(scope->saved_user, scope->saved_context);
}

/*
 * Run query, one SELECT of the extension's own functions, with its nargs
 * parameters, as the owner of the extension's tables in a security-
 * restricted operation with search_path pinned (SPI must be connected);
 * while it runs, reconcile.captured() returns capture's rows (if capture is
 * given).  The first row it returns, and its descriptor, copied into cxt;
 * NULL when it returns none.  On an error the (sub)transaction abort
 * restores the identity and the settings; the capture is forgotten here.
 */
HeapTuple
rc_owner_query(RcCapture *capture, MemoryContext cxt, const char *query,
			   int nargs, Oid *types, Datum *values, const char *nulls,
			   TupleDesc *desc)
{
	RcScope		scope;
	HeapTuple	volatile row = NULL;

	owner_begin(&scope, capture);
	PG_TRY();
	{
		int			ret = SPI_execute_with_args(query, nargs, types, values, nulls, false, 1);

		if (ret != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
		if (SPI_processed > 0)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			row = heap_copytuple(SPI_tuptable->vals[0]);
			*desc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
			MemoryContextSwitchTo(old);
		}
	}
	PG_CATCH();
	{
		active_capture = NULL;
		PG_RE_THROW();
	}
	PG_END_TRY();
	owner_end(&scope);
	return row;
}

/* A receiver that keeps a copy of the rows' descriptor, then stores them. */
typedef struct CaptureReceiver
{
	DestReceiver pub;
	DestReceiver *store;		/* the tuplestore receiver */
	RcCapture  *capture;
} CaptureReceiver;

static void
capture_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	CaptureReceiver *cr = (CaptureReceiver *) self;
	MemoryContext old = MemoryContextSwitchTo(cr->capture->cxt);

	cr->capture->desc = CreateTupleDescCopy(typeinfo);
	MemoryContextSwitchTo(old);
	cr->store->rStartup(cr->store, operation, typeinfo);
}

static bool
capture_receive(TupleTableSlot *slot, DestReceiver *self)
{
	CaptureReceiver *cr = (CaptureReceiver *) self;

	cr->capture->rows++;
	return cr->store->receiveSlot(slot, cr->store);
}

static void
capture_shutdown(DestReceiver *self)
{
	CaptureReceiver *cr = (CaptureReceiver *) self;

	cr->store->rShutdown(cr->store);
}

static void
capture_destroy(DestReceiver *self)
{
	CaptureReceiver *cr = (CaptureReceiver *) self;

	cr->store->rDestroy(cr->store);
	pfree(cr);
}

/*
 * Run query (nargs parameters) through SPI as the current user, with
 * search_path pinned, and keep every row it returns in a tuplestore in the
 * context cxt (spilling to disk past work_mem).  The query may use
 * parallel workers.
 */
void
rc_capture(RcCapture *capture, MemoryContext cxt, const char *query,
		   int nargs, const Oid *types, const Datum *values, const bool *nulls)
{
	SPIExecuteOptions options;
	ParamListInfo params = makeParamList(nargs);
	CaptureReceiver *cr;
	MemoryContext old;
	int			nestlevel;
	int			ret;

	memset(capture, 0, sizeof(*capture));
	capture->cxt = cxt;
	old = MemoryContextSwitchTo(cxt);
	capture->store = tuplestore_begin_heap(false, false, work_mem);
	MemoryContextSwitchTo(old);

	for (int i = 0; i < nargs; i++)
	{
		params->params[i].value = values[i];
		params->params[i].isnull = nulls[i];
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = types[i];
	}
	cr = palloc0(sizeof(CaptureReceiver));
	cr->pub.receiveSlot = capture_receive;
	cr->pub.rStartup = capture_startup;
	cr->pub.rShutdown = capture_shutdown;
	cr->pub.rDestroy = capture_destroy;
	cr->pub.mydest = DestTuplestore;
	cr->store = CreateDestReceiver(DestTuplestore);
	SetTuplestoreDestReceiverParams(cr->store, capture->store, cxt, true, NULL, NULL);
	cr->capture = capture;

	memset(&options, 0, sizeof(options));
	/* no list rather than an empty one: Citus's executor copies an empty list to NULL, then reads it */
	options.params = nargs > 0 ? params : NULL;
	options.read_only = false;
	options.dest = (DestReceiver *) cr;

	nestlevel = NewGUCNestLevel();
	pin_search_path();

	/*
	 * The aggregate that matches runs in the leader (it is PARALLEL
	 * RESTRICTED), so the rows a run reads cross a Gather below it.  The
	 * planner estimates the anti-join against the cleared rows at half the
	 * source, where a daily run keeps only the new rows, and at the default
	 * cost per tuple it then reads everything in one process: a daily run of
	 * 10,000 new rows against a million cleared ones took 2.1 s instead of
	 * 1.4 s.  A lower parallel_tuple_cost for this query only (unless the
	 * session's is lower still) lets the scans and the anti-joins run in
	 * parallel workers; max_parallel_workers_per_gather still decides.
	 */
	if (parallel_tuple_cost > 0.001)
		(void) set_config_option("parallel_tuple_cost", "0.001", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	ret = SPI_execute_extended(query, &options);
	AtEOXact_GUC(false, nestlevel);
	if (ret < 0)
		elog(ERROR, "SPI_execute_extended failed: %s", SPI_result_code_string(ret));
	cr->pub.rDestroy((DestReceiver *) cr);
}

/*
 * The text of the first column of query's first row, run through SPI as the
 * current user with search_path pinned, copied into cxt; NULL when there is
 * no row or the value is NULL.  For a run's mark (run.c): the caller's read,
 * like rc_capture's, but one value.
 */
char *
rc_caller_text(MemoryContext cxt, const char *query)
{
	int			nestlevel = NewGUCNestLevel();
	int			ret;
	char	   *value = NULL;

	pin_search_path();
	ret = SPI_execute(query, false, 1);
	AtEOXact_GUC(false, nestlevel);
	if (ret < 0)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	if (SPI_processed > 0)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (v != NULL)
			value = MemoryContextStrdup(cxt, v);
	}
	SPI_freetuptable(SPI_tuptable);
	return value;
}

/* Whether two descriptors have the same column types, in the same order. */
static bool
same_types(TupleDesc a, TupleDesc b)
{
	if (a->natts != b->natts)
		return false;
	for (int i = 0; i < a->natts; i++)
		if (TupleDescAttr(a, i)->atttypid != TupleDescAttr(b, i)->atttypid)
			return false;
	return true;
}

/*
 * reconcile.captured() RETURNS SETOF record: the rows the current capture
 * holds, once, to the extension's own bookkeeping; refused anywhere else.
 */
PG_FUNCTION_INFO_V1(rc_captured);
Datum
rc_captured(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RcCapture  *capture = active_capture;
	MemoryContext old;

	if (capture == NULL || capture->store == NULL || !InSecurityRestrictedOperation())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("reconcile.captured() returns rows only to the extension's own bookkeeping"),
				 errdetail("It is called by reconcile.run and reconcile.manual_match, with the rows they read.")));
	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize) || rsinfo->expectedDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("reconcile.captured() must be called in FROM with a column definition list")));
	if (capture->desc != NULL && !same_types(capture->desc, rsinfo->expectedDesc))
		elog(ERROR, "reconcile.captured() asked for other columns than were captured");

	/* hand the tuplestore over: the executor frees it, and nobody reads it twice */
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = capture->store;
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->setDesc = CreateTupleDescCopy(rsinfo->expectedDesc);
	MemoryContextSwitchTo(old);
	capture->store = NULL;
	PG_RETURN_NULL();
}
