/*-------------------------------------------------------------------------
 *
 * fuzz_core.c
 *	  libFuzzer harness over the plain-C matching core and the reference
 *	  normaliser.
 *
 * Each input is read as a rule followed by rows; every row is built from a
 * few bytes (side, id, amount, scale, date, ref, batch or manual tag,
 * validity, and on some inputs a fee and rejection tags), with ids and refs drawn from small pools so that duplicates,
 * ref containment, batches, manual sets and equal amounts are frequent.  Besides memory errors (the
 * harness is built with ASan and UBSan) it checks the invariants of a
 * result: every row once, but the single row of a many_to_one, one_to_many
 * or manual group (a fee_difference batch's one row appears once); no
 * pair or group whose very rows were rejected together (but by hand); a
 * duplicate id is the only error.
 *
 *	  make fuzz                      (builds with clang, runs for FUZZ_SECONDS)
 *
 * IDENTIFICATION
 *	  test/c/fuzz_core.c
 *
 *-------------------------------------------------------------------------
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS 256

/* bump allocator over one buffer, reset after each input (malloc'd blocks beyond it) */
static char arena[1 << 22];
static size_t arena_used;
static void *blocks[1 << 14];
static int	nblocks;

static void *
f_alloc(void *arg, size_t size)
{
	void	   *p;

	(void) arg;
	size = (size + 15) & ~(size_t) 15;
	if (arena_used + size <= sizeof(arena))
	{
		p = arena + arena_used;
		arena_used += size;
		return p;
	}
	p = malloc(size);
	if (p == NULL || nblocks >= (int) (sizeof(blocks) / sizeof(blocks[0])))
		abort();
	blocks[nblocks++] = p;
	return p;
}

static void
f_free_all(void)
{
	while (nblocks > 0)
		free(blocks[--nblocks]);
	arena_used = 0;
}

static const char *const ref_pool[] = {
	"ORD-0001", "ord0001", "pay ORD-0001 thanks", "INV-900", "INV-900 1/3", "INV-900 2/3",
	"abc", "abcd", "xabcdx", "\xe8\xae\xa2\xe5\x8d\x95 1234", "\xef\xbc\xa1\xef\xbc\x91\xef\xbc\x92\xef\xbc\x93",
	"", "----", "P-77", "PAYOUT P-77", "\xff\xfe\xfd", "RF-77", "refund RF-77"
};

typedef struct Reader
{
	const uint8_t *p;
	size_t		n;
} Reader;

static uint8_t
byte(Reader *r)
{
	uint8_t		b;

	if (r->n == 0)
		return 0;
	b = *r->p++;
	r->n--;
	return b;
}

/* How many of tags[0..n) are t. */
static uint32_t
tag_count(const uint64_t *tags, uint32_t n, uint64_t t)
{
	uint32_t	c = 0;

	for (uint32_t i = 0; i < n; i++)
		c += tags[i] == t;
	return c;
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static RcRow rows[MAX_ROWS];
	static RcFee fees[MAX_ROWS];
	static char heap[MAX_ROWS * 64];
	static const char *const tols[] = {"0", "0.01", "1", "0.005", "1000000000000000000000000000000", "0.0000000000000000000000000000000001"};
	Reader		r = {data, size};
	RcMatch		m;
	RcEnv		env = {f_alloc, NULL, NULL};
	uint32_t	heaplen = 0;
	uint32_t	nrows = 0;
	uint8_t		b;
	RcStatus	st;

	memset(&m, 0, sizeof(m));
	b = byte(&r);
	tol_from_text(tols[b % 6], &m.rule.abs_tol, &m.rule.abs_scale);
	tol_from_text(tols[(b / 6) % 6], &m.rule.rel_tol, &m.rule.rel_scale);
	m.rule.days_before = byte(&r) % 5;
	m.rule.days_after = byte(&r) % 9;
	b = byte(&r);
	m.rule.use_ref = (b & 1) != 0;
	m.rule.has_as_of = (b & 2) != 0;
	m.rule.as_of = 9800 + byte(&r) % 40;
	/* fees on some inputs: from the row's bytes, at scales 0 to 7 (some too fine to compare) */
	bool		with_fees = (b & 4) != 0;
	/* rejections on some inputs: each row reads one more byte, up to two tags of 1-3 */
	bool		with_rej = (b & 8) != 0;
	static uint32_t rej_ofs[MAX_ROWS + 1];
	static uint64_t rej_tags[2 * MAX_ROWS];
	uint32_t	nrej = 0;

	while (r.n >= 6 && nrows < MAX_ROWS)
	{
		RcRow	   *row = &rows[nrows];
		char		id[16];
		uint8_t		k = byte(&r);
		uint8_t		a = byte(&r);
		uint8_t		a2 = byte(&r);
		uint8_t		d = byte(&r);
		uint8_t		f = byte(&r);
		uint8_t		g = byte(&r);
		int			idn;

		memset(row, 0, sizeof(*row));
		row->is_ledger = k & 1;
		/* mostly unique ids, sometimes a repeat */
		idn = (k & 0x80) ? (k >> 1) % 8 : (int) nrows + 8;
		idn = snprintf(id, sizeof(id), "%c%d", row->is_ledger ? 'L' : 'S', idn);
		row->id_off = heaplen;
		row->id_len = (uint32_t) idn;
		memcpy(heap + heaplen, id, (size_t) idn);
		heaplen += (uint32_t) idn;
		row->amount = (rc_i128) ((int16_t) ((a << 8) | a2)) * ((f & 0x40) ? 1000000000LL : 1);
		if (f & 0x80)
			row->amount = -row->amount;
		row->dscale = (uint16_t) ((f >> 3) % 4);
		row->date = 9800 + (int32_t) (d % 32);
		if ((f & 7) == 7)
			row->invalid = (uint8_t) (1 + g % 6);
		if (g & 0x10)
		{
			const char *ref = ref_pool[(g >> 5) % (sizeof(ref_pool) / sizeof(ref_pool[0]))];
			size_t		len = rc_normalize_ref(ref, strlen(ref), heap + heaplen);

			row->ref_off = heaplen;
			row->ref_len = (uint32_t) len;
			heaplen += (uint32_t) len;
		}
		row->batch_len = -1;
		if ((g & 0x0C) == 0x0C)
		{
			row->batch_off = heaplen;
			row->batch_len = 3;
			memcpy(heap + heaplen, (g & 1) ? "P-1" : "P-2", 3);
			heaplen += 3;
			/* sometimes that tag means matched by hand instead */
			row->manual = (k & 0x40) && (f & 0x20);
		}
		memset(&fees[nrows], 0, sizeof(RcFee));
		if (with_fees && (d & 0x20))
		{
			fees[nrows].has = 1;
			fees[nrows].fee = (rc_i128) (int8_t) a2 * ((d & 0x40) ? 1 : 10);
			fees[nrows].dscale = (uint16_t) ((g >> 1) % 8);
		}
		if (with_fees && (g & 0x0E) == 0x02 && !row->invalid)
		{
			/*
			 * a payout: the gross of the other side's rows of batch P-1 or P-2
			 * so far (those at two decimals), a fee of its own moving the net
			 * by a; a fee_difference batch when the members all have fees
			 */
			const char *tag = (g & 1) ? "P-1" : "P-2";
			rc_i128		sum_a = 0,
						sum_f = 0;

			for (uint32_t j = 0; j < nrows; j++)
				if (rows[j].is_ledger != row->is_ledger && rows[j].batch_len == 3 && !rows[j].manual &&
					memcmp(heap + rows[j].batch_off, tag, 3) == 0 && rows[j].dscale == 2 &&
					fees[j].has && fees[j].dscale == 2)
				{
					sum_a += rows[j].amount;
					sum_f += fees[j].fee;
				}
			row->amount = sum_a - (int8_t) a;
			row->dscale = 2;
			fees[nrows].has = 1;
			fees[nrows].fee = sum_f + (int8_t) a;
			fees[nrows].dscale = 2;
		}
		rej_ofs[nrows] = nrej;
		if (with_rej)
		{
			uint8_t		t = byte(&r);

			if ((t & 3) && (t >> 2 & 3) && (t & 3) != (t >> 2 & 3))
			{
				/* sorted */
				rej_tags[nrej++] = (t & 3) < (t >> 2 & 3) ? (t & 3) : (t >> 2 & 3);
				rej_tags[nrej++] = (t & 3) < (t >> 2 & 3) ? (t >> 2 & 3) : (t & 3);
			}
			else if (t & 3)
				rej_tags[nrej++] = t & 3;
		}
		nrows++;
	}
	rej_ofs[nrows] = nrej;

	m.rows = rows;
	m.fees = with_fees ? fees : NULL;
	m.rej_ofs = with_rej ? rej_ofs : NULL;
	m.rej_tags = with_rej ? rej_tags : NULL;
	m.nrows = nrows;
	m.heap = heap;
	st = rc_match(&m, &env);
	if (st == RC_OK)
	{
		/* every row appears; only a group's single row more than once */
		static uint16_t seen[MAX_ROWS];
		char		note[512];

		memset(seen, 0, sizeof(seen));
		for (uint32_t i = 0; i < m.nresults; i++)
		{
			const RcResult *res = &m.results[i];

			if (res->ledger >= 0)
				seen[res->ledger]++;
			if (res->statement >= 0)
				seen[res->statement]++;
			if (res->ledger < 0 && res->statement < 0)
				abort();
			/* a pair (not by hand) whose rows were rejected as that pair */
			if (with_rej && res->ledger >= 0 && res->statement >= 0 && res->category != RC_MANUAL &&
				res->group_id == 0)
				for (uint32_t x = rej_ofs[res->ledger]; x < rej_ofs[res->ledger + 1]; x++)
					for (uint32_t y = rej_ofs[res->statement]; y < rej_ofs[res->statement + 1]; y++)
						if (rej_tags[x] == rej_tags[y] && tag_count(rej_tags, nrej, rej_tags[x]) == 2)
							abort();
			rc_format_note(&m, res, note, sizeof(note));
		}
		/* a group (not by hand) whose rows were rejected as that group */
		for (uint32_t i = 0; with_rej && i < m.nresults; i++)
		{
			const RcResult *res = &m.results[i];
			uint8_t		c = res->category;
			static int32_t mem[MAX_ROWS];
			uint32_t	nmem = 0;
			int32_t		one;

			if (res->group_id == 0 || (i > 0 && m.results[i - 1].group_id == res->group_id) ||
				(c != RC_MANY_TO_ONE && c != RC_ONE_TO_MANY && c != RC_FEE_DIFFERENCE))
				continue;		/* the first line of each group found by a pass */
			one = c == RC_MANY_TO_ONE ? res->statement : c == RC_ONE_TO_MANY ? res->ledger : res->other;
			for (uint32_t j = i; j < m.nresults && m.results[j].group_id == res->group_id; j++)
			{
				int32_t		a = m.results[j].ledger == one ? m.results[j].statement : m.results[j].ledger;

				if (a < 0)
					a = m.results[j].statement;
				mem[nmem++] = a;
			}
			for (uint32_t x = rej_ofs[one]; x < rej_ofs[one + 1]; x++)
			{
				uint32_t	have = 0;

				if (tag_count(rej_tags, nrej, rej_tags[x]) != nmem + 1)
					continue;
				for (uint32_t k = 0; k < nmem; k++)
					for (uint32_t y = rej_ofs[mem[k]]; y < rej_ofs[mem[k] + 1]; y++)
						have += rej_tags[y] == rej_tags[x];
				if (have == nmem)
					abort();
			}
		}
		for (uint32_t i = 0; i < nrows; i++)
		{
			if (seen[i] == 0)
				abort();		/* a row was dropped */
			if (seen[i] > 1)
			{
				int			grouped = 0;

				for (uint32_t j = 0; j < m.nresults; j++)
					if (m.results[j].ledger == (int32_t) i || m.results[j].statement == (int32_t) i)
					{
						uint8_t		c = m.results[j].category;

						if (m.results[j].group_id == 0 ||
							(c != RC_MANY_TO_ONE && c != RC_ONE_TO_MANY && c != RC_MANUAL))
							abort();	/* repeated outside a many_to_one, one_to_many or manual group */
						grouped = 1;
					}
				if (!grouped)
					abort();
			}
		}
	}
	else if (st != RC_ERR_DUPLICATE_ID && st != RC_ERR_BAD_RULE)
		abort();
	f_free_all();
	return 0;
}
