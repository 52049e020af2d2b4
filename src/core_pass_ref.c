/*-------------------------------------------------------------------------
 *
 * core_pass_ref.c
 *	  Passes 1 and 4 of the matching core: pairs by reference.
 *
 * Both read the reference pairs built by rc_build_ref_pairs.  Pass 1 takes
 * those within tolerance and window, as matches; pass 4, after the amount
 * and group passes, takes what is left of them and says what is wrong:
 * the date (timing_difference), the sign (reversal) or the amount.
 *
 * IDENTIFICATION
 *	  src/core_pass_ref.c
 *
 *-------------------------------------------------------------------------
 */
#include "core.h"

/*
 * Pass 1: pairs whose refs match (rc_build_ref_pairs) with the statement
 * amount within the ledger row's tolerance and its date in the window.
 * Reads the reference pairs; writes matched / matched_within_tolerance.
 */
void
rc_pass_ref(Work *w)
{
	CandVec    *cv = rc_cands(w);

	for (uint32_t i = 0; i < w->npairs; i++)
	{
		uint32_t	l = w->pair_l[i];
		uint32_t	s = w->pair_s[i];
		Cand		c;

		tick(w);
		if (!row_ok(w, l) || !row_ok(w, s))
			continue;
		c.dev = i128_abs(w->amt[s] - w->amt[l]);
		if (c.dev > row_tol(w, l) || !in_window(w, w->rows[l].date, w->rows[s].date))
			continue;
		c.absdd = i64_abs((int64_t) w->rows[s].date - w->rows[l].date);
		c.sim = 1.0;
		c.lrank = w->rank[l];
		c.srank = w->rank[s];
		c.l = l;
		c.s = s;
		rc_cand_push(w, cv, &c);
	}
	rc_take_greedy(w, cv, RC_HOW_REF, rc_cat_tolerance);
}

/* What a reference pair that failed passes 1-3 is. */
static RcCategory
cat_ref_only(Work *w, const Cand *c)
{
	rc_i128		t = row_tol(w, c->l);

	if (i128_abs(w->amt[c->s] - w->amt[c->l]) <= t)
		return RC_TIMING_DIFFERENCE;
	if (i128_abs(w->amt[c->s] + w->amt[c->l]) <= t)
		return RC_REVERSAL;
	if (gross_agree(w, c->l, c->s))
		return RC_FEE_DIFFERENCE;
	return RC_AMOUNT_MISMATCH;
}

/*
 * Pass 4: the reference pairs still unmatched after passes 1-3, whatever
 * their amounts and dates, nearest (to the amount or to its opposite)
 * first.  Reads the reference pairs; writes timing_difference, reversal,
 * fee_difference (both carry fees, and their gross amounts agree) or
 * amount_mismatch.
 */
void
rc_pass_ref_only(Work *w)
{
	CandVec    *cv = rc_cands(w);

	for (uint32_t i = 0; i < w->npairs; i++)
	{
		uint32_t	l = w->pair_l[i];
		uint32_t	s = w->pair_s[i];
		rc_i128		d1,
					d2;
		Cand		c;

		tick(w);
		if (!row_ok(w, l) || !row_ok(w, s))
			continue;
		d1 = i128_abs(w->amt[s] - w->amt[l]);
		d2 = i128_abs(w->amt[s] + w->amt[l]);
		c.dev = d1 < d2 ? d1 : d2;
		c.absdd = i64_abs((int64_t) w->rows[s].date - w->rows[l].date);
		c.sim = 1.0;
		c.lrank = w->rank[l];
		c.srank = w->rank[s];
		c.l = l;
		c.s = s;
		rc_cand_push(w, cv, &c);
	}
	rc_take_greedy(w, cv, RC_HOW_REF_ONLY, cat_ref_only);
}
