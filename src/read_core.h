/*-------------------------------------------------------------------------
 *
 * read_core.h
 *	  The statement and bill readers of reconcile, in plain C: MT940, OFX
 *	  1.x (SGML) and 2.x (XML), Alipay and WeChat Pay bills.
 *
 * Like the matching core, nothing here includes postgres.h or calls into
 * the backend, so that unit tests and a fuzzer drive the readers directly.
 * A reader walks one document (UTF-8 or ASCII bytes; the fmgr layer,
 * src/reader.c, converts a GBK bill first) and hands each transaction to a
 * callback as an RdLine: slices of the document or of the reader's scratch
 * buffer, valid until the callback returns.  Amounts are normalised decimal
 * text ("-1234.56": a sign, digits, one point), signed from the document's
 * own credit and debit marks; dates are the document's, as numbers.  A
 * document that breaks the format stops the reader with RD_MALFORMED and
 * the line where it broke; one that is not the format at all with
 * RD_UNKNOWN_LAYOUT.
 *
 * IDENTIFICATION
 *	  src/read_core.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef RECONCILE_READ_CORE_H
#define RECONCILE_READ_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A slice of bytes: of the document, or of the reader's scratch. */
typedef struct RdText
{
	const char *p;
	uint32_t	len;
} RdText;

/* A date as the document states it; has = false when it gives none. */
typedef struct RdDate
{
	int32_t		y;
	int32_t		m;
	int32_t		d;
	bool		has;
} RdDate;

/* One field of the line as read, for the raw jsonb: its name and value. */
typedef struct RdPair
{
	RdText		key;
	RdText		val;
} RdPair;

#define RD_MAX_RAW 48

/* One transaction of a document. */
typedef struct RdLine
{
	RdText		account;
	RdText		currency;
	RdText		id;				/* unique within the document, stable */
	RdDate		tx_date;
	RdDate		value_date;
	RdText		amount;			/* normalised decimal text; len 0 = none */
	RdText		fee;			/* the same; len 0 = none */
	RdText		ref;
	RdText		memo;
	RdText		counterparty;
	RdPair		raw[RD_MAX_RAW];
	uint32_t	nraw;
	uint32_t	lineno;			/* the document line it starts on, from 1 */
} RdLine;

typedef enum RdStatus
{
	RD_OK = 0,
	RD_MALFORMED,				/* err_line, err_msg say where and what */
	RD_UNKNOWN_LAYOUT			/* err_msg says what was expected */
} RdStatus;

/* A growable buffer of the reader's (contents kept when it grows). */
typedef struct RdBuf
{
	char	   *p;
	size_t		len;
	size_t		cap;
} RdBuf;

typedef struct RdSet RdSet;

/* A reader's callbacks and state. */
typedef struct RdReader
{
	/* set by the caller */
	void		(*emit) (void *arg, const RdLine *line);
	void	   *(*alloc) (void *arg, size_t size);	/* never NULL; freed with the whole call */
	void		(*check_interrupts) (void *arg);	/* may be NULL */
	void	   *arg;

	/* output */
	uint32_t	err_line;
	char		err_msg[160];
	uint64_t	lines;			/* lines emitted */

	/* private */
	RdBuf		scratch;		/* a line's built strings; reset for each line */
	RdSet	   *ids;			/* the ids emitted, to keep them unique */
	uint32_t	tick;
} RdReader;

/* The readers: a whole document, len bytes. */
extern RdStatus rd_read_mt940(RdReader *r, const char *doc, size_t len);
extern RdStatus rd_read_ofx(RdReader *r, const char *doc, size_t len);
extern RdStatus rd_read_alipay(RdReader *r, const char *doc, size_t len);
extern RdStatus rd_read_wechatpay(RdReader *r, const char *doc, size_t len);

/*
 * The first line of doc that is not valid GBK (a lead byte 0x81-0xFE
 * followed by 0x40-0xFE but 0x7F), or 0 when all of it is.
 */
extern uint32_t rd_gbk_bad_line(const char *doc, size_t len);

/* The first line of doc that is not valid UTF-8, or 0 when all of it is. */
extern uint32_t rd_utf8_bad_line(const char *doc, size_t len);

#endif							/* RECONCILE_READ_CORE_H */
