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

/* One batch, and how it is compared (see rc_pass_batches). */
typedef struct Batch
{
	bool		ledger_batches; /* the members are ledger rows */
	bool		gross;			/* amounts plus fees (fee_difference), else net */
	rc_i128		net;			/* the members' amounts, summed */
	rc_i128		fee;			/* the members' fees, summed (gross) */
	rc_i128		target;			/* net, or net + fee */
	rc_i128		tol;			/* ledger batches: the tolerance of net */
	int32_t		latest;			/* the members' latest date */
	const char *norm;			/* the batch value normalised, for a ref match */
	size_t		nlen;
	const uint32_t *members;	/* when one of them has a rejection, else NULL */
	uint32_t	nmem;
	int64_t		best;			/* the one row chosen so far, or -1 */
	Cand		bestc;
} Batch;

/*
 * Row o of the other side, whose amount (or gross) is oamt, against batch
 * b: within the ledger side's tolerance, dated in the window of the batch's
 * latest date or quoting the batch value; in gross mode its net amount must
 * differ beyond tolerance.  Keeps the best by the tie-breaks in b.
 */
static void
consider(Work *w, Batch *b, uint32_t o, rc_i128 oamt, uint32_t orank)
{
	int32_t		ldate = b->ledger_batches ? b->latest : w->rows[o].date;
	int32_t		sdate = b->ledger_batches ? w->rows[o].date : b->latest;
	rc_i128		t = b->ledger_batches ? b->tol : row_tol(w, o);
	rc_i128		dev = i128_abs(oamt - b->target);
	bool		fits;
	Cand		c;

	tick(w);
	if (w->used[o] || dev > t)
		return;
	if (b->gross && i128_abs(w->amt[o] - b->net) <= t)
		return;
	if (b->members && group_rejected(w, o, b->members, b->nmem))
		return;					/* this very group was rejected */
	fits = in_window(w, ldate, sdate);
	if (!fits && w->m->rule.use_ref && b->nlen > 0 && w->rows[o].ref_len > 0)
		fits = rc_ref_contains(b->norm, b->nlen, w->heap + w->rows[o].ref_off,
							   w->rows[o].ref_len);
	if (!fits)
		return;
	memset(&c, 0, sizeof(c));
	c.dev = dev;
	c.absdd = i64_abs((int64_t) sdate - ldate);
	c.lrank = c.srank = orank;
	c.s = o;
	if (b->best < 0 || rc_cmp_cand(&c, &b->bestc) < 0)
	{
		b->bestc = c;
		b->best = o;
	}
}

/* Every row of keys[lo..) whose amount lies in [from, to], considered for b. */
static void
consider_range(Work *w, Batch *b, const AmtKey *keys, uint32_t lo, uint32_t hi,
			   rc_i128 from, rc_i128 to)
{
	for (uint32_t k = lo + lower_bound(keys + lo, hi - lo, from, INT64_MIN);
		 k < hi && keys[k].amt <= to; k++)
		consider(w, b, keys[k].row, keys[k].amt, keys[k].rank);
}

/* Bits of a tolerance: 2^(bits-1) <= t < 2^bits, 0 for 0. */
static int
tol_bits(rc_i128 t)
{
	int			n = 0;

	while (t > 0 && n < 126)
	{
		t >>= 1;
		n++;
	}
	return n;
}

/*
 * The ledger rows of keys[0..n) (sorted by gross) reordered into runs of
 * equal tolerance bits, each run still sorted; run c is keys[start[c] ..
 * start[c + 1]).  A statement batch's gross is looked up in each run within
 * 2^c - 1, past every tolerance of the run, then checked exactly: a
 * row's tolerance follows its own net amount, which its fee may put far
 * from its gross, so no one widening of the range would do.
 */
static void
tolerance_runs(Work *w, AmtKey *keys, uint32_t n, uint32_t *start)
{
	AmtKey	   *tmp = walloc(w, sizeof(AmtKey) * (n ? n : 1));
	uint32_t	pos[128];

	memset(start, 0, sizeof(uint32_t) * 128);
	for (uint32_t i = 0; i < n; i++)
		start[tol_bits(row_tol(w, keys[i].row)) + 1]++;
	for (int c = 1; c < 128; c++)
		start[c] += start[c - 1];
	memcpy(pos, start, sizeof(pos));
	for (uint32_t i = 0; i < n; i++)
	{
		tick(w);
		tmp[pos[tol_bits(row_tol(w, keys[i].row))]++] = keys[i];
	}
	memcpy(keys, tmp, sizeof(AmtKey) * n);
}

/*
 * Pass 3, batches: the remaining rows of one side sharing a batch value
 * (two or more), summed, against the one remaining row of the other side
 * within tolerance whose date fits the window of the batch's latest date,
 * or whose ref matches the batch value; the best by the tie-breaks.  Reads
 * the rows still unmatched; writes many_to_one (ledger batches) or
 * one_to_many (statement batches), one group each.
 *
 * With gross set (pass 4, before the remaining reference pairs): batches
 * whose every member carries a fee, by gross (amount + fee), against one
 * row with a fee whose gross agrees within tolerance but whose net amount
 * does not: a fee_difference group (rc_emit_fee_group).
 */
void
rc_pass_batches(Work *w, bool ledger_batches, bool gross)
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
	uint32_t	runs[128];
	Batch		b;

	if (gross && w->fee == NULL)
		return;
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
	rc_sort_array(w, keys, nk, sizeof(BatchKey), cmp_batchkey);
	ok = rc_sorted_remaining(w, !ledger_batches, gross, &nok);
	if (nok == 0)
		return;
	if (gross && !ledger_batches)
		tolerance_runs(w, ok, nok, runs);

	memset(&b, 0, sizeof(b));
	b.ledger_batches = ledger_batches;
	b.gross = gross;
	for (uint32_t i = 0; i < nk;)
	{
		uint32_t	i1 = i + 1;
		uint32_t	nmem = 0;
		bool		skip = false;

		tick(w);
		while (i1 < nk && keys[i1].len == keys[i].len &&
			   memcmp(keys[i1].p, keys[i].p, (size_t) keys[i].len) == 0)
			i1++;
		b.net = b.fee = 0;
		b.latest = INT32_MIN;
		b.members = NULL;
		for (uint32_t k = i; k < i1; k++)
		{
			uint32_t	r = keys[k].row;

			if (has_rejection(w, r))
				b.members = members;
			members[nmem++] = r;
			b.net += w->amt[r];
			if (gross)
			{
				/* a member without a fee leaves the batch's gross unknown */
				skip |= !w->has_fee[r];
				b.fee += w->fee[r];
				skip |= i128_abs(b.fee) >= RC_I128_LIMIT;
			}
			skip |= i128_abs(b.net) >= RC_I128_LIMIT;
			if (w->rows[r].date > b.latest)
				b.latest = w->rows[r].date;
		}
		if (nmem < 2 || skip)
		{
			i = i1;
			continue;
		}
		b.nmem = nmem;
		b.target = b.net + b.fee;
		b.nlen = 0;
		if (w->m->rule.use_ref)
		{
			if (normcap < (size_t) keys[i].len + 1)
			{
				normcap = (size_t) keys[i].len + 1;
				norm = walloc(w, normcap);
			}
			b.nlen = rc_normalize_ref(keys[i].p, (size_t) keys[i].len, norm);
			b.norm = norm;
		}
		b.best = -1;

		/* the one rows of the other side within tolerance of the batch */
		if (ledger_batches)
		{
			b.tol = rc_tolerance_of(w, b.net);
			consider_range(w, &b, ok, 0, nok, b.target - b.tol, b.target + b.tol);
		}
		else if (gross)
		{
			for (int c = 0; c < 127; c++)
			{
				rc_i128		h = ((rc_i128) 1 << c) - 1;

				if (runs[c + 1] > runs[c])
					consider_range(w, &b, ok, runs[c], runs[c + 1], b.target - h, b.target + h);
			}
		}
		else
		{
			/* tolerance follows the ledger row: widen, then check */
			rc_i128		t = w->abs_tol;

			if (w->rel_num != 0)
			{
				rc_i128		r2 = rc_rel_tolerance(w, b.net);

				/* |s - a| <= rel |a| implies |s - a| <= 2 rel |s| for rel <= 1/2 */
				if (w->rel_scale == 0 || w->rel_num * 2 > rc_pow10(w->rel_scale))
					r2 = RC_I128_LIMIT;
				else
					r2 = r2 * 2 + 1;
				if (r2 > t)
					t = r2;
			}
			consider_range(w, &b, ok, 0, nok, b.target - t, b.target + t);
		}
		if (b.best >= 0 && gross)
			rc_emit_fee_group(w, (uint32_t) b.best, members, nmem, b.net, b.fee);
		else if (b.best >= 0)
			rc_emit_group(w, ledger_batches ? RC_MANY_TO_ONE : RC_ONE_TO_MANY,
						  RC_HOW_BATCH, (uint32_t) b.best, members, nmem, b.net);
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
		if (nmem < 2 || overflow || group_rejected(w, one, members, nmem))
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
