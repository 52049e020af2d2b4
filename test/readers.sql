-- Reading statements and bills (SPEC 9, 0.7.0): the errors of broken documents (22P02 naming the
-- line or element, 22023 for another layout), ids unique and stable, nothing half-read, what the
-- readers cannot be made to run, and the lines loaded into a reconciliation.  The exact outputs of
-- every test document are in sql/readers.sql (pg_regress).
BEGIN;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT plan(26);

\set mt940 `cat test/data/statements/mt940_two_accounts.sta`
\set ofx `cat test/data/statements/ofx_sgml_two_accounts.ofx`
\set camt `cat test/data/statements/camt053_two_statements.xml`
\set alipay `od -An -v -tx1 test/data/statements/alipay_account_gbk.csv | tr -d ' \n'`
\set wechat `od -An -v -tx1 test/data/statements/wechatpay_utf8.csv | tr -d ' \n'`
\set mt940_truncated `cat test/data/statements/mt940_truncated.sta`
\set mt940_no_amount `cat test/data/statements/mt940_no_amount.sta`
\set ofx_truncated `cat test/data/statements/ofx_truncated.ofx`
\set ofx_no_amount `cat test/data/statements/ofx_no_amount.ofx`
\set camt_truncated `cat test/data/statements/camt053_truncated.xml`
\set camt_no_amount `cat test/data/statements/camt053_no_amount.xml`
\set alipay_truncated `od -An -v -tx1 test/data/statements/alipay_truncated_gbk.csv | tr -d ' \n'`
\set alipay_no_amount `od -An -v -tx1 test/data/statements/alipay_no_amount_gbk.csv | tr -d ' \n'`
\set alipay_bad_encoding `od -An -v -tx1 test/data/statements/alipay_bad_encoding.csv | tr -d ' \n'`
\set wechat_truncated `od -An -v -tx1 test/data/statements/wechatpay_truncated.csv | tr -d ' \n'`

-- broken documents: 22P02, naming the line (the element for camt)
SELECT throws_ok(format('SELECT * FROM reconcile.read_mt940(%L)', :'mt940_truncated'), '22P02',
                 'malformed MT940 document at line 6: statement STMT2612010003 has no closing balance (:62F:): the document is truncated',
                 'mt940: truncated, at its last line');
SELECT throws_ok(format('SELECT * FROM reconcile.read_mt940(%L)', :'mt940_no_amount'), '22P02',
                 'malformed MT940 document at line 5: no amount in :61:', 'mt940: a missing amount, at its line');
SELECT throws_ok(format('SELECT * FROM reconcile.read_ofx(%L)', :'ofx_truncated'), '22P02', NULL, 'ofx: truncated');
SELECT throws_like(format('SELECT * FROM reconcile.read_ofx(%L)', :'ofx_no_amount'),
                   'malformed OFX document at line 42: STMTTRN without TRNAMT%', 'ofx: a missing amount, at its STMTTRN');
SELECT throws_like(format('SELECT * FROM reconcile.read_camt053(%L)', :'camt_truncated'),
                   'malformed camt.053 document: line %', 'camt: truncated, at the line libxml names');
SELECT throws_ok(format('SELECT * FROM reconcile.read_camt053(%L)', :'camt_no_amount'), '22P02',
                 'malformed camt.053 document: Ntry 3 of statement STMT-2026-12-DE has no Amt', 'camt: a missing amount, naming the entry');
SELECT throws_ok(format('SELECT * FROM reconcile.read_alipay(decode(%L, ''hex''))', :'alipay_truncated'), '22P02',
                 'malformed Alipay bill at line 8: no #-line ends the list: the bill is truncated', 'alipay: truncated');
SELECT throws_like(format('SELECT * FROM reconcile.read_alipay(decode(%L, ''hex''))', :'alipay_no_amount'),
                   'malformed Alipay bill at line 8: no amount%', 'alipay: a missing amount, at its line');
SELECT throws_ok(format('SELECT * FROM reconcile.read_alipay(decode(%L, ''hex''))', :'alipay_bad_encoding'), '22P02',
                 'malformed Alipay bill at line 7: neither UTF-8 nor GBK', 'alipay: the wrong encoding, at its line');
SELECT throws_like(format('SELECT * FROM reconcile.read_wechatpay(decode(%L, ''hex''))', :'wechat_truncated'),
                   'malformed WeChat Pay bill at line 3: no totals%', 'wechatpay: truncated');
SELECT throws_like($$SELECT * FROM reconcile.read_wechatpay(convert_to(E'交易时间,商户号,微信订单号,商户订单号,交易状态,货币种类,应结订单金额,微信退款单号,退款金额,手续费\n`2026-13-01,`1,`2,`3,`SUCCESS,`CNY,`1.00,`,`0,`0\n', 'UTF8'))$$,
                   'malformed WeChat Pay bill at line 2: the date%', 'wechatpay: a date that is not one');

-- another layout: 22023
SELECT throws_ok(format('SELECT * FROM reconcile.read_mt940(%L)', :'ofx'), '22023', NULL, 'mt940 of an OFX document: 22023');
SELECT throws_ok(format('SELECT * FROM reconcile.read_ofx(%L)', :'mt940'), '22023', NULL, 'ofx of an MT940 document: 22023');
SELECT throws_ok($$SELECT * FROM reconcile.read_camt053('<Document><BkToCstmrTxRpt/></Document>')$$, '22023', NULL,
                 'camt of another ISO 20022 message: 22023');
SELECT throws_ok(format('SELECT * FROM reconcile.read_alipay(decode(%L, ''hex''))', :'wechat'), '22023', NULL,
                 'alipay of a WeChat Pay bill: 22023');
SELECT throws_ok(format('SELECT * FROM reconcile.read_wechatpay(decode(%L, ''hex''))', :'alipay'), '22023', NULL,
                 'wechatpay of an Alipay bill: 22023');

-- ids: unique within a document (a repeated FITID gets #2), stable across reads
SELECT is((SELECT string_agg(id, ' ' ORDER BY id) FROM reconcile.read_ofx(
              '<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS><CURDEF>EUR<BANKACCTFROM><ACCTID>A1</BANKACCTFROM><BANKTRANLIST>'
              '<STMTTRN><DTPOSTED>20261201<TRNAMT>1.00<FITID>F1</STMTTRN>'
              '<STMTTRN><DTPOSTED>20261202<TRNAMT>2.00<FITID>F1</STMTTRN>'
              '</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>')),
          'F1 F1#2', 'ids: a FITID repeated in a document is made unique');
SELECT is((SELECT count(*) FROM (SELECT id FROM reconcile.read_mt940(:'mt940') EXCEPT SELECT id FROM reconcile.read_mt940(:'mt940')) d)
          + (SELECT count(*) FROM (SELECT id FROM reconcile.read_camt053(:'camt') EXCEPT SELECT id FROM reconcile.read_camt053(:'camt')) d),
          0::bigint, 'ids: reading the same document twice gives the same ids');
SELECT is((SELECT count(*) - count(DISTINCT id) FROM (
              SELECT id FROM reconcile.read_mt940(:'mt940' || E'\n' || :'mt940')) x), 0::bigint,
          'ids: the same statement twice in one document: its lines get ids of their own');

-- NULL in, nothing out; a field of a megabyte is read whole
SELECT is((SELECT count(*) FROM reconcile.read_mt940(NULL)), 0::bigint, 'a NULL document: no lines');
SELECT is((SELECT length(memo) FROM reconcile.read_mt940(
              E':20:S1\n:25:A\n:28C:1\n:60F:C261201EUR0,\n:61:2612011201C1,00NTRFNONREF\n:86:' || repeat('x', 1048576) ||
              E'\n:62F:C261201EUR1,\n')), 1048576, 'a :86: of a megabyte comes back whole');

-- the readers run no code of the caller's and none as anyone else
SELECT is((SELECT count(*) FROM pg_proc WHERE pronamespace = 'reconcile'::regnamespace AND proname LIKE 'read\_%' AND prosecdef),
          0::bigint, 'no reader is SECURITY DEFINER');
SELECT is((SELECT string_agg(proname || ':' || provolatile::text, ' ' ORDER BY proname) FROM pg_proc
           WHERE pronamespace = 'reconcile'::regnamespace AND proname LIKE 'read\_%'),
          'read_alipay:i read_camt053:s read_mt940:i read_ofx:i read_wechatpay:i',
          'the C readers are IMMUTABLE; the camt reader STABLE (a DtTm is read in the session''s time zone)');

-- loaded into a reconciliation: the bank statement against the ledger, the WeChat bill with its fees
CREATE TABLE public.rd_bank AS SELECT * FROM reconcile.read_mt940(:'mt940');
CREATE TABLE public.rd_ledger (id text, amount numeric, tx_date date, ref text);
INSERT INTO public.rd_ledger VALUES ('INV-2026-1101', 1250.00, '2026-12-01', 'INV-2026-1101'),
                                    ('TEL-11', -89.90, '2026-12-01', 'REF-77');
SELECT reconcile.create('rd', 'public.rd_ledger', 'public.rd_bank', reconcile.rule(days_after => 3)) \g /dev/null
SELECT is((SELECT string_agg(ledger_id || '=' || statement_id || ':' || category, ' ' ORDER BY ledger_id)
           FROM public.rd_matches WHERE ledger_id IS NOT NULL),
          'INV-2026-1101=DE89370400440532013000/00201/001/1:matched TEL-11=DE89370400440532013000/00201/001/2:matched',
          'an MT940 statement loaded as it is reads straight into a reconciliation');
CREATE TABLE public.rd_wx AS SELECT * FROM reconcile.read_wechatpay(decode(:'wechat', 'hex'));
CREATE TABLE public.rd_orders (id text, amount numeric, tx_date date, ref text, fee numeric);
INSERT INTO public.rd_orders VALUES ('WX-DEC-0001', 99.40, '2026-12-01', 'WX-DEC-0001', 0.60),
                                    ('WX-DEC-0002', 59.60, '2026-12-01', 'WX-DEC-0002', 0.30);
SELECT reconcile.create('rd_wx', 'public.rd_orders', 'public.rd_wx', reconcile.rule(abs_tol => 0.01),
                        '{"ledger": {"fee": "fee"}, "statement": {"fee": "fee"}}') \g /dev/null
SELECT is((SELECT string_agg(ledger_id || ':' || category, ' ' ORDER BY ledger_id) FROM public.rd_wx_matches
           WHERE ledger_id IS NOT NULL),
          'WX-DEC-0001:matched WX-DEC-0002:fee_difference',
          'a WeChat Pay bill''s net amounts and fees: the order charged another fee is fee_difference');
SELECT is((SELECT statement_id || ':' || category FROM public.rd_wx_matches WHERE ledger_id IS NULL),
          '50000301232026120200001:missing_in_ledger', 'and its refund is there for the ledger to book');

SELECT * FROM finish();
ROLLBACK;
