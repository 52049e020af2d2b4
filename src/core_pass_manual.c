/*-------------------------------------------------------------------------
 *
 * core_pass_manual.c
 *	  Rows matched by hand, before pass 0 of the matching core.
 *
 * A reconciliation's views and runs hand the core, with each row that a
 * user matched by hand (reconcile.manual_match), the tag that row shares
 * with the others matched with it.  Those rows are reported as they were
 * matched, category manual, and take part in no pass: one ledger row with
 * one statement row is a pair; one row of a side with several of the other
 * is a group as in pass 3 (the single row repeated once per member); any
 * other set (several rows of each side, or rows of one side only because
 * the others are gone or out of the reader's sight) is one row each, with
 * a shared group_id.
 *
 * IDENTIFICATION
 *	  src/core_pass_manual.c
 *
 *-------------------------------------------------------------------------
 */
#include "core.h"

/* Row sort key by match tag, ledger rows first, then id rank. */
typedef struct TagKey
{
	const char *p;
	int32_t		len;
	uint32_t	ledger;
	uint32_t	rank;
	uint32_t	row;
} TagKey;

/* Tags by bytes then length; within a tag ledger rows first, by id. */
static int
cmp_tagkey(const void *a, const void *b)
{
	const TagKey *x = a;
	const TagKey *y = b;
	int32_t		n = x->len < y->len ? x->len : y->len;
	int			c = memcmp(x->p, y->p, (size_t) n);

	if (c != 0)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	if (x->ledger != y->ledger)
		return x->ledger > y->ledger ? -1 : 1;
	return (x->rank > y->rank) - (x->rank < y->rank);
}

/* The sum of rows' amounts at the common scale; false when it would overflow. */
static bool
sum_rows(const Work *w, const uint32_t *rows, uint32_t n, rc_i128 *sum)
{
	*sum = 0;
	for (uint32_t i = 0; i < n; i++)
	{
		*sum += w->amt[rows[i]];
		if (i128_abs(*sum) >= RC_I128_LIMIT)
			return false;
	}
	return true;
}

/* One manual set: ledger rows l[0..nl), statement rows s[0..ns). */
static void
emit_set(Work *w, const uint32_t *l, uint32_t nl, const uint32_t *s, uint32_t ns)
{
	bool		valid = true;
	rc_i128		sum;
	int32_t		gid;
	uint32_t	first = w->m->nresults;

	for (uint32_t i = 0; i < nl; i++)
		valid &= w->invalid[l[i]] == RC_VALID;
	for (uint32_t i = 0; i < ns; i++)
		valid &= w->invalid[s[i]] == RC_VALID;
	if (valid && nl == 1 && ns == 1)
	{
		rc_emit_pair(w, RC_MANUAL, RC_HOW_MANUAL, l[0], s[0]);
		return;
	}
	if (valid && nl == 1 && ns > 1 && sum_rows(w, s, ns, &sum))
	{
		rc_emit_group(w, RC_MANUAL, RC_HOW_MANUAL, l[0], s, ns, sum);
		return;
	}
	if (valid && ns == 1 && nl > 1 && sum_rows(w, l, nl, &sum))
	{
		rc_emit_group(w, RC_MANUAL, RC_HOW_MANUAL, s[0], l, nl, sum);
		return;
	}
	/* one result a row, the set tied by a group_id when it has more than one */
	gid = nl + ns > 1 ? ++w->m->ngroups : 0;
	for (uint32_t i = 0; i < nl; i++)
		rc_emit_single(w, RC_MANUAL, l[i], -1);
	for (uint32_t i = 0; i < ns; i++)
		rc_emit_single(w, RC_MANUAL, s[i], -1);
	for (uint32_t k = first; k < w->m->nresults; k++)
	{
		w->m->results[k].how = RC_HOW_MANUAL;
		w->m->results[k].group_id = gid;
		w->m->results[k].group_size = (int32_t) (nl + ns);
	}
}

/*
 * Before pass 0: every row marked as matched by hand (RcRow.manual, its tag
 * in the batch field), grouped by tag.  Reads the rows; writes manual, as
 * pairs, groups or single rows (see above), valid or not.
 */
void
rc_pass_manual(Work *w)
{
	TagKey	   *keys;
	uint32_t   *l;
	uint32_t   *s;
	uint32_t	nk = 0;

	for (uint32_t r = 0; r < w->n; r++)
		nk += w->rows[r].manual != 0;
	if (nk == 0)
		return;
	keys = walloc(w, sizeof(TagKey) * nk);
	l = walloc(w, sizeof(uint32_t) * nk);
	s = walloc(w, sizeof(uint32_t) * nk);
	nk = 0;
	for (uint32_t r = 0; r < w->n; r++)
	{
		const RcRow *row = &w->rows[r];

		if (!row->manual)
			continue;
		keys[nk].p = w->heap + row->batch_off;
		keys[nk].len = row->batch_len < 0 ? 0 : row->batch_len;
		keys[nk].ledger = row->is_ledger;
		keys[nk].rank = w->rank[r];
		keys[nk].row = r;
		nk++;
	}
	rc_sort_array(w, keys, nk, sizeof(TagKey), cmp_tagkey);
	for (uint32_t i = 0; i < nk;)
	{
		uint32_t	i1 = i;
		uint32_t	nl = 0,
					ns = 0;

		tick(w);
		while (i1 < nk && keys[i1].len == keys[i].len &&
			   memcmp(keys[i1].p, keys[i].p, (size_t) keys[i].len) == 0)
		{
			if (keys[i1].ledger)
				l[nl++] = keys[i1].row;
			else
				s[ns++] = keys[i1].row;
			i1++;
		}
		emit_set(w, l, nl, s, ns);
		i = i1;
	}
}
