/*-------------------------------------------------------------------------
 *
 * core_result.c
 *	  Candidates and result emission for the matching core.
 *
 * A pass either writes results directly (rc_emit_pair, rc_emit_single,
 * rc_emit_group) or collects candidate pairs, looked up by binary search on
 * the other side's amount-sorted rows (rc_collect_range), and takes them in
 * the order of the tie-breaks: smaller amount difference, nearer date, more
 * similar reference, smaller ids (rc_take_greedy).  A result carries what
 * its note needs: the tolerance applied and why a row is invalid.
 *
 * IDENTIFICATION
 *	  src/core_result.c
 *
 *-------------------------------------------------------------------------
 */
#include "core.h"

/* The finer of the two rows' scales: what a pair's difference prints with. */
static uint16_t
pair_scale(const Work *w, uint32_t a, uint32_t b)
{
	return w->rows[a].dscale > w->rows[b].dscale ? w->rows[a].dscale : w->rows[b].dscale;
}

/* Score in [0,1]: amount closeness times date closeness, 1 when exact. */
static double
score_of(rc_i128 lamt, rc_i128 samt, int64_t dd)
{
	double		ac = 1.0;

	if (lamt != samt)
	{
		rc_i128		big = i128_abs(lamt) > i128_abs(samt) ? i128_abs(lamt) : i128_abs(samt);
		double		rel = (double) i128_abs(samt - lamt) / (double) big;

		ac = rel >= 1.0 ? 0.0 : 1.0 - rel;
	}
	return ac * (7.0 / (7.0 + (double) i64_abs(dd)));
}

/* The next result, for ledger row l and statement row s (-1 = none). */
static RcResult *
new_result(Work *w, RcCategory cat, int32_t l, int32_t s)
{
	RcResult   *r = &w->m->results[w->m->nresults++];

	memset(r, 0, sizeof(*r));
	r->category = (uint8_t) cat;
	r->ledger = l;
	r->statement = s;
	r->other = -1;
	if (l >= 0)
		w->used[l] = 1;
	if (s >= 0)
		w->used[s] = 1;
	return r;
}

/* Record a one-to-one pair. */
void
rc_emit_pair(Work *w, RcCategory cat, RcHow how, uint32_t l, uint32_t s)
{
	RcResult   *r = new_result(w, cat, (int32_t) l, (int32_t) s);

	r->how = (uint8_t) how;
	r->has_diff = true;
	r->diff_scale = pair_scale(w, l, s);
	r->amount_diff = rc_rescale_trunc(w->amt[s] - w->amt[l], w->m->scale, r->diff_scale);
	/* a fee_difference's note gives the fees' difference in place of the tolerance */
	r->u.tol = cat == RC_FEE_DIFFERENCE ? w->fee[s] - w->fee[l] : row_tol(w, l);
	r->days_diff = (int64_t) w->rows[s].date - w->rows[l].date;
	r->score = score_of(w->amt[l], w->amt[s], r->days_diff);
	if (how != RC_HOW_WINDOW && how != RC_HOW_MANUAL)
		w->early[l] = w->early[s] = 1;
}

/* Record a single-sided result; other is a related row or -1. */
void
rc_emit_single(Work *w, RcCategory cat, uint32_t row, int32_t other)
{
	RcResult   *r;

	if (w->rows[row].is_ledger)
		r = new_result(w, cat, (int32_t) row, -1);
	else
		r = new_result(w, cat, -1, (int32_t) row);
	r->other = other;
	r->invalid = w->invalid[row];
}

/*
 * Record a group: members (sorted by id) against the single row one.
 * The whole difference sits on the first member's result.
 */
void
rc_emit_group(Work *w, RcCategory cat, RcHow how, uint32_t one,
			  const uint32_t *members, uint32_t nmem, rc_i128 sum)
{
	int32_t		gid = ++w->m->ngroups;
	bool		one_is_ledger = w->rows[one].is_ledger;
	rc_i128		diff = one_is_ledger ? sum - w->amt[one] : w->amt[one] - sum;
	uint16_t	sc = w->rows[one].dscale;

	for (uint32_t i = 0; i < nmem; i++)
		if (w->rows[members[i]].dscale > sc)
			sc = w->rows[members[i]].dscale;
	for (uint32_t i = 0; i < nmem; i++)
	{
		uint32_t	mem = members[i];
		uint32_t	l = one_is_ledger ? one : mem;
		uint32_t	s = one_is_ledger ? mem : one;
		RcResult   *r = new_result(w, cat, (int32_t) l, (int32_t) s);

		r->how = (uint8_t) how;
		r->group_id = gid;
		r->group_size = (int32_t) nmem;
		r->other = (int32_t) members[0];
		r->has_diff = true;
		r->diff_scale = sc;
		r->u.group_diff = rc_rescale_trunc(diff, w->m->scale, sc);
		r->amount_diff = i == 0 ? r->u.group_diff : 0;
		r->days_diff = (int64_t) w->rows[s].date - w->rows[l].date;
		r->score = one_is_ledger ? score_of(w->amt[one], sum, r->days_diff)
			: score_of(sum, w->amt[one], r->days_diff);
		if (how != RC_HOW_MANUAL)
			w->early[l] = w->early[s] = 1;
	}
}

/*
 * fee_one * gross / gross_one, rounded half away from zero to a multiple of
 * unit: row's share of the one row's fee, at its rate.  False when it cannot
 * be computed exactly in 128 bits (a gross or fee of 10^18 or more at the
 * common scale) or gross_one is zero.
 */
static bool
share_of(rc_i128 gross, rc_i128 fee_one, rc_i128 gross_one, rc_i128 unit, rc_i128 *out)
{
	const rc_i128 lim = (rc_i128) 1000000000000000000LL;
	rc_i128		num,
				an,
				ag,
				q,
				rem,
				r1;
	bool		up;

	if (gross_one == 0 || i128_abs(gross) >= lim || i128_abs(fee_one) >= lim)
		return false;
	num = gross * fee_one;
	an = i128_abs(num);
	ag = i128_abs(gross_one);
	q = an / ag;
	rem = an % ag;
	r1 = q % unit;
	/* the fraction past q is below 1, so for an even unit only r1 decides */
	up = unit == 1 ? 2 * rem >= ag : 2 * r1 >= unit;
	q = (q / unit + (up ? 1 : 0)) * unit;
	*out = (num < 0) != (gross_one < 0) ? -q : q;
	return true;
}

/*
 * Record a payout batch whose gross agrees with one row's while its net
 * amount does not (pass 4): category fee_difference, one group_id.  The one
 * row appears once, on the first member's result, which holds the whole net
 * difference and, in u.tol, the fees charged minus the fees expected; each
 * other member is a result of its own, without a counterpart or a
 * difference, holding in u.tol its fee at the rate of the one row (its share
 * of the one row's fee, by gross, at its own fee's decimals), so that the
 * notes say whose fee differs.  fee_rows: on the first result the members
 * whose fee differs from that share by more than one unit of its last
 * decimal; on the others 1 or 0; -1 when the shares cannot be computed
 * exactly.  other: the one row.
 */
void
rc_emit_fee_group(Work *w, uint32_t one, const uint32_t *members, uint32_t nmem,
				  rc_i128 net, rc_i128 fee)
{
	int32_t		gid = ++w->m->ngroups;
	bool		one_is_ledger = w->rows[one].is_ledger;
	rc_i128		diff = one_is_ledger ? net - w->amt[one] : w->amt[one] - net;
	rc_i128		gross_one = w->amt[one] + w->fee[one];
	uint16_t	sc = w->rows[one].dscale;
	int32_t		differ = 0;
	bool		shares = true;
	RcResult   *first = NULL;

	for (uint32_t i = 0; i < nmem; i++)
		if (w->rows[members[i]].dscale > sc)
			sc = w->rows[members[i]].dscale;
	for (uint32_t i = 0; i < nmem; i++)
	{
		uint32_t	mem = members[i];
		int			fds = w->m->fees[mem].dscale < w->m->scale ? w->m->fees[mem].dscale : w->m->scale;
		rc_i128		unit = rc_pow10(w->m->scale - fds);
		rc_i128		share = 0;
		bool		has_share = shares &&
			share_of(w->amt[mem] + w->fee[mem], w->fee[one], gross_one, unit, &share);
		bool		differs = has_share && i128_abs(w->fee[mem] - share) > unit;
		RcResult   *r;

		shares = has_share;
		differ += differs;
		if (i == 0)
		{
			uint32_t	l = one_is_ledger ? one : mem;
			uint32_t	s = one_is_ledger ? mem : one;

			r = first = new_result(w, RC_FEE_DIFFERENCE, (int32_t) l, (int32_t) s);
			r->has_diff = true;
			r->diff_scale = sc;
			r->amount_diff = rc_rescale_trunc(diff, w->m->scale, sc);
			r->u.tol = one_is_ledger ? fee - w->fee[one] : w->fee[one] - fee;
			r->days_diff = (int64_t) w->rows[s].date - w->rows[l].date;
			r->score = one_is_ledger ? score_of(w->amt[one], net, r->days_diff)
				: score_of(net, w->amt[one], r->days_diff);
		}
		else
		{
			r = new_result(w, RC_FEE_DIFFERENCE, one_is_ledger ? -1 : (int32_t) mem,
						   one_is_ledger ? (int32_t) mem : -1);
			r->u.tol = share;
			r->fee_rows = differs ? 1 : 0;
		}
		r->how = RC_HOW_FEE_BATCH;
		r->group_id = gid;
		r->group_size = (int32_t) nmem;
		r->other = (int32_t) one;
		w->early[mem] = 1;
	}
	w->early[one] = 1;
	first->fee_rows = shares ? differ : -1;
	if (!shares)
		for (RcResult *r = first + 1; r < first + nmem; r++)
			r->fee_rows = -1;
}

/*
 * Room for n candidates in cv, so that a pass whose count is known roughly
 * does not grow the vector by doubling (every old copy stays allocated, and
 * touched, until the group is done).
 */
void
rc_cand_reserve(Work *w, CandVec *cv, size_t n)
{
	RcBuffer	b = {cv->v, cv->cap * sizeof(Cand)};

	cv->v = rc_buffer(w, &b, n * sizeof(Cand), cv->n * sizeof(Cand));
	cv->cap = b.cap / sizeof(Cand);
}

void
rc_cand_push(Work *w, CandVec *cv, const Cand *c)
{
	if (cv->n == cv->cap)
		rc_cand_reserve(w, cv, cv->cap ? cv->cap * 2 : 1024);
	cv->v[cv->n++] = *c;
}

/* The candidate vector of a pass, empty: one for the whole group, reused. */
CandVec *
rc_cands(Work *w)
{
	if (w->cands == NULL)
		w->cands = walloc0(w, sizeof(CandVec));
	w->cands->n = 0;
	return w->cands;
}

/* ref_similarity of two rows' normalised refs (0 when either has none). */
double
rc_row_similarity(const Work *w, uint32_t a, uint32_t b)
{
	const RcRow *x = &w->rows[a];
	const RcRow *y = &w->rows[b];

	if (x->ref_len == 0 || y->ref_len == 0)
		return 0.0;
	return rc_ref_similarity_norm(w->heap + x->ref_off, x->ref_len,
								  w->heap + y->ref_off, y->ref_len);
}

/*
 * Statement candidates of ledger row l whose amount lies in [lo, hi] and,
 * when window is set, whose date lies in l's window.  target is the amount
 * the deviation is measured from.
 */
void
rc_collect_range(Work *w, CandVec *cv, const AmtKey *sk, uint32_t nsk, uint32_t l,
				 rc_i128 lo, rc_i128 hi, rc_i128 target, bool window, bool sim)
{
	int64_t		dlo = (int64_t) w->rows[l].date - w->m->rule.days_before;
	int64_t		dhi = (int64_t) w->rows[l].date + w->m->rule.days_after;
	uint32_t	i = lower_bound(sk, nsk, lo, window ? dlo : INT64_MIN);

	while (i < nsk && sk[i].amt <= hi)
	{
		rc_i128		a = sk[i].amt;

		tick(w);
		if (window && sk[i].date < dlo)
		{
			/* skip to the window within this amount */
			i = lower_bound(sk, nsk, a, dlo);
			continue;
		}
		if (window && sk[i].date > dhi)
		{
			/* skip to the next amount */
			i = lower_bound(sk, nsk, a + 1, dlo);
			continue;
		}
		if (!w->used[sk[i].row])
		{
			Cand		c;
			uint32_t	s = sk[i].row;

			c.dev = i128_abs(a - target);
			c.absdd = i64_abs((int64_t) sk[i].date - w->rows[l].date);
			c.sim = sim ? rc_row_similarity(w, l, s) : 0.0;
			c.lrank = w->rank[l];
			c.srank = sk[i].rank;
			c.l = l;
			c.s = s;
			rc_cand_push(w, cv, &c);
		}
		i++;
	}
}

/*
 * Take candidates in tie-break order, each row at most once and never a
 * rejected pair; emit via cat_of.
 */
void
rc_take_greedy(Work *w, CandVec *cv, RcHow how, RcCatFn cat_of)
{
	if (cv->n == 0)
		return;
	rc_sort_array(w, cv->v, cv->n, sizeof(Cand), rc_cmp_cand);
	for (size_t i = 0; i < cv->n; i++)
	{
		const Cand *c = &cv->v[i];

		tick(w);
		if (w->used[c->l] || w->used[c->s] || rejected(w, c->l, c->s))
			continue;
		rc_emit_pair(w, cat_of(w, c), how, c->l, c->s);
	}
	cv->n = 0;
}

/* matched when the amounts are equal, else matched_within_tolerance. */
RcCategory
rc_cat_tolerance(Work *w, const Cand *c)
{
	return w->amt[c->l] == w->amt[c->s] ? RC_MATCHED : RC_MATCHED_WITHIN_TOLERANCE;
}
