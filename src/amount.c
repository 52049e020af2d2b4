/*-------------------------------------------------------------------------
 *
 * amount.c
 *	  Exact conversion between numeric and scaled 128-bit integers.
 *
 * The matching core compares money as integers: amount * 10^scale in 128
 * bits.  Reading a numeric through numeric_out and parsing the text would
 * cost more than the matching itself on a million rows, so a numeric is
 * decoded here straight from its varlena form: a sign, a display scale, a
 * weight and base-10000 digits.  That form is what numeric values are
 * stored as on disk, so it cannot change without breaking pg_upgrade; the
 * layout constants below mirror src/backend/utils/adt/numeric.c.  Results
 * go back to numeric through numeric_in, which is exact.
 *
 * A rule's tolerances are read the same way, once per group, into the
 * scaled integers the core takes (rc_numeric_trunc, rc_numeric_frac_digits).
 *
 * IDENTIFICATION
 *	  src/amount.c
 *
 *-------------------------------------------------------------------------
 */
#include "reconcile.h"

#include "fmgr.h"
#include "utils/builtins.h"

/* The on-disk numeric header, as in numeric.c. */
#define NUMERIC_SIGN_MASK			0xC000
#define NUMERIC_NEG					0x4000
#define NUMERIC_SHORT				0x8000
#define NUMERIC_SPECIAL				0xC000
#define NUMERIC_EXT_SIGN_MASK		0xF000
#define NUMERIC_NAN					0xC000
#define NUMERIC_SHORT_SIGN_MASK		0x2000
#define NUMERIC_SHORT_DSCALE_MASK	0x1F80
#define NUMERIC_SHORT_DSCALE_SHIFT	7
#define NUMERIC_SHORT_WEIGHT_SIGN_MASK 0x0040
#define NUMERIC_SHORT_WEIGHT_MASK	0x003F
#define NUMERIC_DSCALE_MASK			0x3FFF
#define RC_NBASE					10000
#define RC_DEC_DIGITS				4

/* 10^37: the magnitude past which values are refused */
#define RC_DECODE_LIMIT ((rc_i128) 1000000000000000000LL * (rc_i128) 10000000000000000000ULL)

/*
 * Decode num into value * 10^-dscale.  Returns RC_VALID, or why the amount
 * cannot be compared (NaN, infinite, too many digits).
 */
RcInvalid
rc_numeric_decode(Numeric num, rc_i128 *value, uint16 *dscale)
{
	const char *p = VARDATA_ANY(num);
	Size		len = VARSIZE_ANY_EXHDR(num);
	uint16		header;
	bool		neg;
	int			scale;
	int			weight;
	const char *digits;
	int			ndigits;
	int			fracgroups;
	rc_i128		acc = 0;

	if (len < sizeof(uint16))
	{
		*value = 0;
		*dscale = 0;
		return RC_VALID;
	}
	memcpy(&header, p, sizeof(uint16));
	if ((header & NUMERIC_SIGN_MASK) == NUMERIC_SPECIAL)
		return (header & NUMERIC_EXT_SIGN_MASK) == NUMERIC_NAN ?
			RC_INVALID_AMOUNT_NAN : RC_INVALID_AMOUNT_INFINITE;
	if (header & NUMERIC_SHORT)
	{
		neg = (header & NUMERIC_SHORT_SIGN_MASK) != 0;
		scale = (header & NUMERIC_SHORT_DSCALE_MASK) >> NUMERIC_SHORT_DSCALE_SHIFT;
		weight = (header & NUMERIC_SHORT_WEIGHT_SIGN_MASK) ?
			(int) (~NUMERIC_SHORT_WEIGHT_MASK | (header & NUMERIC_SHORT_WEIGHT_MASK)) :
			(int) (header & NUMERIC_SHORT_WEIGHT_MASK);
		digits = p + sizeof(uint16);
		ndigits = (int) ((len - sizeof(uint16)) / sizeof(int16));
	}
	else
	{
		int16		w;

		if (len < 2 * sizeof(uint16))
			return RC_INVALID_AMOUNT_RANGE;
		neg = (header & NUMERIC_SIGN_MASK) == NUMERIC_NEG;
		scale = header & NUMERIC_DSCALE_MASK;
		memcpy(&w, p + sizeof(uint16), sizeof(int16));
		weight = w;
		digits = p + 2 * sizeof(uint16);
		ndigits = (int) ((len - 2 * sizeof(uint16)) / sizeof(int16));
	}
	if (scale > RC_MAX_DSCALE)
		return RC_INVALID_AMOUNT_RANGE;
	fracgroups = (scale + RC_DEC_DIGITS - 1) / RC_DEC_DIGITS;
	if (ndigits > 0)
	{
		/* integer part longer than 40 decimal digits cannot fit */
		if (weight >= 10)
			return RC_INVALID_AMOUNT_RANGE;
		for (int e = weight; e >= -fracgroups; e--)
		{
			int			i = weight - e;
			int16		d = 0;

			if (i < ndigits)
				memcpy(&d, digits + i * sizeof(int16), sizeof(int16));
			if (acc > (RC_DECODE_LIMIT * 10 - d) / RC_NBASE)
				return RC_INVALID_AMOUNT_RANGE;
			acc = acc * RC_NBASE + d;
		}
		for (int k = fracgroups * RC_DEC_DIGITS; k > scale; k--)
			acc /= 10;
		if (acc >= RC_DECODE_LIMIT)
			return RC_INVALID_AMOUNT_RANGE;
	}
	*value = neg ? -acc : acc;
	*dscale = (uint16) scale;
	return RC_VALID;
}

/* The varlena form of a numeric, taken apart. */
typedef struct NumParts
{
	bool		special;		/* NaN or an infinity */
	bool		neg;
	int			weight;			/* of the first base-10000 digit */
	const char *digits;			/* base-10000 digits, int16 each, unaligned */
	int			ndigits;
} NumParts;

/* The parts of num; false when its form is not understood. */
static bool
numeric_parts(Numeric num, NumParts *np)
{
	const char *p = VARDATA_ANY(num);
	Size		len = VARSIZE_ANY_EXHDR(num);
	uint16		header;

	memset(np, 0, sizeof(*np));
	if (len < sizeof(uint16))
		return true;			/* zero */
	memcpy(&header, p, sizeof(uint16));
	if ((header & NUMERIC_SIGN_MASK) == NUMERIC_SPECIAL)
	{
		np->special = true;
		return true;
	}
	if (header & NUMERIC_SHORT)
	{
		np->neg = (header & NUMERIC_SHORT_SIGN_MASK) != 0;
		np->weight = (header & NUMERIC_SHORT_WEIGHT_SIGN_MASK) ?
			(int) (~NUMERIC_SHORT_WEIGHT_MASK | (header & NUMERIC_SHORT_WEIGHT_MASK)) :
			(int) (header & NUMERIC_SHORT_WEIGHT_MASK);
		np->digits = p + sizeof(uint16);
		np->ndigits = (int) ((len - sizeof(uint16)) / sizeof(int16));
	}
	else
	{
		int16		w;

		if (len < 2 * sizeof(uint16))
			return false;
		np->neg = (header & NUMERIC_SIGN_MASK) == NUMERIC_NEG;
		memcpy(&w, p + sizeof(uint16), sizeof(int16));
		np->weight = w;
		np->digits = p + 2 * sizeof(uint16);
		np->ndigits = (int) ((len - 2 * sizeof(uint16)) / sizeof(int16));
	}
	return true;
}

/* Base-10000 digit i of np. */
static int
numeric_digit(const NumParts *np, int i)
{
	int16		d = 0;

	if (i >= 0 && i < np->ndigits)
		memcpy(&d, np->digits + i * sizeof(int16), sizeof(int16));
	return d;
}

/*
 * trunc(num * 10^scale), toward zero, for 0 <= scale <= 76.  Returns false
 * when num is NaN or infinite or the magnitude reaches 10^37.
 */
bool
rc_numeric_trunc(Numeric num, int scale, rc_i128 *value)
{
	NumParts	np;
	int			fracgroups = (scale + RC_DEC_DIGITS - 1) / RC_DEC_DIGITS;
	int			cut = fracgroups * RC_DEC_DIGITS - scale;	/* digits of the last group dropped */
	rc_i128		acc = 0;

	if (!numeric_parts(num, &np) || np.special)
		return false;
	if (np.ndigits > 0 && np.weight >= 10)
		return false;			/* at least 10^40 */
	for (int e = np.weight; np.ndigits > 0 && e >= -fracgroups; e--)
	{
		int			d = numeric_digit(&np, np.weight - e);
		int			mul = RC_NBASE;

		if (e == -fracgroups && cut > 0)
		{
			int			drop = cut == 1 ? 10 : cut == 2 ? 100 : 1000;

			d /= drop;
			mul /= drop;
		}
		if (acc > (RC_DECODE_LIMIT - 1 - d) / mul)
			return false;
		acc = acc * mul + d;
	}
	*value = np.neg ? -acc : acc;
	return true;
}

/* Digits after the decimal point of num, trailing zeros dropped (0 for NaN). */
int
rc_numeric_frac_digits(Numeric num)
{
	NumParts	np;
	int			last;
	int			d;
	int			frac;

	if (!numeric_parts(num, &np) || np.special)
		return 0;
	last = np.ndigits - 1;
	while (last >= 0 && numeric_digit(&np, last) == 0)
		last--;
	if (last < 0 || np.weight - last >= 0)
		return 0;
	frac = (last - np.weight) * RC_DEC_DIGITS;
	for (d = numeric_digit(&np, last); d % 10 == 0; d /= 10)
		frac--;
	return frac;
}

/* value * 10^-scale as a numeric. */
Numeric
rc_numeric_from_scaled(rc_i128 value, int scale)
{
	char		buf[80];

	rc_format_amount(value, scale, buf, sizeof(buf));
	return DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
											   ObjectIdGetDatum(InvalidOid),
											   Int32GetDatum(-1)));
}
