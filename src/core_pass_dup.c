/*-------------------------------------------------------------------------
 *
 * core_pass_dup.c
 *	  Pass 6 of the matching core: duplicates.
 *
 * A payment made twice, or an order booked twice: after the passes that
 * pair rows, a row left over that equals one already matched on its own
 * side.  The rows matched in passes 1-4 are hashed by (side, amount, date,
 * ref), in id order so that the first copy is the one named, and the
 * remaining rows probe the table.
 *
 * IDENTIFICATION
 *	  src/core_pass_dup.c
 *
 *-------------------------------------------------------------------------
 */
#include "core.h"

/* Hash of a row's side, amount, date and normalised ref. */
static inline uint32_t
dup_hash(const Work *w, uint32_t r)
{
	const RcRow *row = &w->rows[r];
	uint64_t	a = (uint64_t) w->amt[r] ^ ((uint64_t) (w->amt[r] >> 64) * 31);
	uint32_t	h = hash_bytes(w->heap + row->ref_off, row->ref_len);

	return (uint32_t) ((a * 0x9E3779B97F4A7C15ULL) >> 32) ^ h ^
		((uint32_t) row->date * 2654435761u) ^ (row->is_ledger ? 0x5bd1e995u : 0);
}

/* Same side, amount, date and normalised ref. */
static inline bool
dup_equal(const Work *w, uint32_t a, uint32_t b)
{
	const RcRow *x = &w->rows[a];
	const RcRow *y = &w->rows[b];

	return x->is_ledger == y->is_ledger && w->amt[a] == w->amt[b] &&
		x->date == y->date && x->ref_len == y->ref_len &&
		memcmp(w->heap + x->ref_off, w->heap + y->ref_off, x->ref_len) == 0;
}

/*
 * Pass 6: each remaining row with the same amount, date and normalised ref
 * (no ref and an empty ref alike) as a row of its own side matched in
 * passes 1-4: a second copy.  Reads the rows matched early (w->early) and
 * the rows still unmatched; writes duplicate, naming the first copy.
 */
void
rc_pass_duplicates(Work *w)
{
	uint32_t	size = 16;
	uint32_t   *table;
	uint32_t	nearly = 0;

	for (uint32_t r = 0; r < w->n; r++)
		nearly += w->early[r];
	if (nearly == 0)
		return;
	while (size < nearly * 2)
		size <<= 1;
	table = walloc0(w, sizeof(uint32_t) * size);
	/* insert rows matched in passes 1-4, in id order so the first one wins */
	for (int side = 0; side < 2; side++)
	{
		const uint32_t *rows = side == 0 ? w->lrows : w->srows;
		uint32_t	cnt = side == 0 ? w->nl : w->ns;

		for (uint32_t i = 0; i < cnt; i++)
		{
			uint32_t	r = rows[i];
			uint32_t	h;

			tick(w);
			if (!w->early[r])
				continue;
			h = dup_hash(w, r) & (size - 1);
			while (table[h] != 0 && !dup_equal(w, table[h] - 1, r))
				h = (h + 1) & (size - 1);
			if (table[h] == 0)
				table[h] = r + 1;
		}
	}
	for (int side = 0; side < 2; side++)
	{
		const uint32_t *rows = side == 0 ? w->lrows : w->srows;
		uint32_t	cnt = side == 0 ? w->nl : w->ns;

		for (uint32_t i = 0; i < cnt; i++)
		{
			uint32_t	r = rows[i];
			uint32_t	h;

			tick(w);
			if (!row_ok(w, r))
				continue;
			h = dup_hash(w, r) & (size - 1);
			while (table[h] != 0)
			{
				if (dup_equal(w, table[h] - 1, r))
				{
					rc_emit_single(w, RC_DUPLICATE, r, (int32_t) (table[h] - 1));
					break;
				}
				h = (h + 1) & (size - 1);
			}
		}
	}
}
