/*-------------------------------------------------------------------------
 *
 * core_contain.c
 *	  The containment search of the matching core: every (pattern, text)
 *	  pair of refs where the pattern occurs inside the longer text.
 *
 * Each pattern of four characters or more is anchored at its rarest 4-byte
 * gram, counted by a sketch over all patterns; the texts are scanned once,
 * each position probing a bit filter of the anchors' hashes and then the
 * sorted anchors, and a hit is confirmed by comparing the whole pattern.
 * The cost is one pass over the texts' bytes plus one comparison per
 * anchor hit.
 *
 * IDENTIFICATION
 *	  src/core_contain.c
 *
 *-------------------------------------------------------------------------
 */
#include "core.h"

/* Append a string pair, growing the vector by doubling. */
void
rc_pair_push(Work *w, PairVec *pv, uint32_t a, uint32_t b)
{
	if (pv->n == pv->cap)
	{
		size_t		ncap = pv->cap ? pv->cap * 2 : 1024;
		StrPair    *nv = walloc(w, ncap * sizeof(StrPair));

		if (pv->n)
			memcpy(nv, pv->v, pv->n * sizeof(StrPair));
		pv->v = nv;
		pv->cap = ncap;
	}
	pv->v[pv->n].a = a;
	pv->v[pv->n].b = b;
	pv->n++;
}

/* Hash of the 4 bytes at p. */
static inline uint32_t
gram_hash(const char *p)
{
	uint32_t	v;

	memcpy(&v, p, 4);
	return v * 2654435761u;
}

/* A pattern anchored at one of its grams. */
typedef struct Anchor
{
	uint32_t	hash;
	uint32_t	pat;			/* pattern string id */
	uint32_t	off;			/* byte offset of the anchor in the pattern */
} Anchor;

/* Anchors by gram hash, then pattern. */
static int
cmp_anchor(const void *x, const void *y)
{
	const Anchor *a = x;
	const Anchor *b = y;

	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	return (a->pat > b->pat) - (a->pat < b->pat);
}

/* sizes of the gram count sketch and the anchor filter, in bits of hash */
#define SKETCH_BITS_MAX 20
#define FILTER_BITS_MAX 24

/* The bits that give about 2^extra slots per item, within [10, max]. */
static int
table_bits(size_t items, int extra, int max)
{
	int			bits = 10;

	while (bits < max && ((size_t) 1 << bits) < (items << extra))
		bits++;
	return bits;
}

/*
 * Find every (pattern, text) with the pattern (>= 4 characters) occurring
 * inside the longer text.  Each pattern is anchored at its rarest 4-byte
 * gram (by a count sketch over all patterns); texts are scanned once, each
 * position probing a bit filter and then the sorted anchors.
 */
void
rc_find_containment(Work *w, const StrSet *pats, const StrSet *texts,
					bool pats_are_ledger, PairVec *out)
{
	uint16_t   *sketch;
	uint8_t    *filter;
	Anchor	   *anchors;
	uint32_t	nanch = 0;
	uint32_t	minlen = UINT32_MAX;
	int			sketch_bits;
	int			filter_bits;

	if (pats->nstr == 0 || texts->nstr == 0)
		return;
	sketch_bits = table_bits(pats->nstr * 8, 1, SKETCH_BITS_MAX);
	sketch = walloc0(w, sizeof(uint16_t) << sketch_bits);
	for (uint32_t k = 0; k < pats->nstr; k++)
	{
		uint32_t	len;
		const char *p = str_bytes(w, pats, k, &len);

		tick(w);
		if (len < 4)
			continue;
		for (uint32_t i = 0; i + 4 <= len; i++)
		{
			uint32_t	h = gram_hash(p + i) >> (32 - sketch_bits);

			if (sketch[h] < UINT16_MAX)
				sketch[h]++;
		}
	}
	anchors = walloc(w, sizeof(Anchor) * pats->nstr);
	for (uint32_t k = 0; k < pats->nstr; k++)
	{
		uint32_t	len;
		const char *p = str_bytes(w, pats, k, &len);
		uint32_t	best = 0;
		uint32_t	bestc = UINT32_MAX;

		tick(w);
		if (len < 4 || rc_utf8_chars(p, len) < 4)
			continue;
		for (uint32_t i = 0; i + 4 <= len; i++)
		{
			uint32_t	c = sketch[gram_hash(p + i) >> (32 - sketch_bits)];

			if (c < bestc)
			{
				bestc = c;
				best = i;
			}
		}
		anchors[nanch].hash = gram_hash(p + best);
		anchors[nanch].pat = k;
		anchors[nanch].off = best;
		nanch++;
		if (len < minlen)
			minlen = len;
	}
	if (nanch == 0)
		return;
	rc_sort_array(w, anchors, nanch, sizeof(Anchor), cmp_anchor);
	filter_bits = table_bits(nanch, 5, FILTER_BITS_MAX);
	filter = walloc0(w, (size_t) 1 << (filter_bits - 3));
	for (uint32_t i = 0; i < nanch; i++)
	{
		uint32_t	b = anchors[i].hash >> (32 - filter_bits);

		filter[b >> 3] |= (uint8_t) (1 << (b & 7));
	}
	for (uint32_t t = 0; t < texts->nstr; t++)
	{
		uint32_t	tlen;
		const char *tp = str_bytes(w, texts, t, &tlen);

		if (tlen <= minlen)
			continue;
		for (uint32_t i = 0; i + 4 <= tlen; i++)
		{
			uint32_t	h = gram_hash(tp + i);
			uint32_t	b = h >> (32 - filter_bits);
			uint32_t	lo = 0;
			uint32_t	hi = nanch;

			tick(w);
			if (!(filter[b >> 3] & (1 << (b & 7))))
				continue;
			while (lo < hi)
			{
				uint32_t	mid = lo + (hi - lo) / 2;

				if (anchors[mid].hash < h)
					lo = mid + 1;
				else
					hi = mid;
			}
			for (; lo < nanch && anchors[lo].hash == h; lo++)
			{
				uint32_t	plen;
				const char *pp = str_bytes(w, pats, anchors[lo].pat, &plen);
				uint32_t	off = anchors[lo].off;

				if (plen >= tlen || i < off || i - off + plen > tlen)
					continue;
				if (memcmp(tp + i - off, pp, plen) != 0)
					continue;
				if (pats_are_ledger)
					rc_pair_push(w, out, anchors[lo].pat, t);
				else
					rc_pair_push(w, out, t, anchors[lo].pat);
			}
		}
	}
}
