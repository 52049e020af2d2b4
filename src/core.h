/*-------------------------------------------------------------------------
 *
 * core.h
 *	  Private to the matching core: the work state of one group, the hot
 *	  inline helpers every stage uses, and one prototype block per stage.
 *
 * The core is split by stage, one file each (src/core_*.c); match_core.h is
 * what the rest of the extension, the unit tests and the fuzzer see.  A
 * group is matched by rc_match (core_match.c) in passes numbered as in the
 * README's table:
 *
 *	- rc_pass_manual		core_pass_manual.c	rows matched by hand, as matched
 *	0 rc_pass_invalid		core_match.c		invalid rows
 *	1 rc_pass_ref			core_pass_ref.c		reference pairs in tolerance and window
 *	2 rc_pass_amount		core_pass_amount.c	amount/date pairs
 *	3 rc_pass_batches,		core_pass_group.c	payout batches both ways,
 *	  rc_pass_ref_groups						instalments and combined payments
 *	4 rc_pass_batches		core_pass_group.c	payout batches by gross amount,
 *	  rc_pass_ref_only		core_pass_ref.c		remaining reference pairs,
 *	  rc_pass_fees			core_pass_fee.c		gross amounts in the window
 *	5 rc_pass_opposite		core_pass_opposite.c	opposite amounts in the window
 *	6 rc_pass_duplicates	core_pass_dup.c		copies of rows matched in 1-4
 *	7 rc_pass_leftover		core_match.c		in transit, missing
 *
 * Every function here is prefixed rc_: before PostgreSQL 16 an extension's
 * symbols are all exported, and a plain name could bind to the server's.
 *
 * IDENTIFICATION
 *	  src/core.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RECONCILE_CORE_H
#define RECONCILE_CORE_H

#include "match_core.h"

#include <string.h>

/* A ref matching more rows than this on the other side identifies nothing. */
#define RC_REF_FANOUT 100

/* Date offsets tried one by one before augmenting paths take over (pass 2). */
#define RC_NEAREST_ROUNDS 31

/*
 * Largest same-date bucket of pass 2 whose rows are paired by ref
 * similarity: at most this many (ledger, statement) pairs are compared
 * (one bank line against 65,536 equal invoices, or 256 against 256);
 * larger buckets pair in id order.
 */
#define RC_BUCKET_SIM_PAIRS 65536

/* 10^37: magnitudes at or past it saturate */
#define RC_I128_LIMIT ((rc_i128) 1000000000000000000LL * (rc_i128) 10000000000000000000ULL)

typedef unsigned __int128 rc_u128 __attribute__((aligned(8)));

/* A buffer reused within a group, reallocated only to grow (rc_buffer). */
typedef struct RcBuffer
{
	void	   *p;
	size_t		cap;
} RcBuffer;

/* The work state of one rc_match call. */
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
	rc_i128    *fee;			/* fee at the common scale (NULL: no row has one) */
	uint8_t    *has_fee;		/* the row's fee is in fee */
	rc_i128    *tol;			/* tolerance of a ledger row (NULL: abs_tol for all, row_tol) */
	int32_t    *mate;			/* pass 2: matched partner */
	uint32_t   *visited;		/* pass 2: augmenting path generation */
	struct CandVec *bucket;		/* pass 2: candidates of one bucket */

	/*
	 * Buffers reused from pass to pass, so that the work memory of a group
	 * is a fixed number of bytes per row rather than growing with each pass
	 * (the allocator frees nothing before the group is done).
	 */
	void	   *keybuf[2];		/* per side (0 statement, 1 ledger): sort keys */
	RcBuffer	sort_tmp;		/* rc_sort_array's merge buffer */
	struct CandVec *cands;		/* candidates of one pass (rc_cands) */
	RcBuffer	gram_buf[3];	/* the containment search's sketch and two filters */

	rc_i128		abs_tol;		/* at the common scale */
	rc_i128		rel_num;		/* rel_tol = rel_num / 10^rel_scale */
	int			rel_scale;
	bool		has_tol;

	/* reference pairs (rc_build_ref_pairs), as row pairs in two CSR forms */
	/* rejections (RcMatch.rej_tags): each tag once, sorted, and how many rows hold it */
	uint64_t   *rtag;
	uint32_t   *rcount;
	uint32_t	nrtag;

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

typedef struct CandVec
{
	Cand	   *v;
	size_t		n;
	size_t		cap;
} CandVec;

/* Row sort key by amount, date and id rank. */
typedef struct AmtKey
{
	rc_i128		amt;
	int32_t		date;
	uint32_t	rank;
	uint32_t	row;
} AmtKey;

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

/* A (ledger string, statement string) pair whose refs match. */
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

/* Which category a taken candidate gets (rc_take_greedy). */
typedef RcCategory (*RcCatFn) (Work *w, const Cand *c);

/* ------------------------------------------------------------------------
 * Hot helpers
 * ------------------------------------------------------------------------
 */

static inline void *
walloc(Work *w, size_t size)
{
	return w->env->alloc(w->env->arg, size ? size : 1);
}

static inline void *
walloc0(Work *w, size_t size)
{
	void	   *p = walloc(w, size);

	memset(p, 0, size ? size : 1);
	return p;
}

/*
 * b's memory, at least bytes of it: a new block only when it must grow (the
 * old one stays allocated until the group is done, as everything does), the
 * contents kept up to keep bytes.
 */
static inline void *
rc_buffer(Work *w, RcBuffer *b, size_t bytes, size_t keep)
{
	if (b->cap < bytes)
	{
		void	   *p = walloc(w, bytes);

		if (keep)
			memcpy(p, b->p, keep);
		b->p = p;
		b->cap = bytes;
	}
	return b->p;
}

/* Let the caller cancel now. */
static inline void
interrupt_point(Work *w)
{
	if (w->env->check_interrupts)
		w->env->check_interrupts(w->env->arg);
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

/* The tolerance of ledger row r: kept per row only when a relative tolerance makes it vary. */
static inline rc_i128
row_tol(const Work *w, uint32_t r)
{
	return w->tol ? w->tol[r] : w->abs_tol;
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

/* The row is valid and has no result yet. */
static inline bool
row_ok(const Work *w, uint32_t r)
{
	return w->invalid[r] == RC_VALID && !w->used[r];
}

/*
 * Both rows carry a fee and their gross amounts (amount + fee) agree within
 * the ledger row's tolerance: what makes a pair a fee_difference.
 */
static inline bool
gross_agree(const Work *w, uint32_t l, uint32_t s)
{
	return w->fee && w->has_fee[l] && w->has_fee[s] &&
		i128_abs((w->amt[s] + w->fee[s]) - (w->amt[l] + w->fee[l])) <= row_tol(w, l);
}

/* How many rows hold rejection tag t (RcWork.rtag; 0 when none). */
static inline uint32_t
tag_rows(const Work *w, uint64_t t)
{
	uint32_t	lo = 0,
				hi = w->nrtag;

	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;

		if (w->rtag[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < w->nrtag && w->rtag[lo] == t ? w->rcount[lo] : 0;
}

/* Row r holds rejection tag t. */
static inline bool
has_tag(const Work *w, uint32_t r, uint64_t t)
{
	for (uint32_t k = w->m->rej_ofs[r]; k < w->m->rej_ofs[r + 1]; k++)
		if (w->m->rej_tags[k] == t)
			return true;
	return false;
}

/*
 * Ledger row l and statement row s were rejected as a pair (a rejection of
 * theirs holds those two rows only, RcMatch.rej_ofs): they are never put
 * together again.  False at once when no row has a rejection.
 */
static inline bool
rejected(const Work *w, uint32_t l, uint32_t s)
{
	const uint32_t *ofs = w->m->rej_ofs;
	const uint64_t *tags = w->m->rej_tags;
	uint32_t	a,
				b;

	if (ofs == NULL)
		return false;
	a = ofs[l];
	b = ofs[s];
	while (a < ofs[l + 1] && b < ofs[s + 1])
	{
		if (tags[a] == tags[b] && tag_rows(w, tags[a]) == 2)
			return true;
		if (tags[a] <= tags[b])
			a++;
		else
			b++;
	}
	return false;
}

/*
 * Row one with members[0..nmem) were rejected as a group: a rejection of
 * one's holds exactly those rows.  The same rows in another grouping (a row
 * more or less) are another proposal.
 */
static inline bool
group_rejected(const Work *w, uint32_t one, const uint32_t *members, uint32_t nmem)
{
	if (w->m->rej_ofs == NULL)
		return false;
	for (uint32_t k = w->m->rej_ofs[one]; k < w->m->rej_ofs[one + 1]; k++)
	{
		uint64_t	t = w->m->rej_tags[k];
		uint32_t	i = 0;

		if (tag_rows(w, t) != nmem + 1)
			continue;
		while (i < nmem && has_tag(w, members[i], t))
			i++;
		if (i == nmem)
			return true;
	}
	return false;
}

/* Row r has a rejection. */
static inline bool
has_rejection(const Work *w, uint32_t r)
{
	return w->m->rej_ofs != NULL && w->m->rej_ofs[r + 1] > w->m->rej_ofs[r];
}

/* The statement date lies in the window of the ledger date. */
static inline bool
in_window(const Work *w, int32_t ldate, int32_t sdate)
{
	int64_t		dd = (int64_t) sdate - ldate;

	return dd >= -(int64_t) w->m->rule.days_before &&
		dd <= (int64_t) w->m->rule.days_after;
}

/* FNV-1a of bytes, folded to 32 bits. */
static inline uint32_t
hash_bytes(const char *p, uint32_t len)
{
	uint64_t	h = 1469598103934665603ULL;

	for (uint32_t i = 0; i < len; i++)
		h = (h ^ (unsigned char) p[i]) * 1099511628211ULL;
	return (uint32_t) (h ^ (h >> 32));
}

/* The bytes of string k of ss. */
static inline const char *
str_bytes(const Work *w, const StrSet *ss, uint32_t k, uint32_t *len)
{
	const RcRow *r = &w->rows[ss->str_row[k]];

	*len = r->ref_len;
	return w->heap + r->ref_off;
}

/* First index in keys[0..n) whose (amt, date) >= (amt, date). */
static inline uint32_t
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

/* ------------------------------------------------------------------------
 * core_decimal.c: decimal arithmetic on scaled integers
 * ------------------------------------------------------------------------
 */
extern rc_i128 rc_pow10(int k);
extern rc_i128 rc_rescale_trunc(rc_i128 v, int from, int to);
extern size_t rc_format_trim(rc_i128 v, int scale, int min_scale, char *buf, size_t buflen);
extern rc_i128 rc_rel_tolerance(const Work *w, rc_i128 a);
extern rc_i128 rc_tolerance_of(const Work *w, rc_i128 a);

/* ------------------------------------------------------------------------
 * core_sort.c: interruptible sorting, the id order and amount order
 * ------------------------------------------------------------------------
 */
extern void rc_sort_array(Work *w, void *base, size_t n, size_t size,
						  int (*cmp) (const void *, const void *));
extern bool rc_sort_side(Work *w, bool ledger);
extern AmtKey *rc_sorted_remaining(Work *w, bool ledger, bool gross, uint32_t *count);
extern int	rc_cmp_cand(const void *a, const void *b);
extern int	rc_cmp_amtkey(const void *a, const void *b);

/* ------------------------------------------------------------------------
 * core_result.c: candidates and result emission
 * ------------------------------------------------------------------------
 */
extern void rc_emit_pair(Work *w, RcCategory cat, RcHow how, uint32_t l, uint32_t s);
extern void rc_emit_single(Work *w, RcCategory cat, uint32_t row, int32_t other);
extern void rc_emit_group(Work *w, RcCategory cat, RcHow how, uint32_t one,
						  const uint32_t *members, uint32_t nmem, rc_i128 sum);
extern void rc_emit_fee_group(Work *w, uint32_t one, const uint32_t *members, uint32_t nmem,
							  rc_i128 net, rc_i128 fee);
extern void rc_cand_push(Work *w, CandVec *cv, const Cand *c);
extern CandVec *rc_cands(Work *w);
extern void rc_cand_reserve(Work *w, CandVec *cv, size_t n);
extern double rc_row_similarity(const Work *w, uint32_t a, uint32_t b);
extern void rc_collect_range(Work *w, CandVec *cv, const AmtKey *sk, uint32_t nsk, uint32_t l,
							 rc_i128 lo, rc_i128 hi, rc_i128 target, bool window, bool sim);
extern void rc_take_greedy(Work *w, CandVec *cv, RcHow how, RcCatFn cat_of);
extern RcCategory rc_cat_tolerance(Work *w, const Cand *c);

/* ------------------------------------------------------------------------
 * core_refindex.c: the reference index (which rows' refs match)
 * ------------------------------------------------------------------------
 */
extern void rc_build_ref_pairs(Work *w);

/* ------------------------------------------------------------------------
 * core_contain.c: the containment search (refs inside longer refs), and
 * the vector of string pairs it and the reference index collect
 * ------------------------------------------------------------------------
 */
extern void rc_pair_push(Work *w, PairVec *pv, uint32_t a, uint32_t b);
extern void rc_find_containment(Work *w, const StrSet *pats, const StrSet *texts,
								bool pats_are_ledger, PairVec *out);

/* ------------------------------------------------------------------------
 * The passes, in order; core_match.c holds 0 and 7 and runs them all
 * ------------------------------------------------------------------------
 */
extern void rc_pass_manual(Work *w);	/* before 0 */
extern void rc_pass_invalid(Work *w);	/* 0 */
extern void rc_pass_ref(Work *w);	/* 1 */
extern void rc_pass_amount(Work *w);	/* 2 */
extern void rc_pass_batches(Work *w, bool ledger_batches, bool gross);	/* 3; 4 */
extern void rc_pass_ref_groups(Work *w, bool instalments);	/* 3 */
extern void rc_pass_ref_only(Work *w);	/* 4 */
extern void rc_pass_fees(Work *w);	/* 4 */
extern void rc_pass_opposite(Work *w);	/* 5 */
extern void rc_pass_duplicates(Work *w);	/* 6 */
extern void rc_pass_leftover(Work *w);	/* 7 */

#endif							/* RECONCILE_CORE_H */
