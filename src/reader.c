/*-------------------------------------------------------------------------
 *
 * reader.c
 *	  reconcile.read_mt940, read_ofx, read_alipay and read_wechatpay: the
 *	  plain-C readers (src/read_*.c) as set-returning functions of
 *	  reconcile.statement_line.
 *
 * A document is read whole into a tuplestore (materialize mode), so that a
 * document that breaks halfway returns nothing: the error aborts the call.
 * Each line's values are built in a memory context reset per line.  A bill
 * (bytea) is read as UTF-8 when it is valid UTF-8, else as GBK, converted
 * with PostgreSQL's own conversion and refused (22P02, with the line) when
 * it is neither; its text goes into the database's encoding.  The readers
 * of text take the document in the database's encoding as it is.
 *
 * IDENTIFICATION
 *	  src/reader.c
 *
 *-------------------------------------------------------------------------
 */
#include "reconcile.h"
#include "read_core.h"

#include "catalog/namespace.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "port.h"

#define RD_NATTS 12

/* One call's state, the callbacks' argument. */
typedef struct ReadCall
{
	ReturnSetInfo *rsinfo;
	MemoryContext linecxt;		/* reset after each line */
	MemoryContext callcxt;		/* the readers' memory, freed at the end */
	Datum		source;
	bool		from_utf8;		/* the text is UTF-8 and the database's encoding is not */
	/* the raw keys of the line before, and their order in jsonb */
	RdText		keys[RD_MAX_RAW];
	uint8		order[RD_MAX_RAW];
	uint32_t	nkeys;
	bool		unique_keys;	/* no two of keys are the same */
} ReadCall;

static void *
read_alloc(void *arg, size_t size)
{
	return MemoryContextAllocHuge(((ReadCall *) arg)->callcxt, size);
}

static void
read_interrupts(void *arg)
{
	(void) arg;
	CHECK_FOR_INTERRUPTS();
}

/* A text datum of t (in the database's encoding), or NULL when it is empty. */
static Datum
text_of(ReadCall *rc, RdText t, bool *isnull)
{
	*isnull = t.len == 0;
	if (t.len == 0)
		return (Datum) 0;
	if (rc->from_utf8)
	{
		char	   *s = pg_any_to_server(t.p, (int) t.len, PG_UTF8);

		return PointerGetDatum(cstring_to_text(s));
	}
	return PointerGetDatum(cstring_to_text_with_len(t.p, (int) t.len));
}

/* A date datum of d, or NULL. */
static Datum
date_of(RdDate d, bool *isnull)
{
	*isnull = !d.has;
	if (!d.has)
		return (Datum) 0;
	return DateADTGetDatum(date2j(d.y, d.m, d.d) - POSTGRES_EPOCH_JDATE);
}

/* A numeric datum of normalised decimal text t, or NULL. */
static Datum
numeric_of(RdText t, bool *isnull)
{
	char		buf[64];
	char	   *s = t.len < sizeof(buf) ? buf : palloc(t.len + 1);

	*isnull = t.len == 0;
	if (t.len == 0)
		return (Datum) 0;
	memcpy(s, t.p, t.len);
	s[t.len] = '\0';
	return DirectFunctionCall3(numeric_in, CStringGetDatum(s), ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/* A jsonb string value of t (in the database's encoding). */
static void
jsonb_string(ReadCall *rc, RdText t, JsonbValue *v)
{
	v->type = jbvString;
	if (rc->from_utf8 && t.len > 0)
	{
		char	   *s = pg_any_to_server(t.p, (int) t.len, PG_UTF8);

		v->val.string.val = s;
		v->val.string.len = (int) strlen(s);
	}
	else
	{
		v->val.string.val = (char *) t.p;
		v->val.string.len = (int) t.len;
	}
}

/* jsonb's order of keys: shorter first, then by bytes. */
static int
cmp_raw_key(const void *a, const void *b, void *arg)
{
	const RdPair *raw = arg;
	const RdText *x = &raw[*(const uint8 *) a].key;
	const RdText *y = &raw[*(const uint8 *) b].key;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->p, y->p, x->len);
}

/*
 * The raw jsonb of a line whose keys are unique, sorted in rc->order, built
 * in jsonb's binary form directly: a flat object of strings is its header,
 * a JEntry per key and value (a length, or every JB_OFFSET_STRIDE'th the
 * end offset), the keys' bytes, the values' bytes; the same bytes
 * JsonbValueToJsonb makes, without a tree of JsonbValues first.
 */
static Datum
flat_jsonb(ReadCall *rc, const RdLine *l)
{
	uint32_t	n = l->nraw;
	JsonbValue	kv[2 * RD_MAX_RAW];
	Size		data = 0;
	Size		size;
	Jsonb	   *jb;
	uint32	   *header;
	JEntry	   *entries;
	char	   *out;
	uint32		total = 0;

	for (uint32_t i = 0; i < n; i++)
	{
		jsonb_string(rc, l->raw[rc->order[i]].key, &kv[i]);
		jsonb_string(rc, l->raw[rc->order[i]].val, &kv[n + i]);
		data += (Size) kv[i].val.string.len + (Size) kv[n + i].val.string.len;
	}
	if (data > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the raw fields of a line exceed the maximum jsonb object size")));
	size = VARHDRSZ + sizeof(uint32) + sizeof(JEntry) * 2 * n + data;
	jb = palloc(size);
	SET_VARSIZE(jb, size);
	header = (uint32 *) VARDATA(jb);
	*header = n | JB_FOBJECT;
	entries = (JEntry *) (header + 1);
	out = (char *) (entries + 2 * n);
	for (uint32_t c = 0; c < 2 * n; c++)
	{
		uint32		len = (uint32) kv[c].val.string.len;

		memcpy(out, kv[c].val.string.val, len);
		out += len;
		total += len;
		entries[c] = (c % JB_OFFSET_STRIDE) == 0 ? (JENTRY_ISSTRING | total | JENTRY_HAS_OFF)
			: (JENTRY_ISSTRING | len);
	}
	return JsonbPGetDatum(jb);
}

/*
 * The raw jsonb of a line: every field as read, under its name.  The pairs
 * go in in jsonb's order of keys, so that its sort finds them sorted; the
 * order is kept from line to line while the keys are the same slices (a
 * bill's header names), and worked out again when they are not.
 */
static Datum
raw_of(ReadCall *rc, const RdLine *l)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;
	bool		same = l->nraw == rc->nkeys;

	for (uint32_t i = 0; same && i < l->nraw; i++)
		same = l->raw[i].key.p == rc->keys[i].p && l->raw[i].key.len == rc->keys[i].len;
	if (!same)
	{
		rc->nkeys = l->nraw;
		for (uint32_t i = 0; i < l->nraw; i++)
		{
			rc->keys[i] = l->raw[i].key;
			rc->order[i] = (uint8) i;
		}
		qsort_arg(rc->order, l->nraw, sizeof(uint8), cmp_raw_key, (void *) l->raw);
		/* keys that repeat (two MEMO in an OFX transaction) go through jsonb's own dedup */
		rc->unique_keys = true;
		for (uint32_t n = 1; n < l->nraw; n++)
			if (cmp_raw_key(&rc->order[n - 1], &rc->order[n], (void *) l->raw) == 0)
				rc->unique_keys = false;
	}
	if (rc->unique_keys)
		return flat_jsonb(rc, l);
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (uint32_t n = 0; n < l->nraw; n++)
	{
		const RdPair *pair = &l->raw[rc->order[n]];
		JsonbValue	k,
					v;

		jsonb_string(rc, pair->key, &k);
		jsonb_string(rc, pair->val, &v);
		pushJsonbValue(&state, WJB_KEY, &k);
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}

/* The reader's callback: one row of the result. */
static void
read_emit(void *arg, const RdLine *l)
{
	ReadCall   *rc = arg;
	MemoryContext old = MemoryContextSwitchTo(rc->linecxt);
	Datum		values[RD_NATTS];
	bool		nulls[RD_NATTS];

	values[0] = rc->source;
	nulls[0] = false;
	values[1] = text_of(rc, l->account, &nulls[1]);
	values[2] = text_of(rc, l->currency, &nulls[2]);
	values[3] = text_of(rc, l->id, &nulls[3]);
	values[4] = date_of(l->tx_date, &nulls[4]);
	values[5] = date_of(l->value_date, &nulls[5]);
	values[6] = numeric_of(l->amount, &nulls[6]);
	values[7] = numeric_of(l->fee, &nulls[7]);
	values[8] = text_of(rc, l->ref, &nulls[8]);
	values[9] = text_of(rc, l->memo, &nulls[9]);
	values[10] = text_of(rc, l->counterparty, &nulls[10]);
	values[11] = raw_of(rc, l);
	nulls[11] = false;
	tuplestore_putvalues(rc->rsinfo->setResult, rc->rsinfo->setDesc, values, nulls);
	MemoryContextSwitchTo(old);
	MemoryContextReset(rc->linecxt);
}

typedef RdStatus (*RdFormat) (RdReader *r, const char *doc, size_t len);

/* Read doc with reader fmt (its name for messages) into the call's result. */
static void
read_document(FunctionCallInfo fcinfo, RdFormat fmt, const char *name, const char *title,
			  const char *doc, size_t len, bool from_utf8)
{
	ReadCall	rc;
	RdReader	r;
	RdStatus	st;

	InitMaterializedSRF(fcinfo, 0);
	memset(&rc, 0, sizeof(rc));
	rc.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	if (rc.rsinfo->setDesc->natts != RD_NATTS)
		elog(ERROR, "type %s.statement_line has an unexpected number of columns", RC_SCHEMA);
	rc.source = PointerGetDatum(cstring_to_text(name));
	/* SQL_ASCII takes the bytes as they are */
	rc.from_utf8 = from_utf8 && GetDatabaseEncoding() != PG_UTF8 && GetDatabaseEncoding() != PG_SQL_ASCII;
	rc.callcxt = AllocSetContextCreate(CurrentMemoryContext, "reconcile reader", ALLOCSET_DEFAULT_SIZES);
	rc.linecxt = AllocSetContextCreate(CurrentMemoryContext, "reconcile reader line", ALLOCSET_DEFAULT_SIZES);

	memset(&r, 0, sizeof(r));
	r.emit = read_emit;
	r.alloc = read_alloc;
	r.check_interrupts = read_interrupts;
	r.arg = &rc;
	st = fmt(&r, doc, len);
	if (st == RD_MALFORMED)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("malformed %s at line %u: %s", title, r.err_line, r.err_msg)));
	if (st == RD_UNKNOWN_LAYOUT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("not a layout of %s that reconcile.read_%s knows", title, name),
				 errdetail("%s.", r.err_msg)));
	MemoryContextDelete(rc.linecxt);
	MemoryContextDelete(rc.callcxt);
}

/* A text argument's bytes. */
static void
text_arg(FunctionCallInfo fcinfo, const char **p, size_t *len)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	*p = VARDATA_ANY(t);
	*len = VARSIZE_ANY_EXHDR(t);
}

/*
 * A bill's bytes as UTF-8: as they are when they are UTF-8 (a byte order
 * mark dropped), else converted from GBK; 22P02 with the line when they
 * are neither, or a GBK character has no Unicode.
 */
static void
bill_arg(FunctionCallInfo fcinfo, const char *name, const char **p, size_t *len)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	const char *data = VARDATA_ANY(b);
	size_t		n = VARSIZE_ANY_EXHDR(b);
	uint32_t	bad_utf8;
	uint32_t	bad_gbk;
	Oid			proc;
	unsigned char *dst;
	int			done;

	if (n >= 3 && (unsigned char) data[0] == 0xEF && (unsigned char) data[1] == 0xBB &&
		(unsigned char) data[2] == 0xBF)
	{
		data += 3;
		n -= 3;
	}
	bad_utf8 = rd_utf8_bad_line(data, n);
	if (bad_utf8 == 0)
	{
		*p = data;
		*len = n;
		return;
	}
	bad_gbk = rd_gbk_bad_line(data, n);
	if (bad_gbk != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("malformed %s at line %u: neither UTF-8 nor GBK", name,
						bad_gbk > bad_utf8 ? bad_gbk : bad_utf8),
				 errdetail("A bill is read as UTF-8, or else as GBK (as Alipay and WeChat Pay export it).")));
	proc = FindDefaultConversionProc(PG_GBK, PG_UTF8);
	if (!OidIsValid(proc))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("no conversion from GBK to UTF8")));
	if (n > (size_t) (MaxAllocHugeSize / MAX_CONVERSION_GROWTH - 1) || n > (size_t) PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a GBK document of %zu bytes is too large to convert", n)));
	dst = MemoryContextAllocHuge(CurrentMemoryContext, n * MAX_CONVERSION_GROWTH + 1);
	done = pg_do_encoding_conversion_buf(proc, PG_GBK, PG_UTF8, (unsigned char *) data, (int) n,
										 dst, (int) (n * MAX_CONVERSION_GROWTH + 1), true);
	if ((size_t) done < n)
	{
		uint32_t	line = 1;

		for (int i = 0; i < done; i++)
			line += data[i] == '\n';
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("malformed %s at line %u: a GBK character that has no Unicode", name, line)));
	}
	*p = (const char *) dst;
	*len = strlen((const char *) dst);
}

PG_FUNCTION_INFO_V1(rc_read_mt940);
Datum
rc_read_mt940(PG_FUNCTION_ARGS)
{
	const char *p;
	size_t		len;

	text_arg(fcinfo, &p, &len);
	read_document(fcinfo, rd_read_mt940, "mt940", "MT940 document", p, len, false);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(rc_read_ofx);
Datum
rc_read_ofx(PG_FUNCTION_ARGS)
{
	const char *p;
	size_t		len;

	text_arg(fcinfo, &p, &len);
	read_document(fcinfo, rd_read_ofx, "ofx", "OFX document", p, len, false);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(rc_read_alipay);
Datum
rc_read_alipay(PG_FUNCTION_ARGS)
{
	const char *p;
	size_t		len;

	bill_arg(fcinfo, "Alipay bill", &p, &len);
	read_document(fcinfo, rd_read_alipay, "alipay", "Alipay bill", p, len, true);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(rc_read_wechatpay);
Datum
rc_read_wechatpay(PG_FUNCTION_ARGS)
{
	const char *p;
	size_t		len;

	bill_arg(fcinfo, "WeChat Pay bill", &p, &len);
	read_document(fcinfo, rd_read_wechatpay, "wechatpay", "WeChat Pay bill", p, len, true);
	return (Datum) 0;
}
