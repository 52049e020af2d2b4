/*-------------------------------------------------------------------------
 *
 * core_pass_opposite.c
 *	  Pass 5 of the matching core: opposite amounts within the window.
 *
 * A refund booked with the wrong sign, or a payment returned: a statement
 * row whose amount is minus a ledger row's, dated in its window, with no
 * reference to tie them.
 *
 * IDENTIFICATION
 *	  src/core_pass_opposite.c
 *
 *-------------------------------------------------------------------------
 */
#include "core.h"

/* Every pair of this pass is a reversal. */
static RcCategory
cat_reversal(Work *w, const Cand *c)
{
	(void) w;
	(void) c;
	return RC_REVERSAL;
}

/*
 * Pass 5: for each remaining ledger row, the remaining statement rows in
 * its window whose amount is within tolerance of minus its amount, taken
 * in tie-break order.  Reads the rows still unmatched; writes reversal.
 */
void
rc_pass_opposite(Work *w)
{
	uint32_t	nsk;
	AmtKey	   *sk = rc_sorted_remaining(w, false, false, &nsk);
	CandVec    *cv = rc_cands(w);

	for (uint32_t i = 0; i < w->nl; i++)
	{
		uint32_t	l = w->lrows[i];
		rc_i128		a,
					t;

		if (!row_ok(w, l))
			continue;
		a = -w->amt[l];
		t = row_tol(w, l);
		if (a == 0 && t == 0)
			continue;
		rc_collect_range(w, cv, sk, nsk, l, a - t, a + t, a, true, false);
	}
	rc_take_greedy(w, cv, RC_HOW_WINDOW, cat_reversal);
}
