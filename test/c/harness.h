/*-------------------------------------------------------------------------
 *
 * harness.h
 *	  What the core's C harnesses (core_test.c, fuzz_core.c) share.
 *
 * IDENTIFICATION
 *	  test/c/harness.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RECONCILE_HARNESS_H
#define RECONCILE_HARNESS_H

#include "match_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A tolerance written as decimal text, as the scaled integer the core takes. */
static inline void
tol_from_text(const char *s, rc_i128 *v, uint16_t *scale)
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
	*scale = (uint16_t) sc;
	if (!rc_parse_decimal(s, sc, v))
	{
		fprintf(stderr, "bad tolerance %s\n", s);
		exit(2);
	}
}

#endif							/* RECONCILE_HARNESS_H */
