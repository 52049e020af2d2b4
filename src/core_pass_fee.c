/*-------------------------------------------------------------------------
 *
 * core_pass_fee.c
 *	  Pass 4, second half: pairs whose gross amounts agree within the
 *	  window, when both rows carry a fee.
 *
 * A platform that deducts another fee than the one expected pays a net
 * amount beyond tolerance of the ledger's, so passes 1 to 3 leave both rows
 * alone; when both rows carry a fee (the statement the fee deducted, the
 * ledger the fee expected), their gross amounts, amount + fee, still agree.
 * Such a pair is a fee_difference, found here the way pass 5 finds
 * reversals: each remaining ledger row with a fee looks up the remaining
 * statement rows with a fee whose gross lies within its tolerance, dated in
 * its window, in the statement rows sorted by gross; the candidates are
 * taken in the tie-break order.  Reference pairs were classified by pass 4
 * before (rc_pass_ref_only), so this pass sees only rows without one.
 * Nothing is done, and nothing allocated, when no row has a fee.
 *
 * IDENTIFICATION
 *	  src/core_pass_fee.c
 *
 *-------------------------------------------------------------------------
 */
#include "core.h"

/* Every pair of this pass is a fee_difference. */
static RcCategory
cat_fee(Work *w, const Cand *c)
{
	(void) w;
	(void) c;
	return RC_FEE_DIFFERENCE;
}

/*
 * For each remaining ledger row with a fee, the remaining statement rows
 * with a fee, in its window, whose gross is within tolerance of its gross.
 * Reads the rows still unmatched; writes fee_difference.
 */
void
rc_pass_fees(Work *w)
{
	AmtKey	   *sk;
	uint32_t	nsk;
	CandVec    *cv;

	if (w->fee == NULL)
		return;
	sk = rc_sorted_remaining(w, false, true, &nsk);
	if (nsk == 0)
		return;
	cv = rc_cands(w);
	for (uint32_t i = 0; i < w->nl; i++)
	{
		uint32_t	l = w->lrows[i];
		rc_i128		g,
					t;

		if (!row_ok(w, l) || !w->has_fee[l])
			continue;
		g = w->amt[l] + w->fee[l];
		t = row_tol(w, l);
		rc_collect_range(w, cv, sk, nsk, l, g - t, g + t, g, true, true);
	}
	rc_take_greedy(w, cv, RC_HOW_FEE, cat_fee);
}
