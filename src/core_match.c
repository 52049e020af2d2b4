/*-------------------------------------------------------------------------
 *
 * core_match.c
 *	  The driver of the matching core: rc_match classifies the rows of one
 *	  group in passes 0-7, and holds passes 0 and 7 itself.
 *
 * Input is one group's rows (ledger and statement), output one result per
 * ledger row and per statement row (the single row of a group repeated
 * once per member).  rc_match brings every amount to the group's finest
 * scale, computes each ledger row's tolerance, puts both sides in id order
 * (refusing a repeated id), and runs the passes in the README's order; each
 * pass sees only the rows no earlier pass gave a result.  Rows the caller
 * marks as matched by hand (RcRow.manual) are reported first, as they were
 * matched, and take part in nothing else.
 *
 * Plain C, no backend calls: memory comes from RcEnv.alloc (never freed
 * here; the caller frees the whole arena) and RcEnv.check_interrupts is
 * called in every long loop.
 *
 * IDENTIFICATION
 *	  src/core_match.c
 *
 *-------------------------------------------------------------------------
 */
#include "core.h"

const char *const rc_category_names[RC_NUM_CATEGORIES] = {
	"matched", "matched_within_tolerance", "many_to_one", "one_to_many",
	"manual", "timing_difference", "in_transit", "amount_mismatch",
	"fee_difference", "reversal", "duplicate", "missing_in_statement", "missing_in_ledger",
	"invalid"
};

/* A rule the engine can apply exactly. */
static bool
rule_ok(const RcRule *rule)
{
	return rule->abs_tol >= 0 && rule->abs_scale <= RC_MAX_DSCALE &&
		rule->rel_tol >= 0 && rule->rel_tol < RC_I128_LIMIT &&
		rule->rel_scale <= RC_MAX_REL_SCALE &&
		rule->days_before >= 0 && rule->days_after >= 0;
}

/*
 * Pass 0: rows with a NULL, NaN or infinite amount, a NULL or infinite
 * date, or an amount too long to compare exactly (w->invalid, set by
 * rc_match), unless matched by hand.  Writes invalid, with the reason; such
 * rows are never matched.
 */
void
rc_pass_invalid(Work *w)
{
	for (int side = 0; side < 2; side++)
	{
		const uint32_t *rows = side == 0 ? w->lrows : w->srows;
		uint32_t	cnt = side == 0 ? w->nl : w->ns;

		for (uint32_t i = 0; i < cnt; i++)
			if (w->invalid[rows[i]] != RC_VALID && !w->used[rows[i]])
				rc_emit_single(w, RC_INVALID, rows[i], -1);
	}
}

/*
 * Pass 7: what is left.  A ledger row is in_transit when the rule has an
 * as_of and the row's date is after as_of - days_after (its counterpart may
 * still arrive), else missing_in_statement; a statement row is
 * missing_in_ledger.
 */
void
rc_pass_leftover(Work *w)
{
	const RcRule *rule = &w->m->rule;

	for (uint32_t i = 0; i < w->nl; i++)
	{
		uint32_t	r = w->lrows[i];

		if (w->used[r])
			continue;
		if (rule->has_as_of &&
			(int64_t) w->rows[r].date > (int64_t) rule->as_of - rule->days_after)
			rc_emit_single(w, RC_IN_TRANSIT, r, -1);
		else
			rc_emit_single(w, RC_MISSING_IN_STATEMENT, r, -1);
	}
	for (uint32_t i = 0; i < w->ns; i++)
		if (!w->used[w->srows[i]])
			rc_emit_single(w, RC_MISSING_IN_LEDGER, w->srows[i], -1);
}

/* The work state of m: arrays sized for its rows, sides split. */
static Work *
work_create(RcMatch *m, const RcEnv *env)
{
	Work	   *w = env->alloc(env->arg, sizeof(Work));
	size_t		n;

	memset(w, 0, sizeof(Work));
	m->work = w;
	w->m = m;
	w->env = env;
	w->rows = m->rows;
	w->heap = m->heap;
	w->n = m->nrows;
	n = w->n ? w->n : 1;
	m->results = env->alloc_results ? env->alloc_results(env->results_arg, sizeof(RcResult) * n) :
		walloc(w, sizeof(RcResult) * n);

	w->rank = walloc(w, sizeof(uint32_t) * n);
	w->invalid = walloc0(w, n);
	w->used = walloc0(w, n);
	w->early = walloc0(w, n);
	w->amt = walloc0(w, sizeof(rc_i128) * n);
	w->mate = walloc(w, sizeof(int32_t) * n);
	w->lrows = walloc(w, sizeof(uint32_t) * n);
	w->srows = walloc(w, sizeof(uint32_t) * n);
	return w;
}

/* Decimal digits of |v| (0 for 0), |v| < 10^RC_MAX_DSCALE; pw[k] = 10^k. */
static int
digits_of(rc_i128 v, const rc_i128 *pw)
{
	rc_i128		a = i128_abs(v);
	int			n = 0;

	while (n < RC_MAX_DSCALE && a >= pw[n])
		n++;
	return n;
}

/* *v at scale *ds with its trailing zeros dropped, down to scale floor. */
static inline void
drop_zeros(rc_i128 *v, int *ds, int floor)
{
	while (*ds > floor && *v % 10 == 0)
	{
		*v /= 10;
		(*ds)--;
	}
}

/*
 * The scale a group's amounts are compared at.  Usually the finest scale
 * among them, at which they all stay below 10^36.  When some would not (a
 * large amount beside one with many decimals), the scale at which the most
 * rows can be compared exactly: a row is comparable at scale s when its
 * decimals (trailing zeros aside) fit in s and its value at s stays below
 * 10^36; ties go to the finer scale.  The others are invalid, and only they.
 */
static int
group_scale(Work *w, const rc_i128 *pw)
{
	int64_t		count[RC_MAX_DSCALE + 2] = {0};
	int			finest = 0;
	bool		fits = true;
	int			best = 0;
	int64_t		run = 0,
				most = -1;

	for (uint32_t r = 0; r < w->n; r++)
		if (w->invalid[r] == RC_VALID && w->rows[r].dscale > finest)
			finest = w->rows[r].dscale;
	for (uint32_t r = 0; r < w->n && fits; r++)
		if (w->invalid[r] == RC_VALID &&
			i128_abs(w->rows[r].amount) >= pw[RC_MAX_DSCALE - finest + w->rows[r].dscale])
			fits = false;
	if (fits)
		return finest;

	/* each row is comparable on an interval of scales [lo, hi] */
	for (uint32_t r = 0; r < w->n; r++)
	{
		rc_i128		v = w->rows[r].amount;
		int			lo = w->rows[r].dscale;
		int			hi;

		tick(w);
		if (w->invalid[r] != RC_VALID)
			continue;
		drop_zeros(&v, &lo, 0);
		hi = RC_MAX_DSCALE - digits_of(v, pw) + lo;
		if (hi > RC_MAX_DSCALE)
			hi = RC_MAX_DSCALE;
		if (hi < lo)
			continue;
		count[lo]++;
		count[hi + 1]--;
	}
	for (int s = 0; s <= RC_MAX_DSCALE; s++)
	{
		run += count[s];
		if (run >= most)
		{
			most = run;
			best = s;
		}
	}
	return best;
}

/*
 * Amounts at the group's common scale (group_scale), the rows that cannot
 * be compared at it marked invalid, and the ledger rows' tolerances at that
 * scale, exact.
 */
static void
scale_amounts(Work *w)
{
	RcMatch    *m = w->m;
	int			scale;
	rc_i128		pw[RC_MAX_DSCALE + 1];
	rc_i128		lim;

	pw[0] = 1;
	for (int k = 1; k <= RC_MAX_DSCALE; k++)
		pw[k] = pw[k - 1] * 10;
	lim = pw[RC_MAX_DSCALE];

	for (uint32_t r = 0; r < w->n; r++)
	{
		const RcRow *row = &w->rows[r];

		w->mate[r] = -1;
		w->invalid[r] = row->invalid;
		if (row->invalid == RC_VALID &&
			(row->dscale > RC_MAX_DSCALE || i128_abs(row->amount) >= lim))
			w->invalid[r] = RC_INVALID_AMOUNT_RANGE;
		if (row->is_ledger)
			w->lrows[w->nl++] = r;
		else
			w->srows[w->ns++] = r;
	}
	scale = group_scale(w, pw);
	m->scale = scale;
	for (uint32_t r = 0; r < w->n; r++)
	{
		const RcRow *row = &w->rows[r];
		rc_i128		v = row->amount;
		int			ds = row->dscale;

		if (w->invalid[r] != RC_VALID)
			continue;
		/* decimals past the scale: only zeros may be dropped */
		drop_zeros(&v, &ds, scale);
		if (ds > scale || i128_abs(v) >= pw[RC_MAX_DSCALE - scale + ds])
		{
			w->invalid[r] = RC_INVALID_AMOUNT_RANGE;
			continue;
		}
		w->amt[r] = v * pw[scale - ds];
	}

	/*
	 * Fees at the same scale; a fee that cannot be compared exactly there
	 * (more decimals, or too large) is left out, and its row compares by net
	 * amount only.
	 */
	if (m->fees)
	{
		w->fee = walloc0(w, sizeof(rc_i128) * (w->n ? w->n : 1));
		w->has_fee = walloc0(w, w->n ? w->n : 1);
		for (uint32_t r = 0; r < w->n; r++)
		{
			rc_i128		v = m->fees[r].fee;
			int			ds = m->fees[r].dscale;

			if (w->invalid[r] != RC_VALID || !m->fees[r].has || ds > RC_MAX_DSCALE ||
				i128_abs(v) >= lim)
				continue;
			drop_zeros(&v, &ds, scale);
			if (ds > scale || i128_abs(v) >= pw[RC_MAX_DSCALE - scale + ds])
				continue;
			w->fee[r] = v * pw[scale - ds];
			w->has_fee[r] = 1;
		}
	}

	w->abs_tol = rc_rescale_trunc(m->rule.abs_tol, m->rule.abs_scale, scale);
	w->rel_num = m->rule.rel_tol;
	w->rel_scale = m->rule.rel_scale;
	w->has_tol = w->abs_tol > 0 || w->rel_num > 0;
	w->tol = NULL;
	if (w->rel_num > 0)
	{
		w->tol = walloc0(w, sizeof(rc_i128) * (w->n ? w->n : 1));
		for (uint32_t r = 0; r < w->n; r++)
			if (w->rows[r].is_ledger && w->invalid[r] == RC_VALID)
				w->tol[r] = rc_tolerance_of(w, w->amt[r]);
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *) a;
	uint64_t	y = *(const uint64_t *) b;

	return (x > y) - (x < y);
}

/* The rejection tags of the group, each once with the number of rows that hold it. */
static void
count_rejections(Work *w)
{
	uint32_t	n = w->m->rej_ofs[w->n];
	uint64_t   *all = walloc(w, sizeof(uint64_t) * (n ? n : 1));
	uint32_t	k = 0;

	memcpy(all, w->m->rej_tags, sizeof(uint64_t) * n);
	rc_sort_array(w, all, n, sizeof(uint64_t), cmp_u64);
	w->rtag = walloc(w, sizeof(uint64_t) * (n ? n : 1));
	w->rcount = walloc(w, sizeof(uint32_t) * (n ? n : 1));
	for (uint32_t i = 0; i < n; i++)
	{
		if (k > 0 && w->rtag[k - 1] == all[i])
			w->rcount[k - 1]++;
		else
		{
			w->rtag[k] = all[i];
			w->rcount[k++] = 1;
		}
	}
	w->nrtag = k;
}

RcStatus
rc_match(RcMatch *m, const RcEnv *env)
{
	Work	   *w;

	m->nresults = 0;
	m->ngroups = 0;
	m->err_row = -1;
	if (m->nrows >= (uint32_t) INT32_MAX / 2)
		return RC_ERR_TOO_MANY_ROWS;
	if (!rule_ok(&m->rule))
		return RC_ERR_BAD_RULE;
	w = work_create(m, env);
	scale_amounts(w);
	if (m->rej_ofs)
		count_rejections(w);

	/* canonical order: ids */
	if (!rc_sort_side(w, true) || !rc_sort_side(w, false))
		return RC_ERR_DUPLICATE_ID;

	rc_pass_manual(w);			/* matched by hand */
	rc_pass_invalid(w);			/* 0 */
	rc_build_ref_pairs(w);
	rc_pass_ref(w);				/* 1 */
	rc_pass_amount(w);			/* 2 */
	rc_pass_batches(w, true, false);	/* 3 */
	rc_pass_batches(w, false, false);
	rc_pass_ref_groups(w, true);
	rc_pass_ref_groups(w, false);
	rc_pass_batches(w, true, true);	/* 4 */
	rc_pass_batches(w, false, true);
	rc_pass_ref_only(w);
	rc_pass_fees(w);
	rc_pass_opposite(w);		/* 5 */
	rc_pass_duplicates(w);		/* 6 */
	rc_pass_leftover(w);		/* 7 */
	return RC_OK;
}
