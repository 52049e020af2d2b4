/*-------------------------------------------------------------------------
 *
 * act.c
 *	  The follow-up functions that write only the extension's tables
 *	  (register, unregister, assign, resolve, approve, reopen, set_rule; 0.6.0's
 *	  configure, reset_option, accept, reject, take_adjustments): who acts,
 *	  taken where it cannot be faked, then the writing as the tables' owner.
 *
 * A SECURITY DEFINER function cannot tell who called it: current_user is
 * its owner, and session_user and the role setting say nothing about code
 * running inside someone else's security-restricted operation (an index
 * expression during ANALYZE, a materialized view during REFRESH) or inside
 * another role's SECURITY DEFINER function.  So each of these is a C entry
 * point, reconcile.<f>, that reads the acting role (GetUserId()) and the
 * person, the role that logged in (GetAuthenticatedUserId(): SET ROLE and
 * SET SESSION AUTHORIZATION do not change it), refuses to act inside a
 * security-restricted operation (42501), and calls reconcile.<f>_by(actor,
 * person, its own arguments...) as the owner of the extension's tables in a
 * security-restricted operation with search_path pinned (trust.c).  Those
 * internals are revoked from PUBLIC: outside this entry point they cannot
 * be called at all.
 *
 * IDENTIFICATION
 *	  src/act.c
 *
 *-------------------------------------------------------------------------
 */
#include "reconcile.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

/* The functions that may be bound to rc_act; each has an internal reconcile.<name>_by. */
static const char *const act_names[] = {
	"register", "unregister", "assign", "resolve", "approve", "reopen", "set_rule",
	"configure", "reset_option", "accept", "reject", "take_adjustments"
};

/*
 * Refuse to act inside a security-restricted operation (42501): the code
 * running there is whoever owns the index, view or function being
 * evaluated, on behalf of someone else's command.
 */
void
rc_refuse_restricted(const char *what)
{
	if (InSecurityRestrictedOperation())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot call %s within a security-restricted operation", what),
				 errdetail("Index expressions, materialized views and maintenance commands run as another role on behalf of the command's issuer.")));
}

/* Whether name is one of act_names. */
static bool
is_act_name(const char *name)
{
	for (int i = 0; i < (int) lengthof(act_names); i++)
		if (strcmp(name, act_names[i]) == 0)
			return true;
	return false;
}

/*
 * reconcile.register, unregister, assign, resolve, approve, reopen, set_rule,
 * configure, reset_option, accept, reject, take_adjustments: the
 * same arguments and result as reconcile.<name>_by without its first two
 * (actor, person).
 */
PG_FUNCTION_INFO_V1(rc_act);
Datum
rc_act(PG_FUNCTION_ARGS)
{
	MemoryContext callcxt = CurrentMemoryContext;
	Oid			fn = fcinfo->flinfo->fn_oid;
	HeapTuple	proctup;
	Form_pg_proc proc;
	char	   *fname;
	Oid			rettype;
	int			nargs;
	Oid		   *types;
	Datum	   *values;
	char	   *nulls;
	NameData	actor;
	NameData	person;
	StringInfoData query;
	HeapTuple	row;
	TupleDesc	desc;
	Datum		result = (Datum) 0;
	bool		isnull = true;

	proctup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(proctup))
		elog(ERROR, "cache lookup failed for function %u", fn);
	proc = (Form_pg_proc) GETSTRUCT(proctup);
	fname = pstrdup(NameStr(proc->proname));
	rettype = proc->prorettype;
	nargs = proc->pronargs;
	if (proc->pronamespace != get_namespace_oid(RC_SCHEMA, false) || !is_act_name(fname) ||
		nargs != PG_NARGS())
		elog(ERROR, "function %u is not one of the extension's follow-up functions", fn);

	types = palloc((nargs + 2) * sizeof(Oid));
	values = palloc((nargs + 2) * sizeof(Datum));
	nulls = palloc(nargs + 3);
	types[0] = NAMEOID;
	types[1] = NAMEOID;
	for (int i = 0; i < nargs; i++)
		types[i + 2] = proc->proargtypes.values[i];
	ReleaseSysCache(proctup);

	{
		char		what[NAMEDATALEN + 16];

		snprintf(what, sizeof(what), "%s.%s", RC_SCHEMA, fname);
		rc_refuse_restricted(what);
	}

	/* who acts, and which person: read before anything changes them */
	namestrcpy(&actor, GetUserNameFromId(GetUserId(), false));
	namestrcpy(&person, GetUserNameFromId(GetAuthenticatedUserId(), false));
	values[0] = NameGetDatum(&actor);
	values[1] = NameGetDatum(&person);
	nulls[0] = ' ';
	nulls[1] = ' ';
	for (int i = 0; i < nargs; i++)
	{
		values[i + 2] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i + 2] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	nulls[nargs + 2] = '\0';

	initStringInfo(&query);
	appendStringInfo(&query, "SELECT %s.%s(", RC_SCHEMA, quote_identifier(psprintf("%s_by", fname)));
	for (int i = 0; i < nargs + 2; i++)
		appendStringInfo(&query, "%s$%d", i > 0 ? ", " : "", i + 1);
	appendStringInfoChar(&query, ')');

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	row = rc_owner_query(NULL, callcxt, query.data, nargs + 2, types, values, nulls, &desc);
	if (row == NULL)
		elog(ERROR, "%s.%s_by returned no row", RC_SCHEMA, fname);
	if (rettype != VOIDOID)
		result = heap_getattr(row, 1, desc, &isnull);
	SPI_finish();

	if (rettype == VOIDOID)
		PG_RETURN_VOID();
	if (isnull)
		PG_RETURN_NULL();
	return result;
}
