/*-------------------------------------------------------------------------
 *
 * core_refindex.c
 *	  The reference index of the matching core: which ledger rows and
 *	  statement rows have matching refs (ref_similarity = 1).
 *
 * The distinct normalised refs of each side are hashed (StrSet); a ref of
 * four characters or more found on both sides pairs directly, and refs
 * inside longer refs are found by the containment search (core_contain.c),
 * which also holds the vector the pairs are collected in.
 * A ref that reaches more than RC_REF_FANOUT rows on the other side (a memo
 * like "PAYMENT") identifies nothing and is left out.  The pairs of rows
 * are kept in two CSR forms, by ledger row and by statement row, for the
 * passes that read them (1, 3 and 4).
 *
 * IDENTIFICATION
 *	  src/core_refindex.c
 *
 *-------------------------------------------------------------------------
 */
#include "core.h"

/* The id of string p in ss, or UINT32_MAX. */
static uint32_t
strset_find(const Work *w, const StrSet *ss, const char *p, uint32_t len)
{
	uint32_t	h;

	if (ss->nstr == 0)
		return UINT32_MAX;
	h = hash_bytes(p, len) & ss->mask;
	for (;;)
	{
		uint32_t	e = ss->table[h];
		uint32_t	l2;
		const char *q;

		if (e == 0)
			return UINT32_MAX;
		q = str_bytes(w, ss, e - 1, &l2);
		if (l2 == len && memcmp(p, q, len) == 0)
			return e - 1;
		h = (h + 1) & ss->mask;
	}
}

/* The distinct refs of one side's valid rows, each with its rows in id order. */
static void
strset_build(Work *w, StrSet *ss, const uint32_t *side, uint32_t cnt)
{
	uint32_t   *row_str = walloc(w, sizeof(uint32_t) * (cnt ? cnt : 1));
	uint32_t   *count;
	uint32_t	size = 16;

	while (size < cnt * 2)
		size <<= 1;
	ss->mask = size - 1;
	ss->table = walloc0(w, sizeof(uint32_t) * size);
	ss->str_row = walloc(w, sizeof(uint32_t) * (cnt ? cnt : 1));
	ss->nstr = 0;
	for (uint32_t i = 0; i < cnt; i++)
	{
		uint32_t	r = side[i];
		const RcRow *row = &w->rows[r];
		const char *p = w->heap + row->ref_off;
		uint32_t	h;

		tick(w);
		row_str[i] = UINT32_MAX;
		if (w->invalid[r] != RC_VALID || row->ref_len == 0)
			continue;
		h = hash_bytes(p, row->ref_len) & ss->mask;
		for (;;)
		{
			uint32_t	e = ss->table[h];
			uint32_t	l2;
			const char *q;

			if (e == 0)
			{
				ss->str_row[ss->nstr] = r;
				ss->table[h] = ++ss->nstr;
				row_str[i] = ss->nstr - 1;
				break;
			}
			q = str_bytes(w, ss, e - 1, &l2);
			if (l2 == row->ref_len && memcmp(p, q, l2) == 0)
			{
				row_str[i] = e - 1;
				break;
			}
			h = (h + 1) & ss->mask;
		}
	}
	/* rows per string, kept in id order */
	count = walloc0(w, sizeof(uint32_t) * (ss->nstr + 1));
	for (uint32_t i = 0; i < cnt; i++)
		if (row_str[i] != UINT32_MAX)
			count[row_str[i] + 1]++;
	for (uint32_t k = 0; k < ss->nstr; k++)
		count[k + 1] += count[k];
	ss->ofs = count;
	ss->rows = walloc(w, sizeof(uint32_t) * (count[ss->nstr] ? count[ss->nstr] : 1));
	{
		uint32_t   *fill = walloc(w, sizeof(uint32_t) * (ss->nstr + 1));

		memcpy(fill, count, sizeof(uint32_t) * (ss->nstr + 1));
		for (uint32_t i = 0; i < cnt; i++)
			if (row_str[i] != UINT32_MAX)
				ss->rows[fill[row_str[i]]++] = side[i];
	}
}

/* String pairs by ledger string, then statement string. */
static int
cmp_strpair(const void *x, const void *y)
{
	const StrPair *a = x;
	const StrPair *b = y;

	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	return (a->b > b->b) - (a->b < b->b);
}

/* Build the row pairs whose refs match (ref_similarity = 1). */
void
rc_build_ref_pairs(Work *w)
{
	StrSet		ls;
	StrSet		ss;
	PairVec		pv = {0};
	uint32_t   *lfan;
	uint32_t   *sfan;
	size_t		npairs = 0;
	size_t		k;

	w->npairs = 0;
	w->lofs = walloc0(w, sizeof(uint32_t) * (w->n + 1));
	w->sofs = walloc0(w, sizeof(uint32_t) * (w->n + 1));
	w->lpairs = w->spairs = NULL;
	if (!w->m->rule.use_ref)
		return;
	strset_build(w, &ls, w->lrows, w->nl);
	strset_build(w, &ss, w->srows, w->ns);
	if (ls.nstr == 0 || ss.nstr == 0)
		return;

	/* equal refs */
	for (uint32_t a = 0; a < ls.nstr; a++)
	{
		uint32_t	len;
		const char *p = str_bytes(w, &ls, a, &len);
		uint32_t	b;

		tick(w);
		if (len < 4 || rc_utf8_chars(p, len) < 4)
			continue;
		b = strset_find(w, &ss, p, len);
		if (b != UINT32_MAX)
			rc_pair_push(w, &pv, a, b);
	}
	/* one contained in the other, both ways */
	rc_find_containment(w, &ls, &ss, true, &pv);
	rc_find_containment(w, &ss, &ls, false, &pv);

	if (pv.n > 0)
		rc_sort_array(w, pv.v, pv.n, sizeof(StrPair), cmp_strpair);
	/* dedupe, count how many rows each string reaches on the other side */
	lfan = walloc0(w, sizeof(uint32_t) * ls.nstr);
	sfan = walloc0(w, sizeof(uint32_t) * ss.nstr);
	k = 0;
	for (size_t i = 0; i < pv.n; i++)
	{
		StrPair		p = pv.v[i];
		uint32_t	nla,
					nsb;

		if (k > 0 && pv.v[k - 1].a == p.a && pv.v[k - 1].b == p.b)
			continue;
		pv.v[k++] = p;
		nla = ls.ofs[p.a + 1] - ls.ofs[p.a];
		nsb = ss.ofs[p.b + 1] - ss.ofs[p.b];
		lfan[p.a] = lfan[p.a] + nsb > RC_REF_FANOUT ? RC_REF_FANOUT + 1 : lfan[p.a] + nsb;
		sfan[p.b] = sfan[p.b] + nla > RC_REF_FANOUT ? RC_REF_FANOUT + 1 : sfan[p.b] + nla;
	}
	pv.n = k;
	for (size_t i = 0; i < pv.n; i++)
	{
		StrPair		p = pv.v[i];

		if (lfan[p.a] > RC_REF_FANOUT || sfan[p.b] > RC_REF_FANOUT)
			continue;
		npairs += (size_t) (ls.ofs[p.a + 1] - ls.ofs[p.a]) * (ss.ofs[p.b + 1] - ss.ofs[p.b]);
	}
	if (npairs > UINT32_MAX / 2)
		npairs = UINT32_MAX / 2;	/* cannot happen with the fanout cap */
	w->pair_l = walloc(w, sizeof(uint32_t) * (npairs ? npairs : 1));
	w->pair_s = walloc(w, sizeof(uint32_t) * (npairs ? npairs : 1));
	for (size_t i = 0; i < pv.n && w->npairs < npairs; i++)
	{
		StrPair		p = pv.v[i];

		if (lfan[p.a] > RC_REF_FANOUT || sfan[p.b] > RC_REF_FANOUT)
			continue;
		for (uint32_t x = ls.ofs[p.a]; x < ls.ofs[p.a + 1]; x++)
			for (uint32_t y = ss.ofs[p.b]; y < ss.ofs[p.b + 1]; y++)
			{
				tick(w);
				w->pair_l[w->npairs] = ls.rows[x];
				w->pair_s[w->npairs] = ss.rows[y];
				w->npairs++;
			}
	}
	/* CSR by ledger row and by statement row */
	for (uint32_t i = 0; i < w->npairs; i++)
	{
		w->lofs[w->pair_l[i] + 1]++;
		w->sofs[w->pair_s[i] + 1]++;
	}
	for (uint32_t r = 0; r < w->n; r++)
	{
		w->lofs[r + 1] += w->lofs[r];
		w->sofs[r + 1] += w->sofs[r];
	}
	w->lpairs = walloc(w, sizeof(uint32_t) * (w->npairs ? w->npairs : 1));
	w->spairs = walloc(w, sizeof(uint32_t) * (w->npairs ? w->npairs : 1));
	{
		uint32_t   *lf = walloc(w, sizeof(uint32_t) * (w->n + 1));
		uint32_t   *sf = walloc(w, sizeof(uint32_t) * (w->n + 1));

		memcpy(lf, w->lofs, sizeof(uint32_t) * (w->n + 1));
		memcpy(sf, w->sofs, sizeof(uint32_t) * (w->n + 1));
		for (uint32_t i = 0; i < w->npairs; i++)
		{
			w->lpairs[lf[w->pair_l[i]]++] = w->pair_s[i];
			w->spairs[sf[w->pair_s[i]]++] = w->pair_l[i];
		}
	}
}
