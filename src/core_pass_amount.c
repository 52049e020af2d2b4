/*-------------------------------------------------------------------------
 *
 * core_pass_amount.c
 *	  Pass 2 of the matching core: one-to-one pairs by amount and date.
 *
 * Equal amounts first.  The rows of both sides sorted by (amount, date, id)
 * form classes of one amount; within a class the rows are paired nearest
 * date first (offset 0, +1, -1, +2, ...), a same-date bucket by reference
 * similarity, then augmenting paths add pairs until the matching has the
 * size an earliest-deadline sweep says is the maximum.  Then amounts within
 * tolerance: each remaining ledger row's range is looked up by binary
 * search, and the candidates are taken in tie-break order.
 *
 * IDENTIFICATION
 *	  src/core_pass_amount.c
 *
 *-------------------------------------------------------------------------
 */
#include "core.h"

#include <stdlib.h>

/* First index in keys[lo..hi) with date >= d (keys sorted by date). */
static uint32_t
date_bound(const AmtKey *keys, uint32_t lo, uint32_t hi, int64_t d)
{
	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;

		if (keys[mid].date < d)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Pair the free rows of two same-date buckets.  All their pairs have the
 * same amount difference and day difference, so the tie-break is the ref
 * similarity, then the ids: whenever both sides have a free row with a ref
 * and one side more than one free row, every pair's similarity is computed
 * (up to RC_BUCKET_SIM_PAIRS pairs) and the pairs are taken best first.
 */
static void
pair_bucket(Work *w, const AmtKey *L, uint32_t l0, uint32_t l1,
			const AmtKey *S, uint32_t s0, uint32_t s1, uint32_t *size)
{
	uint32_t	nfl = 0,
				nfs = 0;
	bool		lrefs = false,
				srefs = false;

	for (uint32_t i = l0; i < l1; i++)
		if (w->mate[L[i].row] < 0)
		{
			nfl++;
			lrefs |= w->rows[L[i].row].ref_len > 0;
		}
	for (uint32_t j = s0; j < s1; j++)
		if (w->mate[S[j].row] < 0)
		{
			nfs++;
			srefs |= w->rows[S[j].row].ref_len > 0;
		}
	if (nfl == 0 || nfs == 0)
		return;
	if (lrefs && srefs && (nfl > 1 || nfs > 1) &&
		(uint64_t) nfl * nfs <= RC_BUCKET_SIM_PAIRS)
	{
		CandVec    *cv = w->bucket;

		cv->n = 0;
		for (uint32_t i = l0; i < l1; i++)
		{
			if (w->mate[L[i].row] >= 0)
				continue;
			for (uint32_t j = s0; j < s1; j++)
			{
				Cand		c;

				if (w->mate[S[j].row] >= 0 || rejected(w, L[i].row, S[j].row))
					continue;
				tick(w);
				memset(&c, 0, sizeof(Cand));
				c.sim = rc_row_similarity(w, L[i].row, S[j].row);
				c.lrank = L[i].rank;
				c.srank = S[j].rank;
				c.l = L[i].row;
				c.s = S[j].row;
				rc_cand_push(w, cv, &c);
			}
		}
		rc_sort_array(w, cv->v, cv->n, sizeof(Cand), rc_cmp_cand);
		for (size_t k = 0; k < cv->n; k++)
		{
			const Cand *c = &cv->v[k];

			if (w->mate[c->l] >= 0 || w->mate[c->s] >= 0)
				continue;
			w->mate[c->l] = (int32_t) c->s;
			w->mate[c->s] = (int32_t) c->l;
			(*size)++;
		}
		cv->n = 0;
		return;
	}
	/* in id order; a statement row a ledger row rejected is left for the next */
	{
		uint32_t	j = s0;

		for (uint32_t i = l0; i < l1; i++)
		{
			uint32_t	k;

			if (w->mate[L[i].row] >= 0)
				continue;
			while (j < s1 && w->mate[S[j].row] >= 0)
				j++;
			for (k = j; k < s1; k++)
			{
				tick(w);
				if (w->mate[S[k].row] < 0 && !rejected(w, L[i].row, S[k].row))
					break;
			}
			if (k >= s1)
				continue;
			w->mate[L[i].row] = (int32_t) S[k].row;
			w->mate[S[k].row] = (int32_t) L[i].row;
			(*size)++;
		}
	}
}

/* Size of a maximum matching of a class: points S into windows of L. */
static uint32_t
class_max(Work *w, const AmtKey *L, uint32_t nl, const AmtKey *S, uint32_t nsv,
		  uint32_t *queue)
{
	int64_t		before = w->m->rule.days_before;
	int64_t		after = w->m->rule.days_after;
	uint32_t	qh = 0,
				qt = 0,
				li = 0,
				k = 0;

	/* all windows have the same width: FIFO by date is earliest-deadline */
	for (uint32_t j = 0; j < nsv; j++)
	{
		int64_t		d = S[j].date;

		tick(w);
		while (li < nl && (int64_t) L[li].date - before <= d)
			queue[qt++] = li++;
		while (qh < qt && (int64_t) L[queue[qh]].date + after < d)
			qh++;
		if (qh < qt)
		{
			qh++;
			k++;
		}
	}
	return k;
}

/* Try to give ledger row L[u] a partner by an augmenting path. */
static bool
augment(Work *w, const AmtKey *L, const AmtKey *S, uint32_t nsv, uint32_t u,
		uint32_t gen, uint32_t *stack_l, uint32_t *stack_pos, uint32_t *stack_end)
{
	int64_t		before = w->m->rule.days_before;
	int64_t		after = w->m->rule.days_after;
	uint32_t	top = 0;

	stack_l[0] = L[u].row;
	stack_pos[0] = date_bound(S, 0, nsv, (int64_t) L[u].date - before);
	stack_end[0] = date_bound(S, 0, nsv, (int64_t) L[u].date + after + 1);
	top = 1;
	while (top > 0)
	{
		uint32_t	f = top - 1;
		uint32_t	j;
		uint32_t	srow;

		tick(w);
		if (stack_pos[f] >= stack_end[f])
		{
			top--;
			continue;
		}
		j = stack_pos[f]++;
		srow = S[j].row;
		if (w->visited[srow] == gen || rejected(w, stack_l[f], srow))
			continue;
		w->visited[srow] = gen;
		if (w->mate[srow] < 0)
		{
			int32_t		cur = (int32_t) srow;

			/* flip the path */
			for (uint32_t k = top; k-- > 0;)
			{
				uint32_t	lrow = stack_l[k];
				int32_t		old = w->mate[lrow];

				w->mate[lrow] = cur;
				w->mate[cur] = (int32_t) lrow;
				cur = old;
			}
			return true;
		}
		else
		{
			uint32_t	lrow = (uint32_t) w->mate[srow];
			int32_t		ldate = w->rows[lrow].date;

			stack_l[top] = lrow;
			stack_pos[top] = date_bound(S, 0, nsv, (int64_t) ldate - before);
			stack_end[top] = date_bound(S, 0, nsv, (int64_t) ldate + after + 1);
			top++;
		}
	}
	return false;
}

/* Maximum matching within one class of equal amounts. */
static void
match_class(Work *w, const AmtKey *L, uint32_t nl, const AmtKey *S, uint32_t nsv,
			uint32_t *scratch, uint32_t *gen)
{
	int64_t		before = w->m->rule.days_before;
	int64_t		after = w->m->rule.days_after;
	uint32_t	size = 0;
	uint32_t	kmax;

	/* nearest dates first: offset 0, +1, -1, +2, -2, ... */
	for (int64_t step = 0; step <= RC_NEAREST_ROUNDS; step++)
	{
		for (int sign = 1; sign >= -1; sign -= 2)
		{
			int64_t		dd = step * sign;
			uint32_t	i = 0,
						j = 0;

			if (step == 0 && sign < 0)
				continue;
			if (dd > after || -dd > before)
				continue;
			while (i < nl)
			{
				uint32_t	i1 = i;
				int64_t		target = (int64_t) L[i].date + dd;
				uint32_t	j1;

				tick(w);
				while (i1 < nl && L[i1].date == L[i].date)
					i1++;
				while (j < nsv && S[j].date < target)
					j++;
				j1 = j;
				while (j1 < nsv && S[j1].date == target)
					j1++;
				if (j < j1)
					pair_bucket(w, L, i, i1, S, j, j1, &size);
				i = i1;
			}
		}
	}
	/*
	 * The sweep's maximum ignores rejected pairs: each ledger row with a
	 * rejection may cost one pair, and augmenting stops that short of it
	 * rather than search the class again for every free row.
	 */
	kmax = class_max(w, L, nl, S, nsv, scratch);
	if (w->m->rej_ofs)
		for (uint32_t u = 0; u < nl && kmax > 0; u++)
			if (has_rejection(w, L[u].row))
				kmax--;
	if (size < kmax)
	{
		uint32_t   *stack_l = scratch;
		uint32_t   *stack_pos = scratch + nl;
		uint32_t   *stack_end = scratch + 2 * nl;

		(*gen)++;
		for (uint32_t u = 0; u < nl && size < kmax; u++)
		{
			if (w->mate[L[u].row] >= 0)
				continue;
			if (augment(w, L, S, nsv, u, *gen, stack_l, stack_pos, stack_end))
			{
				size++;
				(*gen)++;
			}
		}
	}
	for (uint32_t u = 0; u < nl; u++)
	{
		int32_t		s = w->mate[L[u].row];

		if (s >= 0)
			rc_emit_pair(w, RC_MATCHED, RC_HOW_AMOUNT, L[u].row, (uint32_t) s);
	}
}

/*
 * Pass 2: one-to-one pairs by amount and date.  Among rows of equal amount
 * the number of pairs in the window is maximised (match_class); then
 * each remaining ledger row's candidates within tolerance are looked up
 * and taken in tie-break order.  Reads the rows still unmatched; writes
 * matched / matched_within_tolerance.
 */
void
rc_pass_amount(Work *w)
{
	uint32_t	nlk,
				nsk;
	AmtKey	   *lk = rc_sorted_remaining(w, true, false, &nlk);
	AmtKey	   *sk = rc_sorted_remaining(w, false, false, &nsk);
	uint32_t   *scratch = walloc(w, sizeof(uint32_t) * 3 * (nlk ? nlk : 1));
	uint32_t	gen = 0;
	uint32_t	i = 0,
				j = 0;
	CandVec    *cv = rc_cands(w);
	bool		refs = false;

	w->bucket = walloc0(w, sizeof(CandVec));
	w->visited = walloc0(w, sizeof(uint32_t) * (w->n ? w->n : 1));

	/* equal amounts: classes of the two sorted lists */
	while (i < nlk && j < nsk)
	{
		uint32_t	i1,
					j1;

		tick(w);
		if (lk[i].amt < sk[j].amt)
		{
			i++;
			continue;
		}
		if (sk[j].amt < lk[i].amt)
		{
			j++;
			continue;
		}
		i1 = i;
		while (i1 < nlk && lk[i1].amt == lk[i].amt)
			i1++;
		j1 = j;
		while (j1 < nsk && sk[j1].amt == sk[j].amt)
			j1++;
		match_class(w, lk + i, i1 - i, sk + j, j1 - j, scratch, &gen);
		i = i1;
		j = j1;
	}

	/* within tolerance: look the range up for each remaining ledger row */
	if (!w->has_tol)
		return;
	for (uint32_t k = 0; k < nsk; k++)
		refs |= w->rows[sk[k].row].ref_len > 0;
	rc_cand_reserve(w, cv, nlk);
	for (uint32_t k = 0; k < nlk; k++)
	{
		uint32_t	l = lk[k].row;
		rc_i128		a = w->amt[l];
		rc_i128		t = row_tol(w, l);

		if (w->used[l])
			continue;
		rc_collect_range(w, cv, sk, nsk, l, a - t, a + t, a, true,
					  refs && w->rows[l].ref_len > 0);
	}
	rc_take_greedy(w, cv, RC_HOW_AMOUNT, rc_cat_tolerance);
}
