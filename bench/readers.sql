-- bench/readers.sql (from bench/run, part 5): reading a 100 MB MT940 statement and a 100 MB WeChat
-- Pay bill (:mb MB each, written here by the server: :dir must be writable by it), against COPY of
-- the same rows as CSV in the same invocation.  Median of :runs of each:
--   read:   SELECT count(*) FROM reconcile.read_<x>(pg_read_[binary_]file(...))   (the bar: 50 MB/s)
--   load:   INSERT INTO a table SELECT * FROM reconcile.read_<x>(...)               (what a user runs)
--   COPY:   COPY a table FROM the reader's rows written as CSV                     (the baseline)
-- Prints per format one line:
--   readers <format>: <MB> MB, <rows> rows: read <ms> ms = <MB/s> MB/s, load <ms> ms, COPY <ms> ms (<MB> MB of CSV) = <ratio> x COPY
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS reconcile;
DROP TABLE IF EXISTS pg_temp.lines_mt940, pg_temp.lines_wechat;

-- the documents: statements of 200 lines (SEPA credit transfers with structured :86:), and bill
-- rows of which every twentieth is a refund
SELECT format('COPY (SELECT l FROM (SELECT s, 0 AS k, concat_ws(E''\n'', '':20:STMT'' || lpad(s::text, 8, ''0''), '':25:DE89370400440532013000'', '':28C:'' || lpad(s::text, 5, ''0'') || ''/001'', '':60F:C261130EUR100000,00'') AS l FROM generate_series(1, %1$s) s '
              'UNION ALL SELECT s, k, '':61:2612'' || lpad((1 + k %% 28)::text, 2, ''0'') || ''12'' || lpad((1 + k %% 28)::text, 2, ''0'') || ''C'' || (100 + (s * 7919 + k * 104729) %% 99900) || '','' || lpad(((s + k) %% 100)::text, 2, ''0'') || ''NTRFNONREF//B'' || s || ''-'' || k || E''\n'' '
              '|| '':86:166?00SEPA-UEBERWEISUNG?109310?20EREF+ORD-'' || s || ''-'' || k || ''?21SVWZ+Order '' || k || '' customer?22 payment December?30COBADEFFXXX?31DE02100100109307118603?32CUSTOMER '' || k FROM generate_series(1, %1$s) s, generate_series(1, 200) k '
              'UNION ALL SELECT s, 201, E'':62F:C261231EUR100000,00\n-'' FROM generate_series(1, %1$s) s) x ORDER BY s, k) TO %2$L',
              (:mb * 1048576 / 41000)::int, :'dir' || '/bench.sta') \gexec
SELECT format('COPY (SELECT l FROM (SELECT 0 AS i, ''交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注'' AS l '
              'UNION ALL SELECT i, ''`2026-12-'' || lpad((1 + i %% 28)::text, 2, ''0'') || '' 10:20:30,`wx8888888888888888,`1900000109,`0,`,`42000012342026'' || lpad(i::text, 10, ''0'') || '',`WX-'' || lpad(i::text, 10, ''0'') || '',`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`'' '
              '|| CASE WHEN i %% 20 = 0 THEN ''REFUND,`CMB_DEBIT,`CNY,`0.00,`0.00,`5000030123'' || lpad(i::text, 13, ''0'') || '',`WX-'' || i || ''-R1,`'' || (1 + i %% 999) || ''.00,`0.00,`ORIGINAL,`SUCCESS,`陶瓷马克杯,`,`-0.06,`0.60%%,`0.00,`'' || (1 + i %% 999) || ''.00,`'' '
              '       ELSE ''SUCCESS,`CMB_DEBIT,`CNY,`'' || (1 + i %% 999) || ''.00,`0.00,`0,`0,`0.00,`0.00,`,`,`陶瓷马克杯,`,`0.06,`0.60%%,`'' || (1 + i %% 999) || ''.00,`0.00,`'' END FROM generate_series(1, %1$s) i '
              'UNION ALL SELECT %1$s + 1, E''总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n`0,`0.00,`0.00,`0.00,`0.00,`0.00,`0.00'') x ORDER BY i) TO %2$L',
              (:mb * 1048576 / 248)::int, :'dir' || '/bench_wechat.csv') \gexec

CREATE TEMP TABLE lines_mt940 (LIKE reconcile.statement_line);
CREATE TEMP TABLE lines_wechat (LIKE reconcile.statement_line);
SELECT format('COPY (SELECT * FROM reconcile.read_mt940(pg_read_file(%L))) TO %L CSV',
              :'dir' || '/bench.sta', :'dir' || '/bench_mt940.csv') \gexec
SELECT format('COPY (SELECT * FROM reconcile.read_wechatpay(pg_read_binary_file(%L))) TO %L CSV',
              :'dir' || '/bench_wechat.csv', :'dir' || '/bench_wechat_rows.csv') \gexec

-- the median of runs timings of sql, in ms
CREATE FUNCTION pg_temp.median_ms(sql text, runs int, setup text DEFAULT NULL) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz;
    times numeric[] := '{}';
BEGIN
    FOR k IN 1 .. runs LOOP
        IF setup IS NOT NULL THEN
            EXECUTE setup;
        END IF;
        t := clock_timestamp();
        EXECUTE sql;
        times := times || round(extract(epoch FROM clock_timestamp() - t)::numeric * 1000, 1);
    END LOOP;
    RETURN (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY x) FROM unnest(times) x);
END
$$;

SELECT (pg_stat_file(:'dir' || '/bench.sta')).size AS mt_bytes,
       (pg_stat_file(:'dir' || '/bench_mt940.csv')).size AS mt_csv_bytes,
       (pg_stat_file(:'dir' || '/bench_wechat.csv')).size AS wx_bytes,
       (pg_stat_file(:'dir' || '/bench_wechat_rows.csv')).size AS wx_csv_bytes \gset
SELECT pg_temp.median_ms(format('SELECT count(*) FROM reconcile.read_mt940(pg_read_file(%L))', :'dir' || '/bench.sta'), :runs) AS mt_read \gset
SELECT pg_temp.median_ms(format('INSERT INTO lines_mt940 SELECT * FROM reconcile.read_mt940(pg_read_file(%L))', :'dir' || '/bench.sta'),
                         :runs, 'TRUNCATE lines_mt940') AS mt_load \gset
SELECT pg_temp.median_ms(format('COPY lines_mt940 FROM %L CSV', :'dir' || '/bench_mt940.csv'), :runs, 'TRUNCATE lines_mt940') AS mt_copy \gset
SELECT count(*) AS mt_rows FROM lines_mt940 \gset
SELECT pg_temp.median_ms(format('SELECT count(*) FROM reconcile.read_wechatpay(pg_read_binary_file(%L))', :'dir' || '/bench_wechat.csv'), :runs) AS wx_read \gset
SELECT pg_temp.median_ms(format('INSERT INTO lines_wechat SELECT * FROM reconcile.read_wechatpay(pg_read_binary_file(%L))', :'dir' || '/bench_wechat.csv'),
                         :runs, 'TRUNCATE lines_wechat') AS wx_load \gset
SELECT pg_temp.median_ms(format('COPY lines_wechat FROM %L CSV', :'dir' || '/bench_wechat_rows.csv'), :runs, 'TRUNCATE lines_wechat') AS wx_copy \gset
SELECT count(*) AS wx_rows FROM lines_wechat \gset
SELECT round(:mt_bytes / 1048576.0, 1) AS mt_mb, round(:mt_bytes / 1048576.0 / (:mt_read / 1000.0), 1) AS mt_mbs,
       round(:mt_csv_bytes / 1048576.0, 1) AS mt_csv_mb, round(:mt_load / :mt_copy, 2) AS mt_ratio,
       round(:wx_bytes / 1048576.0, 1) AS wx_mb, round(:wx_bytes / 1048576.0 / (:wx_read / 1000.0), 1) AS wx_mbs,
       round(:wx_csv_bytes / 1048576.0, 1) AS wx_csv_mb, round(:wx_load / :wx_copy, 2) AS wx_ratio \gset
\echo readers mt940: :mt_mb MB, :mt_rows rows: read :mt_read ms = :mt_mbs MB/s, load :mt_load ms, COPY :mt_copy ms (:mt_csv_mb MB of CSV) = :mt_ratio x COPY
\echo readers wechatpay: :wx_mb MB, :wx_rows rows: read :wx_read ms = :wx_mbs MB/s, load :wx_load ms, COPY :wx_copy ms (:wx_csv_mb MB of CSV) = :wx_ratio x COPY
