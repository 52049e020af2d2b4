/*-------------------------------------------------------------------------
 *
 * agg_state.c
 *	  The state of the aggregates match_agg and match_detail_agg: the
 *	  transition function that collects a group's rows, and the combine,
 *	  serial and deserial functions of parallel aggregation.
 *
 * The transition function only collects: each row becomes a fixed-size
 * RcRow whose id, normalised ref, batch and original amount are appended
 * to one string heap, both in the aggregate context.  Nothing is allocated
 * per row anywhere else, so a long aggregate does not leak.  The state is
 * two flat arrays, which makes the combine, serial and deserial functions
 * plain copies.  The group's rule is kept once and every row's rule is
 * checked to be the same.  Fees (the views' and runs' variant of
 * match_detail_agg, with a fee column) are a third array, made when the
 * first row with a fee arrives: a group without fees costs nothing more;
 * rejection tags likewise a fourth, their text in the heap.
 *
 * IDENTIFICATION
 *	  src/agg_state.c
 *
 *-------------------------------------------------------------------------
 */
#include "reconcile.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "nodes/execnodes.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/memutils.h"

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
		if (st->fees)
			st->fees = repalloc_huge(st->fees, sizeof(RcFee) * n);
		if (st->rejs)
			st->rejs = repalloc_huge(st->rejs, sizeof(RcRejText) * n);
		st->maxrows = (uint32) n;
	}
}

/* The fee array, made (no fee for the rows so far) when the first fee arrives. */
static RcFee *
state_fees(RcState *st)
{
	if (st->fees == NULL)
		st->fees = MemoryContextAllocZero(GetMemoryChunkContext(st->rows), sizeof(RcFee) * st->maxrows);
	return st->fees;
}

/* The rejection array, made (no rejection for the rows so far) when the first one arrives. */
static RcRejText *
state_rejs(RcState *st)
{
	if (st->rejs == NULL)
		st->rejs = MemoryContextAllocZero(GetMemoryChunkContext(st->rows), sizeof(RcRejText) * st->maxrows);
	return st->rejs;
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

/* Keep the group's rule, or check that rule is the same as the kept one. */
static void
state_set_rule(RcState *st, HeapTupleHeader rule, MemoryContext cxt)
{
	Size		len = HeapTupleHeaderGetDatumLength(rule);
	RcRuleValues a,
				b;

	if (st->rule == NULL)
	{
		rc_rule_read(rule, &a);	/* validates */
		st->rule = MemoryContextAlloc(cxt, len);
		memcpy(st->rule, rule, len);
		return;
	}
	if (HeapTupleHeaderGetDatumLength(st->rule) == len &&
		memcmp(st->rule, rule, len) == 0)
		return;
	rc_rule_read(st->rule, &a);
	rc_rule_read(rule, &b);
	if (!rc_rules_equal(&a, &b))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the rule must be the same for every row of a group")));
}

/*
 * match_agg(is_ledger, id, amount, tx_date, ref, batch, rule) transition:
 * append one row to the state.  The views' and runs' variant of
 * match_detail_agg has a ninth argument, the match tag of a row matched by
 * hand (NULL for the others); 0.5.0's a tenth, the fee; 0.6.0's an
 * eleventh, the tags of the rejections the row is in.
 */
PG_FUNCTION_INFO_V1(rc_match_agg_transfn);
Datum
rc_match_agg_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	RcState    *st;
	RcRow	   *row;
	bool		is_ledger;
	bool		manual;
	int			aggkind = AggCheckCallContext(fcinfo, &aggcxt);

	if (!aggkind)
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
	/* a partial aggregate's rows are counted when its state is combined */
	if (rc_progress_on && (aggkind != AGG_CONTEXT_AGGREGATE ||
						   !DO_AGGSPLIT_SKIPFINAL(((AggState *) fcinfo->context)->aggsplit)))
		rc_progress_count_read(1);

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
	/* the fee, where the source has one (a NaN or infinite fee counts as none) */
	if (PG_NARGS() > 9 && !PG_ARGISNULL(9))
	{
		Numeric		fee = (Numeric) PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(9));
		RcFee	   *f = &state_fees(st)[st->nrows];
		uint16		dscale = 0;

		f->has = rc_numeric_decode(fee, &f->fee, &dscale) == RC_VALID;
		f->dscale = dscale;
	}
	else if (st->fees)
		memset(&st->fees[st->nrows], 0, sizeof(RcFee));

	/* the tags of the rejections the row is in (0.6.0's views and runs), checked when matched */
	if (PG_NARGS() > 10 && !PG_ARGISNULL(10))
	{
		text	   *tags = PG_GETARG_TEXT_PP(10);
		Size		len = VARSIZE_ANY_EXHDR(tags);
		RcRejText  *rj = &state_rejs(st)[st->nrows];

		rj->off = heap_reserve(st, len);
		memcpy(st->heap + rj->off, VARDATA_ANY(tags), len);
		rj->len = (uint32) len;
	}
	else if (st->rejs)
		memset(&st->rejs[st->nrows], 0, sizeof(RcRejText));

	/* the batch, or, for a row matched by hand, its match tag in its place */
	manual = PG_NARGS() > 8 && !PG_ARGISNULL(8);
	if (manual || !PG_ARGISNULL(6))
	{
		text	   *batch = PG_GETARG_TEXT_PP(manual ? 8 : 6);
		Size		len = VARSIZE_ANY_EXHDR(batch);
		uint32		off = heap_reserve(st, len);

		memcpy(st->heap + off, VARDATA_ANY(batch), len);
		row->batch_off = off;
		row->batch_len = (int32) len;
		row->manual = manual;
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
	if (src->fees)
		memcpy(&state_fees(dst)[dst->nrows], src->fees, sizeof(RcFee) * src->nrows);
	else if (dst->fees)
		memset(&dst->fees[dst->nrows], 0, sizeof(RcFee) * src->nrows);
	base = heap_reserve(dst, src->heaplen);
	memcpy(dst->heap + base, src->heap, src->heaplen);
	if (src->rejs)
	{
		RcRejText  *rj = &state_rejs(dst)[dst->nrows];

		for (uint32 i = 0; i < src->nrows; i++)
		{
			rj[i] = src->rejs[i];
			if (rj[i].len > 0)
				rj[i].off += base;
		}
	}
	else if (dst->rejs)
		memset(&dst->rejs[dst->nrows], 0, sizeof(RcRejText) * src->nrows);
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
	rc_progress_read(s2->nrows);

	/*
	 * A state deserialised from a worker is ours (in the aggregate context):
	 * it is taken over, or the smaller of the two is appended to the larger
	 * and freed, so that the leader holds the group's rows about once.  A
	 * state of another node (partitionwise aggregation) is only copied.
	 */
	if (GetMemoryChunkContext(s2) == aggcxt)
	{
		RcState    *big = s2,
				   *small = s1;

		if (s1 == NULL)
			PG_RETURN_POINTER(s2);
		if (s1->nrows >= s2->nrows)
		{
			big = s1;
			small = s2;
		}
		state_append(big, small, aggcxt);
		pfree(small->rows);
		pfree(small->heap);
		if (small->fees)
			pfree(small->fees);
		if (small->rejs)
			pfree(small->rejs);
		small->rows = NULL;
		small->heap = NULL;
		small->fees = NULL;
		small->rejs = NULL;
		small->nrows = small->maxrows = 0;
		small->heaplen = small->heapcap = 0;
		PG_RETURN_POINTER(big);
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
	if (st->fees || st->rejs)
		elog(ERROR, "a match_agg state with fees or rejections cannot be serialised");	/* its aggregate has no serial function */
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
