/*-------------------------------------------------------------------------
 *
 * match_core.h
 *	  The matching engine of reconcile, in plain C.
 *
 * This is the core's interface to the rest of the extension, the unit tests
 * and the fuzzer; its stages (src/core_*.c) share the private core.h.
 * Nothing here includes postgres.h or calls into the backend: the engine
 * sees rows as fixed-size structs pointing into one string heap, amounts as
 * scaled 128-bit integers and dates as day numbers, the rule as scaled
 * integers too, and it allocates through the callbacks in RcEnv.  The fmgr
 * layer (agg_state.c, agg_final.c) fills the input and turns the output
 * into SQL values; a unit test or a fuzzer can drive the same functions
 * with malloc.
 *
 * IDENTIFICATION
 *	  src/match_core.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RECONCILE_MATCH_CORE_H
#define RECONCILE_MATCH_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * 128-bit integers aligned to 8 bytes only, as PostgreSQL's own int128:
 * palloc guarantees no more, and the compiler must not assume 16.
 */
typedef __int128 rc_i128 __attribute__((aligned(8)));

/* Categories, in the order of the SQL enum reconcile.category. */
typedef enum RcCategory
{
	RC_MATCHED = 0,
	RC_MATCHED_WITHIN_TOLERANCE,
	RC_MANY_TO_ONE,
	RC_ONE_TO_MANY,
	RC_MANUAL,
	RC_TIMING_DIFFERENCE,
	RC_IN_TRANSIT,
	RC_AMOUNT_MISMATCH,
	RC_FEE_DIFFERENCE,
	RC_REVERSAL,
	RC_DUPLICATE,
	RC_MISSING_IN_STATEMENT,
	RC_MISSING_IN_LEDGER,
	RC_INVALID,
	RC_NUM_CATEGORIES
} RcCategory;

extern const char *const rc_category_names[RC_NUM_CATEGORIES];

/* Why a row is invalid (RcRow.invalid); 0 = valid. */
typedef enum RcInvalid
{
	RC_VALID = 0,
	RC_INVALID_AMOUNT_NULL,
	RC_INVALID_AMOUNT_NAN,
	RC_INVALID_AMOUNT_INFINITE,
	RC_INVALID_AMOUNT_RANGE,
	RC_INVALID_DATE_NULL,
	RC_INVALID_DATE_INFINITE
} RcInvalid;

/*
 * Amounts are accepted when their absolute value, scaled to the group's
 * finest scale, stays below 10^36: sums and differences of such values
 * never overflow 128 bits.
 */
#define RC_MAX_DSCALE 36

/* One input row.  Offsets point into the string heap given with the rows. */
typedef struct RcRow
{
	rc_i128		amount;			/* amount * 10^dscale (as given) */
	int32_t		date;			/* days since 2000-01-01 */
	uint32_t	id_off;			/* id bytes */
	uint32_t	id_len;
	uint32_t	ref_off;		/* normalised ref bytes; ref_len 0 = none */
	uint32_t	ref_len;
	uint32_t	batch_off;		/* raw batch bytes (a manual row's match tag) */
	int32_t		batch_len;		/* -1 = NULL batch */
	uint32_t	aux;			/* free for the caller (original amount) */
	uint16_t	dscale;			/* decimal scale of amount */
	uint8_t		is_ledger;
	uint8_t		invalid;		/* RcInvalid */
	uint8_t		date_null;		/* tx_date was NULL (for the caller) */
	uint8_t		manual;			/* matched by hand: batch_* hold the match tag */
} RcRow;

/*
 * The matching rule, already validated by the caller, as scaled integers:
 * tolerance = abs_tol / 10^abs_scale (truncated toward zero to the group's
 * scale; abs_tol >= 10^37 saturates) and rel_tol / 10^rel_scale exactly.
 */
typedef struct RcRule
{
	rc_i128		abs_tol;		/* >= 0 */
	rc_i128		rel_tol;		/* >= 0, below 10^37 */
	uint16_t	abs_scale;		/* <= RC_MAX_DSCALE */
	uint16_t	rel_scale;		/* <= RC_MAX_REL_SCALE */
	int32_t		days_before;	/* >= 0 */
	int32_t		days_after;		/* >= 0 */
	bool		use_ref;
	bool		has_as_of;
	int32_t		as_of;			/* days since 2000-01-01 */
} RcRule;

/* The finest relative tolerance the engine multiplies by exactly. */
#define RC_MAX_REL_SCALE 76

/* Allocation and interrupt callbacks; alloc never returns NULL. */
typedef struct RcEnv
{
	void	   *(*alloc) (void *arg, size_t size);
	void		(*check_interrupts) (void *arg);
	void	   *arg;
	/* optional: where the results go (NULL: alloc), so the rest can be freed first */
	void	   *(*alloc_results) (void *arg, size_t size);
	void	   *results_arg;
} RcEnv;

/*
 * One result element.  Together with the rows and the rule it is all that
 * rc_format_note needs to explain it.
 */
typedef struct RcResult
{
	rc_i128		amount_diff;	/* statement minus ledger, at diff_scale */
	union
	{
		rc_i128		group_diff;	/* groups: the whole difference, at diff_scale */
		rc_i128		tol;		/* pairs: the tolerance applied, at the common scale;
								 * a fee_difference: fee charged minus fee expected
								 * (a batch's first row: the fees'; its other
								 * rows: the row's fee at the rate of the one row) */
	}			u;
	int64_t		days_diff;		/* statement date minus ledger date */
	double		score;
	int32_t		ledger;			/* row index or -1 */
	int32_t		statement;		/* row index or -1 */
	int32_t		group_id;		/* 0 = none */
	int32_t		other;			/* related row (duplicate's original) or -1 */
	int32_t		group_size;
	int32_t		fee_rows;		/* a fee_difference batch: see rc_emit_fee_group */
	uint16_t	diff_scale;		/* scale to print amount_diff with */
	uint8_t		category;		/* RcCategory */
	uint8_t		how;			/* RcHow: which pass, for the note */
	uint8_t		invalid;		/* RcInvalid of an invalid row */
	bool		has_diff;		/* amount_diff, days_diff and score set */
} RcResult;

/* Which rule put a pair together (for the note). */
typedef enum RcHow
{
	RC_HOW_NONE = 0,
	RC_HOW_REF,					/* pass 1 */
	RC_HOW_AMOUNT,				/* pass 2 */
	RC_HOW_BATCH,				/* pass 3, by batch */
	RC_HOW_REF_GROUP,			/* pass 3, by reference */
	RC_HOW_REF_ONLY,			/* pass 4 */
	RC_HOW_FEE,					/* pass 4, gross amounts in the window */
	RC_HOW_FEE_BATCH,			/* pass 4, payout batches by gross amount */
	RC_HOW_WINDOW,				/* pass 5 */
	RC_HOW_MANUAL				/* matched by hand, before pass 0 */
} RcHow;

typedef enum RcStatus
{
	RC_OK = 0,
	RC_ERR_DUPLICATE_ID,		/* err_row: a second row with that id */
	RC_ERR_TOO_MANY_ROWS,		/* more rows than the engine can index */
	RC_ERR_BAD_RULE				/* a rule field out of its range */
} RcStatus;

/*
 * The fee of a row (the canonical column fee): on the statement side the fee
 * deducted, on the ledger side the fee expected; fee * 10^-dscale.  has = 0:
 * the row has none (NULL, or no fee column), or one that cannot be decoded.
 */
typedef struct RcFee
{
	rc_i128		fee;
	uint16_t	dscale;
	uint8_t		has;
} RcFee;

/* Everything one call of rc_match needs and produces. */
typedef struct RcMatch
{
	/* input */
	const RcRow *rows;
	uint32_t	nrows;
	const char *heap;			/* the string heap of the rows */
	RcRule		rule;
	const RcFee *fees;			/* per row, or NULL when no row has a fee */

	/*
	 * Matches rejected by hand (reconcile.reject): the rows of one rejection
	 * share a tag, and those very rows are never paired or grouped together
	 * again (the same rows with one more or less are another proposal).  Per
	 * row its tags, sorted: rej_tags[rej_ofs[r] .. rej_ofs[r + 1]).  NULL
	 * when no row has one.
	 */
	const uint32_t *rej_ofs;
	const uint64_t *rej_tags;

	/* output */
	RcResult   *results;
	uint32_t	nresults;
	int			scale;			/* common scale of amounts */
	int32_t		err_row;		/* for RC_ERR_DUPLICATE_ID */
	int32_t		ngroups;

	/* private */
	struct RcWork *work;
} RcMatch;

/* Match the rows of one group; results are allocated through env. */
extern RcStatus rc_match(RcMatch *m, const RcEnv *env);

/* Write the human note of result r into buf (always NUL-terminated). */
extern size_t rc_format_note(const RcMatch *m, const RcResult *r,
							 char *buf, size_t buflen);

/* Format an amount scaled by 10^scale as plain decimal text. */
extern size_t rc_format_amount(rc_i128 v, int scale, char *buf, size_t buflen);

/*
 * Parse plain decimal text ("12.345", "-0.5") into v * 10^scale, truncating
 * digits beyond scale toward zero and saturating at +/-10^37.  Returns false
 * on malformed text.  (For tests and tools: the extension hands the core
 * integers.)
 */
extern bool rc_parse_decimal(const char *s, int scale, rc_i128 *v);

/* core_normalize.c */

/*
 * Normalise a reference: case folded, only letters and digits kept (CJK
 * and other scripts' letters included).  The result is never longer than
 * the input: writes at most len bytes to out and returns the length.
 */
extern size_t rc_normalize_ref(const char *in, size_t len, char *out);

/* Number of UTF-8 characters in s. */
extern size_t rc_utf8_chars(const char *s, size_t len);

/*
 * Similarity of two normalised refs: 1.0 when the shorter has at least four
 * characters and occurs in the longer, else shared character bigrams over
 * (bigrams of the longer + 1), in [0,1); 0 when either is empty.
 */
extern double rc_ref_similarity_norm(const char *a, size_t alen,
									 const char *b, size_t blen);

/* True when ref_similarity of the two normalised refs is 1. */
extern bool rc_ref_contains(const char *a, size_t alen,
							const char *b, size_t blen);

#endif							/* RECONCILE_MATCH_CORE_H */
