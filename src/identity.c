/*-------------------------------------------------------------------------
 *
 * identity.c
 *	  What identifies a source row or an item: reconcile.key_text, the text
 *	  of a key or id whatever the session's settings, and reconcile.row_ident
 *	  and reconcile.item_ident, a short bytea that a unique index can hold.
 *
 * Keys and ids are compared as text, with the text stored by earlier runs
 * and given to manual_match.  For most types that text is the same in every
 * session; for dates, times, intervals, floats and bytea it depends on
 * DateStyle, TimeZone, IntervalStyle, extra_float_digits and bytea_output.
 * reconcile.key_text writes those types one way, always: ISO dates, UTC
 * timestamps with time zone, intervals in the postgres style, floats in
 * their shortest exact form, bytea in hex (what the default settings give,
 * but for timestamptz outside UTC).
 *
 * A btree entry holds at most about 2.7 kB, and an id may be a megabyte, so
 * the unique indexes on reconcile.cleared and reconcile.items are on these
 * identities rather than on the text itself.  Each text field is written as
 * a marker byte ('n' for NULL, 'v' for a value) followed, for a value, by its
 * length (4 bytes, big-endian) and its bytes: NULL and '' are two keys, and
 * no two tuples of fields give the same bytes.  When that comes to more than
 * IDENT_LITERAL_MAX bytes, the identity is 'h' and the SHA-256 of those bytes
 * instead (SHA-256, so that nobody can make two rows collide on purpose).
 *
 * Why the literal form at all, and not always the hash: a run inserts one
 * entry per row it clears, and years of history make these indexes far
 * larger than shared_buffers.  The literal form sorts by key and then id, so
 * the entries one run adds (new ids, mostly increasing) land on a few pages
 * per key; hashes would scatter them over the whole index, one random page
 * read and write per row.  Written in C because a run computes one for every
 * row it clears.
 *
 * reconcile.order_operator tells reconcile.create whether a type can be a
 * seq column and a run which > compares with its mark: the ordering ORDER BY
 * uses, looked up without running anything of the type's own.
 *
 * IDENTIFICATION
 *	  src/identity.c
 *
 *-------------------------------------------------------------------------
 */
#include "reconcile.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "common/shortest_dec.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "miscadmin.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

/*
 * reconcile.key_text(anyelement) RETURNS text: the text of a date,
 * timestamp, timestamptz, interval, float4, float8 or bytea value, the same
 * under any settings (22023 for other types).
 */
PG_FUNCTION_INFO_V1(rc_key_text);
Datum
rc_key_text(PG_FUNCTION_ARGS)
{
	Oid			type = getBaseType(get_fn_expr_argtype(fcinfo->flinfo, 0));
	char		buf[MAXDATELEN + 1];
	struct pg_tm tm;
	fsec_t		fsec;

	switch (type)
	{
		case DATEOID:
			{
				DateADT		d = PG_GETARG_DATEADT(0);

				if (DATE_NOT_FINITE(d))
					EncodeSpecialDate(d, buf);
				else
				{
					j2date(d + POSTGRES_EPOCH_JDATE, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
					EncodeDateOnly(&tm, USE_ISO_DATES, buf);
				}
				break;
			}
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			{
				Timestamp	t = PG_GETARG_TIMESTAMP(0);

				if (TIMESTAMP_NOT_FINITE(t))
					EncodeSpecialTimestamp(t, buf);
				else if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("timestamp out of range")));
				else
				{
					/* in UTC: no zone translation, but an offset of +00 to print */
					tm.tm_isdst = 0;
					EncodeDateTime(&tm, fsec, type == TIMESTAMPTZOID, 0, NULL, USE_ISO_DATES, buf);
				}
				break;
			}
		case INTERVALOID:
			{
				struct pg_itm itm;

				interval2itm(*PG_GETARG_INTERVAL_P(0), &itm);
				EncodeInterval(&itm, INTSTYLE_POSTGRES, buf);
				break;
			}
		case FLOAT4OID:
		case FLOAT8OID:
			{
				double		v = type == FLOAT4OID ? (double) PG_GETARG_FLOAT4(0) : PG_GETARG_FLOAT8(0);

				if (isnan(v))
					strcpy(buf, "NaN");
				else if (isinf(v))
					strcpy(buf, v > 0 ? "Infinity" : "-Infinity");
				else if (type == FLOAT4OID)
					float_to_shortest_decimal_buf(PG_GETARG_FLOAT4(0), buf);
				else
					double_to_shortest_decimal_buf(v, buf);
				break;
			}
		case BYTEAOID:
			{
				bytea	   *b = PG_GETARG_BYTEA_PP(0);
				size_t		len = VARSIZE_ANY_EXHDR(b);
				text	   *out;
				char	   *p;

				if (len > (MaxAllocSize - VARHDRSZ - 2) / 2)
					ereport(ERROR,
							(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							 errmsg("bytea value too long to write as a key")));
				out = palloc(VARHDRSZ + 2 + 2 * len);
				p = VARDATA(out);
				p[0] = '\\';
				p[1] = 'x';
				hex_encode(VARDATA_ANY(b), len, p + 2);
				SET_VARSIZE(out, VARHDRSZ + 2 + 2 * len);
				PG_RETURN_TEXT_P(out);
			}
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("reconcile.key_text does not take type %s", format_type_be(type))));
	}
	PG_RETURN_TEXT_P(cstring_to_text(buf));
}

/*
 * Above this many bytes the identity is a hash.  Small enough that the hex
 * form of the literal, in a match tag, still fits a btree entry.
 */
#define IDENT_LITERAL_MAX 1000

/* Append argument n of fcinfo (text or NULL) to buf, marked. */
static void
append_field(StringInfo buf, FunctionCallInfo fcinfo, int n)
{
	if (PG_ARGISNULL(n))
		appendStringInfoChar(buf, 'n');
	else
	{
		text	   *t = PG_GETARG_TEXT_PP(n);
		uint32		len = VARSIZE_ANY_EXHDR(t);
		char		head[5];

		head[0] = 'v';
		head[1] = (char) (len >> 24);
		head[2] = (char) (len >> 16);
		head[3] = (char) (len >> 8);
		head[4] = (char) len;
		appendBinaryStringInfo(buf, head, sizeof(head));
		appendBinaryStringInfo(buf, VARDATA_ANY(t), len);
	}
}

/* The identity of the first nargs arguments, as bytea. */
static Datum
ident_fields(FunctionCallInfo fcinfo, int nargs)
{
	StringInfoData buf;
	bytea	   *out;

	/* the literal form, after a 4-byte hole for the varlena header */
	initStringInfo(&buf);
	appendStringInfoSpaces(&buf, VARHDRSZ);
	for (int i = 0; i < nargs; i++)
		append_field(&buf, fcinfo, i);

	if (buf.len - VARHDRSZ <= IDENT_LITERAL_MAX)
	{
		out = (bytea *) buf.data;
		SET_VARSIZE(out, buf.len);
		PG_RETURN_BYTEA_P(out);
	}
	else
	{
		pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

		out = palloc(VARHDRSZ + 1 + PG_SHA256_DIGEST_LENGTH);
		if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) buf.data + VARHDRSZ, buf.len - VARHDRSZ) < 0 ||
			pg_cryptohash_final(ctx, (uint8 *) VARDATA(out) + 1, PG_SHA256_DIGEST_LENGTH) < 0)
			elog(ERROR, "could not compute SHA-256 hash");
		pg_cryptohash_free(ctx);
		pfree(buf.data);
		*((char *) VARDATA(out)) = 'h';
		SET_VARSIZE(out, VARHDRSZ + 1 + PG_SHA256_DIGEST_LENGTH);
		PG_RETURN_BYTEA_P(out);
	}
}

/* reconcile.row_ident(key text, id text) RETURNS bytea */
PG_FUNCTION_INFO_V1(rc_row_ident);
Datum
rc_row_ident(PG_FUNCTION_ARGS)
{
	return ident_fields(fcinfo, 2);
}

/* reconcile.item_ident(key text, ledger_id text, statement_id text) RETURNS bytea */
PG_FUNCTION_INFO_V1(rc_item_ident);
Datum
rc_item_ident(PG_FUNCTION_ARGS)
{
	return ident_fields(fcinfo, 3);
}

/*
 * reconcile.order_operator(type regtype) RETURNS text: the > of the type's
 * default btree ordering (the one ORDER BY uses) as OPERATOR(schema.name),
 * or NULL when the type has none.  Looked up in the type cache: no function
 * of the type runs.
 */
PG_FUNCTION_INFO_V1(rc_order_operator);
Datum
rc_order_operator(PG_FUNCTION_ARGS)
{
	TypeCacheEntry *tc;
	HeapTuple	tup;
	Form_pg_operator op;
	char	   *text;

	tc = lookup_type_cache(PG_GETARG_OID(0), TYPECACHE_LT_OPR | TYPECACHE_GT_OPR);
	if (!OidIsValid(tc->lt_opr) || !OidIsValid(tc->gt_opr))
		PG_RETURN_NULL();
	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(tc->gt_opr));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", tc->gt_opr);
	op = (Form_pg_operator) GETSTRUCT(tup);
	text = psprintf("OPERATOR(%s.%s)", quote_identifier(get_namespace_name(op->oprnamespace)),
					NameStr(op->oprname));
	ReleaseSysCache(tup);
	PG_RETURN_TEXT_P(cstring_to_text(text));
}
