/*-------------------------------------------------------------------------
 *
 * core_note.c
 *	  Notes: the short human reason the matching core gives for each
 *	  result ("amount differs by 0.01, within tolerance 0.01, 2 days later").
 *
 * Formatted from the result, the rows and the rule, never from the work
 * state of the match, so a caller can format notes after rc_match returns
 * (the fmgr layer does, while building the result array).  Text taken from
 * the rows (ids, batch values) is shortened to 40 bytes without cutting a
 * UTF-8 character.
 *
 * IDENTIFICATION
 *	  src/core_note.c
 *
 *-------------------------------------------------------------------------
 */
#include "core.h"

#include <stdio.h>

/* Civil date of a day number (days since 2000-01-01) as YYYY-MM-DD. */
static void
format_date(int64_t days, char *buf, size_t len)
{
	int64_t		z = days + 10957 + 719468;	/* days since 0000-03-01 */
	int64_t		era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t		doe = z - era * 146097;
	int64_t		yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t		y = yoe + era * 400;
	int64_t		doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t		mp = (5 * doy + 2) / 153;
	int64_t		d = doy - (153 * mp + 2) / 5 + 1;
	int64_t		mo = mp < 10 ? mp + 3 : mp - 9;

	if (mo <= 2)
		y++;
	snprintf(buf, len, "%04lld-%02lld-%02lld", (long long) y, (long long) mo, (long long) d);
}

/* ", 2 days later" and the like. */
static void
format_days(int64_t dd, char *buf, size_t len)
{
	if (dd == 0)
		snprintf(buf, len, ", same day");
	else
		snprintf(buf, len, ", %lld day%s %s", (long long) i64_abs(dd),
				 i64_abs(dd) == 1 ? "" : "s", dd > 0 ? "later" : "earlier");
}

/* A quoted, shortened copy of a row's id or batch. */
static void
format_text(const char *p, size_t len, char *buf, size_t buflen)
{
	size_t		n = len;

	if (n > 40)
	{
		n = 40;
		while (n > 0 && ((unsigned char) p[n] & 0xC0) == 0x80)
			n--;				/* do not cut a character */
	}
	snprintf(buf, buflen, "%.*s%s", (int) n, p, n < len ? "..." : "");
}

/* The fee of row r at the common scale (a fee the core compared: it fits). */
static rc_i128
fee_at_scale(const RcMatch *m, int32_t r)
{
	rc_i128		v = m->fees[r].fee;
	int			ds = m->fees[r].dscale;

	while (ds > m->scale && v % 10 == 0)
	{
		v /= 10;
		ds--;
	}
	return ds >= m->scale ? v : v * rc_pow10(m->scale - ds);
}

/* The decimals a row's fee is printed with: its own, at most the common scale's. */
static int
fee_scale(const RcMatch *m, int32_t r)
{
	return m->fees[r].dscale < m->scale ? m->fees[r].dscale : m->scale;
}

/*
 * The note of a fee_difference batch's result (rc_emit_fee_group): on the
 * first member's, the batch, the fees charged and expected and how many
 * members' fees differ from their share at the one row's rate; on each
 * other member's, its fee and that share.
 */
static int
format_fee_batch(const RcMatch *m, const RcResult *r, const char *days, char *buf, size_t buflen)
{
	const RcRow *one = &m->rows[r->other];
	int32_t		mi = r->has_diff ? (one->is_ledger ? r->statement : r->ledger)
		: (r->ledger >= 0 ? r->ledger : r->statement);
	const RcRow *mem = &m->rows[mi];
	const char *mside = mem->is_ledger ? "ledger" : "statement";
	const char *oside = one->is_ledger ? "ledger" : "statement";
	char		batch[64];
	char		a[64];
	char		b[64];
	char		c[64];

	format_text(m->heap + mem->batch_off, (size_t) (mem->batch_len < 0 ? 0 : mem->batch_len),
				batch, sizeof(batch));
	if (r->has_diff)
	{
		rc_i128		fo = fee_at_scale(m, r->other);
		rc_i128		fd = r->u.tol;
		rc_i128		charged = one->is_ledger ? fo + fd : fo;
		rc_i128		expected = one->is_ledger ? fo : fo - fd;
		int			ms = fee_scale(m, r->other);
		char		tail[96];

		rc_format_trim(charged, m->scale, ms, a, sizeof(a));
		rc_format_trim(expected, m->scale, ms, b, sizeof(b));
		rc_format_trim(fd < 0 ? -fd : fd, m->scale, ms, c, sizeof(c));
		tail[0] = '\0';
		if (r->fee_rows >= 0)
			snprintf(tail, sizeof(tail), "; %d of the %d %s from their share at the rate %s",
					 r->fee_rows, r->group_size, r->fee_rows == 1 ? "differs" : "differ",
					 one->is_ledger ? "expected" : "charged");
		return snprintf(buf, buflen, "%d %s rows of batch %s as one %s row: fees %s charged, %s expected, %s %s%s%s",
						r->group_size, mside, batch, oside, a, b, c, fd < 0 ? "less" : "more", days, tail);
	}
	format_text(m->heap + one->id_off, one->id_len, c, sizeof(c));
	rc_format_trim(fee_at_scale(m, mi), m->scale, fee_scale(m, mi), a, sizeof(a));
	if (r->fee_rows < 0)
		return snprintf(buf, buflen, "%s row of batch %s, with %s row %s: fee %s %s",
						mside, batch, oside, c, a, mem->is_ledger ? "expected" : "charged");
	rc_format_trim(r->u.tol, m->scale, fee_scale(m, mi), b, sizeof(b));
	return snprintf(buf, buflen, "%s row of batch %s, with %s row %s: fee %s %s, %s at the rate %s",
					mside, batch, oside, c, a, mem->is_ledger ? "expected" : "charged", b,
					one->is_ledger ? "expected" : "charged");
}

/*
 * The note of result r: a short reason in words, from the result, the rows
 * and the rule alone.
 */
size_t
rc_format_note(const RcMatch *m, const RcResult *r, char *buf, size_t buflen)
{
	char		diff[64];
	char		tol[64];
	char		days[64];
	char		txt[64];
	int			n = 0;
	const RcRow *single = r->ledger >= 0 ? &m->rows[r->ledger] : &m->rows[r->statement];

	diff[0] = tol[0] = days[0] = txt[0] = '\0';
	if (r->has_diff)
	{
		rc_i128		ad = r->amount_diff < 0 ? -r->amount_diff : r->amount_diff;

		rc_format_trim(ad, r->diff_scale, r->diff_scale, diff, sizeof(diff));
		format_days(r->days_diff, days, sizeof(days));
		if (r->category == RC_MATCHED_WITHIN_TOLERANCE)
			rc_format_trim(r->u.tol, m->scale, m->rows[r->ledger].dscale, tol, sizeof(tol));
	}
	switch ((RcCategory) r->category)
	{
		case RC_MATCHED:
			n = snprintf(buf, buflen, "same amount%s%s", days,
						 r->how == RC_HOW_REF ? ", same reference" : "");
			break;
		case RC_MATCHED_WITHIN_TOLERANCE:
			n = snprintf(buf, buflen, "amount differs by %s, within tolerance %s%s%s",
						 diff, tol, days, r->how == RC_HOW_REF ? ", same reference" : "");
			break;
		case RC_MANY_TO_ONE:
		case RC_ONE_TO_MANY:
			{
				bool		many_l = r->category == RC_MANY_TO_ONE;
				const RcRow *mem = &m->rows[many_l ? r->ledger : r->statement];
				rc_i128		gd = r->u.group_diff;

				if (gd != 0)
					rc_format_trim(gd < 0 ? -gd : gd, r->diff_scale, r->diff_scale, diff, sizeof(diff));
				if (r->how == RC_HOW_BATCH)
				{
					format_text(m->heap + mem->batch_off, (size_t) mem->batch_len, txt, sizeof(txt));
					n = snprintf(buf, buflen, "%d %s rows of batch %s as one %s row%s%s",
								 r->group_size, many_l ? "ledger" : "statement", txt,
								 many_l ? "statement" : "ledger",
								 gd != 0 ? ", sum differs by " : "", gd != 0 ? diff : "");
				}
				else if (many_l)
					n = snprintf(buf, buflen, "one payment for %d ledger rows by reference%s%s",
								 r->group_size, gd != 0 ? ", sum differs by " : "",
								 gd != 0 ? diff : "");
				else
					n = snprintf(buf, buflen, "paid in %d instalments by reference%s%s",
								 r->group_size, gd != 0 ? ", sum differs by " : "",
								 gd != 0 ? diff : "");
				break;
			}
		case RC_TIMING_DIFFERENCE:
			n = snprintf(buf, buflen, "same reference%s, %lld days apart: outside the window",
						 r->amount_diff == 0 ? " and amount" : ", amount within tolerance",
						 (long long) i64_abs(r->days_diff));
			break;
		case RC_REVERSAL:
			if (r->how == RC_HOW_REF_ONLY)
				n = snprintf(buf, buflen, "same reference, opposite sign%s", days);
			else
				n = snprintf(buf, buflen, "opposite amount within the window%s", days);
			break;
		case RC_AMOUNT_MISMATCH:
			n = snprintf(buf, buflen, "same reference, amount differs by %s%s", diff, days);
			break;
		case RC_FEE_DIFFERENCE:
			if (r->how == RC_HOW_FEE_BATCH)
			{
				n = format_fee_batch(m, r, days, buf, buflen);
				break;
			}
			{
				const RcFee *fs = &m->fees[r->statement];
				const RcFee *fl = &m->fees[r->ledger];
				char		charged[64];
				char		expected[64];
				rc_i128		fd = r->u.tol;

				rc_format_trim(fs->fee, fs->dscale, fs->dscale, charged, sizeof(charged));
				rc_format_trim(fl->fee, fl->dscale, fl->dscale, expected, sizeof(expected));
				rc_format_trim(fd < 0 ? -fd : fd, m->scale, fs->dscale > fl->dscale ? fs->dscale : fl->dscale,
							   txt, sizeof(txt));
				n = snprintf(buf, buflen, "fee %s charged, %s expected, %s %s%s%s", charged, expected,
							 txt, fd < 0 ? "less" : "more", days,
							 r->how == RC_HOW_REF_ONLY ? ", same reference" : "");
				break;
			}
		case RC_DUPLICATE:
			{
				const RcRow *orig = &m->rows[r->other];

				format_text(m->heap + orig->id_off, orig->id_len, txt, sizeof(txt));
				n = snprintf(buf, buflen, "same amount, date and ref as %s row %s",
							 single->is_ledger ? "ledger" : "statement", txt);
				break;
			}
		case RC_IN_TRANSIT:
			format_date((int64_t) single->date + m->rule.days_after, txt, sizeof(txt));
			n = snprintf(buf, buflen, "not in the statement yet; window ends %s", txt);
			break;
		case RC_MISSING_IN_STATEMENT:
			n = snprintf(buf, buflen, "no counterpart in the statement");
			break;
		case RC_MISSING_IN_LEDGER:
			n = snprintf(buf, buflen, "no counterpart in the ledger");
			break;
		case RC_INVALID:
			{
				static const char *const why[] = {
					"valid", "amount is null", "amount is NaN", "amount is infinite",
					"amount has too many digits to compare exactly", "tx_date is null",
					"tx_date is infinite"
				};
				uint8_t		k = r->invalid;

				n = snprintf(buf, buflen, "%s", k <= RC_INVALID_DATE_INFINITE ? why[k] : "invalid");
				break;
			}
		case RC_MANUAL:
			if (r->has_diff && r->group_id == 0)
				n = snprintf(buf, buflen, "matched by hand%s%s%s", r->amount_diff == 0 ? ", same amount" :
							 ", amount differs by ", r->amount_diff == 0 ? "" : diff, days);
			else if (r->has_diff)
			{
				bool		many_l = m->rows[r->other].is_ledger;
				rc_i128		gd = r->u.group_diff;

				if (gd != 0)
					rc_format_trim(gd < 0 ? -gd : gd, r->diff_scale, r->diff_scale, diff, sizeof(diff));
				if (many_l)
					n = snprintf(buf, buflen, "matched by hand: %d ledger rows as one statement row%s%s",
								 r->group_size, gd != 0 ? ", sum differs by " : "", gd != 0 ? diff : "");
				else
					n = snprintf(buf, buflen, "matched by hand: one ledger row as %d statement rows%s%s",
								 r->group_size, gd != 0 ? ", sum differs by " : "", gd != 0 ? diff : "");
			}
			else if (r->group_size > 1)
				n = snprintf(buf, buflen, "matched by hand with %d other rows", r->group_size - 1);
			else
				n = snprintf(buf, buflen, "matched by hand");
			break;
		case RC_NUM_CATEGORIES:
			n = snprintf(buf, buflen, "?");
			break;
	}
	if (n < 0)
		n = 0;
	return (size_t) n < buflen ? (size_t) n : buflen - 1;
}
