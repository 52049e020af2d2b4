/*-------------------------------------------------------------------------
 *
 * agg_env.c
 *	  What the matching core runs on inside the backend: its allocator and
 *	  its interrupt check (RcEnv).
 *
 * The core allocates in a memory context of its own, the "work" context
 * of one group, which the final function deletes as a whole (an error or
 * a cancel deletes it too).  In sanitizer builds (make sanitize) each of
 * the core's arrays is a malloc block of its own instead, so that
 * AddressSanitizer checks every access against that array's bounds.
 *
 * IDENTIFICATION
 *	  src/agg_env.c
 *
 *-------------------------------------------------------------------------
 */
#include "reconcile.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#include <stdlib.h>

#ifndef RC_SANITIZE

/* The core allocates in the work context, freed as a whole with it. */
static void *
core_alloc_arg(MemoryContext work)
{
	return work;
}

static void *
core_alloc(void *arg, size_t size)
{
	return MemoryContextAllocHuge((MemoryContext) arg, size);
}
#else

/*
 * Sanitizer builds (make sanitize): the core's arrays come from malloc, one
 * block each, so AddressSanitizer checks every access against its bounds
 * (inside a palloc block it cannot).  The blocks are listed in the work
 * context and freed by a reset callback, so an error or a cancel frees them
 * as it frees palloc'd memory.
 */
typedef struct CoreBlocks
{
	MemoryContextCallback cb;
	void	  **ptrs;			/* in the work context, like this struct */
	int			n;
	int			cap;
} CoreBlocks;

static void
core_free_blocks(void *arg)
{
	CoreBlocks *bl = (CoreBlocks *) arg;

	while (bl->n > 0)
		free(bl->ptrs[--bl->n]);
}

static void *
core_alloc_arg(MemoryContext work)
{
	CoreBlocks *bl = MemoryContextAllocZero(work, sizeof(CoreBlocks));

	bl->cap = 64;
	bl->ptrs = MemoryContextAlloc(work, sizeof(void *) * bl->cap);
	bl->cb.func = core_free_blocks;
	bl->cb.arg = bl;
	MemoryContextRegisterResetCallback(work, &bl->cb);
	return bl;
}

static void *
core_alloc(void *arg, size_t size)
{
	CoreBlocks *bl = (CoreBlocks *) arg;
	void	   *p;

	if (bl->n == bl->cap)
	{
		bl->ptrs = repalloc(bl->ptrs, sizeof(void *) * bl->cap * 2);
		bl->cap *= 2;
	}
	if (size > MaxAllocHugeSize)
		elog(ERROR, "invalid memory alloc request size %zu", size);
	p = malloc(Max(size, 1));
	if (p == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	bl->ptrs[bl->n++] = p;
	return p;
}
#endif

/* CHECK_FOR_INTERRUPTS, called by the core in every long loop. */
static void
core_interrupts(void *arg)
{
	(void) arg;
	CHECK_FOR_INTERRUPTS();
}

/* The core's environment for one group: its work memory in work, its results in results. */
void
rc_core_env(RcEnv *env, MemoryContext work, MemoryContext results)
{
	env->alloc = core_alloc;
	env->check_interrupts = core_interrupts;
	env->arg = core_alloc_arg(work);
	env->alloc_results = core_alloc;
	env->results_arg = core_alloc_arg(results);
}
