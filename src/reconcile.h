/*-------------------------------------------------------------------------
 *
 * reconcile.h
 *	  Declarations shared by the fmgr-facing files of reconcile.
 *
 * The matching core (match_core.h) knows nothing of PostgreSQL; this header
 * is for the thin layer around it: exact numeric conversion (amount.c) and
 * the argument checks that the primitives and the aggregate share
 * (primitives.c).
 *
 * IDENTIFICATION
 *	  src/reconcile.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RECONCILE_H
#define RECONCILE_H

#include "postgres.h"

#include "utils/numeric.h"

#include "match_core.h"

/* The schema the extension lives in (relocatable = false). */
#define RC_SCHEMA "reconcile"

/* amount.c */
extern RcInvalid rc_numeric_decode(Numeric num, rc_i128 *value, uint16 *dscale);
extern Numeric rc_numeric_from_scaled(rc_i128 value, int scale);
extern char *rc_numeric_text(Numeric num);

/* primitives.c */
extern void rc_check_tolerance(Numeric tol, const char *argname);
extern void rc_check_days(int32 days, const char *argname);
extern void rc_check_amount(Numeric amount, const char *argname);

#endif							/* RECONCILE_H */
