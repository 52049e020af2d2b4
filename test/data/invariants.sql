-- test/data/invariants.sql: generated ledger and statement rows with every category, over
-- 110,000 rows per side (public.inv_l, public.inv_s).  Read by test/invariants.sql and by
-- bench/builds.sh, which compares two builds' results on it.
-- kinds of rows by i % 20: 0-11 pairs (some a cent off, half with refs), 12 payout batch,
-- 13 instalments, 14 reversal, 15 duplicated payment, 16 missing in statement,
-- 17 missing in ledger, 18 NULL amount, 19 timing difference
CREATE TABLE public.inv_l AS
SELECT (ARRAY['CNY', 'USD', 'EUR'])[1 + i % 3] AS key, 'L' || i AS id,
       CASE WHEN i % 20 = 18 THEN NULL
            WHEN i % 20 = 14 THEN -(10 + (hashint4(i) & 511))::numeric
            WHEN i % 20 = 13 THEN 300.00
            ELSE round(10 + (hashint4(i) & 511) * 0.37, 2) END AS amount,
       date '2026-01-01' + (i % 200) AS tx_date,
       CASE WHEN i % 2 = 0 OR i % 20 IN (13, 19) THEN 'ORD-' || lpad(i::text, 7, '0') END AS ref,
       CASE WHEN i % 20 = 12 THEN 'P' || i END AS batch
FROM generate_series(1, 110000) i
WHERE i % 20 <> 17
UNION ALL
SELECT (ARRAY['CNY', 'USD', 'EUR'])[1 + i % 3], 'L' || i || 'b', 5.55,
       date '2026-01-01' + (i % 200) + 1, NULL, 'P' || i
FROM generate_series(1, 110000) i WHERE i % 20 = 12;

CREATE TABLE public.inv_s AS
SELECT l.key, 'S' || i AS id,
       CASE WHEN i % 20 = 17 THEN 77.77
            WHEN i % 20 = 14 THEN -l.amount
            WHEN i % 20 = 12 THEN l.amount + 5.55
            WHEN i % 7 = 0 THEN l.amount + 0.01
            ELSE coalesce(l.amount, 1) END AS amount,
       date '2026-01-01' + (i % 200) + CASE WHEN i % 20 = 19 THEN 30 WHEN i % 20 = 12 THEN 2 ELSE (hashint4(i + 1) & 3) END AS tx_date,
       CASE WHEN i % 2 = 0 OR i % 20 = 19 THEN 'PAYMENT ORD-' || lpad(i::text, 7, '0') || ' THANK YOU' END AS ref,
       NULL::text AS batch
FROM generate_series(1, 110000) i
LEFT JOIN public.inv_l l ON l.id = 'L' || i
WHERE i % 20 NOT IN (13, 16)
UNION ALL
SELECT l.key, 'S' || i || '-' || k, 100.00, l.tx_date + k * 5, 'ORD-' || lpad(i::text, 7, '0') || ' part ' || k, NULL
FROM generate_series(1, 110000) i JOIN public.inv_l l ON l.id = 'L' || i, generate_series(1, 3) k
WHERE i % 20 = 13
UNION ALL
SELECT l.key, 'S' || i || 'd', l.amount, l.tx_date + 1, NULL, NULL
FROM generate_series(1, 110000) i JOIN public.inv_l l ON l.id = 'L' || i
WHERE i % 20 = 15;
