/*-------------------------------------------------------------------------
 *
 * read_text.c
 *	  What every reader needs: walking lines, splitting CSV, normalising
 *	  decimal amounts, parsing dates, building a line's strings in the
 *	  scratch buffer, keeping ids unique, reporting where a document broke;
 *	  and the encoding checks of a bill (UTF-8, GBK) by line.
 *
 * Plain C (read_core.h); memory comes from RdReader.alloc and is freed with
 * the whole call.
 *
 * IDENTIFICATION
 *	  src/read_text.c
 *
 *-------------------------------------------------------------------------
 */
#include "read_int.h"

#include <stdarg.h>
#include <stdio.h>

void
rd_cursor_init(RdCursor *c, const char *doc, size_t len)
{
	c->doc = doc;
	c->len = len;
	c->pos = 0;
	c->lineno = 0;
	/* a UTF-8 byte order mark is no part of the first line */
	if (len >= 3 && (unsigned char) doc[0] == 0xEF && (unsigned char) doc[1] == 0xBB &&
		(unsigned char) doc[2] == 0xBF)
		c->pos = 3;
}

/* The next line (without its end: \n, \r\n or \r); false at the end. */
bool
rd_next_line(RdCursor *c, RdText *line)
{
	const char *p = c->doc + c->pos;
	const char *end = c->doc + c->len;
	const char *q = p;

	if (c->pos >= c->len)
		return false;
	while (q < end && *q != '\n' && *q != '\r')
		q++;
	*line = rd_text(p, (size_t) (q - p));
	if (q < end && *q == '\r')
		q++;
	if (q < end && *q == '\n' && (q == p || q[-1] != '\n'))
		q++;
	c->pos = (size_t) (q - c->doc);
	c->lineno++;
	return true;
}

RdText
rd_trim(RdText t, bool backtick)
{
	while (t.len > 0 && (*t.p == ' ' || *t.p == '\t'))
	{
		t.p++;
		t.len--;
	}
	if (backtick && t.len > 0 && *t.p == '`')
	{
		t.p++;
		t.len--;
	}
	while (t.len > 0 && (t.p[t.len - 1] == ' ' || t.p[t.len - 1] == '\t'))
		t.len--;
	return t;
}

/*
 * Fields of a CSV line, separated by commas; a field in double quotes keeps
 * its commas, "" in it is a quote (the slice keeps both: such fields are
 * rare in bills, and the raw value shows what the file says).
 */
bool
rd_csv_split(RdText line, RdText *fields, int max, int *n)
{
	const char *p = line.p;
	const char *end = line.p + line.len;

	*n = 0;
	for (;;)
	{
		const char *start = p;
		RdText		f;

		if (p < end && *p == '"')
		{
			p++;
			start = p;
			for (;;)
			{
				if (p >= end)
					return false;
				if (*p == '"')
				{
					if (p + 1 < end && p[1] == '"')
					{
						p += 2;
						continue;
					}
					break;
				}
				p++;
			}
			f = rd_text(start, (size_t) (p - start));
			p++;
			while (p < end && *p != ',')
				p++;
		}
		else
		{
			while (p < end && *p != ',')
				p++;
			f = rd_text(start, (size_t) (p - start));
		}
		if (*n < max)
			fields[(*n)++] = f;
		if (p >= end)
			return true;
		p++;					/* the comma */
	}
}

void
rd_scratch_reset(RdReader *r, size_t need)
{
	r->scratch.len = 0;
	if (r->scratch.cap < need)
	{
		size_t		cap = r->scratch.cap ? r->scratch.cap : 4096;

		while (cap < need)
			cap *= 2;
		r->scratch.p = r->alloc(r->arg, cap);
		r->scratch.cap = cap;
	}
}

/*
 * len bytes copied into the scratch.  What does not fit goes to a block of
 * its own, so that the slices handed out before stay where they are.
 */
RdText
rd_scratch_add(RdReader *r, const char *p, size_t len)
{
	char	   *dst;

	if (r->scratch.cap - r->scratch.len >= len)
	{
		dst = r->scratch.p + r->scratch.len;
		r->scratch.len += len;
	}
	else
		dst = r->alloc(r->arg, len ? len : 1);
	if (len)
		memcpy(dst, p, len);
	return rd_text(dst, len);
}

/* a, sep and b joined in the scratch (either of a and b may be empty: no sep then). */
RdText
rd_scratch_join(RdReader *r, RdText a, const char *sep, RdText b)
{
	size_t		sl = strlen(sep);
	size_t		n;
	char	   *dst;

	if (a.len == 0)
		return b;
	if (b.len == 0)
		return a;
	n = (size_t) a.len + sl + b.len;
	if (r->scratch.cap - r->scratch.len >= n)
	{
		dst = r->scratch.p + r->scratch.len;
		r->scratch.len += n;
	}
	else
		dst = r->alloc(r->arg, n);
	memcpy(dst, a.p, a.len);
	memcpy(dst + a.len, sep, sl);
	memcpy(dst + a.len + sl, b.p, b.len);
	return rd_text(dst, n);
}

bool
rd_decimal(RdReader *r, RdText t, char sep, bool negate, RdText *out)
{
	const char *p = t.p;
	const char *end = t.p + t.len;
	bool		neg = false;
	bool		any = false;
	bool		point = false;
	char		buf[80];
	size_t		n = 0;
	char	   *big = NULL;

	if (p < end && (*p == '+' || *p == '-'))
	{
		neg = *p == '-';
		p++;
	}
	if (t.len + 3 > sizeof(buf))
		big = r->alloc(r->arg, t.len + 3);
	if (negate)
		neg = !neg;
	(big ? big : buf)[n++] = '-';
	for (; p < end; p++)
	{
		char		ch = *p;

		if (ch >= '0' && ch <= '9')
		{
			(big ? big : buf)[n++] = ch;
			any = true;
		}
		else if (ch == sep && !point)
		{
			point = true;
			if (!any)
				(big ? big : buf)[n++] = '0';	/* ".5" is 0.5 */
			(big ? big : buf)[n++] = '.';
		}
		else
			return false;
	}
	if (!any)
		return false;
	/* a trailing point ("65," in MT940) says nothing */
	if ((big ? big : buf)[n - 1] == '.')
		n--;
	*out = neg ? rd_scratch_add(r, big ? big : buf, n) : rd_scratch_add(r, (big ? big : buf) + 1, n - 1);
	return true;
}

/* Normalised decimal text as an integer, its scale and digits; false past 36 digits. */
static bool
decimal_parse(RdText t, __int128 *v, int *scale, int *ndigits)
{
	bool		neg = t.len > 0 && t.p[0] == '-';
	int			digits = 0;

	*v = 0;
	*scale = -1;
	for (uint32_t i = neg ? 1 : 0; i < t.len; i++)
	{
		if (t.p[i] == '.')
		{
			*scale = 0;
			continue;
		}
		if (++digits > 36)
			return false;
		*v = *v * 10 + (t.p[i] - '0');
		if (*scale >= 0)
			(*scale)++;
	}
	if (*scale < 0)
		*scale = 0;
	if (neg)
		*v = -*v;
	*ndigits = digits;
	return true;
}

bool
rd_decimal_sub(RdReader *r, RdText a, RdText b, RdText *out)
{
	__int128	x,
				y,
				d;
	int			sx,
				sy,
				dx,
				dy;
	char		buf[96];
	int			n = 0;
	char		digits[80];
	int			nd = 0;

	if (!decimal_parse(a, &x, &sx, &dx) || !decimal_parse(b, &y, &sy, &dy))
		return false;
	/* both at the finer scale stay within 36 digits */
	if (dx + (sy > sx ? sy - sx : 0) > 36 || dy + (sx > sy ? sx - sy : 0) > 36)
		return false;
	for (; sx < sy; sx++)
		x *= 10;
	for (; sy < sx; sy++)
		y *= 10;
	d = x - y;
	if (d < 0)
	{
		buf[n++] = '-';
		d = -d;
	}
	do
	{
		digits[nd++] = (char) ('0' + (int) (d % 10));
		d /= 10;
	} while (d > 0 || nd <= sx);
	while (nd > 0)
	{
		if (nd == sx)
			buf[n++] = '.';
		buf[n++] = digits[--nd];
	}
	*out = rd_scratch_add(r, buf, (size_t) n);
	return true;
}

bool
rd_date_ok(int32_t y, int32_t m, int32_t d)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int			dim;

	if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1)
		return false;
	dim = days[m - 1] + (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)));
	return d <= dim;
}

/* n digits at p as a number, or -1. */
static int32_t
digits(const char *p, int n)
{
	int32_t		v = 0;

	for (int i = 0; i < n; i++)
	{
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

bool
rd_date_iso(RdText t, RdDate *d)
{
	int32_t		y,
				m,
				dd;

	d->has = false;
	if (t.len >= 10 && (t.p[4] == '-' || t.p[4] == '/') && t.p[7] == t.p[4])
	{
		y = digits(t.p, 4);
		m = digits(t.p + 5, 2);
		dd = digits(t.p + 8, 2);
	}
	else if (t.len >= 8)
	{
		y = digits(t.p, 4);
		m = digits(t.p + 4, 2);
		dd = digits(t.p + 6, 2);
	}
	else
		return false;
	if (y < 0 || m < 0 || dd < 0 || !rd_date_ok(y, m, dd))
		return false;
	d->y = y;
	d->m = m;
	d->d = dd;
	d->has = true;
	return true;
}

/* ---- unique ids: an open-addressing set of the ids emitted ---- */

struct RdSet
{
	RdText	   *slot;
	uint32_t	mask;
	uint32_t	n;
};

/* A hash of t, eight bytes at a time (ids are the same few dozen bytes, line after line). */
static uint32_t
hash_text(RdText t)
{
	uint64_t	h = 0x9E3779B97F4A7C15ULL ^ t.len;
	uint32_t	i = 0;

	for (; i + 8 <= t.len; i += 8)
	{
		uint64_t	w;

		memcpy(&w, t.p + i, 8);
		h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
		h ^= h >> 32;
	}
	for (; i < t.len; i++)
		h = (h ^ (unsigned char) t.p[i]) * 0xC4CEB9FE1A85EC53ULL;
	h ^= h >> 29;
	return (uint32_t) (h ^ (h >> 32));
}

/* Whether t is in the set; when it is not, a copy of it is put there. */
static bool
set_add(RdReader *r, RdText t)
{
	RdSet	   *s = r->ids;
	uint32_t	i;

	if (s == NULL)
	{
		s = r->ids = r->alloc(r->arg, sizeof(RdSet));
		s->mask = 1023;
		s->n = 0;
		s->slot = r->alloc(r->arg, sizeof(RdText) * (s->mask + 1));
		memset(s->slot, 0, sizeof(RdText) * (s->mask + 1));
	}
	if (s->n * 2 >= s->mask)
	{
		RdText	   *old = s->slot;
		uint32_t	oldsize = s->mask + 1;

		s->mask = s->mask * 2 + 1;
		s->slot = r->alloc(r->arg, sizeof(RdText) * (s->mask + 1));
		memset(s->slot, 0, sizeof(RdText) * (s->mask + 1));
		for (uint32_t k = 0; k < oldsize; k++)
			if (old[k].p)
			{
				i = hash_text(old[k]) & s->mask;
				while (s->slot[i].p)
					i = (i + 1) & s->mask;
				s->slot[i] = old[k];
			}
	}
	for (i = hash_text(t) & s->mask; s->slot[i].p; i = (i + 1) & s->mask)
		if (s->slot[i].len == t.len && memcmp(s->slot[i].p, t.p, t.len) == 0)
			return true;
	{
		char	   *copy = r->alloc(r->arg, t.len ? t.len : 1);

		memcpy(copy, t.p, t.len);
		s->slot[i] = rd_text(copy, t.len);
		s->n++;
	}
	return false;
}

RdText
rd_unique_id(RdReader *r, RdText id)
{
	char		suffix[24];
	RdText		cand = id;

	for (uint32_t k = 2; set_add(r, cand); k++)
	{
		int			n = snprintf(suffix, sizeof(suffix), "#%u", k);

		cand = rd_scratch_join(r, id, "", rd_text(suffix, (size_t) n));
	}
	return cand;
}

void
rd_emit(RdReader *r, RdLine *line, bool unique)
{
	if (!unique)
		line->id = rd_unique_id(r, line->id);
	r->lines++;
	r->emit(r->arg, line);
}

RdStatus
rd_fail(RdReader *r, uint32_t line, const char *fmt,...)
{
	va_list		ap;

	r->err_line = line;
	va_start(ap, fmt);
	vsnprintf(r->err_msg, sizeof(r->err_msg), fmt, ap);
	va_end(ap);
	return RD_MALFORMED;
}

RdStatus
rd_unknown(RdReader *r, const char *fmt,...)
{
	va_list		ap;

	r->err_line = 0;
	va_start(ap, fmt);
	vsnprintf(r->err_msg, sizeof(r->err_msg), fmt, ap);
	va_end(ap);
	return RD_UNKNOWN_LAYOUT;
}

/* ---- encodings, by line ---- */

/* The line of offset off in doc (line ends before it, plus one). */
static uint32_t
line_of(const char *doc, size_t off)
{
	uint32_t	line = 1;

	for (size_t i = 0; i < off; i++)
		line += doc[i] == '\n';
	return line;
}

uint32_t
rd_utf8_bad_line(const char *doc, size_t len)
{
	const unsigned char *p = (const unsigned char *) doc;
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = p[i];
		int			n;
		uint32_t	cp;

		/* ASCII eight bytes at a time (no NUL among them) */
		if (c < 0x80 && i + 8 <= len)
		{
			uint64_t	w;

			memcpy(&w, p + i, 8);
			if ((w & 0x8080808080808080ULL) == 0 &&
				((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL) == 0)
			{
				i += 8;
				continue;
			}
		}
		if (c < 0x80)
		{
			if (c == 0)
				return line_of(doc, i);
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			n = 1, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			n = 2, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			n = 3, cp = c & 0x07;
		else
			return line_of(doc, i);
		for (int k = 1; k <= n; k++)
		{
			if (i + (size_t) k >= len || (p[i + k] & 0xC0) != 0x80)
				return line_of(doc, i);
			cp = (cp << 6) | (p[i + k] & 0x3F);
		}
		/* overlong forms, surrogates, past U+10FFFF */
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
			(cp >= 0xD800 && cp <= 0xDFFF))
			return line_of(doc, i);
		i += (size_t) n + 1;
	}
	return 0;
}

uint32_t
rd_gbk_bad_line(const char *doc, size_t len)
{
	const unsigned char *p = (const unsigned char *) doc;
	uint32_t	line = 1;
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = p[i];

		if (c < 0x80)
		{
			if (c == 0)
				return line;
			if (c == '\n')
				line++;
			i++;
			continue;
		}
		if (c == 0x80 || c == 0xFF || i + 1 >= len || p[i + 1] < 0x40 || p[i + 1] == 0x7F ||
			p[i + 1] == 0xFF)
			return line;
		i += 2;
	}
	return 0;
}
