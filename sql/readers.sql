-- The statement and bill readers (SPEC 9) over the test documents of test/data/statements, read
-- from the client as a user would (psql's \set with the file's content; a bill's bytes as hex).
\set VERBOSITY terse
\pset null '(null)'

\set d `cat test/data/statements/mt940_two_accounts.sta`
SELECT source, account, currency, id, tx_date, value_date, amount, fee, ref, memo, counterparty
FROM reconcile.read_mt940(:'d') ORDER BY id;
SELECT raw FROM reconcile.read_mt940(:'d') WHERE id LIKE 'NL%' ORDER BY id;

\set d `cat test/data/statements/ofx_sgml_two_accounts.ofx`
SELECT source, account, currency, id, tx_date, value_date, amount, fee, ref, memo, counterparty
FROM reconcile.read_ofx(:'d') ORDER BY id;
SELECT raw FROM reconcile.read_ofx(:'d') WHERE id = 'CC-77120';
\set d `cat test/data/statements/ofx_xml.ofx`
SELECT source, account, currency, id, tx_date, value_date, amount, fee, ref, memo, counterparty
FROM reconcile.read_ofx(:'d') ORDER BY id;

\set d `cat test/data/statements/camt053_two_statements.xml`
SELECT source, account, currency, id, tx_date, value_date, amount, fee, ref, memo, counterparty
FROM reconcile.read_camt053(:'d') ORDER BY id;
SELECT raw FROM reconcile.read_camt053(:'d') WHERE id = 'STMT-2026-12-DE/2';

\set d `od -An -v -tx1 test/data/statements/alipay_account_gbk.csv | tr -d ' \n'`
SELECT source, account, currency, id, tx_date, value_date, amount, fee, ref, memo, counterparty
FROM reconcile.read_alipay(decode(:'d', 'hex')) ORDER BY id;
\set d `od -An -v -tx1 test/data/statements/alipay_business_utf8.csv | tr -d ' \n'`
SELECT source, account, currency, id, tx_date, value_date, amount, fee, ref, memo, counterparty
FROM reconcile.read_alipay(decode(:'d', 'hex')) ORDER BY id;
SELECT raw FROM reconcile.read_alipay(decode(:'d', 'hex')) WHERE id LIKE '%R1';

\set d `od -An -v -tx1 test/data/statements/wechatpay_utf8.csv | tr -d ' \n'`
SELECT source, account, currency, id, tx_date, value_date, amount, fee, ref, memo, counterparty
FROM reconcile.read_wechatpay(decode(:'d', 'hex')) ORDER BY id;
\set d `od -An -v -tx1 test/data/statements/wechatpay_gbk.csv | tr -d ' \n'`
SELECT count(*), sum(amount), sum(fee) FROM reconcile.read_wechatpay(decode(:'d', 'hex'));

-- broken documents: the error names the line (or the element)
\set d `cat test/data/statements/mt940_truncated.sta`
SELECT count(*) FROM reconcile.read_mt940(:'d');
\set d `cat test/data/statements/mt940_no_amount.sta`
SELECT count(*) FROM reconcile.read_mt940(:'d');
\set d `cat test/data/statements/ofx_truncated.ofx`
SELECT count(*) FROM reconcile.read_ofx(:'d');
\set d `cat test/data/statements/ofx_no_amount.ofx`
SELECT count(*) FROM reconcile.read_ofx(:'d');
\set d `cat test/data/statements/camt053_truncated.xml`
SELECT count(*) FROM reconcile.read_camt053(:'d');
\set d `cat test/data/statements/camt053_no_amount.xml`
SELECT count(*) FROM reconcile.read_camt053(:'d');
\set d `od -An -v -tx1 test/data/statements/alipay_truncated_gbk.csv | tr -d ' \n'`
SELECT count(*) FROM reconcile.read_alipay(decode(:'d', 'hex'));
\set d `od -An -v -tx1 test/data/statements/alipay_no_amount_gbk.csv | tr -d ' \n'`
SELECT count(*) FROM reconcile.read_alipay(decode(:'d', 'hex'));
\set d `od -An -v -tx1 test/data/statements/alipay_bad_encoding.csv | tr -d ' \n'`
SELECT count(*) FROM reconcile.read_alipay(decode(:'d', 'hex'));
\set d `od -An -v -tx1 test/data/statements/wechatpay_truncated.csv | tr -d ' \n'`
SELECT count(*) FROM reconcile.read_wechatpay(decode(:'d', 'hex'));

-- documents of another layout
SELECT count(*) FROM reconcile.read_mt940('<OFX></OFX>');
SELECT count(*) FROM reconcile.read_ofx(':20:X');
SELECT count(*) FROM reconcile.read_camt053('<Document><Other/></Document>');
SELECT count(*) FROM reconcile.read_alipay(convert_to('交易时间,商户号', 'UTF8'));
SELECT count(*) FROM reconcile.read_wechatpay(convert_to('#支付宝账务明细查询', 'UTF8'));
SELECT count(*) FROM reconcile.read_mt940(NULL);
