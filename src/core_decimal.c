/*-------------------------------------------------------------------------
 *
 * core_decimal.c
 *	  Decimal arithmetic on scaled integers, for the matching core.
 *
 * Money is compared exactly: an amount is an integer times 10^-scale in
 * 128 bits, every amount of a group brought to the group's finest scale.
 * Here are the conversions between scales, the relative tolerance (a 256-bit
 * product divided back down), and decimal text for the notes.  Magnitudes
 * saturate at 10^37, past every amount the core accepts (below 10^36), so
 * sums and differences of two of them never overflow.
 *
 * IDENTIFICATION
 *	  src/core_decimal.c
 *
 *-------------------------------------------------------------------------
 */
#include "core.h"

/* 10^k for 0 <= k <= 38. */
rc_i128
rc_pow10(int k)
{
	rc_i128		v = 1;

	while (k-- > 0)
		v *= 10;
	return v;
}

/*
 * v at scale from, brought to scale to: truncated toward zero when to is
 * coarser, multiplied (saturating at +/-10^37) when it is finer.
 */
rc_i128
rc_rescale_trunc(rc_i128 v, int from, int to)
{
	bool		neg = v < 0;
	rc_i128		a = neg ? -v : v;

	if (to <= from)
		return v / rc_pow10(from - to);
	if (a >= RC_I128_LIMIT)
		a = RC_I128_LIMIT;
	for (int k = from; k < to && a < RC_I128_LIMIT; k++)
	{
		a *= 10;
		if (a >= RC_I128_LIMIT)
			a = RC_I128_LIMIT;
	}
	return neg ? -a : a;
}

bool
rc_parse_decimal(const char *s, int scale, rc_i128 *v)
{
	bool		neg = false;
	bool		saturated = false;
	bool		any = false;
	rc_i128		acc = 0;
	int			frac = -1;

	if (*s == '-' || *s == '+')
		neg = (*s++ == '-');
	for (; *s; s++)
	{
		if (*s == '.')
		{
			if (frac >= 0)
				return false;
			frac = 0;
			continue;
		}
		if (*s < '0' || *s > '9')
			return false;
		any = true;
		if (frac >= 0)
		{
			if (frac >= scale)
				continue;		/* truncated */
			frac++;
		}
		if (!saturated)
		{
			acc = acc * 10 + (*s - '0');
			if (acc >= RC_I128_LIMIT)
				saturated = true;
		}
	}
	if (!any)
		return false;
	if (frac < 0)
		frac = 0;
	if (saturated)
		acc = RC_I128_LIMIT;
	else
	{
		for (; frac < scale; frac++)
		{
			acc *= 10;
			if (acc >= RC_I128_LIMIT)
			{
				acc = RC_I128_LIMIT;
				break;
			}
		}
	}
	*v = neg ? -acc : acc;
	return true;
}

size_t
rc_format_amount(rc_i128 v, int scale, char *buf, size_t buflen)
{
	char		tmp[64];
	int			n = 0;
	rc_u128		u = v < 0 ? (rc_u128) (-(v + 1)) + 1 : (rc_u128) v;
	size_t		o = 0;

	do
	{
		tmp[n++] = (char) ('0' + (int) (u % 10));
		u /= 10;
	} while (u > 0 || n <= scale);
	if (buflen == 0)
		return 0;
	if (v < 0 && o + 1 < buflen)
		buf[o++] = '-';
	while (n > 0 && o + 1 < buflen)
	{
		if (n == scale && o + 1 < buflen)
			buf[o++] = '.';
		buf[o++] = tmp[--n];
	}
	buf[o] = '\0';
	return o;
}

/* v at scale as text, dropping trailing fractional zeros down to min_scale. */
size_t
rc_format_trim(rc_i128 v, int scale, int min_scale, char *buf, size_t buflen)
{
	while (scale > min_scale && v % 10 == 0)
	{
		v /= 10;
		scale--;
	}
	return rc_format_amount(v, scale, buf, buflen);
}

/* floor(rel_tol * |a|) at the common scale, saturating at 10^37. */
rc_i128
rc_rel_tolerance(const Work *w, rc_i128 a)
{
	rc_u128		x = (rc_u128) i128_abs(a);
	rc_u128		y = (rc_u128) w->rel_num;
	uint64_t	limb[4];
	rc_u128		p00,
				p01,
				p10,
				p11,
				mid,
				hi;
	int			k = w->rel_scale;

	if (w->rel_num == 0 || x == 0)
		return 0;
	/* 256-bit product in four 64-bit limbs */
	p00 = (rc_u128) (uint64_t) x * (uint64_t) y;
	p01 = (rc_u128) (uint64_t) x * (uint64_t) (y >> 64);
	p10 = (rc_u128) (uint64_t) (x >> 64) * (uint64_t) y;
	p11 = (rc_u128) (uint64_t) (x >> 64) * (uint64_t) (y >> 64);
	limb[0] = (uint64_t) p00;
	mid = (p00 >> 64) + (uint64_t) p01 + (uint64_t) p10;
	limb[1] = (uint64_t) mid;
	hi = (mid >> 64) + (p01 >> 64) + (p10 >> 64) + (uint64_t) p11;
	limb[2] = (uint64_t) hi;
	limb[3] = (uint64_t) ((hi >> 64) + (p11 >> 64));
	/* divide by 10^k, at most 10^19 at a time */
	while (k > 0)
	{
		int			step = k > 19 ? 19 : k;
		uint64_t	d = 1;
		rc_u128		rem = 0;

		for (int i = 0; i < step; i++)
			d *= 10;
		for (int i = 3; i >= 0; i--)
		{
			rc_u128		cur = (rem << 64) | limb[i];

			limb[i] = (uint64_t) (cur / d);
			rem = cur % d;
		}
		k -= step;
	}
	if (limb[3] != 0 || limb[2] != 0)
		return RC_I128_LIMIT;
	x = ((rc_u128) limb[1] << 64) | limb[0];
	return x >= (rc_u128) RC_I128_LIMIT ? RC_I128_LIMIT : (rc_i128) x;
}

/* The tolerance for a ledger amount a (or a batch sum): the larger of the two. */
rc_i128
rc_tolerance_of(const Work *w, rc_i128 a)
{
	rc_i128		r = rc_rel_tolerance(w, a);

	return r > w->abs_tol ? r : w->abs_tol;
}
