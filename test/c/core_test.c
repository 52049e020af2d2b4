/*-------------------------------------------------------------------------
 *
 * core_test.c
 *	  Unit tests of the plain-C matching core and reference normaliser,
 *	  outside the server.
 *
 * Built with the system compiler against the core's sources only (no
 * PostgreSQL headers), which is what keeps the core fuzzable.  Prints TAP;
 * test/sh/run counts its lines with the rest.
 *
 *	  make unit
 *
 * IDENTIFICATION
 *	  test/c/core_test.c
 *
 *-------------------------------------------------------------------------
 */
#include "harness.h"
#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int	ntests = 0;
static int	nfailed = 0;

static void
check(int cond, const char *what)
{
	ntests++;
	if (!cond)
		nfailed++;
	printf("%s %d - %s\n", cond ? "ok" : "not ok", ntests, what);
}

/* malloc arena: every block is freed after each match */
static void *blocks[1 << 16];
static int	nblocks = 0;

static void *
t_alloc(void *arg, size_t size)
{
	void	   *p = malloc(size);

	(void) arg;
	if (p == NULL || nblocks >= (int) (sizeof(blocks) / sizeof(blocks[0])))
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	blocks[nblocks++] = p;
	return p;
}

static void
t_free_all(void)
{
	while (nblocks > 0)
		free(blocks[--nblocks]);
}

/* A test group under construction. */
typedef struct TGroup
{
	RcRow		rows[128];
	RcFee		fees[128];		/* used when has_fees */
	char		heap[8192];
	uint32_t	nrows;
	uint32_t	heaplen;
	int			has_fees;
	uint64_t	rej[128][2];	/* up to two rejection tags a row (0 = none) */
	uint32_t	rej_ofs[129];	/* built by run() */
	uint64_t	rej_tags[256];
	int			has_rej;
} TGroup;

static uint32_t
put(TGroup *g, const char *s, size_t len)
{
	uint32_t	off = g->heaplen;

	memcpy(g->heap + off, s, len);
	g->heaplen += (uint32_t) len;
	return off;
}

/* Add a row: amount in cents, date as a day number, ref and batch may be NULL. */
static void
add(TGroup *g, int ledger, const char *id, long long cents, int date,
	const char *ref, const char *batch)
{
	RcRow	   *r = &g->rows[g->nrows++];
	char		norm[256];

	memset(r, 0, sizeof(*r));
	r->is_ledger = (uint8_t) ledger;
	r->id_len = (uint32_t) strlen(id);
	r->id_off = put(g, id, r->id_len);
	r->amount = cents;
	r->dscale = 2;
	r->date = date;
	r->batch_len = -1;
	if (ref)
	{
		r->ref_len = (uint32_t) rc_normalize_ref(ref, strlen(ref), norm);
		r->ref_off = put(g, norm, r->ref_len);
	}
	if (batch)
	{
		r->batch_len = (int32_t) strlen(batch);
		r->batch_off = put(g, batch, (size_t) r->batch_len);
	}
}

static RcMatch
run(TGroup *g, const char *abs_tol, int after, int has_as_of, int as_of)
{
	RcMatch		m;
	RcEnv		env = {t_alloc, NULL, NULL};

	memset(&m, 0, sizeof(m));
	m.rows = g->rows;
	m.nrows = g->nrows;
	m.heap = g->heap;
	m.fees = g->has_fees ? g->fees : NULL;
	if (g->has_rej)
	{
		uint32_t	n = 0;

		for (uint32_t r = 0; r < g->nrows; r++)
		{
			g->rej_ofs[r] = n;
			for (int k = 0; k < 2; k++)
				if (g->rej[r][k])
					g->rej_tags[n++] = g->rej[r][k];
		}
		g->rej_ofs[g->nrows] = n;
		m.rej_ofs = g->rej_ofs;
		m.rej_tags = g->rej_tags;
	}
	tol_from_text(abs_tol, &m.rule.abs_tol, &m.rule.abs_scale);
	m.rule.days_before = 0;
	m.rule.days_after = after;
	m.rule.use_ref = true;
	m.rule.has_as_of = has_as_of != 0;
	m.rule.as_of = as_of;
	if (rc_match(&m, &env) != RC_OK)
		m.nresults = UINT32_MAX;
	return m;
}

/* Give the last row added a fee of cents (at scale dscale). */
static void
fee(TGroup *g, long long v, int dscale)
{
	RcFee	   *f = &g->fees[g->nrows - 1];

	f->fee = v;
	f->dscale = (uint16_t) dscale;
	f->has = 1;
	g->has_fees = 1;
}

/* Put the last row added in rejection tag (tags of a row ascending). */
static void
reject(TGroup *g, uint64_t tag)
{
	uint64_t   *t = g->rej[g->nrows - 1];

	t[t[0] ? 1 : 0] = tag;
	g->has_rej = 1;
}

/* Mark the last row added as matched by hand, with match tag tag. */
static void
manual(TGroup *g, const char *tag)
{
	RcRow	   *r = &g->rows[g->nrows - 1];

	r->manual = 1;
	r->batch_len = (int32_t) strlen(tag);
	r->batch_off = put(g, tag, strlen(tag));
}

/* Whether row r (an index, or -1) has id id (NULL: that it is -1). */
static int
row_is(const TGroup *g, int32_t r, const char *id)
{
	if (id == NULL)
		return r < 0;
	return r >= 0 && g->rows[r].id_len == strlen(id) &&
		memcmp(g->heap + g->rows[r].id_off, id, strlen(id)) == 0;
}

/* The first result holding ledger id lid and statement id sid (NULL = absent), or NULL. */
static const RcResult *
pair_result(const RcMatch *m, const TGroup *g, const char *lid, const char *sid)
{
	for (uint32_t i = 0; i < m->nresults; i++)
		if (row_is(g, m->results[i].ledger, lid) && row_is(g, m->results[i].statement, sid))
			return &m->results[i];
	return NULL;
}

/* Category of the result holding ledger id lid and statement id sid, or -1. */
static int
cat_of(const RcMatch *m, const TGroup *g, const char *lid, const char *sid)
{
	const RcResult *r = pair_result(m, g, lid, sid);

	return r ? r->category : -1;
}

/* The note of the result holding ledger id lid and statement id sid, into buf. */
static const char *
note_of(const RcMatch *m, const TGroup *g, const char *lid, const char *sid, char *buf, size_t len)
{
	const RcResult *r = pair_result(m, g, lid, sid);

	buf[0] = '\0';
	if (r)
		rc_format_note(m, r, buf, len);
	return buf;
}

/* Rows matched by hand are reported as matched and take part in no pass. */
static void
test_manual(void)
{
	TGroup		g;
	RcMatch		m;
	char		note[256];

	memset(&g, 0, sizeof(g));
	/* a pair by hand, although the amounts differ */
	add(&g, 1, "L1", 10000, 100, NULL, NULL);
	manual(&g, "m1");
	add(&g, 0, "S1", 9950, 102, NULL, NULL);
	manual(&g, "m1");
	/* one invoice paid by two transfers, by hand */
	add(&g, 1, "L2", 3000, 100, NULL, NULL);
	manual(&g, "m2");
	add(&g, 0, "S2a", 1000, 101, NULL, NULL);
	manual(&g, "m2");
	add(&g, 0, "S2b", 2000, 101, NULL, NULL);
	manual(&g, "m2");
	/* two and two: one row each, one group */
	add(&g, 1, "L3a", 500, 100, NULL, NULL);
	manual(&g, "m3");
	add(&g, 1, "L3b", 700, 100, NULL, NULL);
	manual(&g, "m3");
	add(&g, 0, "S3a", 600, 100, NULL, NULL);
	manual(&g, "m3");
	add(&g, 0, "S3b", 600, 100, NULL, NULL);
	manual(&g, "m3");
	/* an invalid row matched by hand is manual, not invalid */
	add(&g, 1, "L4", 0, 100, NULL, NULL);
	g.rows[g.nrows - 1].invalid = RC_INVALID_AMOUNT_NULL;
	manual(&g, "m4");
	add(&g, 0, "S4", 800, 100, NULL, NULL);
	manual(&g, "m4");
	/* rows equal to a manual one are neither matched with it nor its duplicates */
	add(&g, 1, "L5", 10000, 100, NULL, NULL);
	add(&g, 0, "S5", 800, 100, NULL, NULL);
	m = run(&g, "0", 3, 0, 0);
	check(cat_of(&m, &g, "L1", "S1") == RC_MANUAL, "manual: a pair matched by hand stays a pair");
	check(strcmp(note_of(&m, &g, "L1", "S1", note, sizeof(note)),
				 "matched by hand, amount differs by 0.50, 2 days later") == 0,
		  "manual: the pair's note gives its difference");
	check(cat_of(&m, &g, "L2", "S2a") == RC_MANUAL && cat_of(&m, &g, "L2", "S2b") == RC_MANUAL,
		  "manual: one ledger row and two statement rows form a group");
	check(strcmp(note_of(&m, &g, "L2", "S2a", note, sizeof(note)),
				 "matched by hand: one ledger row as 2 statement rows") == 0, "manual: the group's note");
	check(cat_of(&m, &g, "L3a", NULL) == RC_MANUAL && cat_of(&m, &g, NULL, "S3b") == RC_MANUAL,
		  "manual: two and two are one row each");
	check(strcmp(note_of(&m, &g, "L3b", NULL, note, sizeof(note)), "matched by hand with 3 other rows") == 0,
		  "manual: and say how many were matched with them");
	check(cat_of(&m, &g, "L4", NULL) == RC_MANUAL && cat_of(&m, &g, NULL, "S4") == RC_MANUAL,
		  "manual: an invalid row matched by hand is manual");
	check(cat_of(&m, &g, "L5", NULL) == RC_MISSING_IN_STATEMENT && cat_of(&m, &g, NULL, "S5") == RC_MISSING_IN_LEDGER,
		  "manual: the other rows are matched without the manual ones, which have no duplicates");
	check(m.nresults == 11, "manual: every row once, the group's single row once per member");
	t_free_all();
}

/* Fees: a pair whose net amounts differ but whose gross amounts agree is fee_difference. */
static void
test_fees(void)
{
	TGroup		g;
	RcMatch		m;
	char		note[256];

	memset(&g, 0, sizeof(g));
	/* by reference: 0.60 expected, 1.00 charged */
	add(&g, 1, "L1", 9940, 100, "ORDER-0001", NULL);
	fee(&g, 60, 2);
	add(&g, 0, "S1", 9900, 101, "PAY ORDER-0001", NULL);
	fee(&g, 100, 2);
	/* by amount and date, no reference; the fee with three decimals */
	add(&g, 1, "L2", 19800, 100, NULL, NULL);
	fee(&g, 2000, 3);
	add(&g, 0, "S2", 19750, 102, NULL, NULL);
	fee(&g, 250, 2);
	/* a fee on one side only: no fee_difference */
	add(&g, 1, "L3", 4970, 100, "ORDER-0003", NULL);
	fee(&g, 30, 2);
	add(&g, 0, "S3", 4950, 100, "PAY ORDER-0003", NULL);
	/* both fees, gross beyond tolerance: amount_mismatch */
	add(&g, 1, "L4", 8000, 100, "ORDER-0004", NULL);
	fee(&g, 100, 2);
	add(&g, 0, "S4", 7000, 100, "PAY ORDER-0004", NULL);
	fee(&g, 200, 2);
	/* equal fees, equal net: matched, and gross outside the window pairs nothing */
	add(&g, 1, "L5", 7000, 100, "ORDER-0005", NULL);
	fee(&g, 70, 2);
	add(&g, 0, "S5", 7000, 101, "PAY ORDER-0005", NULL);
	fee(&g, 70, 2);
	add(&g, 1, "L6", 30000, 100, NULL, NULL);
	fee(&g, 0, 0);
	add(&g, 0, "S6", 29000, 120, NULL, NULL);
	fee(&g, 1000, 2);
	m = run(&g, "0.01", 3, 0, 0);
	check(cat_of(&m, &g, "L1", "S1") == RC_FEE_DIFFERENCE, "fees: a reference pair whose gross agrees is fee_difference");
	check(strcmp(note_of(&m, &g, "L1", "S1", note, sizeof(note)),
				 "fee 1.00 charged, 0.60 expected, 0.40 more, 1 day later, same reference") == 0,
		  "fees: its note names the fee charged, the fee expected and the difference");
	check(cat_of(&m, &g, "L2", "S2") == RC_FEE_DIFFERENCE, "fees: so is a pair in the window by gross amount");
	check(strcmp(note_of(&m, &g, "L2", "S2", note, sizeof(note)),
				 "fee 2.50 charged, 2.000 expected, 0.50 more, 2 days later") == 0,
		  "fees: the note gives each fee as it came, the difference at the group's scale");
	check(cat_of(&m, &g, "L3", "S3") == RC_AMOUNT_MISMATCH, "fees: a fee on one side only is no fee_difference");
	check(cat_of(&m, &g, "L4", "S4") == RC_AMOUNT_MISMATCH, "fees: gross beyond tolerance stays amount_mismatch");
	check(cat_of(&m, &g, "L5", "S5") == RC_MATCHED, "fees: equal net amounts match as before");
	check(cat_of(&m, &g, "L6", NULL) == RC_MISSING_IN_STATEMENT && cat_of(&m, &g, NULL, "S6") == RC_MISSING_IN_LEDGER,
		  "fees: gross agreeing outside the window pairs nothing without a reference");
	for (uint32_t i = 0; i < m.nresults; i++)
		if (m.results[i].category == RC_FEE_DIFFERENCE && m.results[i].ledger >= 0 &&
			strncmp(g.heap + g.rows[m.results[i].ledger].id_off, "L1", 2) == 0)
			check(m.results[i].amount_diff == -40, "fees: amount_diff stays net statement minus net ledger");
	g.has_fees = 0;
	m = run(&g, "0.01", 3, 0, 0);
	check(cat_of(&m, &g, "L1", "S1") == RC_AMOUNT_MISMATCH && cat_of(&m, &g, "L2", NULL) == RC_MISSING_IN_STATEMENT,
		  "fees: without fees the same rows are amount_mismatch and missing");
	t_free_all();
}

/* The first result holding row id on its side, or NULL; *count: how many hold it. */
static const RcResult *
result_of(const RcMatch *m, const TGroup *g, int ledger, const char *id, int *count)
{
	const RcResult *found = NULL;

	*count = 0;
	for (uint32_t i = 0; i < m->nresults; i++)
		if (row_is(g, ledger ? m->results[i].ledger : m->results[i].statement, id))
		{
			if (found == NULL)
				found = &m->results[i];
			(*count)++;
		}
	return found;
}

/*
 * Fees within payout batches: a batch whose members all carry fees is
 * compared gross with gross against one row with a fee; when the gross
 * agrees and the net does not, the batch is a fee_difference group whose
 * notes say which members' fees differ from their share.
 */
static void
test_fee_batches(void)
{
	TGroup		g;
	RcMatch		m;
	char		note[256];
	const RcResult *r;
	int			n;

	memset(&g, 0, sizeof(g));
	/* ledger orders at 1.00% expected, one payout at 1.40% charged: 350.00 gross */
	add(&g, 1, "LA1", 9900, 100, NULL, "P-1");
	fee(&g, 100, 2);
	add(&g, 1, "LA2", 19800, 101, NULL, "P-1");
	fee(&g, 200, 2);
	add(&g, 1, "LA3", 4950, 102, NULL, "P-1");
	fee(&g, 50, 2);
	add(&g, 0, "SA", 34510, 103, NULL, NULL);
	fee(&g, 490, 2);
	/* one expected payout at 1.00%, the platform's lines charge one order 1.40% */
	add(&g, 1, "LB", 108900, 100, NULL, NULL);
	fee(&g, 1100, 2);
	add(&g, 0, "SB1", 39600, 101, NULL, "P-2");
	fee(&g, 400, 2);
	add(&g, 0, "SB2", 39440, 101, NULL, "P-2");
	fee(&g, 560, 2);
	add(&g, 0, "SB3", 29700, 101, NULL, "P-2");
	fee(&g, 300, 2);
	/* a member without a fee: the batch's gross is unknown */
	add(&g, 1, "LC1", 9800, 100, NULL, "P-3");
	fee(&g, 100, 2);
	add(&g, 1, "LC2", 9800, 100, NULL, "P-3");
	add(&g, 0, "SC", 19260, 100, NULL, NULL);
	fee(&g, 340, 2);
	/* net sums that agree: many_to_one, whatever the fees */
	add(&g, 1, "LD1", 7000, 100, NULL, "P-4");
	fee(&g, 70, 2);
	add(&g, 1, "LD2", 7000, 100, NULL, "P-4");
	fee(&g, 70, 2);
	add(&g, 0, "SD", 14000, 101, NULL, NULL);
	fee(&g, 300, 2);
	/* a one row without a fee (a bank line): compared by net only */
	add(&g, 1, "LE1", 5940, 100, NULL, "P-5");
	fee(&g, 60, 2);
	add(&g, 1, "LE2", 5940, 100, NULL, "P-5");
	fee(&g, 60, 2);
	add(&g, 0, "SE", 11832, 101, NULL, NULL);
	m = run(&g, "0.01", 3, 0, 0);

	check(cat_of(&m, &g, "LA1", "SA") == RC_FEE_DIFFERENCE && cat_of(&m, &g, "LA2", NULL) == RC_FEE_DIFFERENCE &&
		  cat_of(&m, &g, "LA3", NULL) == RC_FEE_DIFFERENCE,
		  "fee batches: ledger members whose gross sum agrees with the payout's are one fee_difference group");
	r = result_of(&m, &g, 0, "SA", &n);
	check(n == 1 && r->group_id > 0 && r->amount_diff == -140 && r->group_size == 3,
		  "fee batches: the one row appears once, with the whole net difference");
	check(strcmp(note_of(&m, &g, "LA1", "SA", note, sizeof(note)),
				 "3 ledger rows of batch P-1 as one statement row: fees 4.90 charged, 3.50 expected, 1.40 more, "
				 "3 days later; 3 of the 3 differ from their share at the rate charged") == 0,
		  "fee batches: the first member's note gives the fees charged and expected and how many differ");
	check(strcmp(note_of(&m, &g, "LA2", NULL, note, sizeof(note)),
				 "ledger row of batch P-1, with statement row SA: fee 2.00 expected, 2.80 at the rate charged") == 0,
		  "fee batches: another member's note gives its fee and its share at the rate charged");
	r = result_of(&m, &g, 1, "LA3", &n);
	check(n == 1 && !r->has_diff && r->group_id == result_of(&m, &g, 0, "SA", &n)->group_id,
		  "fee batches: the other members have no counterpart and no difference, and share the group_id");

	check(cat_of(&m, &g, "LB", "SB1") == RC_FEE_DIFFERENCE && cat_of(&m, &g, NULL, "SB2") == RC_FEE_DIFFERENCE &&
		  cat_of(&m, &g, NULL, "SB3") == RC_FEE_DIFFERENCE,
		  "fee batches: statement members against one ledger row, the same way");
	check(strcmp(note_of(&m, &g, "LB", "SB1", note, sizeof(note)),
				 "3 statement rows of batch P-2 as one ledger row: fees 12.60 charged, 11.00 expected, 1.60 more, "
				 "1 day later; 1 of the 3 differs from their share at the rate expected") == 0,
		  "fee batches: only the line charged another rate differs");
	check(strcmp(note_of(&m, &g, NULL, "SB2", note, sizeof(note)),
				 "statement row of batch P-2, with ledger row LB: fee 5.60 charged, 4.00 at the rate expected") == 0,
		  "fee batches: and its note names the fee it should have been");
	r = result_of(&m, &g, 0, "SB3", &n);
	check(r->fee_rows == 0, "fee batches: a line at the expected rate does not differ");

	check(cat_of(&m, &g, "LC1", NULL) == RC_MISSING_IN_STATEMENT && cat_of(&m, &g, NULL, "SC") == RC_MISSING_IN_LEDGER,
		  "fee batches: a member without a fee leaves the batch uncompared by gross");
	check(cat_of(&m, &g, "LD1", "SD") == RC_MANY_TO_ONE && cat_of(&m, &g, "LD2", "SD") == RC_MANY_TO_ONE,
		  "fee batches: a batch whose net sum agrees is many_to_one as before");
	check(cat_of(&m, &g, "LE1", NULL) == RC_MISSING_IN_STATEMENT && cat_of(&m, &g, NULL, "SE") == RC_MISSING_IN_LEDGER,
		  "fee batches: a one row without a fee is compared by net only");
	{
		int			once = 1;

		for (uint32_t k = 0; k < g.nrows; k++)
		{
			char		id[16];

			snprintf(id, sizeof(id), "%.*s", (int) g.rows[k].id_len, g.heap + g.rows[k].id_off);
			result_of(&m, &g, g.rows[k].is_ledger, id, &n);
			once &= n == (strcmp(id, "SD") == 0 ? 2 : 1);
		}
		check(once, "fee batches: every row in one result, but the one row of many_to_one P-4 in two");
	}
	t_free_all();

	/*
	 * A relative tolerance follows the ledger row's net amount, which a large
	 * fee puts far from its gross: the row is still found.
	 */
	memset(&g, 0, sizeof(g));
	add(&g, 1, "LF", 300000, 100, NULL, NULL);
	fee(&g, -200000, 2);
	add(&g, 1, "LG", 1000, 100, NULL, NULL);
	fee(&g, 97600, 2);
	add(&g, 0, "SF1", 55000, 101, NULL, "P-6");
	fee(&g, 5000, 2);
	add(&g, 0, "SF2", 30000, 101, NULL, "P-6");
	fee(&g, 12500, 2);
	{
		RcEnv		env = {t_alloc, NULL, NULL};

		memset(&m, 0, sizeof(m));
		m.rows = g.rows;
		m.nrows = g.nrows;
		m.heap = g.heap;
		m.fees = g.fees;
		tol_from_text("0.01", &m.rule.rel_tol, &m.rule.rel_scale);
		m.rule.days_after = 3;
		m.rule.use_ref = true;
		check(rc_match(&m, &env) == RC_OK && cat_of(&m, &g, "LF", "SF1") == RC_FEE_DIFFERENCE &&
			  cat_of(&m, &g, NULL, "SF2") == RC_FEE_DIFFERENCE && cat_of(&m, &g, "LG", NULL) == RC_MISSING_IN_STATEMENT,
			  "fee batches: 1% of a net 3000.00 (a rebate of 2000.00) takes a gross 975.00 batch to a gross 1000.00 row, not to a nearer one beyond 1% of its own net");
	}
	t_free_all();
}

/*
 * Rejected pairs (reconcile.reject): a ledger and a statement row that share
 * a rejection are never put together; each can still match others.
 */
static void
test_rejections(void)
{
	TGroup		g;
	RcMatch		m;

	memset(&g, 0, sizeof(g));
	/* one bank line against two equal invoices: the one rejected is passed over */
	add(&g, 1, "L1a", 10000, 100, NULL, NULL);
	reject(&g, 1);
	add(&g, 1, "L1b", 10000, 99, NULL, NULL);
	add(&g, 0, "S1", 10000, 100, NULL, NULL);
	reject(&g, 1);
	/* a pair by reference, rejected: neither matched nor paired as a discrepancy */
	add(&g, 1, "L2", 5000, 100, "INV-2002", NULL);
	reject(&g, 2);
	add(&g, 0, "S2", 4000, 100, "PAY INV-2002", NULL);
	reject(&g, 2);
	/* a batch rejected whole */
	add(&g, 1, "L3a", 3000, 100, NULL, "P-3");
	reject(&g, 3);
	add(&g, 1, "L3b", 3000, 100, NULL, "P-3");
	reject(&g, 3);
	add(&g, 0, "S3", 6000, 101, NULL, NULL);
	reject(&g, 3);
	/* within tolerance, rejected; and in the same class of equal amounts, two rows each way whose
	 * nearest pairing is rejected: the other pairing keeps both pairs */
	add(&g, 1, "L4", 7001, 100, NULL, NULL);
	reject(&g, 4);
	add(&g, 0, "S4", 7000, 100, NULL, NULL);
	reject(&g, 4);
	add(&g, 1, "L5a", 8000, 100, NULL, NULL);
	reject(&g, 5);
	add(&g, 1, "L5b", 8000, 99, NULL, NULL);
	add(&g, 0, "S5a", 8000, 100, NULL, NULL);
	reject(&g, 5);
	add(&g, 0, "S5b", 8000, 101, NULL, NULL);
	/* a batch rejected, then corrected: the same rows with another member are another group, and a
	 * rejected group's rows may still pair */
	add(&g, 1, "L6a", 1600, 100, NULL, "P-6");
	reject(&g, 6);
	add(&g, 1, "L6c", 2600, 100, NULL, "P-6");
	add(&g, 0, "S6", 4200, 101, NULL, NULL);
	reject(&g, 6);
	add(&g, 1, "L6b", 2600, 102, NULL, NULL);
	reject(&g, 6);
	m = run(&g, "0.01", 3, 0, 0);
	check(cat_of(&m, &g, "L6a", "S6") == RC_MANY_TO_ONE && cat_of(&m, &g, "L6c", "S6") == RC_MANY_TO_ONE,
		  "rejections: a group with another member is another proposal");
	check(cat_of(&m, &g, "L1b", "S1") == RC_MATCHED && cat_of(&m, &g, "L1a", NULL) == RC_MISSING_IN_STATEMENT,
		  "rejections: one bank line against two equal invoices goes to the one not rejected");
	check(cat_of(&m, &g, "L2", NULL) == RC_MISSING_IN_STATEMENT && cat_of(&m, &g, NULL, "S2") == RC_MISSING_IN_LEDGER,
		  "rejections: a rejected reference pair is not paired again, not even as amount_mismatch");
	check(cat_of(&m, &g, "L3a", NULL) == RC_MISSING_IN_STATEMENT && cat_of(&m, &g, NULL, "S3") == RC_MISSING_IN_LEDGER,
		  "rejections: a rejected batch is not grouped again");
	check(cat_of(&m, &g, "L4", NULL) == RC_MISSING_IN_STATEMENT,
		  "rejections: nor a rejected pair within tolerance");
	check(cat_of(&m, &g, "L5a", "S5b") == RC_MATCHED && cat_of(&m, &g, "L5b", "S5a") == RC_MATCHED,
		  "rejections: among equal amounts the rows of a rejected pair match others, as many as can");
	g.has_rej = 0;
	m = run(&g, "0.01", 3, 0, 0);
	check(cat_of(&m, &g, "L1a", "S1") == RC_MATCHED && cat_of(&m, &g, "L2", "S2") == RC_AMOUNT_MISMATCH &&
		  cat_of(&m, &g, "L3a", "S3") == RC_MANY_TO_ONE && cat_of(&m, &g, "L5a", "S5a") == RC_MATCHED,
		  "rejections: without them the same rows pair as before");
	t_free_all();
}

static void
test_normalizer(void)
{
	char		out[256];
	size_t		n;

	n = rc_normalize_ref("TM-2026 / 00123", 15, out);
	check(n == 11 && memcmp(out, "tm202600123", 11) == 0, "normalise: case folded, punctuation dropped");
	n = rc_normalize_ref("\xef\xbc\xa1\xef\xbc\x91", 6, out);	/* fullwidth A1 */
	check(n == 2 && memcmp(out, "a1", 2) == 0, "normalise: fullwidth letters and digits folded to ASCII");
	n = rc_normalize_ref("\xe8\xae\xa2\xe5\x8d\x95\xe3\x80\x81\x31", 10, out);	/* CJK, ideographic comma, 1 */
	check(n == 7 && memcmp(out, "\xe8\xae\xa2\xe5\x8d\x95\x31", 7) == 0,
		  "normalise: CJK letters kept, CJK punctuation dropped");
	n = rc_normalize_ref("\xff\xfe" "ab", 4, out);
	check(n == 2 && memcmp(out, "ab", 2) == 0, "normalise: invalid UTF-8 bytes dropped");
	check(rc_ref_contains("abcd", 4, "xxabcdxx", 8), "contains: four characters inside");
	check(!rc_ref_contains("abc", 3, "xxabcxx", 7), "contains: three characters are not enough");
	check(rc_ref_similarity_norm("", 0, "abc", 3) == 0.0, "similarity: empty is 0");
	{
		double		s = rc_ref_similarity_norm("abc", 3, "abc", 3);

		check(s > 0.0 && s < 1.0, "similarity: short equal refs are below 1");
	}
}

static void
test_decimal(void)
{
	rc_i128		v;
	char		buf[64];

	check(rc_parse_decimal("12.345", 2, &v) && v == 1234, "parse: truncates beyond the scale");
	check(rc_parse_decimal("-0.5", 3, &v) && v == -500, "parse: negative, padded to the scale");
	check(!rc_parse_decimal("1.2.3", 2, &v), "parse: malformed text refused");
	check(rc_parse_decimal("1e5", 2, &v) == 0, "parse: exponent refused");
	rc_format_amount(-5, 2, buf, sizeof(buf));
	check(strcmp(buf, "-0.05") == 0, "format: -0.05");
}

static void
test_matching(void)
{
	TGroup		g;
	RcMatch		m;

	/* maximum matching among equal amounts: nearest-date greedy gets only one pair */
	memset(&g, 0, sizeof(g));
	add(&g, 1, "L1", 9900, 100, NULL, NULL);
	add(&g, 1, "L2", 9900, 103, NULL, NULL);
	add(&g, 0, "S1", 9900, 103, NULL, NULL);
	add(&g, 0, "S2", 9900, 106, NULL, NULL);
	m = run(&g, "0", 3, 0, 0);
	check(cat_of(&m, &g, "L1", "S1") == RC_MATCHED && cat_of(&m, &g, "L2", "S2") == RC_MATCHED,
		  "pass 2: maximum matching among equal amounts");
	t_free_all();

	/* order independence: the same rows reversed give the same pairs */
	{
		TGroup		h;

		memset(&h, 0, sizeof(h));
		add(&h, 0, "S2", 9900, 106, NULL, NULL);
		add(&h, 0, "S1", 9900, 103, NULL, NULL);
		add(&h, 1, "L2", 9900, 103, NULL, NULL);
		add(&h, 1, "L1", 9900, 100, NULL, NULL);
		m = run(&h, "0", 3, 0, 0);
		check(cat_of(&m, &h, "L1", "S1") == RC_MATCHED && cat_of(&m, &h, "L2", "S2") == RC_MATCHED,
			  "order of arrival does not change the pairs");
		t_free_all();
	}

	/* tolerance, batch, reversal by window, duplicate, missing, in transit */
	memset(&g, 0, sizeof(g));
	add(&g, 1, "A", 5000, 100, NULL, NULL);
	add(&g, 0, "a", 5001, 101, NULL, NULL);
	add(&g, 1, "B1", 1000, 100, NULL, "P1");
	add(&g, 1, "B2", 2000, 101, NULL, "P1");
	add(&g, 0, "b", 3000, 103, NULL, NULL);
	add(&g, 1, "C", -700, 100, NULL, NULL);
	add(&g, 0, "c", 700, 101, NULL, NULL);
	add(&g, 1, "D", 4200, 100, "INV-42", NULL);
	add(&g, 0, "d1", 4200, 100, "pay INV-42", NULL);
	add(&g, 0, "d2", 4200, 100, "pay INV-42", NULL);
	add(&g, 1, "E", 8800, 90, NULL, NULL);
	add(&g, 1, "F", 6600, 119, NULL, NULL);
	m = run(&g, "0.01", 3, 1, 120);
	check(cat_of(&m, &g, "A", "a") == RC_MATCHED_WITHIN_TOLERANCE, "pass 2: within tolerance");
	check(cat_of(&m, &g, "B1", "b") == RC_MANY_TO_ONE && cat_of(&m, &g, "B2", "b") == RC_MANY_TO_ONE,
		  "pass 3: payout batch as many_to_one");
	check(cat_of(&m, &g, "C", "c") == RC_REVERSAL, "pass 5: opposite amount within the window");
	check(cat_of(&m, &g, "D", "d1") == RC_MATCHED && cat_of(&m, &g, NULL, "d2") == RC_DUPLICATE,
		  "pass 6: a duplicated payment");
	check(cat_of(&m, &g, "E", NULL) == RC_MISSING_IN_STATEMENT, "pass 7: missing_in_statement");
	check(cat_of(&m, &g, "F", NULL) == RC_IN_TRANSIT, "pass 7: in_transit before the window closes");
	check(m.nresults == 8, "one result per row, the batch's statement row once per member");
	t_free_all();

	/* duplicate ids on one side are refused */
	memset(&g, 0, sizeof(g));
	add(&g, 1, "X", 100, 1, NULL, NULL);
	add(&g, 1, "X", 200, 1, NULL, NULL);
	{
		RcMatch		d;
		RcEnv		env = {t_alloc, NULL, NULL};

		memset(&d, 0, sizeof(d));
		d.rows = g.rows;
		d.nrows = g.nrows;
		d.heap = g.heap;
		check(rc_match(&d, &env) == RC_ERR_DUPLICATE_ID, "duplicate id on one side is an error");
	}
	t_free_all();
}

/*
 * Pass 2's tie-break when one side of an equal-amount, same-date bucket has
 * one row and the other several: the ref similarity decides before the ids.
 */
static void
test_ties(void)
{
	static const int sizes[] = {3, 40, 100};

	for (int k = 0; k < 3; k++)
	{
		TGroup		g;
		RcMatch		m;
		char		id[16],
					ref[32],
					what[96];
		int			n = sizes[k];

		memset(&g, 0, sizeof(g));
		for (int i = 0; i < n; i++)
		{
			snprintf(id, sizeof(id), "L%03d", i);
			snprintf(ref, sizeof(ref), "INV-%d", 1111 * (i + 1));
			add(&g, 1, id, 50000, 100, ref, NULL);
		}
		/* the memo names the second invoice's number, not contained in either ref */
		add(&g, 0, "S", 50000, 100, "TRANSFER 2222 ACME", NULL);
		m = run(&g, "0", 3, 0, 0);
		snprintf(what, sizeof(what), "pass 2: one bank line against %d equal invoices takes the one its memo names", n);
		check(cat_of(&m, &g, "L001", "S") == RC_MATCHED, what);
		t_free_all();
	}

	/* the other way round: one invoice against several equal bank lines */
	{
		TGroup		g;
		RcMatch		m;

		memset(&g, 0, sizeof(g));
		add(&g, 1, "L", 50000, 100, "INV-2222", NULL);
		add(&g, 0, "S1", 50000, 100, "TRANSFER 1111 ACME", NULL);
		add(&g, 0, "S2", 50000, 100, "TRANSFER 2222 ACME", NULL);
		add(&g, 0, "S3", 50000, 100, "TRANSFER 3333 ACME", NULL);
		m = run(&g, "0", 3, 0, 0);
		check(cat_of(&m, &g, "L", "S2") == RC_MATCHED,
			  "pass 2: one invoice against three equal bank lines takes the one naming it");
		t_free_all();
	}
}

/*
 * One amount with many decimals in a group makes invalid only the rows that
 * cannot be compared exactly at a common scale, not the others.
 */
static void
test_scale(void)
{
	TGroup		g;
	RcMatch		m;

	memset(&g, 0, sizeof(g));
	add(&g, 1, "BIG", 100000000, 100, NULL, NULL);	/* 1,000,000.00 */
	add(&g, 0, "big", 100000000, 100, NULL, NULL);
	add(&g, 1, "FINE", 1, 100, NULL, NULL);
	g.rows[g.nrows - 1].dscale = 30;	/* 10^-30 */
	add(&g, 1, "ROUND", 500, 100, NULL, NULL);
	g.rows[g.nrows - 1].amount = (rc_i128) 5000000000000000000LL;	/* 5.00 at scale 18 */
	g.rows[g.nrows - 1].dscale = 18;
	add(&g, 0, "round", 500, 100, NULL, NULL);
	m = run(&g, "0", 3, 0, 0);
	check(cat_of(&m, &g, "BIG", "big") == RC_MATCHED,
		  "a 30-decimal amount does not make an exact pair of 2-decimal amounts invalid");
	check(cat_of(&m, &g, "FINE", NULL) == RC_INVALID,
		  "the amount that cannot be compared at the group's scale is invalid");
	check(cat_of(&m, &g, "ROUND", "round") == RC_MATCHED,
		  "trailing zeros past the group's scale are dropped: 5.000000000000000000 = 5.00");
	t_free_all();

	memset(&g, 0, sizeof(g));
	add(&g, 1, "A", 1, 100, NULL, NULL);
	g.rows[g.nrows - 1].dscale = 30;
	add(&g, 0, "a", 1, 100, NULL, NULL);
	g.rows[g.nrows - 1].dscale = 30;
	add(&g, 1, "B", 9900, 100, NULL, NULL);
	add(&g, 0, "b", 9900, 100, NULL, NULL);
	m = run(&g, "0", 3, 0, 0);
	check(cat_of(&m, &g, "A", "a") == RC_MATCHED && cat_of(&m, &g, "B", "b") == RC_MATCHED,
		  "fine and small amounts that fit together are all compared at the finest scale");
	t_free_all();
}

/* deterministic pseudo-random numbers for the tests */
static uint32_t lcg_state = 12345;

static uint32_t
lcg(void)
{
	lcg_state = lcg_state * 1103515245u + 12345u;
	return lcg_state >> 8;
}

/*
 * The containment search against comparing every pair: refs of the shapes
 * that stress the anchors (sequential order numbers that share most of
 * their grams, digit-only refs, memos quoting a ref inside other text,
 * four-character refs, multibyte letters), each pair found exactly when
 * ref_similarity is 1.
 */
static void
test_containment(void)
{
	enum
	{
		NL = 120, NS = 120
	};
	static RcRow rows[NL + NS];
	static char heap[(NL + NS) * 64];
	static uint8_t invalid[NL + NS];
	static uint32_t lrows[NL],
				srows[NS];
	uint32_t	heaplen = 0;
	RcMatch		m;
	RcEnv		env = {t_alloc, NULL, NULL};
	Work		w;
	int			missing = 0,
				extra = 0;
	uint32_t	found = 0;

	for (int r = 0; r < NL + NS; r++)
	{
		char		raw[64],
					norm[64];
		uint32_t	x = lcg() % 400;
		int			shape = (int) (lcg() % 6);

		switch (shape)
		{
			case 0:
				snprintf(raw, sizeof(raw), "INV-%08u", x);
				break;
			case 1:
				snprintf(raw, sizeof(raw), "PAYMENT INV-%08u %06X", x, lcg() & 0xFFFFFF);
				break;
			case 2:
				snprintf(raw, sizeof(raw), "%u", 1000 + x % 50);
				break;
			case 3:
				snprintf(raw, sizeof(raw), "TRANSFER %u%u", 1000 + x % 50, x % 7);
				break;
			case 4:
				snprintf(raw, sizeof(raw), "\xe8\xae\xa2\xe5\x8d\x95%u", x % 30);
				break;
			default:
				snprintf(raw, sizeof(raw), "ab%uab%u", x % 20, x % 3);
				break;
		}
		memset(&rows[r], 0, sizeof(RcRow));
		rows[r].is_ledger = r < NL;
		rows[r].ref_len = (uint32_t) rc_normalize_ref(raw, strlen(raw), norm);
		rows[r].ref_off = heaplen;
		memcpy(heap + heaplen, norm, rows[r].ref_len);
		heaplen += rows[r].ref_len;
		if (r < NL)
			lrows[r] = (uint32_t) r;
		else
			srows[r - NL] = (uint32_t) r;
	}
	memset(&m, 0, sizeof(m));
	m.rows = rows;
	m.nrows = NL + NS;
	m.heap = heap;
	m.rule.use_ref = true;
	memset(&w, 0, sizeof(w));
	w.m = &m;
	w.env = &env;
	w.rows = rows;
	w.heap = heap;
	w.n = NL + NS;
	w.lrows = lrows;
	w.srows = srows;
	w.nl = NL;
	w.ns = NS;
	w.invalid = invalid;
	rc_build_ref_pairs(&w);

	for (uint32_t l = 0; l < NL; l++)
		for (uint32_t st = NL; st < NL + NS; st++)
		{
			bool		want = rows[l].ref_len > 0 && rows[st].ref_len > 0 &&
				rc_ref_similarity_norm(heap + rows[l].ref_off, rows[l].ref_len,
									   heap + rows[st].ref_off, rows[st].ref_len) == 1.0;
			bool		got = false;

			for (uint32_t k = w.lofs[l]; k < w.lofs[l + 1]; k++)
				got |= w.lpairs[k] == st;
			if (want && !got)
				missing++;
			if (got && !want)
				extra++;
			found += got;
		}
	check(missing == 0 && extra == 0 && found > 50,
		  "containment search: every pair with ref_similarity 1, and only those");
	t_free_all();
}

int
main(void)
{
	test_containment();
	test_ties();
	test_scale();
	test_normalizer();
	test_decimal();
	test_matching();
	test_manual();
	test_fees();
	test_fee_batches();
	test_rejections();
	printf("1..%d\n", ntests);
	return nfailed ? 1 : 0;
}
