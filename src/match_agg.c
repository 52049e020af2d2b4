/*-------------------------------------------------------------------------
 *
 * match_agg.c
 *	  The aggregates match_agg and match_detail_agg: fmgr glue around the
 *	  matching core.
 *
 * The transition function only collects: each row becomes a fixed-size
 * RcRow whose id, normalised ref, batch and original amount are appended
 * to one string heap, both in the aggregate context.  Nothing is allocated
 * per row anywhere else, so a long aggregate does not leak.  The state is
 * two flat arrays, which makes the combine, serial and deserial functions
 * (parallel aggregation) plain copies.  The final function runs the core
 * in a memory context of its own, deleted before it returns, and writes
 * the result array in one allocation whose size it computes first, so a
 * group whose result cannot be one value fails cleanly with 54000.
 *
 * IDENTIFICATION
 *	  src/match_agg.c
 *
 *-------------------------------------------------------------------------
 */
#include "reconcile.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
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

/* Aggregate state: the rows of one group and the rule they share. */
typedef struct RcState
{
	RcRow	   *rows;
	uint32		nrows;
	uint32		maxrows;
	char	   *heap;
	Size		heaplen;
	Size		heapcap;
	HeapTupleHeader rule;		/* copy of the first row's rule, or NULL */
} RcState;

/* Offset meaning "no original amount" in RcRow.aux. */
#define RC_NO_AMOUNT PG_UINT32_MAX

/* Header of a serialised state. */
typedef struct RcStateHeader
{
	uint32		magic;
	uint32		nrows;
	uint64		heaplen;
	uint32		rulelen;		/* 0 = no rule */
} RcStateHeader;

#define RC_STATE_MAGIC 0x52435331	/* "RCS1" */

/* A new empty state in the aggregate context. */
static RcState *
state_create(MemoryContext aggcxt)
{
	RcState    *st = MemoryContextAllocZero(aggcxt, sizeof(RcState));

	st->maxrows = 1024;
	st->rows = MemoryContextAllocHuge(aggcxt, sizeof(RcRow) * st->maxrows);
	st->heapcap = 65536;
	st->heap = MemoryContextAllocHuge(aggcxt, st->heapcap);
	return st;
}

/* Room for more rows; the state lives in the context of its arrays. */
static void
state_reserve_rows(RcState *st, uint32 more)
{
	uint64		need = (uint64) st->nrows + more;

	if (need >= (uint64) PG_INT32_MAX / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a group of more than %d rows cannot be matched", PG_INT32_MAX / 2),
				 errhint("Group by a finer key (shop, account, month).")));
	if (need > st->maxrows)
	{
		uint64		n = st->maxrows;

		while (n < need)
			n *= 2;
		st->rows = repalloc_huge(st->rows, sizeof(RcRow) * n);
		st->maxrows = (uint32) n;
	}
}

/* Offset of len free bytes at the end of the heap, 4-byte aligned. */
static uint32
heap_reserve(RcState *st, Size len)
{
	Size		off = INTALIGN(st->heaplen);

	if (off + len > (Size) PG_UINT32_MAX - 8)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the rows of one group take more than 4 GB"),
				 errhint("Group by a finer key (shop, account, month).")));
	if (off + len > st->heapcap)
	{
		Size		n = st->heapcap;

		while (n < off + len)
			n *= 2;
		st->heap = repalloc_huge(st->heap, n);
		st->heapcap = n;
	}
	st->heaplen = off + len;
	return (uint32) off;
}

/* Append a varlena copy of bytes; returns the offset of its data. */
static uint32
heap_add_varlena(RcState *st, const char *p, Size len)
{
	uint32		off = heap_reserve(st, VARHDRSZ + len);

	SET_VARSIZE(st->heap + off, VARHDRSZ + len);
	memcpy(st->heap + off + VARHDRSZ, p, len);
	return off + VARHDRSZ;
}

/* Field values of a rule tuple, checked as rule() checks them. */
typedef struct RuleVals
{
	Numeric		abs_tol;
	Numeric		rel_tol;
	int32		days_before;
	int32		days_after;
	bool		use_ref;
	bool		has_as_of;
	DateADT		as_of;
} RuleVals;

static void
rule_read(HeapTupleHeader rule, RuleVals *rv)
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

/* Keep the group's rule, or check that rule is the same as the kept one. */
static void
state_set_rule(RcState *st, HeapTupleHeader rule, MemoryContext cxt)
{
	Size		len = HeapTupleHeaderGetDatumLength(rule);
	RuleVals	a,
				b;

	if (st->rule == NULL)
	{
		rule_read(rule, &a);	/* validates */
		st->rule = MemoryContextAlloc(cxt, len);
		memcpy(st->rule, rule, len);
		return;
	}
	if (HeapTupleHeaderGetDatumLength(st->rule) == len &&
		memcmp(st->rule, rule, len) == 0)
		return;
	rule_read(st->rule, &a);
	rule_read(rule, &b);
	if (!numeric_equal(a.abs_tol, b.abs_tol) || !numeric_equal(a.rel_tol, b.rel_tol) ||
		a.days_before != b.days_before || a.days_after != b.days_after ||
		a.use_ref != b.use_ref || a.has_as_of != b.has_as_of ||
		(a.has_as_of && a.as_of != b.as_of))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the rule must be the same for every row of a group")));
}

/*
 * match_agg(is_ledger, id, amount, tx_date, ref, batch, rule) transition:
 * append one row to the state.
 */
PG_FUNCTION_INFO_V1(rc_match_agg_transfn);
Datum
rc_match_agg_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	RcState    *st;
	RcRow	   *row;
	bool		is_ledger;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("match_agg transition function called in non-aggregate context")));
	st = PG_ARGISNULL(0) ? NULL : (RcState *) PG_GETARG_POINTER(0);
	if (st == NULL)
		st = state_create(aggcxt);

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"is_ledger\" must not be null")));
	is_ledger = PG_GETARG_BOOL(1);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("null id in the %s", is_ledger ? "ledger" : "statement"),
				 errdetail("Every row needs an id that is unique on its side of the group.")));
	if (PG_ARGISNULL(7))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"rule\" must not be null")));
	state_set_rule(st, PG_GETARG_HEAPTUPLEHEADER(7), aggcxt);

	state_reserve_rows(st, 1);
	row = &st->rows[st->nrows];
	memset(row, 0, sizeof(RcRow));	/* no uninitialised padding to serialise */
	row->is_ledger = is_ledger;
	row->batch_len = -1;
	row->aux = RC_NO_AMOUNT;

	{
		text	   *id = PG_GETARG_TEXT_PP(2);

		row->id_len = VARSIZE_ANY_EXHDR(id);
		row->id_off = heap_add_varlena(st, VARDATA_ANY(id), row->id_len);
	}

	if (PG_ARGISNULL(3))
		row->invalid = RC_INVALID_AMOUNT_NULL;
	else
	{
		Numeric		amount = (Numeric) PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(3));
		uint16		dscale = 0;

		row->invalid = rc_numeric_decode(amount, &row->amount, &dscale);
		row->dscale = dscale;
		row->aux = heap_add_varlena(st, VARDATA_ANY(amount), VARSIZE_ANY_EXHDR(amount)) - VARHDRSZ;
	}

	if (PG_ARGISNULL(4))
	{
		if (row->invalid == RC_VALID)
			row->invalid = RC_INVALID_DATE_NULL;
		row->date = 0;
	}
	else
	{
		row->date = PG_GETARG_DATEADT(4);
		if (DATE_NOT_FINITE(row->date) && row->invalid == RC_VALID)
			row->invalid = RC_INVALID_DATE_INFINITE;
	}
	row->date_null = PG_ARGISNULL(4);

	if (!PG_ARGISNULL(5))
	{
		text	   *ref = PG_GETARG_TEXT_PP(5);
		Size		len = VARSIZE_ANY_EXHDR(ref);
		uint32		off = heap_reserve(st, len);	/* never grows */

		row->ref_off = off;
		row->ref_len = rc_normalize_ref(VARDATA_ANY(ref), len, st->heap + off);
		st->heaplen = off + row->ref_len;
	}
	if (!PG_ARGISNULL(6))
	{
		text	   *batch = PG_GETARG_TEXT_PP(6);
		Size		len = VARSIZE_ANY_EXHDR(batch);
		uint32		off = heap_reserve(st, len);

		memcpy(st->heap + off, VARDATA_ANY(batch), len);
		row->batch_off = off;
		row->batch_len = (int32) len;
	}
	st->nrows++;
	PG_RETURN_POINTER(st);
}

/* Append the rows of src to dst (same aggregate, another partial state). */
static void
state_append(RcState *dst, const RcState *src, MemoryContext cxt)
{
	uint32		base;

	if (src->rule != NULL)
		state_set_rule(dst, src->rule, cxt);
	if (src->nrows == 0)
		return;
	state_reserve_rows(dst, src->nrows);
	base = heap_reserve(dst, src->heaplen);
	memcpy(dst->heap + base, src->heap, src->heaplen);
	for (uint32 i = 0; i < src->nrows; i++)
	{
		RcRow	   *r = &dst->rows[dst->nrows + i];

		*r = src->rows[i];
		r->id_off += base;
		r->ref_off += base;
		r->batch_off += base;
		if (r->aux != RC_NO_AMOUNT)
			r->aux += base;
	}
	dst->nrows += src->nrows;
}

/* Combine two partial states (parallel aggregation). */
PG_FUNCTION_INFO_V1(rc_match_agg_combinefn);
Datum
rc_match_agg_combinefn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	RcState    *s1;
	RcState    *s2;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("match_agg combine function called in non-aggregate context")));
	s1 = PG_ARGISNULL(0) ? NULL : (RcState *) PG_GETARG_POINTER(0);
	s2 = PG_ARGISNULL(1) ? NULL : (RcState *) PG_GETARG_POINTER(1);
	if (s2 == NULL)
	{
		if (s1 == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s1);
	}
	if (s1 == NULL)
		s1 = state_create(aggcxt);
	state_append(s1, s2, aggcxt);
	PG_RETURN_POINTER(s1);
}

/* Serialise a state to bytea: header, rule, rows, heap. */
PG_FUNCTION_INFO_V1(rc_match_agg_serialfn);
Datum
rc_match_agg_serialfn(PG_FUNCTION_ARGS)
{
	RcState    *st;
	RcStateHeader hdr;
	Size		size;
	bytea	   *out;
	char	   *p;

	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("match_agg serial function called in non-aggregate context")));
	st = (RcState *) PG_GETARG_POINTER(0);
	memset(&hdr, 0, sizeof(hdr));
	hdr.magic = RC_STATE_MAGIC;
	hdr.nrows = st->nrows;
	hdr.heaplen = st->heaplen;
	hdr.rulelen = st->rule ? HeapTupleHeaderGetDatumLength(st->rule) : 0;
	size = VARHDRSZ + sizeof(hdr) + MAXALIGN(hdr.rulelen) +
		sizeof(RcRow) * (Size) st->nrows + st->heaplen;
	if (size > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("partial state of a group of %u rows is too large to pass between parallel workers",
						st->nrows),
				 errhint("Group by a finer key (shop, account, month), or set max_parallel_workers_per_gather to 0.")));
	out = palloc0(size);
	SET_VARSIZE(out, size);
	p = VARDATA(out);
	memcpy(p, &hdr, sizeof(hdr));
	p += sizeof(hdr);
	if (hdr.rulelen)
		memcpy(p, st->rule, hdr.rulelen);
	p += MAXALIGN(hdr.rulelen);
	memcpy(p, st->rows, sizeof(RcRow) * (Size) st->nrows);
	p += sizeof(RcRow) * (Size) st->nrows;
	memcpy(p, st->heap, st->heaplen);
	PG_RETURN_BYTEA_P(out);
}

/* Rebuild a state from its bytea form. */
PG_FUNCTION_INFO_V1(rc_match_agg_deserialfn);
Datum
rc_match_agg_deserialfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	bytea	   *in;
	const char *p;
	Size		len;
	RcStateHeader hdr;
	RcState    *st;

	if (!AggCheckCallContext(fcinfo, &aggcxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("match_agg deserial function called in non-aggregate context")));
	in = PG_GETARG_BYTEA_PP(0);
	p = VARDATA_ANY(in);
	len = VARSIZE_ANY_EXHDR(in);
	if (len < sizeof(hdr))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid match_agg state")));
	memcpy(&hdr, p, sizeof(hdr));
	if (hdr.magic != RC_STATE_MAGIC ||
		len != sizeof(hdr) + MAXALIGN(hdr.rulelen) + sizeof(RcRow) * (Size) hdr.nrows + hdr.heaplen)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid match_agg state")));
	p += sizeof(hdr);

	st = MemoryContextAllocZero(aggcxt, sizeof(RcState));
	if (hdr.rulelen)
	{
		st->rule = MemoryContextAlloc(aggcxt, hdr.rulelen);
		memcpy(st->rule, p, hdr.rulelen);
	}
	p += MAXALIGN(hdr.rulelen);
	st->maxrows = Max(hdr.nrows, 1);
	st->nrows = hdr.nrows;
	st->rows = MemoryContextAllocHuge(aggcxt, sizeof(RcRow) * (Size) st->maxrows);
	memcpy(st->rows, p, sizeof(RcRow) * (Size) hdr.nrows);
	p += sizeof(RcRow) * (Size) hdr.nrows;
	st->heapcap = Max(hdr.heaplen, 64);
	st->heaplen = hdr.heaplen;
	st->heap = MemoryContextAllocHuge(aggcxt, st->heapcap);
	memcpy(st->heap, p, hdr.heaplen);
	PG_RETURN_POINTER(st);
}

/* ------------------------------------------------------------------------
 * Final functions
 * ------------------------------------------------------------------------
 */

#ifndef RC_SANITIZE

/* The core allocates in the work context, freed as a whole with it. */
static void *
core_alloc_arg(MemoryContext work)
{
	return work;
}

static void *
core_alloc(void *arg, size_t size)
{
	return MemoryContextAllocHuge((MemoryContext) arg, size);
}
#else

/*
 * Sanitizer builds (make sanitize): the core's arrays come from malloc, one
 * block each, so AddressSanitizer checks every access against its bounds
 * (inside a palloc block it cannot).  The blocks are listed in the work
 * context and freed by a reset callback, so an error or a cancel frees them
 * as it frees palloc'd memory.
 */
typedef struct CoreBlocks
{
	MemoryContextCallback cb;
	void	  **ptrs;			/* in the work context, like this struct */
	int			n;
	int			cap;
} CoreBlocks;

static void
core_free_blocks(void *arg)
{
	CoreBlocks *bl = (CoreBlocks *) arg;

	while (bl->n > 0)
		free(bl->ptrs[--bl->n]);
}

static void *
core_alloc_arg(MemoryContext work)
{
	CoreBlocks *bl = MemoryContextAllocZero(work, sizeof(CoreBlocks));

	bl->cap = 64;
	bl->ptrs = MemoryContextAlloc(work, sizeof(void *) * bl->cap);
	bl->cb.func = core_free_blocks;
	bl->cb.arg = bl;
	MemoryContextRegisterResetCallback(work, &bl->cb);
	return bl;
}

static void *
core_alloc(void *arg, size_t size)
{
	CoreBlocks *bl = (CoreBlocks *) arg;
	void	   *p;

	if (bl->n == bl->cap)
	{
		bl->ptrs = repalloc(bl->ptrs, sizeof(void *) * bl->cap * 2);
		bl->cap *= 2;
	}
	if (size > MaxAllocHugeSize)
		elog(ERROR, "invalid memory alloc request size %zu", size);
	p = malloc(Max(size, 1));
	if (p == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	bl->ptrs[bl->n++] = p;
	return p;
}
#endif

static void
core_interrupts(void *arg)
{
	(void) arg;
	CHECK_FOR_INTERRUPTS();
}

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
rc_type_oid(const char *name)
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
	int			natts = detail ? 12 : 8;
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

/* Match the group and build its result array (match or match_detail). */
static Datum
match_final(FunctionCallInfo fcinfo, bool detail)
{
	RcState    *st;
	MemoryContext work;
	MemoryContext old;
	RcEnv		env;
	RcMatch		m;
	RcStatus	status;
	RuleVals	rv;
	Oid			typoid;
	TupleDesc	tupdesc;
	Datum		cats[RC_NUM_CATEGORIES];
	Numeric	   *diffs;
	text	  **notes;
	Numeric		zero[RC_MAX_DSCALE + 1];
	NoteArena  *na;
	Size		total;
	ArrayType  *arr;
	char	   *p;
	Datum		values[12];
	bool		nulls[12];

	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("match_agg final function called in non-aggregate context")));
	st = PG_ARGISNULL(0) ? NULL : (RcState *) PG_GETARG_POINTER(0);
	if (st == NULL || st->nrows == 0)
		PG_RETURN_NULL();

	typoid = rc_type_oid(detail ? "match_detail" : "match");
	tupdesc = lookup_rowtype_tupdesc_copy(typoid, -1);
	for (int c = 0; c < RC_NUM_CATEGORIES; c++)
		cats[c] = DirectFunctionCall2(enum_in, CStringGetDatum(rc_category_names[c]),
									  ObjectIdGetDatum(TupleDescAttr(tupdesc, 2)->atttypid));

	work = AllocSetContextCreate(CurrentMemoryContext, "reconcile match",
								 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);

	rule_read(st->rule, &rv);
	memset(&m, 0, sizeof(m));
	m.rows = st->rows;
	m.nrows = st->nrows;
	m.heap = st->heap;
	m.rule.abs_tol = rc_numeric_text(rv.abs_tol);
	m.rule.rel_tol = rc_numeric_text(rv.rel_tol);
	m.rule.days_before = rv.days_before;
	m.rule.days_after = rv.days_after;
	m.rule.use_ref = rv.use_ref;
	m.rule.has_as_of = rv.has_as_of;
	m.rule.as_of = rv.as_of;
	env.alloc = core_alloc;
	env.check_interrupts = core_interrupts;
	env.arg = core_alloc_arg(work);

	status = rc_match(&m, &env);
	if (status == RC_ERR_DUPLICATE_ID)
	{
		const RcRow *r = &st->rows[m.err_row];

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
	if (status == RC_ERR_BAD_RULE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"rel_tol\" has too many significant digits"),
				 errdetail("A relative tolerance may have at most 37 significant digits.")));

	/* pass 1 over the results: datums and the exact size of the array */
	na = palloc0(sizeof(NoteArena));
	na->cxt = work;
	diffs = MemoryContextAllocHuge(work, sizeof(Numeric) * Max(m.nresults, 1));
	notes = MemoryContextAllocHuge(work, sizeof(text *) * Max(m.nresults, 1));
	memset(zero, 0, sizeof(zero));
	total = ARR_OVERHEAD_NONULLS(1);
	for (uint32 i = 0; i < m.nresults; i++)
	{
		const RcResult *r = &m.results[i];
		char		buf[512];
		size_t		len;
		Size		hoff;
		bool		hasnull;

		CHECK_FOR_INTERRUPTS();
		diffs[i] = NULL;
		if (r->has_diff)
		{
			if (r->amount_diff == 0 && r->diff_scale <= RC_MAX_DSCALE)
			{
				if (zero[r->diff_scale] == NULL)
					zero[r->diff_scale] = rc_numeric_from_scaled(0, r->diff_scale);
				diffs[i] = zero[r->diff_scale];
			}
			else
				diffs[i] = rc_numeric_from_scaled(r->amount_diff, r->diff_scale);
		}
		len = rc_format_note(&m, r, buf, sizeof(buf));
		notes[i] = note_text(na, buf, len);
		hasnull = element_values(&m, r, st, detail, cats, diffs[i], notes[i], values, nulls);
		total += att_align_nominal(element_size(tupdesc, values, nulls, hasnull, &hoff),
								   TYPALIGN_DOUBLE);
		if (total > MaxAllocSize)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the result of a group of %u rows does not fit in one value",
							st->nrows),
					 errdetail("One array value is limited to 1 GB."),
					 errhint("Group by a finer key (shop, account, month) so that each group is smaller.")));
	}

	/* pass 2: write the elements into one array allocated in the caller's context */
	MemoryContextSwitchTo(old);
	arr = (ArrayType *) palloc0(total);
	SET_VARSIZE(arr, total);
	arr->ndim = 1;
	arr->dataoffset = 0;
	arr->elemtype = typoid;
	ARR_DIMS(arr)[0] = (int) m.nresults;
	ARR_LBOUND(arr)[0] = 1;
	p = ARR_DATA_PTR(arr);
	MemoryContextSwitchTo(work);
	for (uint32 i = 0; i < m.nresults; i++)
	{
		const RcResult *r = &m.results[i];
		HeapTuple	tuple;

		CHECK_FOR_INTERRUPTS();
		element_values(&m, r, st, detail, cats, diffs[i], notes[i], values, nulls);
		tuple = heap_form_tuple(tupdesc, values, nulls);
		memcpy(p, tuple->t_data, tuple->t_len);
		p += att_align_nominal(tuple->t_len, TYPALIGN_DOUBLE);
		heap_freetuple(tuple);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	FreeTupleDesc(tupdesc);
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
