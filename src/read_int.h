/*-------------------------------------------------------------------------
 *
 * read_int.h
 *	  Private to the readers (src/read_*.c): what every format needs, from
 *	  src/read_text.c: lines, CSV fields, decimal amounts, dates, the
 *	  scratch buffer, unique ids, errors.
 *
 * IDENTIFICATION
 *	  src/read_int.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RECONCILE_READ_INT_H
#define RECONCILE_READ_INT_H

#include "read_core.h"

#include <stddef.h>
#include <string.h>

/* A text slice from a pointer and a length. */
static inline RdText
rd_text(const char *p, size_t len)
{
	RdText		t = {p, (uint32_t) len};

	return t;
}

/* A text slice of a C string literal. */
#define RD_LIT(s) rd_text((s), sizeof(s) - 1)

/* Slice t equals the C string s. */
static inline bool
rd_eq(RdText t, const char *s)
{
	size_t		n = strlen(s);

	return t.len == n && memcmp(t.p, s, n) == 0;
}

/* Slice t starts with the C string s. */
static inline bool
rd_starts(RdText t, const char *s)
{
	size_t		n = strlen(s);

	return t.len >= n && memcmp(t.p, s, n) == 0;
}

/* Let the caller cancel a long loop now and then. */
static inline void
rd_tick(RdReader *r)
{
	if ((++r->tick & 0x3FF) == 0 && r->check_interrupts)
		r->check_interrupts(r->arg);
}

/* Walking a document line by line. */
typedef struct RdCursor
{
	const char *doc;
	size_t		len;
	size_t		pos;
	uint32_t	lineno;			/* of the line last returned */
} RdCursor;

extern void rd_cursor_init(RdCursor *c, const char *doc, size_t len);
extern bool rd_next_line(RdCursor *c, RdText *line);

/* Trim spaces, tabs (and, with backtick, one leading '`') from both ends. */
extern RdText rd_trim(RdText t, bool backtick);

/* Split a CSV line into at most max fields; false on an unclosed quote. */
extern bool rd_csv_split(RdText line, RdText *fields, int max, int *n);

/* The scratch buffer: room for need more bytes, then appends. */
extern void rd_scratch_reset(RdReader *r, size_t need);
extern RdText rd_scratch_add(RdReader *r, const char *p, size_t len);
extern RdText rd_scratch_join(RdReader *r, RdText a, const char *sep, RdText b);

/*
 * A decimal amount as normalised text in the scratch ("-12.50"), from
 * digits with decimal separator sep (and an optional leading + or -),
 * negated with negate; false when t is not such a number.
 */
extern bool rd_decimal(RdReader *r, RdText t, char sep, bool negate, RdText *out);

/* a - b of two normalised decimal texts, in the scratch; false past 36 digits. */
extern bool rd_decimal_sub(RdReader *r, RdText a, RdText b, RdText *out);

/* A date from YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD at the start of t (a time may follow). */
extern bool rd_date_iso(RdText t, RdDate *d);

/* Whether y-m-d is a date of the calendar. */
extern bool rd_date_ok(int32_t y, int32_t m, int32_t d);

/* The id made unique within the document ("#2", "#3" appended to a repeat). */
extern RdText rd_unique_id(RdReader *r, RdText id);

/* Record a field as read, for the raw jsonb (ignored past RD_MAX_RAW). */
static inline void
rd_raw(RdLine *l, RdText key, RdText val)
{
	if (l->nraw < RD_MAX_RAW)
	{
		l->raw[l->nraw].key = key;
		l->raw[l->nraw].val = val;
		l->nraw++;
	}
}

/* Stop with RD_MALFORMED at line, the message formatted. */
extern RdStatus rd_fail(RdReader *r, uint32_t line, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* Stop with RD_UNKNOWN_LAYOUT, the message formatted. */
extern RdStatus rd_unknown(RdReader *r, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

/* Hand line to the caller, its id made unique first (unique: it is by construction). */
extern void rd_emit(RdReader *r, RdLine *line, bool unique);

/* A line with nothing in it yet (its raw fields not cleared: nraw is). */
static inline void
rd_line_init(RdLine *l, uint32_t lineno)
{
	memset(l, 0, offsetof(RdLine, raw));
	l->nraw = 0;
	l->lineno = lineno;
}

#endif							/* RECONCILE_READ_INT_H */
