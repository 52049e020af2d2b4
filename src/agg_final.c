/*-------------------------------------------------------------------------
 *
 * agg_final.c
 *	  The final functions of match_agg and match_detail_agg: match one
 *	  group with the core and return its results as one array value.
 *
 * The core runs in a memory context of its own ("reconcile match"),
 * deleted before the function returns.  The result array is written in one
 * allocation whose size is computed first, element by element, so that a
 * group whose result cannot be one value (1 GB) fails cleanly with 54000
 * instead of being truncated.  What every group of a query needs (the
 * element type and the category labels) is looked up once and kept in
 * fn_extra.
 *
 * IDENTIFICATION
 *	  src/agg_final.c
 *
 *-------------------------------------------------------------------------
 */
#include "reconcile.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

/* Columns of reconcile.match, and of reconcile.match_detail. */
#define RC_MATCH_NATTS 8
#define RC_DETAIL_NATTS 12

/* What every group of one query needs, cached in the final function's fn_extra. */
typedef struct RcQueryCache
{
	Oid			typoid;			/* reconcile.match or reconcile.match_detail */
	TupleDesc	tupdesc;		/* its row type */
	bool		detail;
	Datum		cats[RC_NUM_CATEGORIES];	/* the reconcile.category labels */
} RcQueryCache;

/* The datums of a group's results other than the rows' own. */
typedef struct RcResultDatums
{
	Numeric    *diffs;			/* amount_diff of each result, or NULL */
	text	  **notes;			/* note of each result */
	Size		size;			/* of the whole array value */
} RcResultDatums;

/* Interned note texts: repeated notes share one varlena. */
#define NOTE_SLOTS 8192

typedef struct NoteArena
{
	MemoryContext cxt;
	char	   *block;
	Size		used;
	Size		size;
	text	   *slots[NOTE_SLOTS];
	uint32		nslots;
} NoteArena;

/* A text datum for the note s (of length len), interned when possible. */
static text *
note_text(NoteArena *na, const char *s, size_t len)
{
	uint32		h = 2166136261u;
	uint32		k;
	text	   *t;
	Size		need = INTALIGN(VARHDRSZ + len);

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char) s[i]) * 16777619u;
	k = h & (NOTE_SLOTS - 1);
	for (uint32 probe = 0; probe < 8; probe++, k = (k + 1) & (NOTE_SLOTS - 1))
	{
		t = na->slots[k];
		if (t == NULL)
			break;
		if (VARSIZE(t) - VARHDRSZ == len && memcmp(VARDATA(t), s, len) == 0)
			return t;
	}
	if (na->block == NULL || na->used + need > na->size)
	{
		na->size = Max(need, 1024 * 1024);
		na->block = MemoryContextAllocHuge(na->cxt, na->size);
		na->used = 0;
	}
	t = (text *) (na->block + na->used);
	na->used += need;
	SET_VARSIZE(t, VARHDRSZ + len);
	memcpy(VARDATA(t), s, len);
	if (na->slots[k] == NULL && na->nslots < NOTE_SLOTS / 2)
	{
		na->slots[k] = t;
		na->nslots++;
	}
	return t;
}

/* The OID of type reconcile.<name>. */
static Oid
type_oid(const char *name)
{
	Oid			nsp = get_namespace_oid(RC_SCHEMA, false);
	Oid			typoid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
										 CStringGetDatum(name), ObjectIdGetDatum(nsp));

	if (!OidIsValid(typoid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("type \"%s.%s\" does not exist", RC_SCHEMA, name)));
	return typoid;
}

/* Datums of one result element; returns whether any is NULL. */
static bool
element_values(const RcMatch *m, const RcResult *r, const RcState *st, bool detail,
			   const Datum *cats, Numeric diff, text *note, Datum *values, bool *nulls)
{
	int			natts = detail ? RC_DETAIL_NATTS : RC_MATCH_NATTS;
	bool		hasnull = false;
	const RcRow *rows = m->rows;

	for (int i = 0; i < natts; i++)
		nulls[i] = true;
	if (r->ledger >= 0)
	{
		values[0] = PointerGetDatum(st->heap + rows[r->ledger].id_off - VARHDRSZ);
		nulls[0] = false;
	}
	if (r->statement >= 0)
	{
		values[1] = PointerGetDatum(st->heap + rows[r->statement].id_off - VARHDRSZ);
		nulls[1] = false;
	}
	if (!OidIsValid(DatumGetObjectId(cats[r->category])))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("category \"%s\" is not in this version of reconcile.category",
						rc_category_names[r->category]),
				 errhint("ALTER EXTENSION reconcile UPDATE.")));
	values[2] = cats[r->category];
	nulls[2] = false;
	if (r->has_diff)
	{
		values[3] = NumericGetDatum(diff);
		nulls[3] = false;
		if (r->days_diff >= PG_INT32_MIN && r->days_diff <= PG_INT32_MAX)
		{
			values[4] = Int32GetDatum((int32) r->days_diff);
			nulls[4] = false;
		}
		values[5] = Float8GetDatum(r->score);
		nulls[5] = false;
	}
	if (r->group_id > 0)
	{
		values[6] = Int32GetDatum(r->group_id);
		nulls[6] = false;
	}
	values[7] = PointerGetDatum(note);
	nulls[7] = false;
	if (detail)
	{
		for (int side = 0; side < 2; side++)
		{
			int32		ri = side == 0 ? r->ledger : r->statement;

			if (ri < 0)
				continue;
			if (rows[ri].aux != RC_NO_AMOUNT)
			{
				values[8 + side] = PointerGetDatum(st->heap + rows[ri].aux);
				nulls[8 + side] = false;
			}
			if (!rows[ri].date_null)
			{
				values[10 + side] = DateADTGetDatum(rows[ri].date);
				nulls[10 + side] = false;
			}
		}
	}
	for (int i = 0; i < natts; i++)
		hasnull |= nulls[i];
	return hasnull;
}

/* Size of the element tuple for these values. */
static Size
element_size(TupleDesc tupdesc, Datum *values, bool *nulls, bool hasnull, Size *hoff)
{
	Size		h = offsetof(HeapTupleHeaderData, t_bits);

	if (hasnull)
		h += BITMAPLEN(tupdesc->natts);
	h = MAXALIGN(h);
	*hoff = h;
	return h + heap_compute_data_size(tupdesc, values, nulls);
}

/* The query's cache, looked up on the first group. */
static RcQueryCache *
query_cache(FunctionCallInfo fcinfo, bool detail)
{
	RcQueryCache *qc = (RcQueryCache *) fcinfo->flinfo->fn_extra;
	MemoryContext old;

	if (qc != NULL && qc->detail == detail)
		return qc;
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	qc = palloc0(sizeof(RcQueryCache));
	qc->detail = detail;
	qc->typoid = type_oid(detail ? "match_detail" : "match");
	qc->tupdesc = lookup_rowtype_tupdesc_copy(qc->typoid, -1);
	if (qc->tupdesc->natts != (detail ? RC_DETAIL_NATTS : RC_MATCH_NATTS))
		elog(ERROR, "type %s.%s has an unexpected number of columns", RC_SCHEMA,
			 detail ? "match_detail" : "match");
	/*
	 * A label the installed version's enum lacks (fee_difference before
	 * 0.5.0, while ALTER EXTENSION UPDATE runs the old SQL over this library)
	 * stays InvalidOid: only rows with fees give it, and no older SQL passes
	 * fees.
	 */
	for (int c = 0; c < RC_NUM_CATEGORIES; c++)
		qc->cats[c] = ObjectIdGetDatum(GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid,
													   ObjectIdGetDatum(TupleDescAttr(qc->tupdesc, 2)->atttypid),
													   CStringGetDatum(rc_category_names[c])));
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = qc;
	return qc;
}

/*
 * The rows' rejection tags (RcState.rejs: "12 57" each) as the core takes
 * them, per row sorted, in the current context; 22P02 for text that is not
 * tags (the aggregate can be called by hand).
 */
static void
rejection_tags(const RcState *st, RcMatch *m)
{
	uint32	   *ofs = palloc((st->nrows + 1) * sizeof(uint32));
	uint64	   *tags;
	Size		cap = 16;
	Size		n = 0;

	tags = palloc(cap * sizeof(uint64));
	for (uint32 r = 0; r < st->nrows; r++)
	{
		const char *p = st->heap + st->rejs[r].off;
		const char *end = p + st->rejs[r].len;

		CHECK_FOR_INTERRUPTS();
		ofs[r] = (uint32) n;
		while (p < end)
		{
			uint64		v = 0;
			bool		digits = false;

			if (*p == ' ')
			{
				p++;
				continue;
			}
			while (p < end && *p >= '0' && *p <= '9')
			{
				if (v > (PG_UINT64_MAX - 9) / 10)
					break;
				v = v * 10 + (uint64) (*p++ - '0');
				digits = true;
			}
			if (!digits || (p < end && *p != ' '))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
						 errmsg("invalid rejection tags \"%.*s\"", (int) st->rejs[r].len,
								st->heap + st->rejs[r].off),
						 errdetail("Rejection tags are numbers separated by spaces.")));
			if (n == cap)
			{
				cap *= 2;
				tags = repalloc_huge(tags, cap * sizeof(uint64));
			}
			/* kept sorted: a row is in few rejections */
			{
				Size		k = n++;

				while (k > ofs[r] && tags[k - 1] > v)
				{
					tags[k] = tags[k - 1];
					k--;
				}
				tags[k] = v;
			}
		}
		if (n >= PG_UINT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("too many rejections in one group")));
	}
	ofs[st->nrows] = (uint32) n;
	m->rej_ofs = ofs;
	m->rej_tags = tags;
}

/*
 * Run the core over the group's rows in a context of its own, and keep
 * only its results, in work; the core's refusals become errors: a repeated
 * id 23505, too many rows 54000.
 */
static void
match_group(const RcState *st, MemoryContext work, RcMatch *m)
{
	RcRuleValues rv;
	RcEnv		env;
	RcStatus	status;
	MemoryContext core;

	memset(m, 0, sizeof(*m));
	rc_rule_read(st->rule, &rv);
	rc_rule_to_core(&rv, &m->rule);
	m->rows = st->rows;
	m->nrows = st->nrows;
	m->heap = st->heap;
	m->fees = st->fees;
	core = AllocSetContextCreate(work, "reconcile match core", ALLOCSET_DEFAULT_SIZES);
	if (st->rejs)
	{
		MemoryContext old = MemoryContextSwitchTo(core);

		rejection_tags(st, m);
		MemoryContextSwitchTo(old);
	}
	/*
	 * Only the results outlive the matching: they are allocated in work, the
	 * rest in core, whose sort keys, indexes and candidates (most of the
	 * core's memory) are freed before the result array is built.
	 */
	rc_core_env(&env, core, work);

	status = rc_match(m, &env);
	if (status == RC_OK)
	{
		m->work = NULL;
		m->rej_ofs = NULL;		/* they were in core */
		m->rej_tags = NULL;
		MemoryContextDelete(core);
	}
	if (status == RC_ERR_DUPLICATE_ID)
	{
		const RcRow *r = &st->rows[m->err_row];

		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("duplicate id \"%.*s\" in the %s",
						(int) r->id_len, st->heap + r->id_off,
						r->is_ledger ? "ledger" : "statement"),
				 errdetail("An id must occur only once on each side of a group.")));
	}
	if (status == RC_ERR_TOO_MANY_ROWS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a group of %u rows is too large to match", st->nrows),
				 errhint("Group by a finer key (shop, account, month).")));
	if (status != RC_OK)
		elog(ERROR, "the matching core refused a validated rule");
}

/*
 * The amount differences and notes of every result, and the exact size of
 * the array holding them all; 54000 when it would exceed 1 GB.  Allocated
 * in the current (work) context.
 */
static void
result_datums(const RcQueryCache *qc, const RcState *st, const RcMatch *m,
			  RcResultDatums *rd)
{
	Numeric		zero[RC_MAX_DSCALE + 1];
	NoteArena  *na;
	Datum		values[RC_DETAIL_NATTS];
	bool		nulls[RC_DETAIL_NATTS];

	na = palloc0(sizeof(NoteArena));
	na->cxt = CurrentMemoryContext;
	rd->diffs = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(Numeric) * Max(m->nresults, 1));
	rd->notes = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(text *) * Max(m->nresults, 1));
	memset(zero, 0, sizeof(zero));
	rd->size = ARR_OVERHEAD_NONULLS(1);
	for (uint32 i = 0; i < m->nresults; i++)
	{
		const RcResult *r = &m->results[i];
		char		buf[512];
		size_t		len;
		Size		hoff;
		bool		hasnull;

		CHECK_FOR_INTERRUPTS();
		rd->diffs[i] = NULL;
		if (r->has_diff)
		{
			if (r->amount_diff == 0 && r->diff_scale <= RC_MAX_DSCALE)
			{
				if (zero[r->diff_scale] == NULL)
					zero[r->diff_scale] = rc_numeric_from_scaled(0, r->diff_scale);
				rd->diffs[i] = zero[r->diff_scale];
			}
			else
				rd->diffs[i] = rc_numeric_from_scaled(r->amount_diff, r->diff_scale);
		}
		len = rc_format_note(m, r, buf, sizeof(buf));
		rd->notes[i] = note_text(na, buf, len);
		hasnull = element_values(m, r, st, qc->detail, qc->cats, rd->diffs[i], rd->notes[i],
								 values, nulls);
		rd->size += att_align_nominal(element_size(qc->tupdesc, values, nulls, hasnull, &hoff),
									  TYPALIGN_DOUBLE);
		if (rd->size > MaxAllocSize)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the result of a group of %u rows does not fit in one value",
							st->nrows),
					 errdetail("One array value is limited to 1 GB."),
					 errhint("Group by a finer key (shop, account, month) so that each group is smaller.")));
	}
}

/*
 * The result array, allocated in context out; the elements are formed one
 * by one in the current (work) context and copied in.
 */
static ArrayType *
result_array(const RcQueryCache *qc, const RcState *st, const RcMatch *m,
			 const RcResultDatums *rd, MemoryContext out)
{
	ArrayType  *arr;
	char	   *p;
	Datum		values[RC_DETAIL_NATTS];
	bool		nulls[RC_DETAIL_NATTS];

	arr = (ArrayType *) MemoryContextAllocZero(out, rd->size);
	SET_VARSIZE(arr, rd->size);
	arr->ndim = 1;
	arr->dataoffset = 0;
	arr->elemtype = qc->typoid;
	ARR_DIMS(arr)[0] = (int) m->nresults;
	ARR_LBOUND(arr)[0] = 1;
	p = ARR_DATA_PTR(arr);
	for (uint32 i = 0; i < m->nresults; i++)
	{
		HeapTuple	tuple;

		CHECK_FOR_INTERRUPTS();
		element_values(m, &m->results[i], st, qc->detail, qc->cats, rd->diffs[i], rd->notes[i],
					   values, nulls);
		tuple = heap_form_tuple(qc->tupdesc, values, nulls);
		memcpy(p, tuple->t_data, tuple->t_len);
		p += att_align_nominal(tuple->t_len, TYPALIGN_DOUBLE);
		heap_freetuple(tuple);
	}
	return arr;
}

/* Match the group and build its result array (match or match_detail). */
static Datum
match_final(FunctionCallInfo fcinfo, bool detail)
{
	RcState    *st;
	RcQueryCache *qc;
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext work;
	RcMatch		m;
	RcResultDatums rd;
	ArrayType  *arr;

	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("match_agg final function called in non-aggregate context")));
	st = PG_ARGISNULL(0) ? NULL : (RcState *) PG_GETARG_POINTER(0);
	if (st == NULL || st->nrows == 0)
		PG_RETURN_NULL();
	qc = query_cache(fcinfo, detail);

	work = AllocSetContextCreate(caller, "reconcile match", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(work);
	match_group(st, work, &m);
	rc_progress_matched(m.results, m.nresults);
	result_datums(qc, st, &m, &rd);
	arr = result_array(qc, st, &m, &rd, caller);
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(work);
	PG_RETURN_ARRAYTYPE_P(arr);
}

/* match_agg final function: reconcile.match[]. */
PG_FUNCTION_INFO_V1(rc_match_agg_finalfn);
Datum
rc_match_agg_finalfn(PG_FUNCTION_ARGS)
{
	return match_final(fcinfo, false);
}

/* match_detail_agg final function: reconcile.match_detail[], for the views. */
PG_FUNCTION_INFO_V1(rc_match_detail_agg_finalfn);
Datum
rc_match_detail_agg_finalfn(PG_FUNCTION_ARGS)
{
	return match_final(fcinfo, true);
}
