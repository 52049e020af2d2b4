/*-------------------------------------------------------------------------
 *
 * read_ofx.c
 *	  OFX bank and card statements, 1.x (SGML) and 2.x (XML): one line per
 *	  STMTTRN.
 *
 * After its headers (OFXHEADER:100 lines, or <?xml?> and <?OFX?>) a
 * document is one <OFX> element.  Both versions are read by one walk over
 * its tags: an element followed by text is a leaf (SGML leaves have no end
 * tag, XML's have one, which is skipped), an element followed by a tag is
 * an aggregate, closed by its end tag.  Each STMTRS or CCSTMTRS is a
 * statement (its CURDEF, its account's ACCTID); each STMTTRN in it a line:
 * TRNAMT (signed by the document), DTPOSTED (and DTAVAIL as the value
 * date), FITID as the id (account/position when there is none), REFNUM
 * or CHECKNUM as the ref, NAME (or PAYEE's) as the counterparty, MEMO.  The
 * five character entities of SGML and XML are decoded.
 *
 * IDENTIFICATION
 *	  src/read_ofx.c
 *
 *-------------------------------------------------------------------------
 */
#include "read_int.h"

#include <stdio.h>

#define MAX_DEPTH 32

/* The walk over a document's tags. */
typedef struct Walk
{
	const char *doc;
	size_t		len;
	size_t		pos;
	size_t		counted;		/* lineno counts the line ends before this */
	uint32_t	lineno;
} Walk;

/* The line pos is on. */
static uint32_t
line_at(Walk *w, size_t pos)
{
	for (; w->counted < pos; w->counted++)
		if (w->doc[w->counted] == '\n')
			w->lineno++;
	return w->lineno;
}

/* Case-insensitive: slice t is the capitals s. */
static bool
name_is(RdText t, const char *s)
{
	size_t		n = strlen(s);

	if (t.len != n)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		char		c = t.p[i];

		if (c >= 'a' && c <= 'z')
			c = (char) (c - 32);
		if (c != s[i])
			return false;
	}
	return true;
}

/* Case-insensitive: the same element name. */
static bool
same_name(RdText a, RdText b)
{
	if (a.len != b.len)
		return false;
	for (uint32_t i = 0; i < a.len; i++)
	{
		char		x = a.p[i],
					y = b.p[i];

		if (x >= 'a' && x <= 'z')
			x = (char) (x - 32);
		if (y >= 'a' && y <= 'z')
			y = (char) (y - 32);
		if (x != y)
			return false;
	}
	return true;
}

/* t with &amp; &lt; &gt; &quot; &apos; decoded (in the scratch when it has any). */
static RdText
decode(RdReader *r, RdText t)
{
	static const struct
	{
		const char *ent;
		char		ch;
	}			ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
	RdText		out;
	char	   *dst;
	uint32_t	n = 0;

	if (memchr(t.p, '&', t.len) == NULL)
		return t;
	out = rd_scratch_add(r, t.p, t.len);
	dst = (char *) out.p;
	for (uint32_t i = 0; i < t.len;)
	{
		size_t		k;

		for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++)
		{
			size_t		m = strlen(ents[k].ent);

			if (i + m <= t.len && memcmp(t.p + i, ents[k].ent, m) == 0)
			{
				dst[n++] = ents[k].ch;
				i += (uint32_t) m;
				break;
			}
		}
		if (k == sizeof(ents) / sizeof(ents[0]))
			dst[n++] = t.p[i++];
	}
	out.len = n;
	return out;
}

/* The name of the tag at pos ("<NAME>", "</NAME>"), its end after '>' in *next; closing in *end. */
static bool
tag_name(Walk *w, size_t pos, RdText *name, bool *end, size_t *next)
{
	size_t		i = pos + 1;
	size_t		start;

	*end = false;
	if (i < w->len && w->doc[i] == '/')
	{
		*end = true;
		i++;
	}
	start = i;
	while (i < w->len && w->doc[i] != '>' && w->doc[i] != '<' && w->doc[i] != ' ' && w->doc[i] != '\t')
		i++;
	*name = rd_text(w->doc + start, i - start);
	while (i < w->len && w->doc[i] != '>' && w->doc[i] != '<')
		i++;
	if (i >= w->len || w->doc[i] != '>')
		return false;
	*next = i + 1;
	return name->len > 0;
}

/*
 * An OFX amount: a point or a comma as the decimal separator; with both,
 * the last one is, and the other groups thousands ("1,250.00", "1.250,00").
 */
static bool
ofx_amount(RdReader *r, RdText t, RdText *out)
{
	const char *dot = memchr(t.p, '.', t.len);
	const char *comma = memchr(t.p, ',', t.len);
	char		sep = '.';
	char		group = 0;
	RdText		clean = t;

	if (dot && comma)
	{
		uint32_t	i = t.len;

		while (i > 0 && t.p[i - 1] != '.' && t.p[i - 1] != ',')
			i--;
		sep = t.p[i - 1];
		group = sep == '.' ? ',' : '.';
	}
	else if (comma)
		sep = ',';
	if (group)
	{
		char	   *dst = (char *) rd_scratch_add(r, t.p, t.len).p;
		uint32_t	n = 0;

		for (uint32_t i = 0; i < t.len; i++)
			if (t.p[i] != group)
				dst[n++] = t.p[i];
		clean = rd_text(dst, n);
	}
	return rd_decimal(r, clean, sep, false, out);
}

/* What one statement said so far. */
typedef struct Ofx
{
	RdText		currency;
	RdText		account;
	RdText		bankid;
	uint32_t	k;
} Ofx;

RdStatus
rd_read_ofx(RdReader *r, const char *doc, size_t len)
{
	Walk		w = {doc, len, 0, 0, 1};
	RdText		stack[MAX_DEPTH];
	int			depth = 0;
	Ofx			st;
	RdLine		line;
	bool		in_trn = false;
	bool		in_stmt = false;
	bool		closed = false;
	uint32_t	trn_line = 0;
	char		idbuf[32];
	size_t		start = 0;

	memset(&st, 0, sizeof(st));
	/* the headers end where <OFX> begins */
	for (size_t i = 0; i + 5 <= len; i++)
		if (doc[i] == '<' && (doc[i + 1] == 'O' || doc[i + 1] == 'o') && name_is(rd_text(doc + i + 1, 3), "OFX") &&
			(doc[i + 4] == '>' || doc[i + 4] == ' '))
		{
			start = i + 1;
			break;
		}
	if (start == 0)
		return rd_unknown(r, "No <OFX> element");
	w.pos = start - 1;

	while (w.pos < len)
	{
		RdText		name;
		bool		end;
		size_t		next;
		size_t		tpos;
		RdText		text;

		rd_tick(r);
		if (doc[w.pos] != '<')
		{
			w.pos++;
			continue;
		}
		tpos = w.pos;
		if (w.pos + 1 < len && (doc[w.pos + 1] == '?' || doc[w.pos + 1] == '!'))
		{
			/* a processing instruction or comment */
			const char *gt = memchr(doc + w.pos, '>', len - w.pos);

			if (gt == NULL)
				break;
			w.pos = (size_t) (gt - doc) + 1;
			continue;
		}
		if (!tag_name(&w, w.pos, &name, &end, &next))
			return rd_fail(r, line_at(&w, tpos), "a tag is not closed with '>': the document is truncated");
		w.pos = next;
		if (end)
		{
			/* close the aggregate (and whatever SGML left open in it) */
			int			d = depth;

			while (d > 0 && !same_name(stack[d - 1], name))
				d--;
			if (d == 0)
				continue;		/* an end tag of a leaf (XML) */
			depth = d - 1;
			if (name_is(name, "STMTTRN") && in_trn)
			{
				if (line.amount.len == 0)
					return rd_fail(r, trn_line, "STMTTRN without TRNAMT (its amount)");
				if (!line.tx_date.has)
					return rd_fail(r, trn_line, "STMTTRN without DTPOSTED (its date)");
				st.k++;
				if (line.id.len == 0)
				{
					int			n = snprintf(idbuf, sizeof(idbuf), "/%u", st.k);

					line.id = rd_scratch_join(r, st.account, "", rd_text(idbuf, (size_t) n));
				}
				line.account = st.account;
				if (line.currency.len == 0)
					line.currency = st.currency;
				rd_emit(r, &line, false);
				in_trn = false;
			}
			else if (name_is(name, "STMTRS") || name_is(name, "CCSTMTRS"))
				in_stmt = false;
			else if (name_is(name, "OFX"))
				closed = true;
			continue;
		}
		/* the text up to the next tag */
		{
			size_t		i = w.pos;

			while (i < len && doc[i] != '<')
				i++;
			text = rd_trim(rd_text(doc + w.pos, i - w.pos), false);
			while (text.len > 0 && (text.p[text.len - 1] == '\n' || text.p[text.len - 1] == '\r'))
				text = rd_trim(rd_text(text.p, text.len - 1), false);
			while (text.len > 0 && (text.p[0] == '\n' || text.p[0] == '\r'))
				text = rd_trim(rd_text(text.p + 1, text.len - 1), false);
			w.pos = i;
		}
		if (text.len == 0)
		{
			/* an aggregate */
			if (depth == MAX_DEPTH)
				return rd_fail(r, line_at(&w, tpos), "aggregates nested more than %d deep", MAX_DEPTH);
			stack[depth++] = name;
			if (name_is(name, "STMTRS") || name_is(name, "CCSTMTRS"))
			{
				memset(&st, 0, sizeof(st));
				in_stmt = true;
			}
			else if (name_is(name, "STMTTRN"))
			{
				if (in_trn)
					return rd_fail(r, line_at(&w, tpos), "STMTTRN inside STMTTRN: one is not closed");
				trn_line = line_at(&w, tpos);
				rd_line_init(&line, trn_line);
				rd_scratch_reset(r, 4096);
				in_trn = true;
			}
			continue;
		}
		/* a leaf: of the statement, or of its transaction */
		text = decode(r, text);
		if (in_trn)
		{
			RdText		key = name;

			if (depth > 0 && !name_is(stack[depth - 1], "STMTTRN"))
				key = rd_scratch_join(r, stack[depth - 1], ".", name);
			rd_raw(&line, key, text);
			if (name_is(name, "TRNAMT"))
			{
				if (!ofx_amount(r, text, &line.amount))
					return rd_fail(r, line_at(&w, tpos), "TRNAMT is not an amount");
			}
			else if (name_is(name, "DTPOSTED"))
			{
				if (!rd_date_iso(text, &line.tx_date))
					return rd_fail(r, line_at(&w, tpos), "DTPOSTED is not a date (YYYYMMDD...)");
			}
			else if (name_is(name, "DTAVAIL"))
			{
				if (!rd_date_iso(text, &line.value_date))
					return rd_fail(r, line_at(&w, tpos), "DTAVAIL is not a date (YYYYMMDD...)");
			}
			else if (name_is(name, "FITID"))
				line.id = text;
			else if (name_is(name, "REFNUM"))
				line.ref = text;
			else if (name_is(name, "CHECKNUM") && line.ref.len == 0)
				line.ref = text;
			else if (name_is(name, "NAME") && line.counterparty.len == 0)
				line.counterparty = text;
			else if (name_is(name, "MEMO"))
				line.memo = text;
			else if (name_is(name, "CURSYM"))
				line.currency = text;
		}
		else if (in_stmt)
		{
			if (name_is(name, "CURDEF"))
				st.currency = text;
			else if (name_is(name, "ACCTID"))
				st.account = text;
			else if (name_is(name, "BANKID"))
				st.bankid = text;
		}
	}
	if (in_trn)
		return rd_fail(r, trn_line, "STMTTRN not closed: the document is truncated");
	if (!closed)
		return rd_fail(r, line_at(&w, len), "no </OFX>: the document is truncated");
	return RD_OK;
}
