/*-------------------------------------------------------------------------
 *
 * core_pass_dup.c
 *	  Pass 6 of the matching core: duplicates.
 *
 * A payment made twice, or an order booked twice: after the passes that
 * pair rows, a row left over that equals one already matched on its own
 * side.  The keys (side, amount, date, ref) of the smaller of the two sets,
 * the rows matched in passes 1-4 and the rows left over, are hashed; the
 * first copy in id order is the one named.
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

/* The slot of row r's key in a table of size (a power of two), or the empty one it would take. */
static inline uint32_t
dup_slot(const Work *w, const uint32_t *table, uint32_t size, uint32_t r)
{
	uint32_t	h = dup_hash(w, r) & (size - 1);

	while (table[h] != 0 && !dup_equal(w, table[h] - 1, r))
		h = (h + 1) & (size - 1);
	return h;
}

/*
 * Pass 6: each remaining row with the same amount, date and normalised ref
 * (no ref and an empty ref alike) as a row of its own side matched in
 * passes 1-4: a second copy.  Reads the rows matched early (w->early) and
 * the rows still unmatched; writes duplicate, naming the first copy (in id
 * order).  The keys of whichever set is smaller are hashed: usually the
 * rows left over, a few per cent of the group.
 */
void
rc_pass_duplicates(Work *w)
{
	uint32_t	size = 16;
	uint32_t   *table;
	uint32_t   *first;			/* per slot: the first early row of the key + 1 */
	uint32_t	nearly = 0,
				nleft = 0;
	bool		hash_left;

	for (uint32_t r = 0; r < w->n; r++)
	{
		nearly += w->early[r];
		nleft += row_ok(w, r);
	}
	if (nearly == 0 || nleft == 0)
		return;
	hash_left = nleft < nearly;
	while (size < (hash_left ? nleft : nearly) * 2)
		size <<= 1;
	table = walloc0(w, sizeof(uint32_t) * size);
	first = hash_left ? walloc0(w, sizeof(uint32_t) * size) : NULL;

	/* the hashed set's distinct keys; early rows in id order, so the first copy is kept */
	for (int side = 0; side < 2; side++)
	{
		const uint32_t *rows = side == 0 ? w->lrows : w->srows;
		uint32_t	cnt = side == 0 ? w->nl : w->ns;

		for (uint32_t i = 0; i < cnt; i++)
		{
			uint32_t	r = rows[i];
			uint32_t	h;

			tick(w);
			if (hash_left ? !row_ok(w, r) : !w->early[r])
				continue;
			h = dup_slot(w, table, size, r);
			if (table[h] == 0)
				table[h] = r + 1;
		}
	}
	/* hashing the rows left over: each key's first early row */
	if (hash_left)
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
				h = dup_slot(w, table, size, r);
				if (table[h] != 0 && first[h] == 0)
					first[h] = r + 1;
			}
		}
	/* the rows left over, in id order, each with the first copy of its key */
	for (int side = 0; side < 2; side++)
	{
		const uint32_t *rows = side == 0 ? w->lrows : w->srows;
		uint32_t	cnt = side == 0 ? w->nl : w->ns;

		for (uint32_t i = 0; i < cnt; i++)
		{
			uint32_t	r = rows[i];
			uint32_t	h;
			uint32_t	orig;

			tick(w);
			if (!row_ok(w, r))
				continue;
			h = dup_slot(w, table, size, r);
			orig = hash_left ? first[h] : table[h];
			if (orig != 0)
				rc_emit_single(w, RC_DUPLICATE, r, (int32_t) (orig - 1));
		}
	}
}
