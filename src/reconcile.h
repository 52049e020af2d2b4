/*-------------------------------------------------------------------------
 *
 * reconcile.h
 *	  Declarations shared by the fmgr-facing files of reconcile.
 *
 * The matching core (match_core.h) knows nothing of PostgreSQL; this header
 * is for the thin layer around it: exact numeric conversion (amount.c), the
 * rule (rule.c), the aggregate's state (agg_state.c), its final function
 * (agg_final.c) and what the core runs on in the backend (agg_env.c), the
 * primitives (primitives.c), and whose rights read and write what
 * (trust.c, used by run.c).
 *
 * IDENTIFICATION
 *	  src/reconcile.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RECONCILE_H
#define RECONCILE_H

#include "postgres.h"

#include "access/htup.h"
#include "utils/date.h"
#include "utils/numeric.h"
#include "utils/tuplestore.h"

#include "match_core.h"

/* The schema the extension lives in (relocatable = false). */
#define RC_SCHEMA "reconcile"

/* amount.c */
extern RcInvalid rc_numeric_decode(Numeric num, rc_i128 *value, uint16 *dscale);
extern bool rc_numeric_trunc(Numeric num, int scale, rc_i128 *value);
extern int	rc_numeric_frac_digits(Numeric num);
extern Numeric rc_numeric_from_scaled(rc_i128 value, int scale);

/* rule.c: the fields of a reconcile.rule value, validated */
typedef struct RcRuleValues
{
	Numeric		abs_tol;
	Numeric		rel_tol;
	int32		days_before;
	int32		days_after;
	bool		use_ref;
	bool		has_as_of;
	DateADT		as_of;
} RcRuleValues;

extern void rc_check_tolerance(Numeric tol, const char *argname);
extern void rc_check_days(int32 days, const char *argname);
extern void rc_rule_read(HeapTupleHeader rule, RcRuleValues *rv);
extern bool rc_rules_equal(const RcRuleValues *a, const RcRuleValues *b);
extern void rc_rule_to_core(const RcRuleValues *rv, RcRule *out);

/* primitives.c */
extern void rc_check_amount(Numeric amount, const char *argname);

/*
 * agg_state.c: the aggregate's state, the rows of one group and the rule
 * they share, in the aggregate context.  Each row's id (as a varlena),
 * original amount (a numeric's data, its header 4 bytes before), normalised
 * ref and batch are in one string heap the rows point into.
 */
/* A row's rejection tags as the views and runs give them ("12 57"), in the heap; len 0 = none. */
typedef struct RcRejText
{
	uint32		off;
	uint32		len;
} RcRejText;

typedef struct RcState
{
	RcRow	   *rows;
	uint32		nrows;
	uint32		maxrows;
	char	   *heap;
	Size		heaplen;
	Size		heapcap;
	HeapTupleHeader rule;		/* copy of the first row's rule, or NULL */
	RcFee	   *fees;			/* per row (maxrows of them) once a row has a fee, else NULL */
	RcRejText  *rejs;			/* per row (maxrows) once a row has rejections, else NULL */
} RcState;

/* RcRow.aux of a row without an original amount. */
#define RC_NO_AMOUNT PG_UINT32_MAX

/* agg_env.c */
extern void rc_core_env(RcEnv *env, MemoryContext work, MemoryContext results);

/* trust.c: the owner's section of a function, and the rows captured for it */
typedef struct RcCapture
{
	MemoryContext cxt;
	Tuplestorestate *store;		/* the rows; NULL once reconcile.captured() took them */
	TupleDesc	desc;
	uint64		rows;
} RcCapture;

extern HeapTuple rc_owner_query(RcCapture *capture, MemoryContext cxt, const char *query,
								int nargs, Oid *types, Datum *values, const char *nulls,
								TupleDesc *desc);
extern void rc_capture(RcCapture *capture, MemoryContext cxt, const char *query,
					   int nargs, const Oid *types, const Datum *values, const bool *nulls);
extern char *rc_caller_text(MemoryContext cxt, const char *query);

/* progress.c: where a reconcile.run is, in pg_stat_activity and NOTICEs */
extern PGDLLIMPORT bool rc_progress_on;	/* a run is under way in this backend */
extern void rc_progress_begin(const char *name, MemoryContext cxt);
extern void rc_progress_phase(const char *phase);
extern void rc_progress_count_read(uint32 rows);
extern void rc_progress_count_matched(const RcResult *results, uint32 nresults);
extern void rc_progress_end(void);

/* Rows read by this backend: nothing to do outside a run (a view read, the per-row path). */
static inline void
rc_progress_read(uint32 rows)
{
	if (rc_progress_on)
		rc_progress_count_read(rows);
}

/* A group has been matched: its results that clear are counted, during a run only. */
static inline void
rc_progress_matched(const RcResult *results, uint32 nresults)
{
	if (rc_progress_on)
		rc_progress_count_matched(results, nresults);
}

/* act.c */
extern void rc_refuse_restricted(const char *what);

#endif							/* RECONCILE_H */
