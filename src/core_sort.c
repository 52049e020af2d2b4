/*-------------------------------------------------------------------------
 *
 * core_sort.c
 *	  Sorting for the matching core: an interruptible sort, the id order
 *	  every choice breaks ties by, and rows in amount order.
 *
 * Rows are put in id order first (rc_sort_side), and every later choice
 * breaks ties by that order, so the outcome does not depend on the order in
 * which rows arrive.  Amount candidates are found by binary search over a
 * side's remaining rows sorted by (amount, date, id) (rc_sorted_remaining).
 * Every comparator here is a total order.
 *
 * IDENTIFICATION
 *	  src/core_sort.c
 *
 *-------------------------------------------------------------------------
 */
#include "core.h"

#include <stdlib.h>

/*
 * qsort that the caller can cancel: large arrays are sorted in runs of
 * 32k elements, which are then merged, checking for interrupts between
 * runs and every 4k merged elements.  Every comparator here is a total
 * order, so the result does not depend on the method.
 */
#define SORT_RUN 32768

void
rc_sort_array(Work *w, void *base, size_t n, size_t size, int (*cmp) (const void *, const void *))
{
	char	   *src = base;
	char	   *dst;

	if (n <= 2 * SORT_RUN)
	{
		if (n > 1)
			qsort(base, n, size, cmp);
		return;
	}
	for (size_t i = 0; i < n; i += SORT_RUN)
	{
		qsort(src + i * size, n - i < SORT_RUN ? n - i : SORT_RUN, size, cmp);
		interrupt_point(w);
	}
	dst = rc_buffer(w, &w->sort_tmp, n * size, 0);
	for (size_t width = SORT_RUN; width < n; width *= 2)
	{
		for (size_t lo = 0; lo < n; lo += 2 * width)
		{
			size_t		mid = lo + width < n ? lo + width : n;
			size_t		hi = lo + 2 * width < n ? lo + 2 * width : n;
			size_t		a = lo,
						b = mid,
						o = lo;

			while (a < mid || b < hi)
			{
				const char *take;

				if (b >= hi || (a < mid && cmp(src + a * size, src + b * size) <= 0))
					take = src + (a++) * size;
				else
					take = src + (b++) * size;
				memcpy(dst + (o++) * size, take, size);
				if ((o & 0xFFF) == 0)
					interrupt_point(w);
			}
		}
		{
			char	   *t = src;

			src = dst;
			dst = t;
		}
	}
	if (src != base)
		memcpy(base, src, n * size);
}

/* Row sort key by id bytes. */
typedef struct IdKey
{
	uint64_t	prefix;			/* first 8 bytes, big-endian */
	const char *p;
	uint32_t	len;
	uint32_t	row;
} IdKey;

_Static_assert(sizeof(IdKey) <= sizeof(AmtKey), "an IdKey fits where an AmtKey does");

/*
 * The sort key buffer of one side, room for every row of it as an AmtKey
 * (or an IdKey, which is smaller): rc_sort_side uses it once, then each
 * pass's rc_sorted_remaining, one after the other.
 */
static void *
side_keys(Work *w, bool ledger)
{
	uint32_t	cnt = ledger ? w->nl : w->ns;

	if (w->keybuf[ledger] == NULL)
		w->keybuf[ledger] = walloc(w, sizeof(AmtKey) * (cnt ? cnt : 1));
	return w->keybuf[ledger];
}

static int
cmp_idkey(const void *a, const void *b)
{
	const IdKey *x = a;
	const IdKey *y = b;
	uint32_t	n;
	int			c;

	if (x->prefix != y->prefix)
		return x->prefix < y->prefix ? -1 : 1;
	n = x->len < y->len ? x->len : y->len;
	c = memcmp(x->p, y->p, n);
	if (c != 0)
		return c;
	return (x->len > y->len) - (x->len < y->len);
}

int
rc_cmp_amtkey(const void *a, const void *b)
{
	const AmtKey *x = a;
	const AmtKey *y = b;

	if (x->amt != y->amt)
		return x->amt < y->amt ? -1 : 1;
	if (x->date != y->date)
		return x->date < y->date ? -1 : 1;
	return (x->rank > y->rank) - (x->rank < y->rank);
}

/* Candidates by deviation, day distance, similarity (higher first), ids. */
int
rc_cmp_cand(const void *a, const void *b)
{
	const Cand *x = a;
	const Cand *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->absdd != y->absdd)
		return x->absdd < y->absdd ? -1 : 1;
	if (x->sim != y->sim)
		return x->sim > y->sim ? -1 : 1;
	if (x->lrank != y->lrank)
		return x->lrank < y->lrank ? -1 : 1;
	return (x->srank > y->srank) - (x->srank < y->srank);
}

/*
 * Put the rows of one side in id order and record their ranks; false on a
 * duplicate id (m->err_row is then the second of the two).
 */
bool
rc_sort_side(Work *w, bool ledger)
{
	uint32_t   *out = ledger ? w->lrows : w->srows;
	uint32_t	cnt = ledger ? w->nl : w->ns;
	IdKey	   *keys = side_keys(w, ledger);

	for (uint32_t i = 0; i < cnt; i++)
	{
		uint32_t	r = out[i];
		uint32_t	len;
		const char *p = row_id(w, r, &len);
		unsigned char pre[8] = {0};

		memcpy(pre, p, len < 8 ? len : 8);
		keys[i].prefix = ((uint64_t) pre[0] << 56) | ((uint64_t) pre[1] << 48) |
			((uint64_t) pre[2] << 40) | ((uint64_t) pre[3] << 32) |
			((uint64_t) pre[4] << 24) | ((uint64_t) pre[5] << 16) |
			((uint64_t) pre[6] << 8) | (uint64_t) pre[7];
		keys[i].p = p;
		keys[i].len = len;
		keys[i].row = r;
	}
	rc_sort_array(w, keys, cnt, sizeof(IdKey), cmp_idkey);
	for (uint32_t i = 0; i < cnt; i++)
	{
		tick(w);
		out[i] = keys[i].row;
		w->rank[keys[i].row] = i;
		if (i > 0 && cmp_idkey(&keys[i - 1], &keys[i]) == 0)
		{
			/* report the row that came later in id order's tie: the same id */
			w->m->err_row = (int32_t) keys[i].row;
			return false;
		}
	}
	return true;
}

/*
 * The remaining valid rows of a side, sorted by (amount, date, id); with
 * gross, only those with a fee, by amount + fee.
 */
AmtKey *
rc_sorted_remaining(Work *w, bool ledger, bool gross, uint32_t *count)
{
	const uint32_t *side = ledger ? w->lrows : w->srows;
	uint32_t	cnt = ledger ? w->nl : w->ns;
	AmtKey	   *keys = side_keys(w, ledger);
	uint32_t	k = 0;

	for (uint32_t i = 0; i < cnt; i++)
	{
		uint32_t	r = side[i];

		if (!row_ok(w, r) || (gross && !w->has_fee[r]))
			continue;
		keys[k].amt = gross ? w->amt[r] + w->fee[r] : w->amt[r];
		keys[k].date = w->rows[r].date;
		keys[k].rank = w->rank[r];
		keys[k].row = r;
		k++;
	}
	rc_sort_array(w, keys, k, sizeof(AmtKey), rc_cmp_amtkey);
	*count = k;
	return keys;
}
