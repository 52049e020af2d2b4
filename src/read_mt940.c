/*-------------------------------------------------------------------------
 *
 * read_mt940.c
 *	  SWIFT MT940 customer statements: one line per :61: statement line,
 *	  with what its :86: says.
 *
 * A document holds one or more statements (each :20: begins one; a SWIFT
 * envelope {1:..}{2:..}{4: and its -} are skipped), each :25: account,
 * :28C: statement number, :60F:/:60M: opening balance (its currency) and
 * :62F:/:62M: closing balance, which a complete statement must have.  A tag
 * runs on over the lines that follow it until the next tag.  The :61:
 * subfields are read by position: value date YYMMDD, entry date MMDD,
 * mark (C, D, RC, RD: a reversal of a credit is money out), funds code,
 * amount (decimal comma), transaction type, the account owner's reference,
 * //the bank's reference, and a supplementary line.  The :86: that follows
 * is read three ways: German structured subfields (?00 .. ?63: ?20-?29 and
 * ?60-?63 the purpose, whose SEPA keywords EREF+, SVWZ+ and the like are
 * split out; ?32/?33 the counterparty), /KEY/value keywords (/EREF/,
 * /REMI/, /NAME/ ...), or free text.  The end-to-end id (EREF) is the ref,
 * else the owner's reference unless NONREF; the remittance (SVWZ+, /REMI/)
 * the memo, else the purpose, else the text.  Ids are account/statement
 * number/position.
 *
 * IDENTIFICATION
 *	  src/read_mt940.c
 *
 *-------------------------------------------------------------------------
 */
#include "read_int.h"

#include <stdio.h>

/* One tag of the document, its value running over its continuation lines. */
typedef struct Tag
{
	RdText		name;			/* "61", "28C" */
	RdText		value;			/* lines joined by the document's own line ends */
	uint32_t	lineno;
} Tag;

/* What a statement's tags said so far. */
typedef struct Stmt
{
	RdText		ref;			/* :20: */
	RdText		account;		/* :25: */
	RdText		number;			/* :28C: */
	RdText		currency;		/* from :60F: / :60M: */
	RdText		key;			/* account/number, unique in the document: the ids' prefix */
	uint32_t	k;				/* statement lines so far */
	uint32_t	lineno;
	bool		open;
	bool		closed;			/* :62F: / :62M: seen */
} Stmt;

/* Reading tags one by one: the cursor and the tag that begins on the line read ahead. */
typedef struct TagReader
{
	RdCursor	c;
	RdText		line;
	bool		have_line;
} TagReader;

/* A tag name at the start of a line (":61:", ":28C:"); its length with the colons, or 0. */
static size_t
tag_at(RdText l, RdText *name)
{
	size_t		i = 1;

	if (l.len < 4 || l.p[0] != ':')
		return 0;
	while (i < l.len && i < 5 && ((l.p[i] >= '0' && l.p[i] <= '9') || (l.p[i] >= 'A' && l.p[i] <= 'Z')))
		i++;
	if (i < 3 || i >= l.len || l.p[i] != ':')
		return 0;
	*name = rd_text(l.p + 1, i - 1);
	return i + 1;
}

/*
 * The next tag of the document (false at the end); an envelope's blocks and
 * end markers are skipped.  Its value runs from after the tag to the end of
 * the last line before the next tag, end marker or envelope.
 */
static bool
next_tag(TagReader *tr, Tag *t)
{
	for (;;)
	{
		RdText		l;
		size_t		skip;
		const char *vend;

		if (!tr->have_line && !rd_next_line(&tr->c, &tr->line))
			return false;
		tr->have_line = false;
		l = tr->line;
		/* {1:F01...}{2:...}{4: on a line of its own, or before the first tag */
		while (l.len > 0 && l.p[0] == '{')
		{
			const char *close = memchr(l.p, '}', l.len);

			if (l.len >= 3 && l.p[1] == '4' && l.p[2] == ':')
			{
				l = rd_text(l.p + 3, l.len - 3);
				break;
			}
			if (close == NULL)
			{
				l.len = 0;
				break;
			}
			l = rd_text(close + 1, l.len - (size_t) (close + 1 - l.p));
		}
		skip = tag_at(l, &t->name);
		if (skip == 0)
			continue;			/* blank, "-", "-}" or text outside a tag */
		t->lineno = tr->c.lineno;
		t->value = rd_text(l.p + skip, l.len - skip);
		vend = t->value.p + t->value.len;
		/* continuation lines */
		while (rd_next_line(&tr->c, &tr->line))
		{
			RdText		dummy;
			RdText		nl = tr->line;

			if (tag_at(nl, &dummy) || (nl.len > 0 && (nl.p[0] == '-' || nl.p[0] == '{')))
			{
				tr->have_line = true;
				break;
			}
			if (nl.len > 0)
				vend = nl.p + nl.len;
		}
		t->value.len = (uint32_t) (vend - t->value.p);
		return true;
	}
}

/* Two-digit year to four: 80-99 the last century, 00-79 this one. */
static int32_t
year_of(int32_t yy)
{
	return yy >= 80 ? 1900 + yy : 2000 + yy;
}

/* n digits at p, or -1. */
static int32_t
num(const char *p, const char *end, int n)
{
	int32_t		v = 0;

	if (end - p < n)
		return -1;
	for (int i = 0; i < n; i++)
	{
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* The first line of t, and what follows it (after its line end) in *rest. */
static RdText
first_line(RdText t, RdText *rest)
{
	uint32_t	i = 0;

	while (i < t.len && t.p[i] != '\n' && t.p[i] != '\r')
		i++;
	if (rest)
	{
		uint32_t	j = i;

		while (j < t.len && (t.p[j] == '\n' || t.p[j] == '\r'))
			j++;
		*rest = rd_text(t.p + j, t.len - j);
	}
	return rd_text(t.p, i);
}

/* t with its line ends removed (copied to the scratch only when it has some). */
static RdText
unfold(RdReader *r, RdText t, const char *sep)
{
	RdText		out = rd_text(t.p, 0);
	RdText		rest = t;
	bool		first = true;

	if (memchr(t.p, '\n', t.len) == NULL && memchr(t.p, '\r', t.len) == NULL)
		return t;
	out = rd_scratch_add(r, "", 0);
	while (rest.len > 0)
	{
		RdText		l = first_line(rest, &rest);

		/* free text: the lines' own indentation goes; structured text keeps every byte */
		if (*sep)
			l = rd_trim(l, false);
		out = first ? rd_scratch_add(r, l.p, l.len) : rd_scratch_join(r, out, sep, l);
		first = false;
	}
	return out;
}

/* The SEPA keywords of a purpose (EREF+ ...), each four letters (BIC+ three) and a plus. */
static const char *const sepa_kws[] = {"EREF", "KREF", "MREF", "CRED", "DEBT", "SVWZ", "ABWA", "ABWE",
"IBAN", "BIC", "COAM", "OAMT", NULL};

/* The length of the SEPA keyword that ends with the '+' at j of p (0 when none does). */
static uint32_t
keyword_before(RdText p, uint32_t j)
{
	for (int k = 0; sepa_kws[k]; k++)
	{
		uint32_t	n = (uint32_t) strlen(sepa_kws[k]);

		if (j >= n && memcmp(p.p + j - n, sepa_kws[k], n) == 0)
			return n;
	}
	return 0;
}

/*
 * The value of SEPA keyword kw ("EREF") in purpose p, up to the next
 * keyword; the pluses are the only places a keyword can end, so only they
 * are looked at.
 */
static RdText
sepa_keyword(RdText p, const char *kw)
{
	uint32_t	n = (uint32_t) strlen(kw);
	uint32_t	start = UINT32_MAX;

	for (uint32_t j = 0; j < p.len; j++)
	{
		const char *plus = memchr(p.p + j, '+', p.len - j);
		uint32_t	kl;

		if (plus == NULL)
			break;
		j = (uint32_t) (plus - p.p);
		kl = keyword_before(p, j);
		if (kl == 0)
			continue;
		if (start != UINT32_MAX)
			return rd_trim(rd_text(p.p + start, j - kl - start), false);
		if (kl == n && memcmp(p.p + j - n, kw, n) == 0)
			start = j + 1;
	}
	if (start != UINT32_MAX)
		return rd_trim(rd_text(p.p + start, p.len - start), false);
	return rd_text(p.p, 0);
}

/* The value of /KEY/ in t (up to the next /KEY/ of two to four capitals), or empty. */
static RdText
slash_keyword(RdText t, const char *key)
{
	size_t		n = strlen(key);

	for (uint32_t i = 0; i + n + 2 <= t.len; i++)
	{
		uint32_t	j;

		if (t.p[i] != '/' || memcmp(t.p + i + 1, key, n) != 0 || t.p[i + 1 + n] != '/')
			continue;
		for (j = i + (uint32_t) n + 2; j < t.len; j++)
		{
			uint32_t	k = j + 1;

			if (t.p[j] != '/')
				continue;
			while (k < t.len && k - j <= 5 && t.p[k] >= 'A' && t.p[k] <= 'Z')
				k++;
			if (k < t.len && t.p[k] == '/' && k - j >= 3)
				break;
		}
		return rd_trim(rd_text(t.p + i + n + 2, j - i - n - 2), false);
	}
	return rd_text(t.p, 0);
}

/* What :86: text t says: into line's ref, memo and counterparty (the ones given stay). */
static void
read_86(RdReader *r, RdLine *line, RdText t)
{
	RdText		flat = unfold(r, t, "");

	if (flat.len >= 4 && flat.p[0] >= '0' && flat.p[0] <= '9' && flat.p[3] == '?')
	{
		/* German structured: ?NN subfields */
		RdText		purpose = rd_text(flat.p, 0);
		RdText		name = rd_text(flat.p, 0);
		RdText		eref,
					svwz;
		uint32_t	i = 3;

		while (i + 3 <= flat.len)
		{
			uint32_t	j = i + 3;
			int32_t		code = num(flat.p + i + 1, flat.p + flat.len, 2);
			RdText		v;

			while (j < flat.len && flat.p[j] != '?')
				j++;
			v = rd_text(flat.p + i + 3, j - i - 3);
			if ((code >= 20 && code <= 29) || (code >= 60 && code <= 63))
				purpose = rd_scratch_join(r, purpose, "", v);
			else if (code == 32 || code == 33)
				name = rd_scratch_join(r, name, "", v);
			i = j;
			if (code < 0)
				break;
		}
		eref = sepa_keyword(purpose, "EREF");
		svwz = sepa_keyword(purpose, "SVWZ");
		if (eref.len > 0 && !rd_eq(eref, "NOTPROVIDED"))
			line->ref = eref;
		line->memo = svwz.len > 0 ? svwz : rd_trim(purpose, false);
		if (name.len > 0)
			line->counterparty = rd_trim(name, false);
		return;
	}
	if (flat.len > 0 && flat.p[0] == '/')
	{
		RdText		eref = slash_keyword(flat, "EREF");
		RdText		remi = slash_keyword(flat, "REMI");
		RdText		name = slash_keyword(flat, "NAME");

		if (eref.len > 0 && !rd_eq(eref, "NOTPROVIDED"))
			line->ref = eref;
		/* /REMI/USTD//text or /REMI/STRD/CUR/ref: the text after the last // or / */
		if (rd_starts(remi, "USTD//"))
			remi = rd_text(remi.p + 6, remi.len - 6);
		line->memo = remi.len > 0 ? remi : flat;
		if (name.len > 0)
			line->counterparty = name;
		return;
	}
	line->memo = rd_trim(unfold(r, t, " "), false);
}

/* Read :61: value v into line; false (and the reason in r) when it breaks the format. */
static bool
read_61(RdReader *r, RdLine *line, RdText v, uint32_t lineno)
{
	RdText		rest;
	RdText		l = first_line(v, &rest);
	const char *p = l.p;
	const char *end = l.p + l.len;
	int32_t		yy = num(p, end, 2),
				mm = num(p + 2, end, 2),
				dd = num(p + 4, end, 2);
	bool		negate;
	const char *a;
	RdText		owner;

	if (yy < 0 || mm < 0 || dd < 0 || !rd_date_ok(year_of(yy), mm, dd))
	{
		rd_fail(r, lineno, "the value date of :61: is not a date (YYMMDD)");
		return false;
	}
	line->value_date = (RdDate) {year_of(yy), mm, dd, true};
	line->tx_date = line->value_date;
	p += 6;
	if (num(p, end, 4) >= 0)
	{
		int32_t		em = num(p, end, 2),
					ed = num(p + 2, end, 2),
					ey = year_of(yy);

		/* the entry date's year is the value date's, but across a new year */
		if (em == 12 && mm == 1)
			ey--;
		else if (em == 1 && mm == 12)
			ey++;
		if (!rd_date_ok(ey, em, ed))
		{
			rd_fail(r, lineno, "the entry date of :61: is not a date (MMDD)");
			return false;
		}
		line->tx_date = (RdDate) {ey, em, ed, true};
		p += 4;
	}
	/* the mark: C, D, RC (reversal of credit: money out), RD, or EC, ED (expected) */
	if (end - p >= 2 && (p[0] == 'R' || p[0] == 'E') && (p[1] == 'C' || p[1] == 'D'))
	{
		negate = p[0] == 'R' ? p[1] == 'C' : p[1] == 'D';
		p += 2;
	}
	else if (p < end && (*p == 'C' || *p == 'D'))
	{
		negate = *p == 'D';
		p++;
	}
	else
	{
		rd_fail(r, lineno, "no debit or credit mark (C, D, RC, RD) in :61:");
		return false;
	}
	if (p < end && *p >= 'A' && *p <= 'Z')
		p++;					/* the funds code */
	for (a = p; p < end && ((*p >= '0' && *p <= '9') || *p == ','); p++)
		;
	if (p == a || !rd_decimal(r, rd_text(a, (size_t) (p - a)), ',', negate, &line->amount))
	{
		rd_fail(r, lineno, "no amount in :61:");
		return false;
	}
	if (end - p < 4)
	{
		rd_fail(r, lineno, "no transaction type after the amount of :61:");
		return false;
	}
	p += 4;						/* N, F or S and a three-character code */
	{
		const char *slash = NULL;

		for (const char *q = p; q + 1 < end; q++)
			if (q[0] == '/' && q[1] == '/')
			{
				slash = q;
				break;
			}
		owner = rd_text(p, (size_t) ((slash ? slash : end) - p));
		if (owner.len > 0 && !rd_eq(owner, "NONREF"))
			line->ref = owner;
		if (slash)
			rd_raw(line, RD_LIT("61 bank reference"), rd_text(slash + 2, (size_t) (end - slash - 2)));
	}
	if (rest.len > 0)
		line->memo = rd_trim(first_line(rest, NULL), false);
	return true;
}

RdStatus
rd_read_mt940(RdReader *r, const char *doc, size_t len)
{
	TagReader	tr;
	Tag			t;
	Stmt		st;
	RdLine		line;
	bool		pending = false;
	bool		any = false;
	char		idbuf[32];

	memset(&tr, 0, sizeof(tr));
	memset(&st, 0, sizeof(st));
	rd_cursor_init(&tr.c, doc, len);
	for (;;)
	{
		bool		more = next_tag(&tr, &t);

		rd_tick(r);
		/* a statement line ends at the next :61:, at a balance, a new statement, or the end */
		if (pending && (!more || !rd_eq(t.name, "86")))
		{
			rd_emit(r, &line, true);
			pending = false;
		}
		if (!more)
			break;
		if (rd_eq(t.name, "20"))
		{
			if (st.open && !st.closed)
				return rd_fail(r, t.lineno, "statement %.*s has no closing balance (:62F:) before the next one",
							   (int) (st.ref.len > 40 ? 40 : st.ref.len), st.ref.p);
			memset(&st, 0, sizeof(st));
			st.open = true;
			st.ref = rd_trim(t.value, false);
			st.lineno = t.lineno;
			any = true;
		}
		else if (!st.open)
		{
			if (rd_eq(t.name, "61") || rd_eq(t.name, "25") || rd_eq(t.name, "60F"))
				return rd_fail(r, t.lineno, ":%.*s: before any :20: (transaction reference)",
							   (int) t.name.len, t.name.p);
			continue;
		}
		else if (rd_eq(t.name, "25"))
			st.account = rd_trim(t.value, false);
		else if (rd_eq(t.name, "28C") || rd_eq(t.name, "28"))
			st.number = rd_trim(t.value, false);
		else if (rd_eq(t.name, "60F") || rd_eq(t.name, "60M"))
		{
			if (t.value.len < 10 || (t.value.p[0] != 'C' && t.value.p[0] != 'D'))
				return rd_fail(r, t.lineno, "the opening balance (:%.*s:) is not mark, date, currency, amount",
							   (int) t.name.len, t.name.p);
			st.currency = rd_text(t.value.p + 7, 3);
		}
		else if (rd_eq(t.name, "62F") || rd_eq(t.name, "62M"))
			st.closed = true;
		else if (rd_eq(t.name, "61"))
		{
			int			n;

			if (st.closed)
				return rd_fail(r, t.lineno, ":61: after the closing balance of statement %.*s",
							   (int) (st.ref.len > 40 ? 40 : st.ref.len), st.ref.p);
			rd_line_init(&line, t.lineno);
			rd_scratch_reset(r, (size_t) t.value.len * 4 + 512);
			line.account = st.account;
			line.currency = st.currency;
			if (!read_61(r, &line, t.value, t.lineno))
				return RD_MALFORMED;
			/* ids: the statement's (made unique once, at its first line), then the position */
			if (st.k++ == 0)
			{
				RdText		key = rd_unique_id(r, rd_scratch_join(r, st.account, "/",
																   st.number.len ? st.number : st.ref));
				char	   *copy = r->alloc(r->arg, key.len ? key.len : 1);

				memcpy(copy, key.p, key.len);
				st.key = rd_text(copy, key.len);
			}
			n = snprintf(idbuf, sizeof(idbuf), "/%u", st.k);
			line.id = rd_scratch_join(r, st.key, "", rd_text(idbuf, (size_t) n));
			rd_raw(&line, RD_LIT("20"), st.ref);
			rd_raw(&line, RD_LIT("25"), st.account);
			rd_raw(&line, RD_LIT("28C"), st.number);
			rd_raw(&line, RD_LIT("61"), t.value);
			pending = true;
		}
		else if (rd_eq(t.name, "86") && pending)
		{
			/* the :86: of the statement line before (what the scratch cannot hold goes to a block of its own) */
			rd_raw(&line, RD_LIT("86"), t.value);
			read_86(r, &line, t.value);
		}
	}
	if (!any)
		return rd_unknown(r, "No :20: (transaction reference) tag");
	if (!st.closed)
		return rd_fail(r, tr.c.lineno, "statement %.*s has no closing balance (:62F:): the document is truncated",
					   (int) (st.ref.len > 40 ? 40 : st.ref.len), st.ref.p);
	return RD_OK;
}
