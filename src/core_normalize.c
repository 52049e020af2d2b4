/*-------------------------------------------------------------------------
 *
 * core_normalize.c
 *	  Reference normalisation and similarity, in plain C.
 *
 * Settlement memos and bank texts quote order numbers with other words,
 * spaces, dashes and mixed case around them ("TMALL SETTLEMENT
 * TM-2026-1103-00123").  Two refs are compared after normalising both:
 * letters are case folded, digits kept, everything else dropped.  Text is
 * read as UTF-8; letters of other scripts (CJK, kana, Hangul, Cyrillic,
 * Greek, accented Latin) are kept, fullwidth ASCII is folded to ASCII, and
 * punctuation, symbols and spaces of the common Unicode blocks are dropped.
 * Invalid UTF-8 bytes are dropped.
 *
 * No backend calls here: the matching core and the fuzzers use it as is.
 *
 * IDENTIFICATION
 *	  src/core_normalize.c
 *
 *-------------------------------------------------------------------------
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE				/* memmem */
#endif

#include "match_core.h"

#include <stdlib.h>
#include <string.h>

/* Characters of a ref the fuzzy similarity looks at. */
#define RC_SIM_MAX_CHARS 256

/* Decode one UTF-8 character at s (len > 0); returns its length or 0. */
static int
utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	unsigned char c = s[0];
	int			n;
	uint32_t	v;

	if (c < 0x80)
	{
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF)
	{
		n = 2;
		v = c & 0x1F;
	}
	else if (c >= 0xE0 && c <= 0xEF)
	{
		n = 3;
		v = c & 0x0F;
	}
	else if (c >= 0xF0 && c <= 0xF4)
	{
		n = 4;
		v = c & 0x07;
	}
	else
		return 0;
	if ((size_t) n > len)
		return 0;
	for (int i = 1; i < n; i++)
	{
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	/* reject overlong forms, surrogates and values past U+10FFFF */
	if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
		(v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return n;
}

/* Encode cp as UTF-8 into out; returns the length. */
static int
utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80)
	{
		out[0] = (char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		out[0] = (char) (0xC0 | (cp >> 6));
		out[1] = (char) (0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000)
	{
		out[0] = (char) (0xE0 | (cp >> 12));
		out[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char) (0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char) (0xF0 | (cp >> 18));
	out[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char) (0x80 | (cp & 0x3F));
	return 4;
}

/* The folded form of cp, or 0 when cp is not a letter or digit we keep. */
static uint32_t
fold_char(uint32_t cp)
{
	if (cp < 0x80)
	{
		if (cp >= 'A' && cp <= 'Z')
			return cp + 32;
		if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9'))
			return cp;
		return 0;
	}
	/* Latin-1: controls, punctuation, symbols, the signs x and / */
	if (cp < 0xC0 || cp == 0xD7 || cp == 0xF7)
		return 0;
	if (cp <= 0xDE)
		return cp + 32;
	if (cp <= 0xFF)
		return cp;
	/* Latin Extended-A: upper and lower case alternate */
	if (cp <= 0x17F)
	{
		if ((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177))
			return (cp % 2 == 0) ? cp + 1 : cp;
		if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
			return (cp % 2 == 1) ? cp + 1 : cp;
		if (cp == 0x178)
			return 0xFF;
		return cp;
	}
	/* combining diacritical marks */
	if (cp >= 0x300 && cp <= 0x36F)
		return 0;
	/* Greek */
	if (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2)
		return cp + 32;
	/* Cyrillic */
	if (cp >= 0x400 && cp <= 0x40F)
		return cp + 80;
	if (cp >= 0x410 && cp <= 0x42F)
		return cp + 32;
	/* general punctuation, super/subscripts, currency, letterlike, arrows,
	 * mathematical operators, technical, box drawing, shapes, dingbats */
	if (cp >= 0x2000 && cp <= 0x2BFF)
		return 0;
	/* supplemental punctuation */
	if (cp >= 0x2E00 && cp <= 0x2E7F)
		return 0;
	/* CJK symbols and punctuation, but for the letters 々 〆 〇 */
	if (cp >= 0x3000 && cp <= 0x303F)
		return (cp >= 0x3005 && cp <= 0x3007) ? cp : 0;
	/* private use */
	if (cp >= 0xE000 && cp <= 0xF8FF)
		return 0;
	/* variation selectors, vertical forms, CJK compatibility forms,
	 * small form variants */
	if (cp >= 0xFE00 && cp <= 0xFE6F)
		return 0;
	/* halfwidth and fullwidth forms: fold ASCII letters and digits */
	if (cp >= 0xFF00 && cp <= 0xFFEF)
	{
		if (cp >= 0xFF10 && cp <= 0xFF19)
			return cp - 0xFF10 + '0';
		if (cp >= 0xFF21 && cp <= 0xFF3A)
			return cp - 0xFF21 + 'a';
		if (cp >= 0xFF41 && cp <= 0xFF5A)
			return cp - 0xFF41 + 'a';
		if (cp >= 0xFF66 && cp <= 0xFFDC)
			return cp;			/* halfwidth katakana and Hangul */
		return 0;
	}
	/* specials, BOM, replacement character */
	if (cp >= 0xFFF0 || cp == 0xFEFF)
		return (cp >= 0x10000) ? cp : 0;
	return cp;
}

size_t
rc_normalize_ref(const char *in, size_t len, char *out)
{
	const unsigned char *s = (const unsigned char *) in;
	size_t		i = 0;
	size_t		o = 0;

	while (i < len)
	{
		uint32_t	cp;
		uint32_t	f;
		int			n;

		/* fast path for ASCII */
		if (s[i] < 0x80)
		{
			unsigned char c = s[i++];

			if (c >= 'A' && c <= 'Z')
				out[o++] = (char) (c + 32);
			else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
				out[o++] = (char) c;
			continue;
		}
		n = utf8_decode(s + i, len - i, &cp);
		if (n == 0)
		{
			i++;				/* drop an invalid byte */
			continue;
		}
		i += n;
		f = fold_char(cp);
		if (f != 0)
			o += utf8_encode(f, out + o);
	}
	return o;
}

size_t
rc_utf8_chars(const char *s, size_t len)
{
	size_t		n = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char) s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

bool
rc_ref_contains(const char *a, size_t alen, const char *b, size_t blen)
{
	const char *shorter = a;
	const char *longer = b;
	size_t		slen = alen;
	size_t		llen = blen;

	if (alen == 0 || blen == 0)
		return false;
	if (alen > blen)
	{
		shorter = b;
		longer = a;
		slen = blen;
		llen = alen;
	}
	/* four characters take at least four bytes */
	if (slen < 4 || rc_utf8_chars(shorter, slen) < 4)
		return false;
	if (slen == llen)
		return memcmp(shorter, longer, slen) == 0;
	return memmem(longer, llen, shorter, slen) != NULL;
}

/* Order of two bigram keys, for qsort. */
static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *) a;
	uint64_t	y = *(const uint64_t *) b;

	return (x > y) - (x < y);
}

/* Fill keys with the sorted character bigrams of s; returns their number. */
static int
bigrams(const char *s, size_t len, uint64_t *keys)
{
	uint32_t	prev = 0;
	int			nchars = 0;
	int			n = 0;
	size_t		i = 0;

	while (i < len && nchars < RC_SIM_MAX_CHARS)
	{
		uint32_t	cp;
		int			k = utf8_decode((const unsigned char *) s + i, len - i, &cp);

		if (k == 0)
		{
			i++;
			continue;
		}
		i += k;
		if (nchars > 0)
			keys[n++] = ((uint64_t) prev << 32) | cp;
		prev = cp;
		nchars++;
	}
	qsort(keys, n, sizeof(uint64_t), cmp_u64);
	return n;
}

double
rc_ref_similarity_norm(const char *a, size_t alen, const char *b, size_t blen)
{
	uint64_t	ka[RC_SIM_MAX_CHARS];
	uint64_t	kb[RC_SIM_MAX_CHARS];
	int			na;
	int			nb;
	int			i = 0;
	int			j = 0;
	int			common = 0;

	if (alen == 0 || blen == 0)
		return 0.0;
	if (rc_ref_contains(a, alen, b, blen))
		return 1.0;
	na = bigrams(a, alen, ka);
	nb = bigrams(b, blen, kb);
	while (i < na && j < nb)
	{
		if (ka[i] == kb[j])
		{
			common++;
			i++;
			j++;
		}
		else if (ka[i] < kb[j])
			i++;
		else
			j++;
	}
	return (double) common / (double) ((na > nb ? na : nb) + 1);
}
