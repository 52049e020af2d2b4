/*-------------------------------------------------------------------------
 *
 * match_core.c
 *	  The matching engine: classifies the rows of one group in passes.
 *
 * Input is one group's rows (ledger and statement), output one result per
 * ledger row and per statement row (group "one" sides repeated once per
 * member).  The passes follow SPEC section 3:
 *
 *	0 invalid rows; 1 reference pairs within tolerance and window;
 *	2 amount/date pairs: a maximum matching among equal amounts (nearest
 *	  dates first, then augmenting paths), then pairs within tolerance;
 *	3 payout batches both ways, instalments and combined payments by ref;
 *	4 reference-only pairs; 5 opposite amounts within the window;
 *	6 duplicates of rows matched in 1-4; 7 in_transit / missing.
 *
 * Nothing compares every ledger row with every statement row: references
 * are matched through a hash of distinct normalised refs and an anchor
 * 4-gram index probed with the other side's refs; amounts through sorted
 * arrays searched by binary search for the tolerance range; dates by
 * sweeping date-sorted classes of equal amount.  Rows are first put in id
 * order, and every choice breaks ties by that order, so the outcome does
 * not depend on the order in which rows arrive.
 *
 * Plain C, no backend calls: memory comes from RcEnv.alloc (never freed
 * here; the caller frees the whole arena) and RcEnv.check_interrupts is
 * called in every long loop.
 *
 * IDENTIFICATION
 *	  src/match_core.c
 *
 *-------------------------------------------------------------------------
 */
#include "match_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const rc_category_names[RC_NUM_CATEGORIES] = {
	"matched", "matched_within_tolerance", "many_to_one", "one_to_many",
	"manual", "timing_difference", "in_transit", "amount_mismatch",
	"reversal", "duplicate", "missing_in_statement", "missing_in_ledger",
	"invalid"
};

/* A ref matching more rows than this on the other side identifies nothing. */
#define RC_REF_FANOUT 100

/* Date offsets tried one by one before augmenting paths take over. */
#define RC_NEAREST_ROUNDS 31

/* Largest bucket of same-date rows paired by ref similarity. */
#define RC_BUCKET_SIM_MAX 32

#define RC_I128_LIMIT ((rc_i128) 1000000000000000000LL * (rc_i128) 10000000000000000000ULL)	/* 10^37 */

typedef unsigned __int128 rc_u128 __attribute__((aligned(8)));

typedef struct RcWork
{
	RcMatch    *m;
	const RcEnv *env;
	const RcRow *rows;
	const char *heap;
	uint32_t	n;
	uint32_t	tick;			/* interrupt check counter */

	uint32_t   *lrows;			/* ledger rows in id order */
	uint32_t   *srows;			/* statement rows in id order */
	uint32_t	nl;
	uint32_t	ns;
	uint32_t   *rank;			/* position of a row within its side */
	uint8_t    *invalid;		/* RcInvalid, including range overflow */
	uint8_t    *used;			/* row has its result */
	uint8_t    *early;			/* row matched in passes 1-4 */
	rc_i128    *amt;			/* amount at the common scale */
	rc_i128    *tol;			/* tolerance of a ledger row */
	int32_t    *mate;			/* pass 2: matched partner */
	uint32_t   *visited;		/* pass 2: augmenting path generation */

	rc_i128		abs_tol;
	rc_i128		rel_num;		/* rel_tol = rel_num / 10^rel_scale */
	int			rel_scale;
	bool		has_tol;

	/* reference pairs, as row pairs in two CSR forms */
	uint32_t	npairs;
	uint32_t   *pair_l;
	uint32_t   *pair_s;
	uint32_t   *lofs;			/* by ledger row: pairs lofs[r]..lofs[r+1] */
	uint32_t   *lpairs;			/* statement rows */
	uint32_t   *sofs;
	uint32_t   *spairs;			/* ledger rows */
} Work;

/* Candidate pair, ordered by deviation, day distance, similarity, ids. */
typedef struct Cand
{
	rc_i128		dev;
	int64_t		absdd;
	double		sim;
	uint32_t	lrank;
	uint32_t	srank;
	uint32_t	l;
	uint32_t	s;
} Cand;

/* Row sort key by amount, date and id rank. */
typedef struct AmtKey
{
	rc_i128		amt;
	int32_t		date;
	uint32_t	rank;
	uint32_t	row;
} AmtKey;

typedef struct CandVec
{
	Cand	   *v;
	size_t		n;
	size_t		cap;
} CandVec;

static void *
walloc(Work *w, size_t size)
{
	return w->env->alloc(w->env->arg, size ? size : 1);
}

static void *
walloc0(Work *w, size_t size)
{
	void	   *p = walloc(w, size);

	memset(p, 0, size ? size : 1);
	return p;
}

/* Let the caller cancel a long loop now and then. */
static inline void
tick(Work *w)
{
	if ((++w->tick & 0x3FF) == 0 && w->env->check_interrupts)
		w->env->check_interrupts(w->env->arg);
}

static inline rc_i128
i128_abs(rc_i128 v)
{
	return v < 0 ? -v : v;
}

static inline int64_t
i64_abs(int64_t v)
{
	return v < 0 ? -v : v;
}

static inline const char *
row_id(const Work *w, uint32_t r, uint32_t *len)
{
	*len = w->rows[r].id_len;
	return w->heap + w->rows[r].id_off;
}

static inline bool
row_ok(const Work *w, uint32_t r)
{
	return w->invalid[r] == RC_VALID && !w->used[r];
}

/* Let the caller cancel now. */
static inline void
interrupt_point(Work *w)
{
	if (w->env->check_interrupts)
		w->env->check_interrupts(w->env->arg);
}

/*
 * qsort that the caller can cancel: large arrays are sorted in runs of
 * 32k elements, which are then merged, checking for interrupts between
 * runs and every 4k merged elements.  Every comparator here is a total
 * order, so the result does not depend on the method.
 */
#define SORT_RUN 32768

static void
sort_array(Work *w, void *base, size_t n, size_t size, int (*cmp) (const void *, const void *))
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
	dst = walloc(w, n * size);
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

/* ------------------------------------------------------------------------
 * Decimal arithmetic on scaled integers
 * ------------------------------------------------------------------------
 */

static rc_i128
pow10_i128(int k)
{
	rc_i128		v = 1;

	while (k-- > 0)
		v *= 10;
	return v;
}

bool
rc_parse_decimal(const char *s, int scale, rc_i128 *v)
{
	bool		neg = false;
	bool		saturated = false;
	bool		any = false;
	rc_i128		acc = 0;
	int			frac = -1;

	if (*s == '-' || *s == '+')
		neg = (*s++ == '-');
	for (; *s; s++)
	{
		if (*s == '.')
		{
			if (frac >= 0)
				return false;
			frac = 0;
			continue;
		}
		if (*s < '0' || *s > '9')
			return false;
		any = true;
		if (frac >= 0)
		{
			if (frac >= scale)
				continue;		/* truncated */
			frac++;
		}
		if (!saturated)
		{
			acc = acc * 10 + (*s - '0');
			if (acc >= RC_I128_LIMIT)
				saturated = true;
		}
	}
	if (!any)
		return false;
	if (frac < 0)
		frac = 0;
	if (saturated)
		acc = RC_I128_LIMIT;
	else
	{
		for (; frac < scale; frac++)
		{
			acc *= 10;
			if (acc >= RC_I128_LIMIT)
			{
				acc = RC_I128_LIMIT;
				break;
			}
		}
	}
	*v = neg ? -acc : acc;
	return true;
}

/* Parse a decimal at its own scale; false if it has more than 37 digits. */
static bool
parse_exact(const char *s, rc_i128 *v, int *scale)
{
	const char *dot = strchr(s, '.');
	int			sc = 0;

	if (dot)
	{
		const char *end = dot + strlen(dot) - 1;

		while (end > dot && *end == '0')
			end--;
		sc = (int) (end - dot);
	}
	if (sc > 76 || !rc_parse_decimal(s, sc, v) || i128_abs(*v) >= RC_I128_LIMIT)
		return false;
	*scale = sc;
	return true;
}

size_t
rc_format_amount(rc_i128 v, int scale, char *buf, size_t buflen)
{
	char		tmp[64];
	int			n = 0;
	rc_u128		u = v < 0 ? (rc_u128) (-(v + 1)) + 1 : (rc_u128) v;
	size_t		o = 0;

	do
	{
		tmp[n++] = (char) ('0' + (int) (u % 10));
		u /= 10;
	} while (u > 0 || n <= scale);
	if (buflen == 0)
		return 0;
	if (v < 0 && o + 1 < buflen)
		buf[o++] = '-';
	while (n > 0 && o + 1 < buflen)
	{
		if (n == scale && o + 1 < buflen)
			buf[o++] = '.';
		buf[o++] = tmp[--n];
	}
	buf[o] = '\0';
	return o;
}

/* Format v at scale, dropping trailing fractional zeros down to min_scale. */
static size_t
format_trim(rc_i128 v, int scale, int min_scale, char *buf, size_t buflen)
{
	while (scale > min_scale && v % 10 == 0)
	{
		v /= 10;
		scale--;
	}
	return rc_format_amount(v, scale, buf, buflen);
}

/* floor(rel_tol * |a|) at the common scale, saturating at 10^37. */
static rc_i128
rel_tolerance(const Work *w, rc_i128 a)
{
	rc_u128		x = (rc_u128) i128_abs(a);
	rc_u128		y = (rc_u128) w->rel_num;
	uint64_t	limb[4];
	rc_u128		p00,
				p01,
				p10,
				p11,
				mid,
				hi;
	int			k = w->rel_scale;

	if (w->rel_num == 0 || x == 0)
		return 0;
	/* 256-bit product in four 64-bit limbs */
	p00 = (rc_u128) (uint64_t) x * (uint64_t) y;
	p01 = (rc_u128) (uint64_t) x * (uint64_t) (y >> 64);
	p10 = (rc_u128) (uint64_t) (x >> 64) * (uint64_t) y;
	p11 = (rc_u128) (uint64_t) (x >> 64) * (uint64_t) (y >> 64);
	limb[0] = (uint64_t) p00;
	mid = (p00 >> 64) + (uint64_t) p01 + (uint64_t) p10;
	limb[1] = (uint64_t) mid;
	hi = (mid >> 64) + (p01 >> 64) + (p10 >> 64) + (uint64_t) p11;
	limb[2] = (uint64_t) hi;
	limb[3] = (uint64_t) ((hi >> 64) + (p11 >> 64));
	/* divide by 10^k, at most 10^19 at a time */
	while (k > 0)
	{
		int			step = k > 19 ? 19 : k;
		uint64_t	d = 1;
		rc_u128		rem = 0;

		for (int i = 0; i < step; i++)
			d *= 10;
		for (int i = 3; i >= 0; i--)
		{
			rc_u128		cur = (rem << 64) | limb[i];

			limb[i] = (uint64_t) (cur / d);
			rem = cur % d;
		}
		k -= step;
	}
	if (limb[3] != 0 || limb[2] != 0)
		return RC_I128_LIMIT;
	x = ((rc_u128) limb[1] << 64) | limb[0];
	return x >= (rc_u128) RC_I128_LIMIT ? RC_I128_LIMIT : (rc_i128) x;
}

/* The tolerance for a ledger amount a (or a batch sum). */
static inline rc_i128
tolerance_of(const Work *w, rc_i128 a)
{
	rc_i128		r = rel_tolerance(w, a);

	return r > w->abs_tol ? r : w->abs_tol;
}

static inline bool
in_window(const Work *w, int32_t ldate, int32_t sdate)
{
	int64_t		dd = (int64_t) sdate - ldate;

	return dd >= -(int64_t) w->m->rule.days_before &&
		dd <= (int64_t) w->m->rule.days_after;
}

/* ------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------
 */

static uint16_t
pair_scale(const Work *w, uint32_t a, uint32_t b)
{
	return w->rows[a].dscale > w->rows[b].dscale ? w->rows[a].dscale : w->rows[b].dscale;
}

/* amount_diff at the common scale brought down to diff_scale (exact). */
static rc_i128
rescale_down(const Work *w, rc_i128 v, int diff_scale)
{
	return v / pow10_i128(w->m->scale - diff_scale);
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
static void
emit_pair(Work *w, RcCategory cat, RcHow how, uint32_t l, uint32_t s)
{
	RcResult   *r = new_result(w, cat, (int32_t) l, (int32_t) s);

	r->how = (uint8_t) how;
	r->has_diff = true;
	r->diff_scale = pair_scale(w, l, s);
	r->amount_diff = rescale_down(w, w->amt[s] - w->amt[l], r->diff_scale);
	r->days_diff = (int64_t) w->rows[s].date - w->rows[l].date;
	r->score = score_of(w->amt[l], w->amt[s], r->days_diff);
	if (how != RC_HOW_WINDOW)
		w->early[l] = w->early[s] = 1;
}

/* Record a single-sided result. */
static void
emit_single(Work *w, RcCategory cat, uint32_t row, int32_t other)
{
	RcResult   *r;

	if (w->rows[row].is_ledger)
		r = new_result(w, cat, (int32_t) row, -1);
	else
		r = new_result(w, cat, -1, (int32_t) row);
	r->other = other;
}

/*
 * Record a group: members (sorted by id) against the single row one.
 * The whole difference sits on the first member's result.
 */
static void
emit_group(Work *w, RcCategory cat, RcHow how, uint32_t one,
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
		r->group_diff = rescale_down(w, diff, sc);
		r->amount_diff = i == 0 ? r->group_diff : 0;
		r->days_diff = (int64_t) w->rows[s].date - w->rows[l].date;
		r->score = one_is_ledger ? score_of(w->amt[one], sum, r->days_diff)
			: score_of(sum, w->amt[one], r->days_diff);
		w->early[l] = w->early[s] = 1;
	}
}

/* ------------------------------------------------------------------------
 * Sorting helpers
 * ------------------------------------------------------------------------
 */

typedef struct IdKey
{
	uint64_t	prefix;			/* first 8 bytes, big-endian */
	const char *p;
	uint32_t	len;
	uint32_t	row;
} IdKey;

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

static int
cmp_amtkey(const void *a, const void *b)
{
	const AmtKey *x = a;
	const AmtKey *y = b;

	if (x->amt != y->amt)
		return x->amt < y->amt ? -1 : 1;
	if (x->date != y->date)
		return x->date < y->date ? -1 : 1;
	return (x->rank > y->rank) - (x->rank < y->rank);
}

static int
cmp_cand(const void *a, const void *b)
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

/* Rows of one side in id order; returns false on a duplicate id. */
static bool
sort_side(Work *w, uint32_t *out, uint32_t cnt)
{
	IdKey	   *keys = walloc(w, sizeof(IdKey) * cnt);

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
	sort_array(w, keys, cnt, sizeof(IdKey), cmp_idkey);
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

/* Remaining valid rows of a side, sorted by (amount, date, id). */
static AmtKey *
sorted_remaining(Work *w, bool ledger, uint32_t *count)
{
	const uint32_t *side = ledger ? w->lrows : w->srows;
	uint32_t	cnt = ledger ? w->nl : w->ns;
	AmtKey	   *keys = walloc(w, sizeof(AmtKey) * (cnt ? cnt : 1));
	uint32_t	k = 0;

	for (uint32_t i = 0; i < cnt; i++)
	{
		uint32_t	r = side[i];

		if (!row_ok(w, r))
			continue;
		keys[k].amt = w->amt[r];
		keys[k].date = w->rows[r].date;
		keys[k].rank = w->rank[r];
		keys[k].row = r;
		k++;
	}
	sort_array(w, keys, k, sizeof(AmtKey), cmp_amtkey);
	*count = k;
	return keys;
}

/* First index in keys[0..n) whose (amt, date) >= (amt, date). */
static uint32_t
lower_bound(const AmtKey *keys, uint32_t n, rc_i128 amt, int64_t date)
{
	uint32_t	lo = 0;
	uint32_t	hi = n;

	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;

		if (keys[mid].amt < amt || (keys[mid].amt == amt && keys[mid].date < date))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
cand_push(Work *w, CandVec *cv, const Cand *c)
{
	if (cv->n == cv->cap)
	{
		size_t		ncap = cv->cap ? cv->cap * 2 : 1024;
		Cand	   *nv = walloc(w, ncap * sizeof(Cand));

		if (cv->n)
			memcpy(nv, cv->v, cv->n * sizeof(Cand));
		cv->v = nv;
		cv->cap = ncap;
	}
	cv->v[cv->n++] = *c;
}

static double
row_similarity(const Work *w, uint32_t a, uint32_t b)
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
static void
collect_range(Work *w, CandVec *cv, const AmtKey *sk, uint32_t nsk, uint32_t l,
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
			c.sim = sim ? row_similarity(w, l, s) : 0.0;
			c.lrank = w->rank[l];
			c.srank = sk[i].rank;
			c.l = l;
			c.s = s;
			cand_push(w, cv, &c);
		}
		i++;
	}
}

/* Take candidates in order, each row at most once; emit via cat_of. */
typedef RcCategory (*CatFn) (Work *w, const Cand *c);

static void
take_greedy(Work *w, CandVec *cv, RcHow how, CatFn cat_of)
{
	if (cv->n == 0)
		return;
	sort_array(w, cv->v, cv->n, sizeof(Cand), cmp_cand);
	for (size_t i = 0; i < cv->n; i++)
	{
		const Cand *c = &cv->v[i];

		tick(w);
		if (w->used[c->l] || w->used[c->s])
			continue;
		emit_pair(w, cat_of(w, c), how, c->l, c->s);
	}
	cv->n = 0;
}

static RcCategory
cat_tolerance(Work *w, const Cand *c)
{
	return w->amt[c->l] == w->amt[c->s] ? RC_MATCHED : RC_MATCHED_WITHIN_TOLERANCE;
}

static RcCategory
cat_reversal(Work *w, const Cand *c)
{
	(void) w;
	(void) c;
	return RC_REVERSAL;
}

/* Pass 4: what a reference pair that failed the earlier passes is. */
static RcCategory
cat_ref_only(Work *w, const Cand *c)
{
	rc_i128		t = w->tol[c->l];

	if (i128_abs(w->amt[c->s] - w->amt[c->l]) <= t)
		return RC_TIMING_DIFFERENCE;
	if (i128_abs(w->amt[c->s] + w->amt[c->l]) <= t)
		return RC_REVERSAL;
	return RC_AMOUNT_MISMATCH;
}

/* ------------------------------------------------------------------------
 * Reference pairs
 * ------------------------------------------------------------------------
 */

/* Distinct normalised refs of one side, each with its rows in id order. */
typedef struct StrSet
{
	uint32_t	nstr;
	uint32_t   *str_row;		/* a representative row (for the bytes) */
	uint32_t   *ofs;			/* rows of string k: rows[ofs[k]..ofs[k+1]) */
	uint32_t   *rows;
	uint32_t   *table;			/* open addressing: string id + 1, 0 = empty */
	uint32_t	mask;
} StrSet;

static inline uint32_t
hash_bytes(const char *p, uint32_t len)
{
	uint64_t	h = 1469598103934665603ULL;

	for (uint32_t i = 0; i < len; i++)
		h = (h ^ (unsigned char) p[i]) * 1099511628211ULL;
	return (uint32_t) (h ^ (h >> 32));
}

static inline const char *
str_bytes(const Work *w, const StrSet *ss, uint32_t k, uint32_t *len)
{
	const RcRow *r = &w->rows[ss->str_row[k]];

	*len = r->ref_len;
	return w->heap + r->ref_off;
}

/* The id of string p in ss, or UINT32_MAX. */
static uint32_t
strset_find(const Work *w, const StrSet *ss, const char *p, uint32_t len)
{
	uint32_t	h;

	if (ss->nstr == 0)
		return UINT32_MAX;
	h = hash_bytes(p, len) & ss->mask;
	for (;;)
	{
		uint32_t	e = ss->table[h];
		uint32_t	l2;
		const char *q;

		if (e == 0)
			return UINT32_MAX;
		q = str_bytes(w, ss, e - 1, &l2);
		if (l2 == len && memcmp(p, q, len) == 0)
			return e - 1;
		h = (h + 1) & ss->mask;
	}
}

static void
strset_build(Work *w, StrSet *ss, const uint32_t *side, uint32_t cnt)
{
	uint32_t   *row_str = walloc(w, sizeof(uint32_t) * (cnt ? cnt : 1));
	uint32_t   *count;
	uint32_t	size = 16;

	while (size < cnt * 2)
		size <<= 1;
	ss->mask = size - 1;
	ss->table = walloc0(w, sizeof(uint32_t) * size);
	ss->str_row = walloc(w, sizeof(uint32_t) * (cnt ? cnt : 1));
	ss->nstr = 0;
	for (uint32_t i = 0; i < cnt; i++)
	{
		uint32_t	r = side[i];
		const RcRow *row = &w->rows[r];
		const char *p = w->heap + row->ref_off;
		uint32_t	h;

		tick(w);
		row_str[i] = UINT32_MAX;
		if (w->invalid[r] != RC_VALID || row->ref_len == 0)
			continue;
		h = hash_bytes(p, row->ref_len) & ss->mask;
		for (;;)
		{
			uint32_t	e = ss->table[h];
			uint32_t	l2;
			const char *q;

			if (e == 0)
			{
				ss->str_row[ss->nstr] = r;
				ss->table[h] = ++ss->nstr;
				row_str[i] = ss->nstr - 1;
				break;
			}
			q = str_bytes(w, ss, e - 1, &l2);
			if (l2 == row->ref_len && memcmp(p, q, l2) == 0)
			{
				row_str[i] = e - 1;
				break;
			}
			h = (h + 1) & ss->mask;
		}
	}
	/* rows per string, kept in id order */
	count = walloc0(w, sizeof(uint32_t) * (ss->nstr + 1));
	for (uint32_t i = 0; i < cnt; i++)
		if (row_str[i] != UINT32_MAX)
			count[row_str[i] + 1]++;
	for (uint32_t k = 0; k < ss->nstr; k++)
		count[k + 1] += count[k];
	ss->ofs = count;
	ss->rows = walloc(w, sizeof(uint32_t) * (count[ss->nstr] ? count[ss->nstr] : 1));
	{
		uint32_t   *fill = walloc(w, sizeof(uint32_t) * (ss->nstr + 1));

		memcpy(fill, count, sizeof(uint32_t) * (ss->nstr + 1));
		for (uint32_t i = 0; i < cnt; i++)
			if (row_str[i] != UINT32_MAX)
				ss->rows[fill[row_str[i]]++] = side[i];
	}
}

typedef struct StrPair
{
	uint32_t	a;				/* ledger string */
	uint32_t	b;				/* statement string */
} StrPair;

typedef struct PairVec
{
	StrPair    *v;
	size_t		n;
	size_t		cap;
} PairVec;

static void
pair_push(Work *w, PairVec *pv, uint32_t a, uint32_t b)
{
	if (pv->n == pv->cap)
	{
		size_t		ncap = pv->cap ? pv->cap * 2 : 1024;
		StrPair    *nv = walloc(w, ncap * sizeof(StrPair));

		if (pv->n)
			memcpy(nv, pv->v, pv->n * sizeof(StrPair));
		pv->v = nv;
		pv->cap = ncap;
	}
	pv->v[pv->n].a = a;
	pv->v[pv->n].b = b;
	pv->n++;
}

static int
cmp_strpair(const void *x, const void *y)
{
	const StrPair *a = x;
	const StrPair *b = y;

	if (a->a != b->a)
		return a->a < b->a ? -1 : 1;
	return (a->b > b->b) - (a->b < b->b);
}

static inline uint32_t
gram_hash(const char *p)
{
	uint32_t	v;

	memcpy(&v, p, 4);
	return v * 2654435761u;
}

typedef struct Anchor
{
	uint32_t	hash;
	uint32_t	pat;			/* pattern string id */
	uint32_t	off;			/* byte offset of the anchor in the pattern */
} Anchor;

static int
cmp_anchor(const void *x, const void *y)
{
	const Anchor *a = x;
	const Anchor *b = y;

	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	return (a->pat > b->pat) - (a->pat < b->pat);
}

/* sizes of the gram count sketch and the anchor filter, in bits of hash */
#define SKETCH_BITS_MAX 20
#define FILTER_BITS_MAX 24

/* The bits that give about 2^extra slots per item, within [10, max]. */
static int
table_bits(size_t items, int extra, int max)
{
	int			bits = 10;

	while (bits < max && ((size_t) 1 << bits) < (items << extra))
		bits++;
	return bits;
}

/*
 * Find every (pattern, text) with the pattern (>= 4 characters) occurring
 * inside the longer text.  Each pattern is anchored at its rarest 4-byte
 * gram (by a count sketch over all patterns); texts are scanned once, each
 * position probing a bit filter and then the sorted anchors.
 */
static void
find_containment(Work *w, const StrSet *pats, const StrSet *texts,
				 bool pats_are_ledger, PairVec *out)
{
	uint16_t   *sketch;
	uint8_t    *filter;
	Anchor	   *anchors;
	uint32_t	nanch = 0;
	uint32_t	minlen = UINT32_MAX;
	int			sketch_bits;
	int			filter_bits;

	if (pats->nstr == 0 || texts->nstr == 0)
		return;
	sketch_bits = table_bits(pats->nstr * 8, 1, SKETCH_BITS_MAX);
	sketch = walloc0(w, sizeof(uint16_t) << sketch_bits);
	for (uint32_t k = 0; k < pats->nstr; k++)
	{
		uint32_t	len;
		const char *p = str_bytes(w, pats, k, &len);

		tick(w);
		if (len < 4)
			continue;
		for (uint32_t i = 0; i + 4 <= len; i++)
		{
			uint32_t	h = gram_hash(p + i) >> (32 - sketch_bits);

			if (sketch[h] < UINT16_MAX)
				sketch[h]++;
		}
	}
	anchors = walloc(w, sizeof(Anchor) * pats->nstr);
	for (uint32_t k = 0; k < pats->nstr; k++)
	{
		uint32_t	len;
		const char *p = str_bytes(w, pats, k, &len);
		uint32_t	best = 0;
		uint32_t	bestc = UINT32_MAX;

		tick(w);
		if (len < 4 || rc_utf8_chars(p, len) < 4)
			continue;
		for (uint32_t i = 0; i + 4 <= len; i++)
		{
			uint32_t	c = sketch[gram_hash(p + i) >> (32 - sketch_bits)];

			if (c < bestc)
			{
				bestc = c;
				best = i;
			}
		}
		anchors[nanch].hash = gram_hash(p + best);
		anchors[nanch].pat = k;
		anchors[nanch].off = best;
		nanch++;
		if (len < minlen)
			minlen = len;
	}
	if (nanch == 0)
		return;
	sort_array(w, anchors, nanch, sizeof(Anchor), cmp_anchor);
	filter_bits = table_bits(nanch, 5, FILTER_BITS_MAX);
	filter = walloc0(w, (size_t) 1 << (filter_bits - 3));
	for (uint32_t i = 0; i < nanch; i++)
	{
		uint32_t	b = anchors[i].hash >> (32 - filter_bits);

		filter[b >> 3] |= (uint8_t) (1 << (b & 7));
	}
	for (uint32_t t = 0; t < texts->nstr; t++)
	{
		uint32_t	tlen;
		const char *tp = str_bytes(w, texts, t, &tlen);

		if (tlen <= minlen)
			continue;
		for (uint32_t i = 0; i + 4 <= tlen; i++)
		{
			uint32_t	h = gram_hash(tp + i);
			uint32_t	b = h >> (32 - filter_bits);
			uint32_t	lo = 0;
			uint32_t	hi = nanch;

			tick(w);
			if (!(filter[b >> 3] & (1 << (b & 7))))
				continue;
			while (lo < hi)
			{
				uint32_t	mid = lo + (hi - lo) / 2;

				if (anchors[mid].hash < h)
					lo = mid + 1;
				else
					hi = mid;
			}
			for (; lo < nanch && anchors[lo].hash == h; lo++)
			{
				uint32_t	plen;
				const char *pp = str_bytes(w, pats, anchors[lo].pat, &plen);
				uint32_t	off = anchors[lo].off;

				if (plen >= tlen || i < off || i - off + plen > tlen)
					continue;
				if (memcmp(tp + i - off, pp, plen) != 0)
					continue;
				if (pats_are_ledger)
					pair_push(w, out, anchors[lo].pat, t);
				else
					pair_push(w, out, t, anchors[lo].pat);
			}
		}
	}
}

/* Build the row pairs whose refs match (ref_similarity = 1). */
static void
build_ref_pairs(Work *w)
{
	StrSet		ls;
	StrSet		ss;
	PairVec		pv = {0};
	uint32_t   *lfan;
	uint32_t   *sfan;
	size_t		npairs = 0;
	size_t		k;

	w->npairs = 0;
	w->lofs = walloc0(w, sizeof(uint32_t) * (w->n + 1));
	w->sofs = walloc0(w, sizeof(uint32_t) * (w->n + 1));
	w->lpairs = w->spairs = NULL;
	if (!w->m->rule.use_ref)
		return;
	strset_build(w, &ls, w->lrows, w->nl);
	strset_build(w, &ss, w->srows, w->ns);
	if (ls.nstr == 0 || ss.nstr == 0)
		return;

	/* equal refs */
	for (uint32_t a = 0; a < ls.nstr; a++)
	{
		uint32_t	len;
		const char *p = str_bytes(w, &ls, a, &len);
		uint32_t	b;

		tick(w);
		if (len < 4 || rc_utf8_chars(p, len) < 4)
			continue;
		b = strset_find(w, &ss, p, len);
		if (b != UINT32_MAX)
			pair_push(w, &pv, a, b);
	}
	/* one contained in the other, both ways */
	find_containment(w, &ls, &ss, true, &pv);
	find_containment(w, &ss, &ls, false, &pv);

	if (pv.n > 0)
		sort_array(w, pv.v, pv.n, sizeof(StrPair), cmp_strpair);
	/* dedupe, count how many rows each string reaches on the other side */
	lfan = walloc0(w, sizeof(uint32_t) * ls.nstr);
	sfan = walloc0(w, sizeof(uint32_t) * ss.nstr);
	k = 0;
	for (size_t i = 0; i < pv.n; i++)
	{
		StrPair		p = pv.v[i];
		uint32_t	nla,
					nsb;

		if (k > 0 && pv.v[k - 1].a == p.a && pv.v[k - 1].b == p.b)
			continue;
		pv.v[k++] = p;
		nla = ls.ofs[p.a + 1] - ls.ofs[p.a];
		nsb = ss.ofs[p.b + 1] - ss.ofs[p.b];
		lfan[p.a] = lfan[p.a] + nsb > RC_REF_FANOUT ? RC_REF_FANOUT + 1 : lfan[p.a] + nsb;
		sfan[p.b] = sfan[p.b] + nla > RC_REF_FANOUT ? RC_REF_FANOUT + 1 : sfan[p.b] + nla;
	}
	pv.n = k;
	for (size_t i = 0; i < pv.n; i++)
	{
		StrPair		p = pv.v[i];

		if (lfan[p.a] > RC_REF_FANOUT || sfan[p.b] > RC_REF_FANOUT)
			continue;
		npairs += (size_t) (ls.ofs[p.a + 1] - ls.ofs[p.a]) * (ss.ofs[p.b + 1] - ss.ofs[p.b]);
	}
	if (npairs > UINT32_MAX / 2)
		npairs = UINT32_MAX / 2;	/* cannot happen with the fanout cap */
	w->pair_l = walloc(w, sizeof(uint32_t) * (npairs ? npairs : 1));
	w->pair_s = walloc(w, sizeof(uint32_t) * (npairs ? npairs : 1));
	for (size_t i = 0; i < pv.n && w->npairs < npairs; i++)
	{
		StrPair		p = pv.v[i];

		if (lfan[p.a] > RC_REF_FANOUT || sfan[p.b] > RC_REF_FANOUT)
			continue;
		for (uint32_t x = ls.ofs[p.a]; x < ls.ofs[p.a + 1]; x++)
			for (uint32_t y = ss.ofs[p.b]; y < ss.ofs[p.b + 1]; y++)
			{
				tick(w);
				w->pair_l[w->npairs] = ls.rows[x];
				w->pair_s[w->npairs] = ss.rows[y];
				w->npairs++;
			}
	}
	/* CSR by ledger row and by statement row */
	for (uint32_t i = 0; i < w->npairs; i++)
	{
		w->lofs[w->pair_l[i] + 1]++;
		w->sofs[w->pair_s[i] + 1]++;
	}
	for (uint32_t r = 0; r < w->n; r++)
	{
		w->lofs[r + 1] += w->lofs[r];
		w->sofs[r + 1] += w->sofs[r];
	}
	w->lpairs = walloc(w, sizeof(uint32_t) * (w->npairs ? w->npairs : 1));
	w->spairs = walloc(w, sizeof(uint32_t) * (w->npairs ? w->npairs : 1));
	{
		uint32_t   *lf = walloc(w, sizeof(uint32_t) * (w->n + 1));
		uint32_t   *sf = walloc(w, sizeof(uint32_t) * (w->n + 1));

		memcpy(lf, w->lofs, sizeof(uint32_t) * (w->n + 1));
		memcpy(sf, w->sofs, sizeof(uint32_t) * (w->n + 1));
		for (uint32_t i = 0; i < w->npairs; i++)
		{
			w->lpairs[lf[w->pair_l[i]]++] = w->pair_s[i];
			w->spairs[sf[w->pair_s[i]]++] = w->pair_l[i];
		}
	}
}

/* ------------------------------------------------------------------------
 * Pass 1 and pass 4: reference pairs
 * ------------------------------------------------------------------------
 */

static void
pass_ref(Work *w)
{
	CandVec		cv = {0};

	for (uint32_t i = 0; i < w->npairs; i++)
	{
		uint32_t	l = w->pair_l[i];
		uint32_t	s = w->pair_s[i];
		Cand		c;

		tick(w);
		if (!row_ok(w, l) || !row_ok(w, s))
			continue;
		c.dev = i128_abs(w->amt[s] - w->amt[l]);
		if (c.dev > w->tol[l] || !in_window(w, w->rows[l].date, w->rows[s].date))
			continue;
		c.absdd = i64_abs((int64_t) w->rows[s].date - w->rows[l].date);
		c.sim = 1.0;
		c.lrank = w->rank[l];
		c.srank = w->rank[s];
		c.l = l;
		c.s = s;
		cand_push(w, &cv, &c);
	}
	take_greedy(w, &cv, RC_HOW_REF, cat_tolerance);
}

static void
pass_ref_only(Work *w)
{
	CandVec		cv = {0};

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
		cand_push(w, &cv, &c);
	}
	take_greedy(w, &cv, RC_HOW_REF_ONLY, cat_ref_only);
}

/* ------------------------------------------------------------------------
 * Pass 2: amounts and dates
 * ------------------------------------------------------------------------
 */

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

/* Pair the free rows of two same-date buckets, best similarity first. */
static void
pair_bucket(Work *w, const AmtKey *L, uint32_t l0, uint32_t l1,
			const AmtKey *S, uint32_t s0, uint32_t s1, uint32_t *size)
{
	uint32_t	nfl = 0,
				nfs = 0;
	bool		refs = false;

	for (uint32_t i = l0; i < l1; i++)
		if (w->mate[L[i].row] < 0)
		{
			nfl++;
			refs |= w->rows[L[i].row].ref_len > 0;
		}
	for (uint32_t j = s0; j < s1; j++)
		if (w->mate[S[j].row] < 0)
			nfs++;
	if (nfl == 0 || nfs == 0)
		return;
	if (refs && nfl > 1 && nfs > 1 && nfl <= RC_BUCKET_SIM_MAX && nfs <= RC_BUCKET_SIM_MAX)
	{
		Cand		cs[RC_BUCKET_SIM_MAX * RC_BUCKET_SIM_MAX];
		uint32_t	nc = 0;

		for (uint32_t i = l0; i < l1; i++)
			for (uint32_t j = s0; j < s1; j++)
			{
				if (w->mate[L[i].row] >= 0 || w->mate[S[j].row] >= 0)
					continue;
				memset(&cs[nc], 0, sizeof(Cand));
				cs[nc].sim = row_similarity(w, L[i].row, S[j].row);
				cs[nc].lrank = L[i].rank;
				cs[nc].srank = S[j].rank;
				cs[nc].l = L[i].row;
				cs[nc].s = S[j].row;
				nc++;
			}
		qsort(cs, nc, sizeof(Cand), cmp_cand);
		for (uint32_t k = 0; k < nc; k++)
		{
			if (w->mate[cs[k].l] >= 0 || w->mate[cs[k].s] >= 0)
				continue;
			w->mate[cs[k].l] = (int32_t) cs[k].s;
			w->mate[cs[k].s] = (int32_t) cs[k].l;
			(*size)++;
		}
		return;
	}
	/* in id order */
	{
		uint32_t	j = s0;

		for (uint32_t i = l0; i < l1; i++)
		{
			if (w->mate[L[i].row] >= 0)
				continue;
			while (j < s1 && w->mate[S[j].row] >= 0)
				j++;
			if (j >= s1)
				break;
			w->mate[L[i].row] = (int32_t) S[j].row;
			w->mate[S[j].row] = (int32_t) L[i].row;
			(*size)++;
			j++;
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
		if (w->visited[srow] == gen)
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
	kmax = class_max(w, L, nl, S, nsv, scratch);
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
			emit_pair(w, RC_MATCHED, RC_HOW_AMOUNT, L[u].row, (uint32_t) s);
	}
}

static void
pass_amount(Work *w)
{
	uint32_t	nlk,
				nsk;
	AmtKey	   *lk = sorted_remaining(w, true, &nlk);
	AmtKey	   *sk = sorted_remaining(w, false, &nsk);
	uint32_t   *scratch = walloc(w, sizeof(uint32_t) * 3 * (nlk ? nlk : 1));
	uint32_t	gen = 0;
	uint32_t	i = 0,
				j = 0;
	CandVec		cv = {0};
	bool		refs = false;

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
	for (uint32_t k = 0; k < nlk; k++)
	{
		uint32_t	l = lk[k].row;
		rc_i128		a = w->amt[l];
		rc_i128		t = w->tol[l];

		if (w->used[l])
			continue;
		collect_range(w, &cv, sk, nsk, l, a - t, a + t, a, true,
					  refs && w->rows[l].ref_len > 0);
	}
	take_greedy(w, &cv, RC_HOW_AMOUNT, cat_tolerance);
}

/* ------------------------------------------------------------------------
 * Pass 3: batches, instalments and combined payments
 * ------------------------------------------------------------------------
 */

typedef struct BatchKey
{
	const char *p;
	int32_t		len;
	uint32_t	rank;
	uint32_t	row;
} BatchKey;

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
 * Batches of one side: rows sharing a batch value, summed, against one row
 * of the other side within tolerance whose date fits the window of the
 * batch's latest date, or whose ref matches the batch value.
 */
static void
pass_batches(Work *w, bool ledger_batches)
{
	const uint32_t *side = ledger_batches ? w->lrows : w->srows;
	uint32_t	cnt = ledger_batches ? w->nl : w->ns;
	BatchKey   *keys = walloc(w, sizeof(BatchKey) * (cnt ? cnt : 1));
	uint32_t   *members = walloc(w, sizeof(uint32_t) * (cnt ? cnt : 1));
	char	   *norm = NULL;
	size_t		normcap = 0;
	uint32_t	nk = 0;
	uint32_t	nok;
	AmtKey	   *ok;

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
	sort_array(w, keys, nk, sizeof(BatchKey), cmp_batchkey);
	ok = sorted_remaining(w, !ledger_batches, &nok);

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
				rc_i128		t = tolerance_of(w, sum);

				lo = sum - t;
				hi = sum + t;
			}
			else
			{
				/* tolerance follows the ledger row: widen, then check */
				rc_i128		t = w->abs_tol;

				if (w->rel_num != 0)
				{
					rc_i128		r2 = rel_tolerance(w, sum);

					/* |s - a| <= rel |a| implies |s - a| <= 2 rel |s| for rel <= 1/2 */
					if (w->rel_scale == 0 || w->rel_num * 2 > pow10_i128(w->rel_scale))
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
				if (!ledger_batches && dev > w->tol[o])
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
				if (best < 0 || cmp_cand(&c, &bestc) < 0)
				{
					bestc = c;
					best = o;
				}
			}
		}
		if (best >= 0)
			emit_group(w, ledger_batches ? RC_MANY_TO_ONE : RC_ONE_TO_MANY,
					   RC_HOW_BATCH, (uint32_t) best, members, nmem, sum);
		i = i1;
	}
}

/*
 * Instalments (one ledger row, several statement rows quoting it) and
 * combined payments (one statement row quoting several ledger rows).
 */
static void
pass_ref_groups(Work *w, bool instalments)
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
		t = instalments ? w->tol[one] : tolerance_of(w, sum);
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
		emit_group(w, instalments ? RC_ONE_TO_MANY : RC_MANY_TO_ONE,
				   RC_HOW_REF_GROUP, one, members, nmem, sum);
	}
}

/* ------------------------------------------------------------------------
 * Pass 5: opposite amounts within the window
 * ------------------------------------------------------------------------
 */

static void
pass_opposite(Work *w)
{
	uint32_t	nsk;
	AmtKey	   *sk = sorted_remaining(w, false, &nsk);
	CandVec		cv = {0};

	for (uint32_t i = 0; i < w->nl; i++)
	{
		uint32_t	l = w->lrows[i];
		rc_i128		a,
					t;

		if (!row_ok(w, l))
			continue;
		a = -w->amt[l];
		t = w->tol[l];
		if (a == 0 && t == 0)
			continue;
		collect_range(w, &cv, sk, nsk, l, a - t, a + t, a, true, false);
	}
	take_greedy(w, &cv, RC_HOW_WINDOW, cat_reversal);
}

/* ------------------------------------------------------------------------
 * Pass 6: duplicates
 * ------------------------------------------------------------------------
 */

static inline uint32_t
dup_hash(const Work *w, uint32_t r)
{
	const RcRow *row = &w->rows[r];
	uint64_t	a = (uint64_t) w->amt[r] ^ ((uint64_t) (w->amt[r] >> 64) * 31);
	uint32_t	h = hash_bytes(w->heap + row->ref_off, row->ref_len);

	return (uint32_t) ((a * 0x9E3779B97F4A7C15ULL) >> 32) ^ h ^
		((uint32_t) row->date * 2654435761u) ^ (row->is_ledger ? 0x5bd1e995u : 0);
}

static inline bool
dup_equal(const Work *w, uint32_t a, uint32_t b)
{
	const RcRow *x = &w->rows[a];
	const RcRow *y = &w->rows[b];

	return x->is_ledger == y->is_ledger && w->amt[a] == w->amt[b] &&
		x->date == y->date && x->ref_len == y->ref_len &&
		memcmp(w->heap + x->ref_off, w->heap + y->ref_off, x->ref_len) == 0;
}

static void
pass_duplicates(Work *w)
{
	uint32_t	size = 16;
	uint32_t   *table;
	uint32_t	nearly = 0;

	for (uint32_t r = 0; r < w->n; r++)
		nearly += w->early[r];
	if (nearly == 0)
		return;
	while (size < nearly * 2)
		size <<= 1;
	table = walloc0(w, sizeof(uint32_t) * size);
	/* insert rows matched in passes 1-4, in id order so the first one wins */
	for (int side = 0; side < 2; side++)
	{
		const uint32_t *rows = side == 0 ? w->lrows : w->srows;
		uint32_t	cnt = side == 0 ? w->nl : w->ns;

		for (uint32_t i = 0; i < cnt; i++)
		{
			uint32_t	r = rows[i];
			uint32_t	h;

			tick(w);
			if (!w->early[r])
				continue;
			h = dup_hash(w, r) & (size - 1);
			while (table[h] != 0 && !dup_equal(w, table[h] - 1, r))
				h = (h + 1) & (size - 1);
			if (table[h] == 0)
				table[h] = r + 1;
		}
	}
	for (int side = 0; side < 2; side++)
	{
		const uint32_t *rows = side == 0 ? w->lrows : w->srows;
		uint32_t	cnt = side == 0 ? w->nl : w->ns;

		for (uint32_t i = 0; i < cnt; i++)
		{
			uint32_t	r = rows[i];
			uint32_t	h;

			tick(w);
			if (!row_ok(w, r))
				continue;
			h = dup_hash(w, r) & (size - 1);
			while (table[h] != 0)
			{
				if (dup_equal(w, table[h] - 1, r))
				{
					emit_single(w, RC_DUPLICATE, r, (int32_t) (table[h] - 1));
					break;
				}
				h = (h + 1) & (size - 1);
			}
		}
	}
}

/* ------------------------------------------------------------------------
 * Driver
 * ------------------------------------------------------------------------
 */

RcStatus
rc_match(RcMatch *m, const RcEnv *env)
{
	Work	   *w;
	int			scale = 0;
	rc_i128		lim = pow10_i128(RC_MAX_DSCALE);

	m->nresults = 0;
	m->ngroups = 0;
	m->err_row = -1;
	if (m->nrows >= (uint32_t) INT32_MAX / 2)
		return RC_ERR_TOO_MANY_ROWS;
	w = env->alloc(env->arg, sizeof(Work));
	memset(w, 0, sizeof(Work));
	m->work = w;
	w->m = m;
	w->env = env;
	w->rows = m->rows;
	w->heap = m->heap;
	w->n = m->nrows;
	m->results = walloc(w, sizeof(RcResult) * (w->n ? w->n : 1));

	w->rank = walloc(w, sizeof(uint32_t) * (w->n ? w->n : 1));
	w->invalid = walloc0(w, w->n ? w->n : 1);
	w->used = walloc0(w, w->n ? w->n : 1);
	w->early = walloc0(w, w->n ? w->n : 1);
	w->amt = walloc0(w, sizeof(rc_i128) * (w->n ? w->n : 1));
	w->tol = walloc0(w, sizeof(rc_i128) * (w->n ? w->n : 1));
	w->mate = walloc(w, sizeof(int32_t) * (w->n ? w->n : 1));
	w->visited = walloc0(w, sizeof(uint32_t) * (w->n ? w->n : 1));
	w->lrows = walloc(w, sizeof(uint32_t) * (w->n ? w->n : 1));
	w->srows = walloc(w, sizeof(uint32_t) * (w->n ? w->n : 1));

	/* the common scale: the finest of the amounts that can be compared */
	for (uint32_t r = 0; r < w->n; r++)
	{
		const RcRow *row = &w->rows[r];

		w->mate[r] = -1;
		w->invalid[r] = row->invalid;
		if (row->invalid == RC_VALID &&
			(row->dscale > RC_MAX_DSCALE || i128_abs(row->amount) >= lim))
			w->invalid[r] = RC_INVALID_AMOUNT_RANGE;
		if (w->invalid[r] == RC_VALID && row->dscale > scale)
			scale = row->dscale;
		if (row->is_ledger)
			w->lrows[w->nl++] = r;
		else
			w->srows[w->ns++] = r;
	}
	m->scale = scale;
	for (uint32_t r = 0; r < w->n; r++)
	{
		const RcRow *row = &w->rows[r];

		if (w->invalid[r] != RC_VALID)
			continue;
		w->amt[r] = row->amount * pow10_i128(scale - row->dscale);
		if (i128_abs(w->amt[r]) >= lim)
			w->invalid[r] = RC_INVALID_AMOUNT_RANGE;
	}

	/* tolerances at the common scale, exact */
	if (!rc_parse_decimal(m->rule.abs_tol, scale, &w->abs_tol) ||
		!parse_exact(m->rule.rel_tol, &w->rel_num, &w->rel_scale))
		return RC_ERR_BAD_RULE;
	m->abs_tol = w->abs_tol;
	w->has_tol = w->abs_tol > 0 || w->rel_num > 0;
	for (uint32_t r = 0; r < w->n; r++)
		if (w->rows[r].is_ledger && w->invalid[r] == RC_VALID)
			w->tol[r] = tolerance_of(w, w->amt[r]);

	/* canonical order: ids */
	if (!sort_side(w, w->lrows, w->nl) || !sort_side(w, w->srows, w->ns))
		return RC_ERR_DUPLICATE_ID;

	/* pass 0: invalid rows */
	for (int side = 0; side < 2; side++)
	{
		const uint32_t *rows = side == 0 ? w->lrows : w->srows;
		uint32_t	cnt = side == 0 ? w->nl : w->ns;

		for (uint32_t i = 0; i < cnt; i++)
			if (w->invalid[rows[i]] != RC_VALID)
				emit_single(w, RC_INVALID, rows[i], -1);
	}

	build_ref_pairs(w);
	pass_ref(w);				/* 1 */
	pass_amount(w);				/* 2 */
	pass_batches(w, true);		/* 3 */
	pass_batches(w, false);
	pass_ref_groups(w, true);
	pass_ref_groups(w, false);
	pass_ref_only(w);			/* 4 */
	pass_opposite(w);			/* 5 */
	pass_duplicates(w);			/* 6 */

	/* 7: what is left */
	for (uint32_t i = 0; i < w->nl; i++)
	{
		uint32_t	r = w->lrows[i];

		if (w->used[r])
			continue;
		if (m->rule.has_as_of &&
			(int64_t) w->rows[r].date > (int64_t) m->rule.as_of - m->rule.days_after)
			emit_single(w, RC_IN_TRANSIT, r, -1);
		else
			emit_single(w, RC_MISSING_IN_STATEMENT, r, -1);
	}
	for (uint32_t i = 0; i < w->ns; i++)
		if (!w->used[w->srows[i]])
			emit_single(w, RC_MISSING_IN_LEDGER, w->srows[i], -1);
	return RC_OK;
}

/* ------------------------------------------------------------------------
 * Notes
 * ------------------------------------------------------------------------
 */

/* Civil date of a day number (days since 2000-01-01) as YYYY-MM-DD. */
static void
format_date(int64_t days, char *buf, size_t len)
{
	int64_t		z = days + 10957 + 719468;	/* days since 0000-03-01 */
	int64_t		era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t		doe = z - era * 146097;
	int64_t		yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t		y = yoe + era * 400;
	int64_t		doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t		mp = (5 * doy + 2) / 153;
	int64_t		d = doy - (153 * mp + 2) / 5 + 1;
	int64_t		mo = mp < 10 ? mp + 3 : mp - 9;

	if (mo <= 2)
		y++;
	snprintf(buf, len, "%04lld-%02lld-%02lld", (long long) y, (long long) mo, (long long) d);
}

/* ", 2 days later" and the like. */
static void
format_days(int64_t dd, char *buf, size_t len)
{
	if (dd == 0)
		snprintf(buf, len, ", same day");
	else
		snprintf(buf, len, ", %lld day%s %s", (long long) i64_abs(dd),
				 i64_abs(dd) == 1 ? "" : "s", dd > 0 ? "later" : "earlier");
}

/* A quoted, shortened copy of a row's id or batch. */
static void
format_text(const char *p, size_t len, char *buf, size_t buflen)
{
	size_t		n = len;

	if (n > 40)
	{
		n = 40;
		while (n > 0 && ((unsigned char) p[n] & 0xC0) == 0x80)
			n--;				/* do not cut a character */
	}
	snprintf(buf, buflen, "%.*s%s", (int) n, p, n < len ? "..." : "");
}

size_t
rc_format_note(const RcMatch *m, const RcResult *r, char *buf, size_t buflen)
{
	const Work *w = m->work;
	char		diff[64];
	char		tol[64];
	char		days[64];
	char		txt[64];
	int			n = 0;
	const RcRow *single = r->ledger >= 0 ? &m->rows[r->ledger] : &m->rows[r->statement];

	diff[0] = tol[0] = days[0] = txt[0] = '\0';
	if (r->has_diff)
	{
		rc_i128		ad = r->amount_diff < 0 ? -r->amount_diff : r->amount_diff;

		format_trim(ad, r->diff_scale, r->diff_scale, diff, sizeof(diff));
		format_days(r->days_diff, days, sizeof(days));
		if (r->ledger >= 0)
		{
			rc_i128		t = w->tol[r->ledger];
			int			ms = m->rows[r->ledger].dscale;

			if (r->category == RC_MANY_TO_ONE)
				t = w->abs_tol;
			format_trim(t, m->scale, ms, tol, sizeof(tol));
		}
	}
	switch ((RcCategory) r->category)
	{
		case RC_MATCHED:
			n = snprintf(buf, buflen, "same amount%s%s", days,
						 r->how == RC_HOW_REF ? ", same reference" : "");
			break;
		case RC_MATCHED_WITHIN_TOLERANCE:
			n = snprintf(buf, buflen, "amount differs by %s, within tolerance %s%s%s",
						 diff, tol, days, r->how == RC_HOW_REF ? ", same reference" : "");
			break;
		case RC_MANY_TO_ONE:
		case RC_ONE_TO_MANY:
			{
				bool		many_l = r->category == RC_MANY_TO_ONE;
				const RcRow *mem = &m->rows[many_l ? r->ledger : r->statement];
				rc_i128		gd = r->group_diff;

				if (gd != 0)
					format_trim(gd < 0 ? -gd : gd, r->diff_scale, r->diff_scale, diff, sizeof(diff));
				if (r->how == RC_HOW_BATCH)
				{
					format_text(m->heap + mem->batch_off, (size_t) mem->batch_len, txt, sizeof(txt));
					n = snprintf(buf, buflen, "%d %s rows of batch %s as one %s row%s%s",
								 r->group_size, many_l ? "ledger" : "statement", txt,
								 many_l ? "statement" : "ledger",
								 gd != 0 ? ", sum differs by " : "", gd != 0 ? diff : "");
				}
				else if (many_l)
					n = snprintf(buf, buflen, "one payment for %d ledger rows by reference%s%s",
								 r->group_size, gd != 0 ? ", sum differs by " : "",
								 gd != 0 ? diff : "");
				else
					n = snprintf(buf, buflen, "paid in %d instalments by reference%s%s",
								 r->group_size, gd != 0 ? ", sum differs by " : "",
								 gd != 0 ? diff : "");
				break;
			}
		case RC_TIMING_DIFFERENCE:
			n = snprintf(buf, buflen, "same reference%s, %lld days apart: outside the window",
						 r->amount_diff == 0 ? " and amount" : ", amount within tolerance",
						 (long long) i64_abs(r->days_diff));
			break;
		case RC_REVERSAL:
			if (r->how == RC_HOW_REF_ONLY)
				n = snprintf(buf, buflen, "same reference, opposite sign%s", days);
			else
				n = snprintf(buf, buflen, "opposite amount within the window%s", days);
			break;
		case RC_AMOUNT_MISMATCH:
			n = snprintf(buf, buflen, "same reference, amount differs by %s%s", diff, days);
			break;
		case RC_DUPLICATE:
			{
				uint32_t	len;
				const char *id = row_id(w, (uint32_t) r->other, &len);

				format_text(id, len, txt, sizeof(txt));
				n = snprintf(buf, buflen, "same amount, date and ref as %s row %s",
							 single->is_ledger ? "ledger" : "statement", txt);
				break;
			}
		case RC_IN_TRANSIT:
			format_date((int64_t) single->date + m->rule.days_after, txt, sizeof(txt));
			n = snprintf(buf, buflen, "not in the statement yet; window ends %s", txt);
			break;
		case RC_MISSING_IN_STATEMENT:
			n = snprintf(buf, buflen, "no counterpart in the statement");
			break;
		case RC_MISSING_IN_LEDGER:
			n = snprintf(buf, buflen, "no counterpart in the ledger");
			break;
		case RC_INVALID:
			{
				static const char *const why[] = {
					"valid", "amount is null", "amount is NaN", "amount is infinite",
					"amount has too many digits to compare exactly", "tx_date is null",
					"tx_date is infinite"
				};
				uint8_t		k = w->invalid[r->ledger >= 0 ? r->ledger : r->statement];

				n = snprintf(buf, buflen, "%s", k <= RC_INVALID_DATE_INFINITE ? why[k] : "invalid");
				break;
			}
		case RC_MANUAL:
		case RC_NUM_CATEGORIES:
			n = snprintf(buf, buflen, "%s", rc_category_names[r->category]);
			break;
	}
	if (n < 0)
		n = 0;
	return (size_t) n < buflen ? (size_t) n : buflen - 1;
}
