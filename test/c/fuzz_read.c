/*-------------------------------------------------------------------------
 *
 * fuzz_read.c
 *	  libFuzzer harness over the plain-C statement and bill readers.
 *
 * Every input is read by all four readers (MT940, OFX, Alipay, WeChat Pay),
 * so that the test documents of test/data/statements seed the corpus as
 * they are.  Besides memory errors (the harness is built with ASan and
 * UBSan) it checks what a reader promises: every line has a calendar date,
 * an amount of normalised decimal text (and a fee, when it has one), an id
 * that no other line of the document has; an error names a line of the
 * document, or none for an unknown layout.
 *
 *	  make fuzz                      (builds with clang, runs for FUZZ_SECONDS)
 *
 * IDENTIFICATION
 *	  test/c/fuzz_read.c
 *
 *-------------------------------------------------------------------------
 */
#include "read_core.h"

#include <stdlib.h>
#include <string.h>

/* bump allocator over one buffer, reset after each read (malloc'd blocks beyond it) */
static char arena[1 << 22];
static size_t arena_used;
static void *blocks[1 << 16];
static int	nblocks;

static void *
f_alloc(void *arg, size_t size)
{
	void	   *p;

	(void) arg;
	size = (size + 15) & ~(size_t) 15;
	if (size == 0)
		size = 16;
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

/* the ids of one document's lines, copied */
static char idbuf[1 << 20];
static size_t idlen;
static uint32_t idofs[1 << 14];
static uint32_t nids;

/* Normalised decimal text: an optional '-', digits, at most one point between digits. */
static int
decimal_ok(RdText t)
{
	uint32_t	i = 0;
	int			digits = 0,
				point = 0;

	if (t.len > 0 && t.p[0] == '-')
		i++;
	for (; i < t.len; i++)
	{
		if (t.p[i] >= '0' && t.p[i] <= '9')
			digits++;
		else if (t.p[i] == '.' && !point && digits > 0 && i + 1 < t.len)
			point = 1;
		else
			return 0;
	}
	return digits > 0;
}

static int
date_ok(RdDate d)
{
	static const int days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return !d.has || (d.y >= 1 && d.y <= 9999 && d.m >= 1 && d.m <= 12 && d.d >= 1 && d.d <= days[d.m - 1]);
}

static void
f_emit(void *arg, const RdLine *l)
{
	(void) arg;
	if (!l->tx_date.has || !date_ok(l->tx_date) || !date_ok(l->value_date))
		abort();
	if (!decimal_ok(l->amount) || (l->fee.len > 0 && !decimal_ok(l->fee)))
		abort();
	if (l->id.len == 0 || l->nraw > RD_MAX_RAW)
		abort();
	/* unique within the document */
	for (uint32_t k = 0; k < nids; k++)
	{
		uint32_t	len = (k + 1 < nids ? idofs[k + 1] : (uint32_t) idlen) - idofs[k];

		if (len == l->id.len && memcmp(idbuf + idofs[k], l->id.p, len) == 0)
			abort();
	}
	if (nids < sizeof(idofs) / sizeof(idofs[0]) && idlen + l->id.len <= sizeof(idbuf))
	{
		idofs[nids++] = (uint32_t) idlen;
		memcpy(idbuf + idlen, l->id.p, l->id.len);
		idlen += l->id.len;
	}
}

typedef RdStatus (*Reader) (RdReader *r, const char *doc, size_t len);

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const Reader readers[] = {rd_read_mt940, rd_read_ofx, rd_read_alipay, rd_read_wechatpay};
	uint32_t	lines = 1;

	/* line ends as the readers count them: \n, \r\n, \r */
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n' || (data[i] == '\r' && (i + 1 == size || data[i + 1] != '\n'));
	for (int k = 0; k < 4; k++)
	{
		RdReader	r;
		RdStatus	st;

		memset(&r, 0, sizeof(r));
		r.emit = f_emit;
		r.alloc = f_alloc;
		nids = 0;
		idlen = 0;
		st = readers[k] (&r, (const char *) data, size);
		if (st == RD_MALFORMED && (r.err_line == 0 || r.err_line > lines + 1))
			abort();			/* an error names a line of the document */
		if (st != RD_OK && st != RD_MALFORMED && st != RD_UNKNOWN_LAYOUT)
			abort();
		f_free_all();
	}
	(void) rd_utf8_bad_line((const char *) data, size);
	(void) rd_gbk_bad_line((const char *) data, size);
	return 0;
}
