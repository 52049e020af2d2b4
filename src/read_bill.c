/*-------------------------------------------------------------------------
 *
 * read_bill.c
 *	  Merchant bills of Alipay (账务明细 and 业务明细) and WeChat Pay
 *	  (交易账单): one line per transaction row.
 *
 * Both are CSV in UTF-8 (a GBK bill is converted first, src/reader.c).  An
 * Alipay bill opens with #-lines (#支付宝账务明细查询 or #支付宝业务明细查询,
 * #账号：[...]), then its header and rows, and closes with #-lines of totals;
 * its fields are padded with spaces and tabs.  A WeChat Pay bill opens with
 * its header (交易时间,...), prefixes every field of a row with a backtick,
 * and closes with a totals header (总交易单数,...) and its row.  Columns are
 * found by their names in the header, so a bill with columns added or
 * reordered still reads; one without the columns a line needs is of an
 * unknown layout.  The amount is what reaches the account, the fee what
 * the platform kept (gross = amount + fee, as SPEC 7 has it): Alipay's
 * income less its expenditure (账务明细: fees are lines of their own), the
 * merchant's takings less the service fee (业务明细), WeChat's settled
 * amount less its fee, a refund's amount negated (its fee, returned, as the
 * bill states it).  The raw fields keep the bill's own figures.
 *
 * IDENTIFICATION
 *	  src/read_bill.c
 *
 *-------------------------------------------------------------------------
 */
#include "read_int.h"

#include <stdio.h>

#define MAX_COLS 64

/* A bill's header: its column names, and where the ones a line needs are. */
typedef struct Header
{
	RdText		name[MAX_COLS];
	int			ncols;
} Header;

/* The index of the column whose name starts with prefix, or -1. */
static int
column(const Header *h, const char *prefix)
{
	for (int i = 0; i < h->ncols; i++)
		if (rd_starts(h->name[i], prefix))
			return i;
	return -1;
}

/* Field i of a row, or empty when the column is absent. */
static RdText
field(const RdText *f, int nf, int i)
{
	return i >= 0 && i < nf ? f[i] : rd_text("", 0);
}

/* Read the header from CSV line l (fields trimmed; WeChat's backticks too). */
static void
read_header(Header *h, RdText l)
{
	RdText		f[MAX_COLS];
	int			n;

	if (!rd_csv_split(l, f, MAX_COLS, &n))
		n = 0;
	for (int i = 0; i < n; i++)
		h->name[i] = rd_trim(f[i], true);
	h->ncols = n;
}

/* The fields of a row, trimmed; the line's field count in *n. */
static bool
read_row(RdText l, RdText *f, int *n, bool backtick)
{
	if (!rd_csv_split(l, f, MAX_COLS, n))
		return false;
	for (int i = 0; i < *n; i++)
		f[i] = rd_trim(f[i], backtick);
	/* a trailing comma makes an empty last field that no column names */
	return true;
}

/* Every field under its header name, for the raw jsonb. */
static void
raw_fields(RdLine *line, const Header *h, const RdText *f, int nf)
{
	for (int i = 0; i < h->ncols && i < nf; i++)
		if (h->name[i].len > 0)
			rd_raw(line, h->name[i], f[i]);
}

/* A bill amount: empty is none (false with *out empty), else it must be a number. */
static bool
bill_amount(RdReader *r, RdText t, bool negate, RdText *out)
{
	*out = rd_text("", 0);
	if (t.len == 0)
		return true;
	return rd_decimal(r, t, '.', negate, out);
}

/* Slice t contains the C string s. */
static bool
contains(RdText t, const char *s)
{
	size_t		n = strlen(s);

	for (size_t i = 0; i + n <= t.len; i++)
		if (memcmp(t.p + i, s, n) == 0)
			return true;
	return false;
}

/* Whether decimal text t is zero ("0", "0.00", "-0.0"). */
static bool
is_zero(RdText t)
{
	for (uint32_t i = 0; i < t.len; i++)
		if (t.p[i] != '0' && t.p[i] != '.' && t.p[i] != '-' && t.p[i] != '+')
			return false;
	return true;
}

RdStatus
rd_read_alipay(RdReader *r, const char *doc, size_t len)
{
	RdCursor	c;
	RdText		l;
	Header		h;
	RdText		f[MAX_COLS];
	int			nf;
	RdText		account = rd_text("", 0);
	bool		business = false;
	bool		have_header = false;
	bool		first = true;
	bool		ended = false;	/* a #-line after the rows: the list's end and totals */
	int			c_id = -1,
				c_ref = -1,
				c_name = -1,
				c_date = -1,
				c_date2 = -1,
				c_party = -1,
				c_in = -1,
				c_out = -1,
				c_net = -1,
				c_fee = -1,
				c_refund = -1,
				c_note = -1;

	memset(&h, 0, sizeof(h));
	rd_cursor_init(&c, doc, len);
	while (rd_next_line(&c, &l))
	{
		RdLine		line;
		RdText		tl = rd_trim(l, false);

		rd_tick(r);
		if (tl.len == 0)
			continue;
		if (first)
		{
			first = false;
			if (!rd_starts(tl, "#支付宝"))
				return rd_unknown(r, "The first line is not #支付宝...明细查询");
			if (contains(tl, "业务明细"))
				business = true;
			else if (!contains(tl, "账务明细"))
				return rd_unknown(r, "An Alipay bill that is neither 账务明细 nor 业务明细");
			continue;
		}
		if (tl.p[0] == '#')
		{
			ended |= have_header;
			/* the account, before the rows; the totals after them are not rows */
			if (!have_header && rd_starts(tl, "#账号"))
			{
				const char *lb = memchr(tl.p, '[', tl.len);
				const char *rb = lb ? memchr(lb, ']', tl.len - (size_t) (lb - tl.p)) : NULL;

				if (lb && rb)
					account = rd_text(lb + 1, (size_t) (rb - lb - 1));
			}
			continue;
		}
		if (!have_header)
		{
			read_header(&h, tl);
			have_header = true;
			if (business)
			{
				c_id = column(&h, "支付宝交易号");
				c_ref = column(&h, "商户订单号");
				c_name = column(&h, "商品名称");
				c_date = column(&h, "完成时间");
				c_date2 = column(&h, "创建时间");
				c_party = column(&h, "对方账户");
				c_net = column(&h, "商家实收");
				c_fee = column(&h, "服务费");
				c_refund = column(&h, "退款批次号");
				c_note = column(&h, "备注");
				c_in = c_out = -1;
				if (c_id < 0 || c_net < 0 || (c_date < 0 && c_date2 < 0))
					return rd_unknown(r, "The header of this 业务明细 has no 支付宝交易号, 商家实收 or 完成时间 column");
			}
			else
			{
				c_id = column(&h, "账务流水号");
				c_ref = column(&h, "商户订单号");
				c_name = column(&h, "商品名称");
				c_date = column(&h, "发生时间");
				c_date2 = -1;
				c_party = column(&h, "对方账号");
				c_in = column(&h, "收入金额");
				c_out = column(&h, "支出金额");
				c_note = column(&h, "备注");
				c_net = c_fee = c_refund = -1;
				if (c_id < 0 || c_in < 0 || c_out < 0 || c_date < 0)
					return rd_unknown(r, "The header of this 账务明细 has no 账务流水号, 收入金额, 支出金额 or 发生时间 column");
			}
			continue;
		}
		/* a row */
		if (ended)
			return rd_fail(r, c.lineno, "a row after the end of the list");
		rd_line_init(&line, c.lineno);
		rd_scratch_reset(r, (size_t) tl.len * 3 + 256);
		if (!read_row(tl, f, &nf, false))
			return rd_fail(r, c.lineno, "a quoted field is not closed");
		if (nf < h.ncols - 1)
			return rd_fail(r, c.lineno, "%d fields where the header has %d: the row is cut short", nf, h.ncols);
		line.account = account;
		line.currency = RD_LIT("CNY");
		line.id = field(f, nf, c_id);
		if (line.id.len == 0)
			return rd_fail(r, c.lineno, "no %s", business ? "支付宝交易号" : "账务流水号");
		line.ref = field(f, nf, c_ref);
		line.memo = field(f, nf, c_name);
		{
			RdText		note = field(f, nf, c_note);

			line.memo = rd_scratch_join(r, line.memo, "; ", note);
		}
		line.counterparty = field(f, nf, c_party);
		{
			RdText		d = field(f, nf, c_date);

			if (d.len == 0)
				d = field(f, nf, c_date2);
			if (!rd_date_iso(d, &line.tx_date))
				return rd_fail(r, c.lineno, "the date \"%.*s\" is not YYYY-MM-DD", (int) (d.len > 30 ? 30 : d.len), d.p);
		}
		if (business)
		{
			RdText		refund = field(f, nf, c_refund);

			if (!bill_amount(r, field(f, nf, c_net), false, &line.amount) || line.amount.len == 0)
				return rd_fail(r, c.lineno, "no amount in 商家实收");
			if (!bill_amount(r, field(f, nf, c_fee), false, &line.fee))
				return rd_fail(r, c.lineno, "服务费 is not an amount");
			/* the merchant's takings less the service fee reach the account */
			if (line.fee.len > 0 && !rd_decimal_sub(r, line.amount, line.fee, &line.amount))
				return rd_fail(r, c.lineno, "商家实收 or 服务费 has too many digits");
			/* a refund shares its trade's number: its batch number tells them apart */
			if (refund.len > 0)
				line.id = rd_scratch_join(r, line.id, "/", refund);
		}
		else
		{
			RdText		in,
						out;

			if (!bill_amount(r, field(f, nf, c_in), false, &in) ||
				!bill_amount(r, field(f, nf, c_out), true, &out))
				return rd_fail(r, c.lineno, "收入金额 or 支出金额 is not an amount");
			if (in.len == 0 && out.len == 0)
				return rd_fail(r, c.lineno, "no amount: both 收入金额 and 支出金额 are empty");
			line.amount = in.len > 0 && (!is_zero(in) || out.len == 0) ? in : out;
		}
		raw_fields(&line, &h, f, nf);
		rd_emit(r, &line, false);
	}
	if (first)
		return rd_unknown(r, "An empty document");
	if (!have_header)
		return rd_fail(r, c.lineno, "no header after the #-lines: the bill is truncated");
	if (!ended)
		return rd_fail(r, c.lineno, "no #-line ends the list: the bill is truncated");
	return RD_OK;
}

RdStatus
rd_read_wechatpay(RdReader *r, const char *doc, size_t len)
{
	RdCursor	c;
	RdText		l;
	Header		h;
	RdText		f[MAX_COLS];
	int			nf;
	bool		have_header = false;
	bool		totals = false;
	int			c_date = -1,
				c_mch = -1,
				c_id = -1,
				c_ref = -1,
				c_user = -1,
				c_status = -1,
				c_cur = -1,
				c_amount = -1,
				c_refund_id = -1,
				c_refund = -1,
				c_name = -1,
				c_fee = -1;

	memset(&h, 0, sizeof(h));
	rd_cursor_init(&c, doc, len);
	while (rd_next_line(&c, &l))
	{
		RdLine		line;
		RdText		tl = rd_trim(l, false);
		RdText		status;

		rd_tick(r);
		if (tl.len == 0)
			continue;
		if (!have_header)
		{
			if (!rd_starts(tl, "交易时间,"))
				return rd_unknown(r, "The first line is not the header 交易时间,...");
			read_header(&h, tl);
			have_header = true;
			c_date = column(&h, "交易时间");
			c_mch = column(&h, "商户号");
			c_id = column(&h, "微信订单号");
			c_ref = column(&h, "商户订单号");
			c_user = column(&h, "用户标识");
			c_status = column(&h, "交易状态");
			c_cur = column(&h, "货币种类");
			c_amount = column(&h, "应结订单金额");
			c_refund_id = column(&h, "微信退款单号");
			c_refund = column(&h, "退款金额");
			c_name = column(&h, "商品名称");
			c_fee = column(&h, "手续费");
			if (c_id < 0 || c_status < 0 || c_amount < 0 || c_refund < 0 || c_refund_id < 0 || c_fee < 0)
				return rd_unknown(r, "The header has no 微信订单号, 交易状态, 应结订单金额, 退款金额, 微信退款单号 or 手续费 column");
			continue;
		}
		if (totals)
			continue;			/* the totals' row */
		if (rd_starts(tl, "总交易单数"))
		{
			totals = true;
			continue;
		}
		if (tl.p[0] != '`')
			return rd_fail(r, c.lineno, "a row whose fields do not start with a backtick");
		rd_line_init(&line, c.lineno);
		rd_scratch_reset(r, (size_t) tl.len * 3 + 256);
		if (!read_row(tl, f, &nf, true))
			return rd_fail(r, c.lineno, "a quoted field is not closed");
		if (nf < h.ncols - 1)
			return rd_fail(r, c.lineno, "%d fields where the header has %d: the row is cut short", nf, h.ncols);
		status = field(f, nf, c_status);
		line.account = field(f, nf, c_mch);
		line.currency = field(f, nf, c_cur);
		line.ref = field(f, nf, c_ref);
		line.memo = field(f, nf, c_name);
		line.counterparty = field(f, nf, c_user);
		{
			RdText		d = field(f, nf, c_date);

			if (!rd_date_iso(d, &line.tx_date))
				return rd_fail(r, c.lineno, "the date \"%.*s\" is not YYYY-MM-DD", (int) (d.len > 30 ? 30 : d.len), d.p);
		}
		if (!bill_amount(r, field(f, nf, c_fee), false, &line.fee))
			return rd_fail(r, c.lineno, "手续费 is not an amount");
		if (rd_eq(status, "REFUND"))
		{
			line.id = field(f, nf, c_refund_id);
			if (!bill_amount(r, field(f, nf, c_refund), true, &line.amount) || line.amount.len == 0)
				return rd_fail(r, c.lineno, "a refund without its amount (退款金额)");
		}
		else
		{
			line.id = field(f, nf, c_id);
			if (!bill_amount(r, field(f, nf, c_amount), false, &line.amount) || line.amount.len == 0)
				return rd_fail(r, c.lineno, "no amount in 应结订单金额");
		}
		if (line.id.len == 0)
			return rd_fail(r, c.lineno, "no %s", rd_eq(status, "REFUND") ? "微信退款单号" : "微信订单号");
		/* the settled amount less the fee reaches the account */
		if (line.fee.len > 0 && !rd_decimal_sub(r, line.amount, line.fee, &line.amount))
			return rd_fail(r, c.lineno, "应结订单金额 or 手续费 has too many digits");
		raw_fields(&line, &h, f, nf);
		rd_emit(r, &line, false);
	}
	if (!have_header)
		return rd_unknown(r, "An empty document");
	if (!totals)
		return rd_fail(r, c.lineno, "no totals (总交易单数...) after the rows: the bill is truncated");
	return RD_OK;
}
