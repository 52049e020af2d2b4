/*-------------------------------------------------------------------------
 *
 * progress.c
 *	  Where a reconcile.run is: its phase, the rows read and the rows
 *	  matched so far, for the caller and for a DBA watching another session.
 *
 * While a run is under way (rc_progress_begin .. rc_progress_end) the
 * backend's line in pg_stat_activity shows it instead of the query text:
 *
 *	reconcile.run shop: matching; 1200000 rows read, 800000 matched; 12 s
 *
 * updated when the phase changes, when a group has been matched, and every
 * 65,536 rows read (reading the clock that often costs nothing noticeable).
 * When the run ends, or fails (the reset callback of its call context),
 * the line shows the query text again.
 * The caller gets the same line as a NOTICE once the run has lasted two
 * seconds, then at most every ten seconds and at each phase change, so that
 * short runs (and the tests) stay quiet.  The rows are counted where this
 * backend sees them: as it reads them itself, and as parallel workers hand
 * their partial states over.  View reads are not counted: outside a run
 * nothing here does anything.
 *
 * IDENTIFICATION
 *	  src/progress.c
 *
 *-------------------------------------------------------------------------
 */
#include "reconcile.h"

#include "pgstat.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* the run under way in this backend, if any */
bool		rc_progress_on = false;
static char progress_name[NAMEDATALEN];
static const char *progress_phase = "";
static TimestampTz progress_started;
static TimestampTz progress_noticed;	/* last NOTICE, 0 = none yet */
static int64 progress_read;
static int64 progress_matched;
static uint32 progress_tick;
static char *progress_query = NULL;	/* the query text to put back, in TopMemoryContext */

#define RC_NOTICE_AFTER_MS 2000
#define RC_NOTICE_EVERY_MS 10000

/* The line, in buf. */
static void
progress_line(char *buf, size_t len, TimestampTz now)
{
	long		secs;
	int			usecs;

	TimestampDifference(progress_started, now, &secs, &usecs);
	snprintf(buf, len, "reconcile.run %s: %s; " INT64_FORMAT " rows read, " INT64_FORMAT
			 " matched; %ld s", progress_name, progress_phase, progress_read, progress_matched, secs);
}

/* Show the line in pg_stat_activity, and to the caller when it is time. */
static void
progress_report(bool phase_changed)
{
	char		buf[256];
	TimestampTz now = GetCurrentTimestamp();

	progress_line(buf, sizeof(buf), now);
	pgstat_report_activity(STATE_RUNNING, buf);
	if (TimestampDifferenceExceeds(progress_started, now, RC_NOTICE_AFTER_MS) &&
		(phase_changed || progress_noticed == 0 ||
		 TimestampDifferenceExceeds(progress_noticed, now, RC_NOTICE_EVERY_MS)))
	{
		progress_noticed = now;
		ereport(NOTICE, (errmsg_internal("%s", buf)));
	}
}

/* The run is over (or failed): back to the query text and to silence. */
static void
progress_reset(void *arg)
{
	(void) arg;
	if (!rc_progress_on)
		return;
	rc_progress_on = false;
	if (progress_query)
		pgstat_report_activity(STATE_RUNNING, progress_query);
}

/*
 * A run of name begins; it ends with rc_progress_end, or when cxt (the
 * run's call context) goes away, as it does when the run fails.
 */
void
rc_progress_begin(const char *name, MemoryContext cxt)
{
	MemoryContextCallback *cb = MemoryContextAllocZero(cxt, sizeof(MemoryContextCallback));

	cb->func = progress_reset;
	MemoryContextRegisterResetCallback(cxt, cb);
	/* a copy: after an error debug_query_string is gone before cxt is */
	if (progress_query)
		pfree(progress_query);
	progress_query = debug_query_string ?
		MemoryContextStrdup(TopMemoryContext, debug_query_string) : NULL;
	strlcpy(progress_name, name, sizeof(progress_name));
	rc_progress_on = true;
	progress_started = GetCurrentTimestamp();
	progress_noticed = 0;
	progress_read = 0;
	progress_matched = 0;
	progress_tick = 0;
	progress_phase = "starting";
}

/* The run enters phase (a string constant). */
void
rc_progress_phase(const char *phase)
{
	if (!rc_progress_on)
		return;
	progress_phase = phase;
	progress_report(true);
}

/* Rows read by this backend (one row, or a worker's whole partial state). */
void
rc_progress_count_read(uint32 rows)
{
	progress_read += rows;
	progress_tick += rows;
	if (progress_tick >= 65536)
	{
		progress_tick = 0;
		progress_report(false);
	}
}

/* A group of rows has been matched: the result lines that clear (or were matched by hand). */
void
rc_progress_count_matched(const RcResult *results, uint32 nresults)
{
	for (uint32 i = 0; i < nresults; i++)
		progress_matched += results[i].category <= RC_MANUAL;
	progress_report(false);
}

/* The run is done. */
void
rc_progress_end(void)
{
	progress_reset(NULL);
}
