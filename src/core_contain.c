/*-------------------------------------------------------------------------
 *
 * core_contain.c
 *	  The containment search of the matching core: every (pattern, text)
 *	  pair of refs where the pattern occurs inside the longer text.
 *
 * Each pattern of four characters or more is anchored at its rarest gram
 * (8 bytes for patterns of 8 bytes or more, else 4), counted by a sketch
 * over the patterns of its width; the texts are scanned once, each
 * position probing a bit filter of the anchors' hashes and then the sorted
 * anchors, and a hit is confirmed by comparing the whole pattern.  The
 * cost is one pass over the texts' bytes plus one comparison per anchor
 * hit.
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

/* Hash of the gram of width bytes (4 or 8) at p. */
static inline uint32_t
gram_hash(const char *p, int width)
{
	if (width == 8)
	{
		uint64_t	v;

		memcpy(&v, p, 8);
		return (uint32_t) ((v * UINT64_C(0x9E3779B97F4A7C15)) >> 32);
	}
	else
	{
		uint32_t	v;

		memcpy(&v, p, 4);
		return v * 2654435761u;
	}
}

/* A pattern anchored at one of its grams. */
typedef struct Anchor
{
	uint32_t	hash;
	uint32_t	pat;			/* pattern string id */
	uint32_t	off;			/* byte offset of the anchor in the pattern */
} Anchor;

/* The patterns anchored at grams of one width, sorted, behind a bit filter. */
typedef struct AnchorSet
{
	int			width;
	Anchor	   *anchors;
	uint32_t	n;
	uint32_t	minlen;			/* shortest pattern */
	uint8_t    *filter;
	int			filter_bits;
} AnchorSet;

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
 * Buffer k of at least bytes, zeroed: 0 the sketch, 1 and 2 the filters of
 * the 4-byte and 8-byte anchors (both in use while the texts are scanned).
 * One each for the four anchor sets of a group, reallocated only when a
 * larger one is needed.
 */
static void *
gram_buffer(Work *w, int k, size_t bytes)
{
	void	   *p = rc_buffer(w, &w->gram_buf[k], bytes, 0);

	memset(p, 0, bytes);
	return p;
}

/* Whether pattern k (len bytes at p) is anchored at grams of width. */
static inline bool
anchored_at(const char *p, uint32_t len, int width)
{
	if (width == 8)
		return len >= 8 && rc_utf8_chars(p, len) >= 4;
	return len >= 4 && len < 8 && rc_utf8_chars(p, len) >= 4;
}

/*
 * Anchor each pattern of the width's lengths (8 bytes or more for width 8,
 * four characters up to 7 bytes for width 4) at its rarest gram of that
 * width, counted by a sketch over the same patterns.
 */
static void
anchor_set_build(Work *w, const StrSet *pats, int width, AnchorSet *as)
{
	uint16_t   *sketch;
	int			sketch_bits = table_bits(pats->nstr * 8, 1, SKETCH_BITS_MAX);

	as->width = width;
	as->n = 0;
	as->minlen = UINT32_MAX;
	sketch = gram_buffer(w, 0, sizeof(uint16_t) << sketch_bits);
	for (uint32_t k = 0; k < pats->nstr; k++)
	{
		uint32_t	len;
		const char *p = str_bytes(w, pats, k, &len);

		tick(w);
		if (!anchored_at(p, len, width))
			continue;
		as->n++;
		for (uint32_t i = 0; i + width <= len; i++)
		{
			uint32_t	h = gram_hash(p + i, width) >> (32 - sketch_bits);

			if (sketch[h] < UINT16_MAX)
				sketch[h]++;
		}
	}
	if (as->n == 0)
		return;
	as->anchors = walloc(w, sizeof(Anchor) * as->n);
	as->n = 0;
	for (uint32_t k = 0; k < pats->nstr; k++)
	{
		uint32_t	len;
		const char *p = str_bytes(w, pats, k, &len);
		uint32_t	best = 0;
		uint32_t	bestc = UINT32_MAX;

		tick(w);
		if (!anchored_at(p, len, width))
			continue;
		for (uint32_t i = 0; i + width <= len; i++)
		{
			uint32_t	c = sketch[gram_hash(p + i, width) >> (32 - sketch_bits)];

			if (c < bestc)
			{
				bestc = c;
				best = i;
			}
		}
		as->anchors[as->n].hash = gram_hash(p + best, width);
		as->anchors[as->n].pat = k;
		as->anchors[as->n].off = best;
		as->n++;
		if (len < as->minlen)
			as->minlen = len;
	}
	if (as->n == 0)
		return;
	rc_sort_array(w, as->anchors, as->n, sizeof(Anchor), cmp_anchor);
	as->filter_bits = table_bits(as->n, 5, FILTER_BITS_MAX);
	as->filter = gram_buffer(w, width == 8 ? 2 : 1, (size_t) 1 << (as->filter_bits - 3));
	for (uint32_t i = 0; i < as->n; i++)
	{
		uint32_t	b = as->anchors[i].hash >> (32 - as->filter_bits);

		as->filter[b >> 3] |= (uint8_t) (1 << (b & 7));
	}
}

/* The patterns of as anchored at text position i of text t that occur there. */
static inline void
anchor_probe(Work *w, const AnchorSet *as, const StrSet *pats, const char *tp, uint32_t tlen,
			 uint32_t t, uint32_t i, bool pats_are_ledger, PairVec *out)
{
	uint32_t	h = gram_hash(tp + i, as->width);
	uint32_t	b = h >> (32 - as->filter_bits);
	uint32_t	lo = 0;
	uint32_t	hi = as->n;

	if (!(as->filter[b >> 3] & (1 << (b & 7))))
		return;
	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;

		if (as->anchors[mid].hash < h)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < as->n && as->anchors[lo].hash == h; lo++)
	{
		uint32_t	plen;
		const char *pp = str_bytes(w, pats, as->anchors[lo].pat, &plen);
		uint32_t	off = as->anchors[lo].off;

		tick(w);
		if (plen >= tlen || i < off || i - off + plen > tlen)
			continue;
		if (memcmp(tp + i - off, pp, plen) != 0)
			continue;
		if (pats_are_ledger)
			rc_pair_push(w, out, as->anchors[lo].pat, t);
		else
			rc_pair_push(w, out, t, as->anchors[lo].pat);
	}
}

/*
 * Find every (pattern, text) with the pattern (>= 4 characters) occurring
 * inside the longer text.  A pattern of 8 bytes or more is anchored at its
 * rarest 8-byte gram, a shorter one at its rarest 4-byte gram: sequential
 * order numbers share most of their 4-byte grams (INV-00021060 and
 * INV-00021061 share all but one), but not their last 8 bytes, so an
 * 8-byte anchor is held by few patterns and a text position meets few
 * candidates.  Texts are scanned once, each position probing the two
 * anchor sets' bit filters and then their sorted anchors.
 */
void
rc_find_containment(Work *w, const StrSet *pats, const StrSet *texts,
					bool pats_are_ledger, PairVec *out)
{
	AnchorSet	sets[2];
	uint32_t	minlen;

	if (pats->nstr == 0 || texts->nstr == 0)
		return;
	anchor_set_build(w, pats, 4, &sets[0]);
	anchor_set_build(w, pats, 8, &sets[1]);
	if (sets[0].n == 0 && sets[1].n == 0)
		return;
	minlen = sets[0].minlen < sets[1].minlen ? sets[0].minlen : sets[1].minlen;
	for (uint32_t t = 0; t < texts->nstr; t++)
	{
		uint32_t	tlen;
		const char *tp = str_bytes(w, texts, t, &tlen);

		if (tlen <= minlen)
			continue;
		for (uint32_t i = 0; i + 4 <= tlen; i++)
		{
			tick(w);
			if (sets[0].n > 0)
				anchor_probe(w, &sets[0], pats, tp, tlen, t, i, pats_are_ledger, out);
			if (sets[1].n > 0 && i + 8 <= tlen)
				anchor_probe(w, &sets[1], pats, tp, tlen, t, i, pats_are_ledger, out);
		}
	}
}
