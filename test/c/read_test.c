/*-------------------------------------------------------------------------
 *
 * read_test.c
 *	  Unit tests of the plain-C statement and bill readers, outside the
 *	  server, over the test documents of test/data/statements.
 *
 * Each document is read into lines printed as "id|date|value date|amount|
 * fee|ref|memo|counterparty"; the tests compare those with what the
 * document says, and check the errors of the broken ones (the status, the
 * line).  Prints TAP; test/sh/run counts its lines with the rest.
 *
 *	  make unit
 *
 * IDENTIFICATION
 *	  test/c/read_test.c
 *
 *-------------------------------------------------------------------------
 */
#include "read_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int	ntests = 0;
static int	nfailed = 0;

static void
check(int cond, const char *what)
{
	ntests++;
	if (!cond)
		nfailed++;
	printf("%s %d - %s\n", cond ? "ok" : "not ok", ntests, what);
}

/* every block malloc'd for one read, freed after it */
static void *blocks[1 << 16];
static int	nblocks = 0;

static void *
t_alloc(void *arg, size_t size)
{
	void	   *p = malloc(size ? size : 1);

	(void) arg;
	if (p == NULL || nblocks >= (int) (sizeof(blocks) / sizeof(blocks[0])))
	{
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	blocks[nblocks++] = p;
	return p;
}

static void
t_free_all(void)
{
	while (nblocks > 0)
		free(blocks[--nblocks]);
}

/* What a read produced: its lines as text, one per line. */
static char out[65536];
static size_t outlen;

static void
put(const char *p, uint32_t len)
{
	if (len > 0 && outlen + len + 2 < sizeof(out))
	{
		memcpy(out + outlen, p, len);
		outlen += len;
	}
}

static void
t_emit(void *arg, const RdLine *l)
{
	char		buf[64];

	(void) arg;
	put(l->id.p, l->id.len);
	put("|", 1);
	if (l->tx_date.has)
		put(buf, (uint32_t) snprintf(buf, sizeof(buf), "%04d-%02d-%02d", l->tx_date.y, l->tx_date.m, l->tx_date.d));
	put("|", 1);
	if (l->value_date.has)
		put(buf, (uint32_t) snprintf(buf, sizeof(buf), "%04d-%02d-%02d", l->value_date.y, l->value_date.m,
									 l->value_date.d));
	put("|", 1);
	put(l->amount.p, l->amount.len);
	put("|", 1);
	put(l->fee.p, l->fee.len);
	put("|", 1);
	put(l->ref.p, l->ref.len);
	put("|", 1);
	put(l->memo.p, l->memo.len);
	put("|", 1);
	put(l->counterparty.p, l->counterparty.len);
	put("\n", 1);
}

/* The bytes of test document name. */
static char *
load(const char *name, size_t *len)
{
	char		path[512];
	FILE	   *f;
	char	   *buf;
	long		n;

	snprintf(path, sizeof(path), "test/data/statements/%s", name);
	f = fopen(path, "rb");
	if (f == NULL)
	{
		fprintf(stderr, "cannot open %s\n", path);
		exit(2);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t) n + 1);
	if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n)
		exit(2);
	fclose(f);
	*len = (size_t) n;
	return buf;
}

typedef RdStatus (*Reader) (RdReader *r, const char *doc, size_t len);

/* Read document name with fn; the status, the reader's error in r. */
static RdStatus
read_doc(Reader fn, const char *name, RdReader *r)
{
	size_t		len;
	char	   *doc = load(name, &len);
	RdStatus	st;

	memset(r, 0, sizeof(*r));
	r->emit = t_emit;
	r->alloc = t_alloc;
	outlen = 0;
	st = fn(r, doc, len);
	out[outlen] = '\0';
	t_free_all();
	free(doc);
	return st;
}

/* The output has this line. */
static int
has_line(const char *line)
{
	size_t		n = strlen(line);
	const char *p = out;

	while ((p = strstr(p, line)) != NULL)
	{
		if ((p == out || p[-1] == '\n') && p[n] == '\n')
			return 1;
		p++;
	}
	return 0;
}

static void
test_mt940(void)
{
	RdReader	r;

	check(read_doc(rd_read_mt940, "mt940_two_accounts.sta", &r) == RD_OK && r.lines == 5,
		  "mt940: two statements of two accounts, five lines");
	check(has_line("DE89370400440532013000/00201/001/1|2026-12-01|2026-12-01|1250.00||INV-2026-1101|"
				   "Invoice INV-2026-1101 Lin Trading Shanghai|LIN TRADING CO LTD"),
		  "mt940: ?20.. subfields joined, EREF+ as ref, SVWZ+ as memo, ?32 as counterparty");
	check(has_line("DE89370400440532013000/00201/001/2|2026-12-02|2026-12-02|-89.90||REF-77|Telecom November|"
				   "TELEKOM DEUTSCHLAND"),
		  "mt940: a debit is negative; EREF+NOTPROVIDED leaves the owner's reference");
	check(has_line("DE89370400440532013000/00201/001/3|2026-12-03|2026-12-03|-45.00|||"
				   "Ruecklastschrift fuer Lastschrift vom 28.11.2026, Konto erloschen, Gebuehr 3,00 EUR|"),
		  "mt940: RC (reversal of a credit) is money out; a multi-line :86: is one memo");
	check(has_line("NL91ABNA0417164300/00077/001/1|2027-01-02|2026-12-31|2000||E2E-PO-88213|"
				   "Payment PO-88213 December|ACME EXPORT BV"),
		  "mt940: /EREF/ /REMI/USTD// /NAME/ keywords; an entry date in the next year");
	check(read_doc(rd_read_mt940, "mt940_truncated.sta", &r) == RD_MALFORMED && r.err_line == 6,
		  "mt940: a statement without its closing balance is truncated, at its last line");
	check(read_doc(rd_read_mt940, "mt940_no_amount.sta", &r) == RD_MALFORMED && r.err_line == 5 &&
		  strstr(r.err_msg, "no amount") != NULL,
		  "mt940: a :61: without an amount, at its line");
	check(read_doc(rd_read_mt940, "ofx_xml.ofx", &r) == RD_UNKNOWN_LAYOUT,
		  "mt940: an OFX document is of an unknown layout");
}

static void
test_ofx(void)
{
	RdReader	r;

	check(read_doc(rd_read_ofx, "ofx_sgml_two_accounts.ofx", &r) == RD_OK && r.lines == 4,
		  "ofx: SGML, a bank and a card statement, four lines");
	check(has_line("2026120300001|2026-12-03|2026-12-04|1250.00|||Payout P-4471 & adjustments|SHOPIFY PAYOUTS"),
		  "ofx: FITID as the id, DTAVAIL as the value date, thousands grouped, &amp; decoded");
	check(has_line("4000123456/3|2026-12-31||-12.50||||MONTHLY SERVICE FEE"),
		  "ofx: without FITID, the account and position");
	check(has_line("CC-77120|2026-12-10||-42.00||AUTH-5521|Invoice CH-2026-12|CLOUD HOSTING INC"),
		  "ofx: a card statement's REFNUM and PAYEE's NAME");
	check(read_doc(rd_read_ofx, "ofx_xml.ofx", &r) == RD_OK && r.lines == 2 &&
		  has_line("X-9001|2026-12-15||320.00||ORD-20261215-7|Commande 7 <cadeaux>|Boutique Lumi\xc3\xa8re"),
		  "ofx: XML 2.x, end tags of leaves, &lt; &gt; decoded");
	check(read_doc(rd_read_ofx, "ofx_truncated.ofx", &r) == RD_MALFORMED && r.err_line > 0,
		  "ofx: a truncated document, at its last line");
	check(read_doc(rd_read_ofx, "ofx_no_amount.ofx", &r) == RD_MALFORMED && strstr(r.err_msg, "TRNAMT") != NULL,
		  "ofx: a STMTTRN without TRNAMT");
	check(read_doc(rd_read_ofx, "mt940_two_accounts.sta", &r) == RD_UNKNOWN_LAYOUT,
		  "ofx: an MT940 document is of an unknown layout");
}

static void
test_bills(void)
{
	RdReader	r;

	check(read_doc(rd_read_alipay, "alipay_business_utf8.csv", &r) == RD_OK && r.lines == 3,
		  "alipay: 业务明细 in UTF-8, #-lines left out, three rows");
	check(has_line("2026120122001456781000123456|2026-12-01||296.21|1.79|TM-DEC-0001|\xe7\xbe\x8a\xe6\xaf\x9b\xe5\x9b\xb4\xe5\xb7\xbe|li***@163.com"),
		  "alipay: 商家实收 less 服务费 is the amount, 服务费 the fee");
	check(has_line("2026120221001004560045670002/TM-DEC-0003-R1|2026-12-02||-119.28|-0.72|TM-DEC-0003|"
				   "\xe8\x8c\xb6\xe5\x85\xb7,\xe5\x85\xad\xe4\xbb\xb6\xe5\xa5\x97|zh***@sina.com"),
		  "alipay: a refund under its trade and batch number, a quoted field with a comma");
	check(read_doc(rd_read_alipay, "wechatpay_utf8.csv", &r) == RD_UNKNOWN_LAYOUT,
		  "alipay: a WeChat Pay bill is of an unknown layout");
	check(read_doc(rd_read_wechatpay, "wechatpay_utf8.csv", &r) == RD_OK && r.lines == 3,
		  "wechatpay: three rows, the totals left out");
	check(has_line("4200001234202612010001|2026-12-01||99.40|0.60|WX-DEC-0001|Ceramic mug|oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
		  "wechatpay: backticks dropped, 应结订单金额 less 手续费, 手续费 the fee");
	check(has_line("50000301232026120200001|2026-12-02||-99.40|-0.60|WX-DEC-0001|Ceramic mug|oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"),
		  "wechatpay: a refund negative under its refund id, its fee returned");
	check(read_doc(rd_read_wechatpay, "wechatpay_truncated.csv", &r) == RD_MALFORMED && r.err_line == 3,
		  "wechatpay: a bill without its totals is truncated");
	check(rd_utf8_bad_line("ab\ncd\n\xe4\xb8\xad\n", 9) == 0 && rd_utf8_bad_line("ab\ncd\n\xff\n", 7) == 3,
		  "encodings: UTF-8 checked, the bad line found");
	check(rd_gbk_bad_line("ab\n\xd6\xd0\n", 6) == 0 && rd_gbk_bad_line("ab\n\xd6\n", 5) == 2,
		  "encodings: GBK checked, a lead byte without its trail found");
}

int
main(void)
{
	test_mt940();
	test_ofx();
	test_bills();
	printf("1..%d\n", ntests);
	return nfailed ? 1 : 0;
}
