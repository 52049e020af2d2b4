/*-------------------------------------------------------------------------
 *
 * core_pass_group.c
 *	  Pass 3 of the matching core: many rows against one.
 *
 * Payout batches: rows of one side that share a batch value are summed and
 * paired with one row of the other side (a platform paying many orders as
 * one bank line, or one order settled in several lines of a batch).  Then
 * by reference: instalments of one invoice, and one payment quoting
 * several invoices.  Every group shares a group_id; its whole difference
 * sits on its first member's result.
 *
 * IDENTIFICATION
 *	  src/core_pass_group.c
 *
 *-------------------------------------------------------------------------
 */
#include "core.h"

/* Row sort key by batch value, then id rank. */
typedef struct BatchKey
{
	const char *p;
	int32_t		len;
	uint32_t	rank;
	uint32_t	row;
} BatchKey;

/* Batch keys by value (bytes, then length), then id rank. */
static int
cmp_batchkey(const void *a, const void *b)
{
	const BatchKey *x = a;
	const BatchKey *y = b;
	int32_t		n = x->len < y->len ? x->len : y->len;
	int			c = memcmp(x->p, y->p, (size_t) n);

	if (c != 0)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return (x->rank > y->rank) - (x->rank < y->rank);
}

/*
 * Pass 3, batches: the remaining rows of one side sharing a batch value
 * (two or more), summed, against the one remaining row of the other side
 * within tolerance whose date fits the window of the batch's latest date,
 * or whose ref matches the batch value; the best by the tie-breaks.  Reads
 * the rows still unmatched; writes many_to_one (ledger batches) or
 * one_to_many (statement batches), one group each.
 */
void
rc_pass_batches(Work *w, bool ledger_batches)
{
	const uint32_t *side = ledger_batches ? w->lrows : w->srows;
	uint32_t	cnt = ledger_batches ? w->nl : w->ns;
	BatchKey   *keys;
	uint32_t   *members;
	char	   *norm = NULL;
	size_t		normcap = 0;
	uint32_t	nk = 0;
	uint32_t	nok;
	AmtKey	   *ok;

	/* room for the rows with a batch only: most groups have none */
	for (uint32_t i = 0; i < cnt; i++)
		if (row_ok(w, side[i]) && w->rows[side[i]].batch_len >= 0)
			nk++;
	if (nk < 2)
		return;
	keys = walloc(w, sizeof(BatchKey) * nk);
	members = walloc(w, sizeof(uint32_t) * nk);
	nk = 0;
	for (uint32_t i = 0; i < cnt; i++)
	{
		uint32_t	r = side[i];

		if (!row_ok(w, r) || w->rows[r].batch_len < 0)
			continue;
		keys[nk].p = w->heap + w->rows[r].batch_off;
		keys[nk].len = w->rows[r].batch_len;
		keys[nk].rank = w->rank[r];
		keys[nk].row = r;
		nk++;
	}
	if (nk < 2)
		return;
	rc_sort_array(w, keys, nk, sizeof(BatchKey), cmp_batchkey);
	ok = rc_sorted_remaining(w, !ledger_batches, &nok);

	for (uint32_t i = 0; i < nk;)
	{
		uint32_t	i1 = i + 1;
		uint32_t	nmem = 0;
		rc_i128		sum = 0;
		int32_t		latest = INT32_MIN;
		bool		overflow = false;
		size_t		nlen = 0;
		int64_t		best = -1;
		Cand		bestc = {0};

		tick(w);
		while (i1 < nk && keys[i1].len == keys[i].len &&
			   memcmp(keys[i1].p, keys[i].p, (size_t) keys[i].len) == 0)
			i1++;
		if (i1 - i < 2)
		{
			i = i1;
			continue;
		}
		for (uint32_t k = i; k < i1; k++)
		{
			uint32_t	r = keys[k].row;

			members[nmem++] = r;
			sum += w->amt[r];
			if (i128_abs(sum) >= RC_I128_LIMIT)
				overflow = true;
			if (w->rows[r].date > latest)
				latest = w->rows[r].date;
		}
		if (overflow)
		{
			i = i1;
			continue;
		}
		if (w->m->rule.use_ref)
		{
			if (normcap < (size_t) keys[i].len + 1)
			{
				normcap = (size_t) keys[i].len + 1;
				norm = walloc(w, normcap);
			}
			nlen = rc_normalize_ref(keys[i].p, (size_t) keys[i].len, norm);
		}

		/* candidates of the other side within tolerance of the sum */
		{
			rc_i128		lo,
						hi;
			uint32_t	k;

			if (ledger_batches)
			{
				rc_i128		t = rc_tolerance_of(w, sum);

				lo = sum - t;
				hi = sum + t;
			}
			else
			{
				/* tolerance follows the ledger row: widen, then check */
				rc_i128		t = w->abs_tol;

				if (w->rel_num != 0)
				{
					rc_i128		r2 = rc_rel_tolerance(w, sum);

					/* |s - a| <= rel |a| implies |s - a| <= 2 rel |s| for rel <= 1/2 */
					if (w->rel_scale == 0 || w->rel_num * 2 > rc_pow10(w->rel_scale))
						r2 = RC_I128_LIMIT;
					else
						r2 = r2 * 2 + 1;
					if (r2 > t)
						t = r2;
				}
				lo = sum - t;
				hi = sum + t;
			}
			for (k = lower_bound(ok, nok, lo, INT64_MIN); k < nok && ok[k].amt <= hi; k++)
			{
				uint32_t	o = ok[k].row;
				int32_t		ldate = ledger_batches ? latest : w->rows[o].date;
				int32_t		sdate = ledger_batches ? w->rows[o].date : latest;
				rc_i128		dev = i128_abs(ok[k].amt - sum);
				bool		fits;
				Cand		c;

				tick(w);
				if (w->used[o])
					continue;
				if (!ledger_batches && dev > row_tol(w, o))
					continue;
				fits = in_window(w, ldate, sdate);
				if (!fits && w->m->rule.use_ref && nlen > 0 && w->rows[o].ref_len > 0)
					fits = rc_ref_contains(norm, nlen, w->heap + w->rows[o].ref_off,
										   w->rows[o].ref_len);
				if (!fits)
					continue;
				memset(&c, 0, sizeof(c));
				c.dev = dev;
				c.absdd = i64_abs((int64_t) sdate - ldate);
				c.lrank = c.srank = ok[k].rank;
				c.s = o;
				if (best < 0 || rc_cmp_cand(&c, &bestc) < 0)
				{
					bestc = c;
					best = o;
				}
			}
		}
		if (best >= 0)
			rc_emit_group(w, ledger_batches ? RC_MANY_TO_ONE : RC_ONE_TO_MANY,
					   RC_HOW_BATCH, (uint32_t) best, members, nmem, sum);
		i = i1;
	}
}

/*
 * Pass 3, by reference: instalments (all the remaining statement rows that
 * quote one ledger row, two or more, summing to it within tolerance) and
 * combined payments (all the remaining ledger rows quoted by one statement
 * row, each with it in its window, summing to it).  Reads the reference
 * pairs and the rows still unmatched; writes one_to_many (instalments) or
 * many_to_one (combined payments), one group each.
 */
void
rc_pass_ref_groups(Work *w, bool instalments)
{
	const uint32_t *side = instalments ? w->lrows : w->srows;
	uint32_t	cnt = instalments ? w->nl : w->ns;
	const uint32_t *ofs = instalments ? w->lofs : w->sofs;
	const uint32_t *list = instalments ? w->lpairs : w->spairs;
	uint32_t   *members;
	uint32_t	maxdeg = 0;

	if (w->npairs == 0)
		return;
	for (uint32_t i = 0; i < cnt; i++)
	{
		uint32_t	r = side[i];
		uint32_t	deg = ofs[r + 1] - ofs[r];

		if (deg > maxdeg)
			maxdeg = deg;
	}
	members = walloc(w, sizeof(uint32_t) * (maxdeg ? maxdeg : 1));
	for (uint32_t i = 0; i < cnt; i++)
	{
		uint32_t	one = side[i];
		uint32_t	nmem = 0;
		rc_i128		sum = 0;
		bool		overflow = false;
		rc_i128		t;

		tick(w);
		if (!row_ok(w, one) || ofs[one + 1] - ofs[one] < 2)
			continue;
		for (uint32_t k = ofs[one]; k < ofs[one + 1]; k++)
		{
			uint32_t	o = list[k];
			bool		fits;

			if (!row_ok(w, o))
				continue;
			if (instalments)
				fits = (int64_t) w->rows[o].date >=
					(int64_t) w->rows[one].date - w->m->rule.days_before;
			else
				fits = in_window(w, w->rows[o].date, w->rows[one].date);
			if (!fits)
				continue;
			members[nmem++] = o;
			sum += w->amt[o];
			if (i128_abs(sum) >= RC_I128_LIMIT)
				overflow = true;
		}
		if (nmem < 2 || overflow)
			continue;
		t = instalments ? row_tol(w, one) : rc_tolerance_of(w, sum);
		if (i128_abs(sum - w->amt[one]) > t)
			continue;
		/* members in id order */
		for (uint32_t a = 1; a < nmem; a++)
		{
			uint32_t	x = members[a];
			uint32_t	b = a;

			while (b > 0 && w->rank[members[b - 1]] > w->rank[x])
			{
				members[b] = members[b - 1];
				b--;
			}
			members[b] = x;
		}
		rc_emit_group(w, instalments ? RC_ONE_TO_MANY : RC_MANY_TO_ONE,
				   RC_HOW_REF_GROUP, one, members, nmem, sum);
	}
}
