-- The printable reconciliation statement (SPEC section 10, 0.8.0): reconcile.report(run_id, format)
-- as html, markdown and text.  Its errors (42704 for a run unknown or out of sight, 22023 for an
-- unknown format, NULL for NULL); who may print it (SPEC 6: the caller's rights, row level security,
-- role membership, and no code of a source ever run by it); every value escaped for its format
-- (hostile ids, keys, memos, accounts, relation and role names, control and bidirectional
-- characters, a 1 MB id); what it says (the proof as reconcile.proof gives it, the open items, the
-- adjustments with maker and checker, the signatures); its caps (50 keys, 500 groups, the 200
-- largest items, 200 adjustments and resolved items); the same bytes every time, whatever the
-- session's settings; NaN, infinite amounts and infinite dates.
-- One transaction that rolls back, but for the second person: the checker approves in a login of
-- its own (dblink), so that part (roles rpt_maker and rpt_checker, tables public.rpt_cl and
-- public.rpt_cs, reconciliation rpt_c, its run) is committed by dblink connections first, and
-- removed after the rollback (its audit entries stay: the audit log is append-only).  The
-- extensions reconcile and dblink are dropped at the end when this file created them.  Run by a
-- superuser, as the suite is.  Every name of this file starts with rpt_.
SET client_min_messages = warning;
SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'reconcile') AS rpt_add_reconcile,
       NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'dblink') AS rpt_add_dblink \gset
CREATE EXTENSION IF NOT EXISTS reconcile;
\ir lib/logins.sql
-- removes what the dblink part committed (at the end, and first what a run of this file that
-- stopped half-way left)
CREATE FUNCTION pg_temp.rpt_cleanup() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    rid bigint;
BEGIN
    IF EXISTS (SELECT FROM reconcile.reconciliations WHERE name = 'rpt_c') THEN
        PERFORM reconcile.drop('rpt_c');
    END IF;
    FOR rid IN SELECT DISTINCT recon_id FROM reconcile.audit_log WHERE name = 'rpt_c' AND recon_id IS NOT NULL LOOP
        DELETE FROM reconcile.adjustment_entries WHERE recon_id = rid;
        DELETE FROM reconcile.recon_options WHERE recon_id = rid;
        DELETE FROM reconcile.rejections WHERE recon_id = rid;
        DELETE FROM reconcile.released WHERE recon_id = rid;
        DELETE FROM reconcile.skipped WHERE recon_id = rid;
        EXECUTE format('DROP TABLE IF EXISTS reconcile.%I', 'cleared_' || rid);
    END LOOP;
    DELETE FROM reconcile.results WHERE name = 'rpt_c';
    DELETE FROM reconcile.items WHERE name = 'rpt_c';
    DELETE FROM reconcile.runs WHERE name = 'rpt_c';
    DROP TABLE IF EXISTS public.rpt_cl, public.rpt_cs;
    DROP ROLE IF EXISTS rpt_maker;
    DROP ROLE IF EXISTS rpt_checker;
END
$$;
SELECT pg_temp.rpt_cleanup() \g /dev/null

BEGIN;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT plan(96);

-- the SQLSTATE and message of what a statement raises
CREATE FUNCTION pg_temp.rpt_err(sql text) RETURNS text LANGUAGE plpgsql AS $f$
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$f$;
-- the rows of the first fixed-width table of a text report whose header line matches header (the
-- lines after its header and its dashes, up to the blank line that ends it)
CREATE FUNCTION pg_temp.rpt_rows(doc text, header text) RETURNS SETOF text LANGUAGE sql AS $$
    WITH l AS (SELECT t.line, t.n FROM regexp_split_to_table(doc, E'\n') WITH ORDINALITY AS t(line, n)),
    h AS (SELECT min(l.n) AS n FROM l WHERE l.line ~ header),
    e AS (SELECT min(l.n) AS n FROM l, h WHERE l.n > h.n AND l.line = '')
    SELECT l.line FROM l, h, e WHERE l.n > h.n + 1 AND l.n < e.n ORDER BY l.n
$$;
-- a document with every run of white space made one space (text paragraphs are wrapped at 78)
CREATE FUNCTION pg_temp.rpt_flat(doc text) RETURNS text LANGUAGE sql AS $$
    SELECT regexp_replace(doc, '\s+', ' ', 'g')
$$;
-- the tags of an html document: each tag, its name, and its attribute names (values left out:
-- every value is quoted, and a quote in a value is written &quot;)
CREATE FUNCTION pg_temp.rpt_tags(doc text) RETURNS TABLE (tag text, name text, attrs text[]) LANGUAGE sql AS $$
    SELECT m[1], lower(substring(m[1] FROM '^</?([!A-Za-z0-9-]+)')),
           ARRAY(SELECT a[1] FROM regexp_matches(regexp_replace(m[1], '"[^"]*"', '""', 'g'), '\s([^\s="/<>]+)=', 'g') a)
    FROM regexp_matches(doc, '(<[^>]*>)', 'g') m
$$;
-- what is wrong with an html document's structure: tags other than the statement's own, attributes
-- other than its own, an angle bracket outside a tag, an element opened and closed a different
-- number of times, an address other than the SVG namespace in a tag, a style that fetches
CREATE FUNCTION pg_temp.rpt_html_faults(doc text) RETURNS text[] LANGUAGE sql AS $$
    SELECT ARRAY(
        SELECT DISTINCT 'tag ' || t.name FROM pg_temp.rpt_tags(doc) t
        WHERE t.name NOT IN ('!doctype', 'html', 'head', 'meta', 'title', 'style', 'body', 'h1', 'h2', 'h3', 'p', 'b',
                             'table', 'thead', 'tbody', 'tr', 'th', 'td', 'section', 'figure', 'figcaption',
                             'svg', 'text', 'rect', 'div')
        UNION ALL
        SELECT DISTINCT 'attribute ' || a FROM pg_temp.rpt_tags(doc) t, unnest(t.attrs) a
        WHERE a NOT IN ('lang', 'charset', 'http-equiv', 'content', 'name', 'class', 'xmlns', 'viewBox', 'role',
                        'aria-label', 'x', 'y', 'width', 'height', 'fill', 'font-size', 'font-family')
        UNION ALL
        SELECT 'angle bracket outside a tag' WHERE regexp_replace(doc, '<[^<>]*>', '', 'g') ~ '[<>]'
        UNION ALL
        SELECT 'unbalanced ' || e FROM unnest(ARRAY['html', 'head', 'title', 'style', 'body', 'h1', 'h2', 'h3', 'p', 'b', 'table',
                                                   'thead', 'tbody', 'tr', 'th', 'td', 'section', 'figure', 'figcaption',
                                                   'svg', 'text', 'div']) e
        WHERE regexp_count(doc, '<' || e || '[ >]') <> regexp_count(doc, '</' || e || '>')
        UNION ALL
        SELECT DISTINCT 'address ' || u[1] FROM pg_temp.rpt_tags(doc) t, regexp_matches(t.tag, '(https?://[^"\s>]*)', 'gi') u
        WHERE u[1] <> 'http://www.w3.org/2000/svg'
        UNION ALL
        SELECT 'style fetches' WHERE (SELECT string_agg(s[1], '') FROM regexp_matches(doc, '<style>(.*?)</style>', 'g') s)
                                     ~* '(url\(|@import|expression\(|https?:)'
        UNION ALL
        SELECT 'not one style, one title' WHERE regexp_count(doc, '<style') <> 1 OR regexp_count(doc, '<title>') <> 1)
$$;
-- the markdown tables whose lines do not all have the same number of cells (a cell's | escaped
-- as \| is no cell boundary)
CREATE FUNCTION pg_temp.rpt_md_ragged(doc text) RETURNS text[] LANGUAGE sql AS $$
    WITH l AS (SELECT t.line, t.n, t.line LIKE '|%' AS row
               FROM regexp_split_to_table(doc, E'\n') WITH ORDINALITY AS t(line, n)),
    g AS (SELECT l.*, l.n - row_number() OVER (PARTITION BY l.row ORDER BY l.n) AS tbl,
                 regexp_count(regexp_replace(l.line, '\\.', '', 'g'), '\|') AS cells
          FROM l WHERE l.row)
    SELECT ARRAY(SELECT min(g.line) FROM g GROUP BY g.tbl HAVING count(DISTINCT g.cells) > 1 ORDER BY 1)
$$;
-- what a markdown document shows: its backslash escapes (of ASCII punctuation) and character
-- references undone
CREATE FUNCTION pg_temp.rpt_md_shown(doc text) RETURNS text LANGUAGE sql AS $$
    SELECT replace(replace(replace(replace(replace(replace(regexp_replace(doc, '\\([!-/:-@\[-`{-~])', '\1', 'g'),
           '&lt;', '<'), '&gt;', '>'), '&quot;', '"'), '&#39;', ''''), '&apos;', ''''), '&amp;', '&')
$$;
-- what an html document shows: its character references undone
CREATE FUNCTION pg_temp.rpt_html_shown(doc text) RETURNS text LANGUAGE sql AS $$
    SELECT replace(replace(replace(replace(replace(replace(doc, '&lt;', '<'), '&gt;', '>'), '&quot;', '"'), '&#39;', ''''),
           '&apos;', ''''), '&amp;', '&')
$$;
-- the hostile values of part 5 as the statement must show them: cleaned (control, bidirectional
-- and zero-width characters and white space runs made one space), never altered otherwise
CREATE FUNCTION pg_temp.rpt_hostile_shown() RETURNS text[] LANGUAGE sql AS $$
    SELECT ARRAY['<script>alert(1)</script>', '</svg><img src=x onerror=alert(1)>', '"''&amp;', '| ` * _ [x](http://e) # heading',
                 '# heading', '1. item', '- item', 'new line', 'tab here', 'bell x c1', 'bidi txet z', '支付宝订单号-１２',
                 '<script>alert(2)</script>', 'x|y\|z', '-- cr', '`code`', '<!-- comment', '&lt;already&gt;',
                 '<b>K</b>|1', '# k 2 <i>', '<i>acct</i> | [a](http://e) </td>', '</style><script>y</script> | *m* MMMM',
                 '<script>r</script>|`r`', 'acct "x"', 'line1 line2', 'rpt_h."rpt_l<img src=x onerror=alert(9)>"',
                 'rpt_h."rpt_s|*_[x](http://e)#"', 'rpt_<svg onload=alert(1)>|*x*', 'Rule for key <b>K</b>|1']
$$;
CREATE TEMP TABLE rpt_ids (what text PRIMARY KEY, id bigint);
CREATE TEMP TABLE rpt_docs (what text PRIMARY KEY, doc text);
GRANT SELECT ON rpt_ids, rpt_docs TO PUBLIC;
GRANT INSERT ON rpt_docs TO PUBLIC;

---------------------------------------------------------------------------------------------------
-- 1. A small reconciliation whose statement is checked line by line: keys CNY and USD, matched
--    rows, an amount_mismatch, a missing_in_ledger and two missing_in_statement; run by the maker,
--    who resolves two items (one with an account); the checker approves one, each in a login of
--    its own (committed through dblink)
---------------------------------------------------------------------------------------------------
SELECT dblink_connect('rpt_admin', format('host=%s port=%s dbname=%s user=%s',
                      split_part(current_setting('unix_socket_directories'), ',', 1),
                      current_setting('port'), current_database(), current_user)) \g /dev/null
SELECT dblink_exec('rpt_admin', $$
    CREATE ROLE rpt_maker LOGIN PASSWORD 'rc-test-login';
    CREATE ROLE rpt_checker LOGIN PASSWORD 'rc-test-login';
    CREATE TABLE public.rpt_cl (id text, amount numeric(12,2), tx_date date, ref text, key text);
    CREATE TABLE public.rpt_cs (id text, amount numeric(12,2), tx_date date, ref text, key text);
    INSERT INTO public.rpt_cl VALUES
        ('L1', 12000.00, '2026-11-02', 'INV-1', 'CNY'), ('L2', 345.60, '2026-11-02', 'INV-2', 'CNY'),
        ('L3', 1000.00, '2026-11-03', 'INV-3', 'CNY'), ('L4', 500.00, '2026-11-04', NULL, 'CNY'),
        ('L6', 100.00, '2026-11-05', 'INV-6', 'USD'), ('L7', 70.00, '2026-10-01', NULL, 'USD');
    INSERT INTO public.rpt_cs VALUES
        ('S1', 12000.00, '2026-11-03', 'PAY INV-1', 'CNY'), ('S2', 345.60, '2026-11-03', 'PAY INV-2', 'CNY'),
        ('S3', 999.50, '2026-11-04', 'PAY INV-3', 'CNY'), ('S5', 250.00, '2026-11-06', 'FEE', 'CNY'),
        ('S6', 100.00, '2026-11-06', 'PAY INV-6', 'USD');
    GRANT SELECT ON public.rpt_cl, public.rpt_cs TO rpt_maker, rpt_checker;
    SET search_path = public;
    DO $d$ BEGIN PERFORM reconcile.create('rpt_c', 'public.rpt_cl', 'public.rpt_cs', reconcile.rule(abs_tol => 0.01)); END $d$
$$) \g /dev/null
SELECT pg_temp.login('rpt_mk', 'rpt_maker') \g /dev/null
SELECT pg_temp.login('rpt_ck', 'rpt_checker') \g /dev/null
SELECT pg_temp.as_login('rpt_mk', $$SELECT reconcile.run('rpt_c', '2026-11-30')$$)::bigint AS rc \gset
SELECT pg_temp.as_login('rpt_mk', $$
    SELECT reconcile.resolve((SELECT item_id FROM reconcile.items WHERE name = 'rpt_c' AND ledger_id = 'L4'),
                             'booked', 'not received', '1590 suspense');
    SELECT reconcile.resolve((SELECT item_id FROM reconcile.items WHERE name = 'rpt_c' AND ledger_id = 'L7'), 'chased')
$$) \g /dev/null
SELECT pg_temp.as_login('rpt_ck', $$
    SELECT reconcile.approve((SELECT item_id FROM reconcile.items WHERE name = 'rpt_c' AND ledger_id = 'L4'))
$$) \g /dev/null
INSERT INTO rpt_ids VALUES ('c', :rc);
INSERT INTO rpt_docs SELECT 'c ' || f, reconcile.report(:rc, f) FROM unnest(ARRAY['html', 'markdown', 'text']) f;

SELECT is((SELECT string_agg(concat_ws(' ', key, ledger_id, statement_id, status, resolved_by, approved_by), '; '
                             ORDER BY key, ledger_id, statement_id)
           FROM reconcile.items WHERE name = 'rpt_c'),
          'CNY L3 S3 open; CNY L4 approved rpt_maker rpt_checker; CNY S5 open; USD L7 resolved rpt_maker',
          'set-up: the maker''s run found four items; the maker resolved two, the checker approved one, each in a login of its own');
SELECT is((SELECT string_agg(concat_ws('|', key, line, item, rows, amount), '; ' ORDER BY key, line) FROM reconcile.proof(:rc)),
          'CNY|1|ledger total|4|13845.60; CNY|2|matched|2|0.00; CNY|3|amount_mismatch|1|-0.50; '
          'CNY|4|missing_in_statement|1|-500.00; CNY|5|missing_in_ledger|1|250.00; CNY|6|statement total|4|13595.10; '
          'USD|1|ledger total|2|170.00; USD|2|matched|1|0.00; USD|3|missing_in_statement|1|-70.00; USD|4|statement total|1|100.00',
          'set-up: reconcile.proof of the run');

---------------------------------------------------------------------------------------------------
-- 2. Errors
---------------------------------------------------------------------------------------------------
SELECT throws_ok($$SELECT reconcile.report(9223372036854775807)$$, '42704', 'run 9223372036854775807 does not exist',
                 'an unknown run: 42704, run N does not exist');
SELECT throws_ok($$SELECT reconcile.report(-1, 'text')$$, '42704', 'run -1 does not exist',
                 'an unknown (negative) run, as text: 42704');
SELECT throws_ok(format('SELECT reconcile.report(%s, %L)', :rc, 'pdf'), '22023', 'unknown report format "pdf"',
                 'an unknown format: 22023');
SELECT throws_ok(format('SELECT reconcile.report(%s, %L)', :rc, 'HTML'), '22023', 'unknown report format "HTML"',
                 'formats are case-sensitive: HTML is unknown (22023)');
SELECT throws_ok(format('SELECT reconcile.report(%s, %L)', :rc, ''), '22023', NULL, 'an empty format: 22023');
SELECT is(pg_temp.rpt_err(format('SELECT reconcile.report(%s, %L)', :rc, E'<x>\n\t' || repeat('y', 5000))) ~ E'^22023: [^\n\t]{0,80}$',
          true, 'a hostile unknown format: 22023, its message one short line');
SELECT is(reconcile.report(NULL), NULL, 'report(NULL) is NULL (STRICT)');
SELECT is(reconcile.report(:rc, NULL), NULL, 'report(run, NULL) is NULL');
SELECT is(reconcile.report(NULL, 'text'), NULL, 'report(NULL, ''text'') is NULL');
SELECT is(left(reconcile.report(:rc), 16) || (reconcile.report(:rc) = (SELECT doc FROM rpt_docs WHERE what = 'c html'))::text,
          E'<!DOCTYPE html>\ntrue', 'the default format is html');

---------------------------------------------------------------------------------------------------
-- 3. What the statement says (the run of part 1)
---------------------------------------------------------------------------------------------------
SELECT matches((SELECT doc FROM rpt_docs WHERE what = 'c text'),
               format(E'\nReconciliation: +rpt_c\nLedger: +public\\.rpt_cl\nStatement: +public\\.rpt_cs\n'
                      '[^\n]*\nRun: +#%s, as of 2026-11-30\nStarted: +%s UTC\nFinished: +%s UTC\nRun by: +rpt_maker\n',
                      :rc, (SELECT to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM reconcile.runs WHERE run_id = :rc),
                      (SELECT to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM reconcile.runs WHERE run_id = :rc)),
               'text: the reconciliation, its sources, the run, as of, started and finished (UTC), run by');
SELECT matches((SELECT doc FROM rpt_docs WHERE what = 'c text'),
               E'\nKey CNY\n\n +Rows +Amount\n[- ]+\nLedger total +4 +13,845\\.60\nmatched +2 +0\\.00\n' ||
               E'amount_mismatch +1 +-0\\.50\nmissing_in_statement +1 +-500\\.00\nmissing_in_ledger +1 +250\\.00\n' ||
               E'Statement total +4 +13,595\\.10\n\nLedger total plus the differences equals the statement total: they agree\\.\n',
               'text: the proof of key CNY as reconcile.proof gives it, with thousands separators, and that they agree');
SELECT matches((SELECT doc FROM rpt_docs WHERE what = 'c text'),
               E'\nKey USD\n\n +Rows +Amount\n[- ]+\nLedger total +2 +170\\.00\nmatched +1 +0\\.00\n' ||
               E'missing_in_statement +1 +-70\\.00\nStatement total +1 +100\\.00\n\n' ||
               E'Ledger total plus the differences equals the statement total: they agree\\.\n',
               'text: the proof of key USD');
SELECT is((SELECT count(*) FROM reconcile.proof(:rc) p
           WHERE strpos((SELECT doc FROM rpt_docs WHERE what = 'c markdown'),
                        CASE WHEN p.item LIKE '% total' THEN format('| **%s** | **%s** | **%s** |', initcap(split_part(p.item, ' ', 1)) || ' total',
                                                                   p.rows, to_char(p.amount, 'FM999,999,990.00'))
                             ELSE format('| %s | %s | %s |', replace(p.item, '_', '\_'), p.rows, to_char(p.amount, 'FM999,999,990.00')) END) = 0),
          0::bigint, 'markdown: every line of reconcile.proof, in its table');
SELECT is(regexp_count((SELECT doc FROM rpt_docs WHERE what = 'c markdown'),
                       E'\nLedger total plus the differences equals the statement total: they agree\\.\n')
          || ' ' || regexp_count((SELECT doc FROM rpt_docs WHERE what = 'c html'),
                                 '<p>Ledger total plus the differences equals the statement total: they agree\.</p>'),
          '2 2', 'markdown and html: they agree, for both keys');
SELECT is((SELECT count(*) FROM pg_temp.rpt_rows((SELECT doc FROM rpt_docs WHERE what = 'c text'), '^Item +Key +Ledger id +Statement id +Category +Status')),
          (SELECT count(*) FROM reconcile.open_items WHERE name = 'rpt_c'), 'text: as many lines in the open items as reconcile.open_items has');
SELECT is((SELECT array_agg(o.item_id ORDER BY o.item_id) FROM reconcile.open_items o
           WHERE name = 'rpt_c'
             AND NOT EXISTS (SELECT FROM pg_temp.rpt_rows((SELECT doc FROM rpt_docs WHERE what = 'c text'),
                                                           '^Item +Key +Ledger id +Statement id +Category +Status') r
                             WHERE r ~ ('^ *' || concat_ws(' +', o.item_id, o.key, o.ledger_id, o.statement_id, o.category, o.status,
                                                           to_char(LEAST(o.ledger_date, o.statement_date), 'YYYY-MM-DD'), o.age_days)
                                        || ' '))),
          NULL, 'text: each open item with its ids, category, status, date and age');
SELECT matches((SELECT doc FROM rpt_docs WHERE what = 'c text'),
               E'\nOpen items by aging bucket \\(days\\)\n  0-7 +0 items\n  8-30 +[^\n]* 2 items\n  31-90 +[^\n]* 1 item\n  90\\+ +0 items\n',
               'text: the open items by aging bucket');
SELECT matches((SELECT doc FROM rpt_docs WHERE what = 'c text'),
               E'\n *[0-9]+ +[0-9]+ +CNY +1590 suspense +500\\.00 +not received +rpt_maker +rpt_checker +approved\n',
               'text: the adjustment, with its account, amount, memo, maker and checker');
SELECT is((SELECT string_agg(regexp_replace(btrim(r), ' +', ' ', 'g'), '; ')
           FROM pg_temp.rpt_rows((SELECT doc FROM rpt_docs WHERE what = 'c text'), '^Item +Key +Ledger id +Statement id +Category +Difference') r),
          (SELECT string_agg(i.item_id || ' ' || v.line, '; ' ORDER BY i.item_id)
           FROM reconcile.items i
           JOIN (VALUES ('L7', 'USD L7 missing_in_statement -70.00 chased rpt_maker awaiting approval'),
                        ('L4', 'CNY L4 missing_in_statement -500.00 booked rpt_maker rpt_checker')) v(id, line) ON v.id = i.ledger_id
           WHERE i.name = 'rpt_c'),
          'text: the resolved items with maker and checker (or awaiting approval)');
SELECT is((SELECT doc FROM rpt_docs WHERE what = 'c text') ~ E'\nPrepared by: rpt_maker\n'
          AND (SELECT doc FROM rpt_docs WHERE what = 'c text') ~ E'\nApproved by: rpt_checker\n', true,
          'text: Prepared by the role that ran it, Approved by the checker');
SELECT matches((SELECT doc FROM rpt_docs WHERE what = 'c text'),
               E'\nMatched automatically +6 +54\\.5%\n(.*\n)*Rows read +11 +100\\.0%\n',
               'text: the match rate');
SELECT is((SELECT doc FROM rpt_docs WHERE what = 'c markdown') ~ E'\\| 1590 suspense \\| 500\\.00 \\| not received \\| rpt\\\\_maker \\| rpt\\\\_checker \\| approved \\|\n'
          AND (SELECT doc FROM rpt_docs WHERE what = 'c markdown') ~ E'\n\\| Approved by \\| rpt\\\\_checker \\|',
          true, 'markdown: the adjustment with maker and checker, and the checker''s signature');
SELECT is((SELECT doc FROM rpt_docs WHERE what = 'c html') ~ '<td>1590 suspense</td><td class="n">500\.00</td><td>not received</td><td>rpt_maker</td><td>rpt_checker</td><td>approved</td>'
          AND (SELECT doc FROM rpt_docs WHERE what = 'c html') ~ '<p>Prepared by: <b>rpt_maker</b></p>'
          AND (SELECT doc FROM rpt_docs WHERE what = 'c html') ~ '<p>Approved by: <b>rpt_checker</b></p>'
          AND (SELECT doc FROM rpt_docs WHERE what = 'c html') ~ '<td class="n">13,845\.60</td>',
          true, 'html: the proof, the adjustment with maker and checker, both signatures');
SELECT is(pg_temp.rpt_html_faults((SELECT doc FROM rpt_docs WHERE what = 'c html')), '{}'::text[],
          'html: only the statement''s own tags and attributes, balanced; nothing fetched');
SELECT is((SELECT array_agg(DISTINCT u[1]) FROM regexp_matches((SELECT doc FROM rpt_docs WHERE what = 'c html'), '(https?://[^"\s<>]*)', 'gi') u),
          ARRAY['http://www.w3.org/2000/svg'], 'html: the only address in it is the SVG namespace');
SELECT is(regexp_count((SELECT doc FROM rpt_docs WHERE what = 'c html'), '<svg ') || ' ' || regexp_count((SELECT doc FROM rpt_docs WHERE what = 'c html'), '</svg>')
          || ' ' || ((SELECT doc FROM rpt_docs WHERE what = 'c html') !~* '(<script|<img|<link|<iframe|<object|<embed|javascript:|src=|href=|url\(|@import)'),
          '4 4 true', 'html: four inline SVG charts (aging, match rate, two keys), no script, no src, href, url() or @import');
SELECT is((SELECT doc FROM rpt_docs WHERE what = 'c html') ~ '@page \{ size: A4;', true, 'html: prints on A4');
SELECT is(pg_temp.as_login('rpt_ck', format('SELECT reconcile.report(%s, %L)', :rc, 'text')), (SELECT doc FROM rpt_docs WHERE what = 'c text'),
          'the checker, in its own login and session, gets the same bytes');

---------------------------------------------------------------------------------------------------
-- 4. Who may print it (SPEC 6): the caller's rights
---------------------------------------------------------------------------------------------------
CREATE ROLE rpt_owner;
CREATE ROLE rpt_reader;
CREATE ROLE rpt_member IN ROLE rpt_reader;
CREATE ROLE rpt_narrow;
CREATE ROLE rpt_outsider;
CREATE ROLE rpt_mal;
CREATE SCHEMA rpt_o AUTHORIZATION rpt_owner;
CREATE SCHEMA rpt_m AUTHORIZATION rpt_mal;
GRANT USAGE ON SCHEMA rpt_o TO PUBLIC;
SET SESSION AUTHORIZATION rpt_owner;
CREATE TABLE rpt_o.rl (id text, amount numeric(12,2), tx_date date, region text);
CREATE TABLE rpt_o.rs (id text, amount numeric(12,2), tx_date date, region text);
INSERT INTO rpt_o.rl VALUES ('LA1', 100.00, '2026-11-02', 'A'), ('LA2', 200.00, '2026-11-02', 'A'),
                            ('LB1', 300.00, '2026-11-02', 'B'), ('LB2', 400.00, '2026-11-02', 'B');
INSERT INTO rpt_o.rs VALUES ('SA1', 100.00, '2026-11-03', 'A'), ('SA3', 60.00, '2026-11-03', 'A'),
                            ('SB1', 300.00, '2026-11-03', 'B'), ('SB3', 50.00, '2026-11-03', 'B');
GRANT SELECT ON rpt_o.rl, rpt_o.rs TO rpt_reader, rpt_narrow;
ALTER TABLE rpt_o.rl ENABLE ROW LEVEL SECURITY;
ALTER TABLE rpt_o.rs ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone ON rpt_o.rl FOR SELECT TO rpt_reader USING (true);
CREATE POLICY everyone ON rpt_o.rs FOR SELECT TO rpt_reader USING (true);
CREATE POLICY region_a ON rpt_o.rl FOR SELECT TO rpt_narrow USING (region = 'A');
CREATE POLICY region_a ON rpt_o.rs FOR SELECT TO rpt_narrow USING (region = 'A');
SET search_path = rpt_o;
SELECT reconcile.create('rpt_r', 'rpt_o.rl', 'rpt_o.rs') \g /dev/null
RESET search_path;
SELECT reconcile.run('rpt_r', '2026-11-30') AS ro \gset
RESET SESSION AUTHORIZATION;

SET SESSION AUTHORIZATION rpt_outsider;
SELECT throws_ok(format('SELECT reconcile.report(%s)', :ro), '42704', format('run %s does not exist', :ro),
                 'an outsider (no SELECT on the sources): 42704, the message of an unknown run');
SELECT throws_ok(format('SELECT reconcile.report(%s, %L)', :ro, 'text'), '42704', format('run %s does not exist', :ro),
                 'an outsider: 42704 as text too');
SELECT throws_ok(format('SELECT reconcile.report(%s, %L)', :rc, 'markdown'), '42704', format('run %s does not exist', :rc),
                 'an outsider: 42704 for the committed run of another''s reconciliation');
RESET SESSION AUTHORIZATION;

SET SESSION AUTHORIZATION rpt_narrow;
SELECT throws_ok(format('SELECT reconcile.report(%s, %L)', :ro, 'text'), '42704', format('run %s does not exist', :ro),
                 'narrowed by row level security: 42704 for the owner''s run');
SELECT reconcile.run('rpt_r', '2026-11-30') AS rn \gset
INSERT INTO rpt_docs SELECT 'rn narrow ' || f, reconcile.report(:rn, f) FROM unnest(ARRAY['html', 'markdown', 'text']) f;
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*) FROM rpt_docs WHERE what LIKE 'rn narrow %' AND doc LIKE '%Reconciliation statement%'), 3::bigint,
          'narrowed: prints its own run, in the three formats');
SELECT is((SELECT string_agg(DISTINCT m[1], ' ') FROM rpt_docs, regexp_matches(doc, '([LS][AB][0-9])', 'g') m WHERE what LIKE 'rn narrow %'),
          (SELECT string_agg(DISTINCT id, ' ') FROM (SELECT ledger_id FROM reconcile.results WHERE run_id = :rn
                                                    UNION SELECT statement_id FROM reconcile.results WHERE run_id = :rn) r(id)),
          'narrowed: its statement names the rows its run saw (region A), none of region B');
SELECT matches((SELECT doc FROM rpt_docs WHERE what = 'rn narrow text'), E'\nRun by: +rpt_narrow\n(.*\n)*Ledger total +1 +200\\.00\n',
               'narrowed: run by itself, the proof of what it read');
SELECT matches((SELECT doc FROM rpt_docs WHERE what = 'rn narrow text'),
               E'\nOpen +2\nApproved +0\nClosed since, or found again by a later run you may not see +0\n(.*\n)*\nEvery open item\n',
               'narrowed: the two open items its run found (LA2, SA3), listed');

SET SESSION AUTHORIZATION rpt_owner;
INSERT INTO rpt_docs SELECT 'ro owner ' || f, reconcile.report(:ro, f) FROM unnest(ARRAY['html', 'markdown', 'text']) f;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION rpt_reader;
INSERT INTO rpt_docs SELECT 'ro reader ' || f, reconcile.report(:ro, f) FROM unnest(ARRAY['html', 'markdown', 'text']) f;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION rpt_member;
INSERT INTO rpt_docs SELECT 'ro member ' || f, reconcile.report(:ro, f) FROM unnest(ARRAY['html', 'markdown', 'text']) f;
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*) FROM rpt_docs WHERE what LIKE 'ro % %' AND doc LIKE '%LB2%'), 9::bigint,
          'the owner, a reader of the sources and a member of the reader print the owner''s run, every row in it');
SELECT is((SELECT count(DISTINCT doc) FROM rpt_docs WHERE what LIKE 'ro % text') || ' ' || (SELECT count(DISTINCT doc) FROM rpt_docs WHERE what LIKE 'ro % html')
          || ' ' || (SELECT count(DISTINCT doc) FROM rpt_docs WHERE what LIKE 'ro % markdown'), '1 1 1',
          'a member of the reader gets what the reader gets, byte for byte, as does the owner');
-- the owner runs again: nothing new is matched, the items of region A stay open; the narrowed
-- role no longer sees them (items_visible: their last run is not its own), and its statement of
-- its own run must not say they were matched, accepted or rejected since
SET SESSION AUTHORIZATION rpt_owner;
SELECT reconcile.run('rpt_r', '2026-12-01') \g /dev/null
RESET SESSION AUTHORIZATION;
SELECT is((SELECT string_agg(concat_ws(' ', ledger_id, statement_id, status), ', ' ORDER BY ledger_id, statement_id)
           FROM reconcile.items WHERE name = 'rpt_r' AND (ledger_id LIKE '_A_' OR statement_id LIKE '_A_')),
          'LA2 open, SA3 open', 'set-up: after the owner''s second run the items of the narrowed run are still open');
SET SESSION AUTHORIZATION rpt_narrow;
INSERT INTO rpt_docs SELECT 'rn narrow later text', reconcile.report(:rn, 'text');
RESET SESSION AUTHORIZATION;
SELECT matches((SELECT doc FROM rpt_docs WHERE what = 'rn narrow later text'), E'\nClosed since, or found again by a later run you may not see +2\n',
               'narrowed: its statement of its own run does not call its still-open items matched, accepted or rejected (a later run it may not see found them again)');

-- a hostile source: a view whose query calls the attacker's function, which writes down when it
-- runs and raises when told to; printing reads the run's record only, never a source
SET SESSION AUTHORIZATION rpt_mal;
CREATE TABLE rpt_m.fx (step text, who name);
GRANT INSERT, SELECT ON rpt_m.fx TO PUBLIC;
CREATE FUNCTION rpt_m.spy() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rpt_m.fx VALUES (current_setting('rpt.step', true), current_user);
    IF current_setting('rpt.step', true) = 'raise' THEN
        RAISE EXCEPTION 'the source''s code ran';
    END IF;
    RETURN true;
END $$;
CREATE TABLE rpt_m.l (id text, amount numeric(12,2), tx_date date);
CREATE TABLE rpt_m.s (id text, amount numeric(12,2), tx_date date);
INSERT INTO rpt_m.l VALUES ('H1', 10.00, '2026-11-02'), ('H2', 20.00, '2026-11-02');
INSERT INTO rpt_m.s VALUES ('J1', 10.00, '2026-11-03'), ('J3', 30.00, '2026-11-03');
CREATE VIEW rpt_m.lv AS SELECT * FROM rpt_m.l WHERE rpt_m.spy();
CREATE VIEW rpt_m.sv AS SELECT * FROM rpt_m.s WHERE rpt_m.spy();
GRANT USAGE ON SCHEMA rpt_m TO PUBLIC;
GRANT SELECT ON rpt_m.lv, rpt_m.sv TO PUBLIC;
SET search_path = rpt_m;
SELECT reconcile.create('rpt_m', 'rpt_m.lv', 'rpt_m.sv') \g /dev/null
RESET search_path;
SET rpt.step = 'run';
SELECT reconcile.run('rpt_m', '2026-11-30') AS rm \gset
SET rpt.step = 'report';
INSERT INTO rpt_docs SELECT 'rm mal ' || f, reconcile.report(:rm, f) FROM unnest(ARRAY['html', 'markdown', 'text']) f;
RESET SESSION AUTHORIZATION;
INSERT INTO rpt_docs SELECT 'rm super ' || f, reconcile.report(:rm, f) FROM unnest(ARRAY['html', 'markdown', 'text']) f;
SELECT is((SELECT count(*) FROM rpt_m.fx WHERE step = 'run') > 0, true,
          'hostile source: its code runs when the source is read (by the run)');
SELECT is((SELECT count(*) FROM rpt_docs WHERE what LIKE 'rm %' AND doc LIKE '%H2%' AND doc LIKE '%J3%'), 6::bigint,
          'hostile source: its owner and a superuser print the run');
SELECT is((SELECT count(*) FROM rpt_m.fx WHERE step IS DISTINCT FROM 'run'), 0::bigint,
          'hostile source: printing, by its owner or by a superuser, ran none of its code');
SET rpt.step = 'raise';
SELECT lives_ok(format('SELECT reconcile.report(%s, f) FROM unnest(ARRAY[%L, %L, %L]) f', :rm, 'html', 'markdown', 'text'),
                'hostile source: a superuser prints it while its code would raise');
RESET rpt.step;

SELECT is((SELECT array_agg(p.oid::regprocedure::text ORDER BY p.oid::regprocedure::text) FROM pg_proc p
           WHERE p.pronamespace = 'reconcile'::regnamespace AND (p.proname = 'report' OR p.proname LIKE 'report\_%') AND p.prosecdef),
          NULL, 'catalogue: neither reconcile.report nor any reconcile.report_* function is SECURITY DEFINER');
SELECT is((SELECT array_agg(p.oid::regprocedure::text ORDER BY p.oid::regprocedure::text) FROM pg_proc p
           WHERE p.pronamespace = 'reconcile'::regnamespace AND (p.proname = 'report' OR p.proname LIKE 'report\_%')
             AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c ~ '^search_path=pg_catalog(, [a-z_]+)*, pg_temp$' AND c !~ 'public')),
          NULL, 'catalogue: and each pins its search_path (pg_catalog first, pg_temp last, nothing writable)');
SELECT is((SELECT array_agg(n ORDER BY n) FROM unnest(ARRAY['report', 'report_model', 'report_html', 'report_markdown', 'report_text',
                                                          'report_clean', 'report_esc', 'report_amount', 'report_width', 'report_pct',
                                                          'report_bar', 'report_top', 'report_cells']) n
           WHERE NOT EXISTS (SELECT FROM pg_proc p WHERE p.pronamespace = 'reconcile'::regnamespace AND p.proname = n)),
          NULL, 'catalogue: the functions checked above are there (the checks are not vacuous)');

---------------------------------------------------------------------------------------------------
-- 5. Every value escaped: hostile ids, keys, memos, accounts, a hostile relation name and a hostile
--    role that runs it; control, bidirectional and zero-width characters; a 1 MB id
---------------------------------------------------------------------------------------------------
CREATE ROLE "rpt_<svg onload=alert(1)>|*x*";
CREATE SCHEMA rpt_h;
CREATE TABLE rpt_h."rpt_l<img src=x onerror=alert(9)>" (id text, amount numeric(12,2), tx_date date, key text);
CREATE TABLE rpt_h."rpt_s|*_[x](http://e)#" (id text, amount numeric(12,2), tx_date date, key text);
INSERT INTO rpt_h."rpt_l<img src=x onerror=alert(9)>" VALUES
    ('<script>alert(1)</script>', 10.00, '2026-11-02', '<b>K</b>|1'),
    ('</svg><img src=x onerror=alert(1)>', 20.00, '2026-11-02', '<b>K</b>|1'),
    ('"''&amp;', 30.00, '2026-11-02', '<b>K</b>|1'),
    ('| ` * _ [x](http://e) # heading', 40.00, '2026-11-02', '<b>K</b>|1'),
    ('# heading', 11.00, '2026-11-02', '<b>K</b>|1'),
    ('1. item', 12.00, '2026-11-02', '<b>K</b>|1'),
    ('- item', 13.00, '2026-11-02', '<b>K</b>|1'),
    (E'new\nline', 50.00, '2026-11-02', E'# k\t2 <i>' || chr(8238)),
    (E'tab\there', 60.00, '2026-11-02', E'# k\t2 <i>' || chr(8238)),
    ('bell' || chr(7) || 'x' || chr(133) || 'c1' || chr(127), 70.00, '2026-11-02', E'# k\t2 <i>' || chr(8238)),
    ('bidi' || chr(8238) || 'txet' || chr(8203) || chr(65279) || chr(8232) || chr(8294) || 'z', 80.00, '2026-11-02', E'# k\t2 <i>' || chr(8238)),
    (repeat('A', 1048576), 90.00, '2026-11-02', E'# k\t2 <i>' || chr(8238)),
    ('支付宝订单号-１２', 95.00, '2026-11-02', E'# k\t2 <i>' || chr(8238));
INSERT INTO rpt_h."rpt_s|*_[x](http://e)#" VALUES
    ('<script>alert(2)</script>', 1.01, '2026-10-02', '<b>K</b>|1'),
    (E'x|y\\|z', 2.02, '2026-10-02', '<b>K</b>|1'),
    (E'\r\n-- cr', 3.03, '2026-10-02', '<b>K</b>|1'),
    ('`code`', 4.04, '2026-10-02', E'# k\t2 <i>' || chr(8238)),
    ('<!-- comment', 5.05, '2026-10-02', E'# k\t2 <i>' || chr(8238)),
    ('&lt;already&gt;', 6.06, '2026-10-02', E'# k\t2 <i>' || chr(8238));
GRANT USAGE ON SCHEMA rpt_h TO "rpt_<svg onload=alert(1)>|*x*";
GRANT SELECT ON ALL TABLES IN SCHEMA rpt_h TO "rpt_<svg onload=alert(1)>|*x*";
SET search_path = rpt_h;
SELECT reconcile.create('rpt_h', 'rpt_h."rpt_l<img src=x onerror=alert(9)>"', 'rpt_h."rpt_s|*_[x](http://e)#"') \g /dev/null
SELECT reconcile.set_rule('rpt_h', '<b>K</b>|1', reconcile.rule(days_after => 3)) \g /dev/null
RESET search_path;
SET SESSION AUTHORIZATION "rpt_<svg onload=alert(1)>|*x*";
SELECT reconcile.run('rpt_h', '2026-11-30') AS rh \gset
RESET SESSION AUTHORIZATION;
SELECT reconcile.resolve((SELECT item_id FROM reconcile.items WHERE name = 'rpt_h' AND ledger_id = '<script>alert(1)</script>'),
                         '<script>r</script>|`r`', '</style><script>y</script> | *m* ' || repeat('M', 200),
                         '<i>acct</i> | [a](http://e) </td>') \g /dev/null
SELECT reconcile.resolve((SELECT item_id FROM reconcile.items WHERE name = 'rpt_h' AND ledger_id = '"''&amp;'),
                         repeat('R', 100), E'line1\nline2' || chr(8238), 'acct' || chr(7) || E'\t"x"') \g /dev/null
INSERT INTO rpt_ids VALUES ('h', :rh);
INSERT INTO rpt_docs SELECT 'h ' || f, reconcile.report(:rh, f) FROM unnest(ARRAY['html', 'markdown', 'text']) f;
SELECT is((SELECT count(*) FROM reconcile.open_items WHERE name = 'rpt_h'), 19::bigint,
          'set-up: the hostile run left its 19 rows open (two resolved, with accounts)');

SELECT is(pg_temp.rpt_html_faults((SELECT doc FROM rpt_docs WHERE what = 'h html')), '{}'::text[],
          'html: hostile values make no tag, no attribute, no stray angle bracket, no unbalanced element, no address');
SELECT is((SELECT doc FROM rpt_docs WHERE what = 'h html') !~* '<script' AND (SELECT doc FROM rpt_docs WHERE what = 'h html') !~* '<img'
          AND (SELECT doc FROM rpt_docs WHERE what = 'h html') !~* '<i>acct' AND (SELECT doc FROM rpt_docs WHERE what = 'h html') !~* '<!--',
          true, 'html: no <script, no <img, no hostile <i>, no comment');
SELECT is((SELECT array_agg(v) FROM unnest(pg_temp.rpt_hostile_shown()) v
           WHERE strpos(pg_temp.rpt_html_shown((SELECT doc FROM rpt_docs WHERE what = 'h html')), v) = 0), NULL,
          'html: each hostile id, key, memo, account, resolution, relation, role and rule shows as the text it is');
SELECT is(strpos((SELECT doc FROM rpt_docs WHERE what = 'h html'), '&lt;script&gt;alert(1)&lt;/script&gt;') > 0
          AND strpos((SELECT doc FROM rpt_docs WHERE what = 'h html'), '&lt;/svg&gt;&lt;img src=x onerror=alert(1)&gt;') > 0, true,
          'html: the ids written with &lt; and &gt;');
SELECT is(regexp_count((SELECT doc FROM rpt_docs WHERE what = 'h html'), '<svg ') || ' ' || regexp_count((SELECT doc FROM rpt_docs WHERE what = 'h html'), '</svg>')
          || ' ' || regexp_count((SELECT doc FROM rpt_docs WHERE what = 'h html'), '<figure>') || ' ' || regexp_count((SELECT doc FROM rpt_docs WHERE what = 'h html'), '<section>'),
          '4 4 4 6', 'html: the charts (aging, match rate, two keys) and sections the statement has, no more: a hostile </svg> closes nothing');
SELECT is(pg_temp.rpt_md_ragged((SELECT doc FROM rpt_docs WHERE what = 'h markdown')), '{}'::text[],
          'markdown: every line of a table has its table''s number of cells (a | in a value is written \|)');
SELECT is((SELECT array_agg(v) FROM unnest(pg_temp.rpt_hostile_shown()) v
           WHERE strpos(pg_temp.rpt_md_shown((SELECT doc FROM rpt_docs WHERE what = 'h markdown')), v) = 0), NULL,
          'markdown: each hostile value shows as the text it is once its escapes are read');
SELECT is(strpos((SELECT doc FROM rpt_docs WHERE what = 'h markdown'), 'x\|y\\\|z') > 0
          AND strpos((SELECT doc FROM rpt_docs WHERE what = 'h markdown'), '| \# heading |') > 0
          AND strpos((SELECT doc FROM rpt_docs WHERE what = 'h markdown'), '| 1\. item |') > 0
          AND strpos((SELECT doc FROM rpt_docs WHERE what = 'h markdown'), '| \- item |') > 0
          AND strpos((SELECT doc FROM rpt_docs WHERE what = 'h markdown'), '\`code\`') > 0, true,
          'markdown: a | in a value written \|, a backslash \\, backticks escaped, a cell that would start a heading or a list escaped');
SELECT is((SELECT doc FROM rpt_docs WHERE what = 'h markdown') !~ '<'
          AND regexp_replace((SELECT doc FROM rpt_docs WHERE what = 'h markdown'), '\\.', '', 'g') !~ '[\[\]]'
          AND NOT EXISTS (SELECT FROM regexp_split_to_table(regexp_replace((SELECT doc FROM rpt_docs WHERE what = 'h markdown'), '\\.', '', 'g'), E'\n') l
                          WHERE (l ~ '`' AND l !~ '^```(text)?$') OR (l ~ '^#' AND l !~ '^(# Reconciliation statement|## .+|### .+)$')),
          true, 'markdown: no raw <, no unescaped [ ] (no link, no image), backticks only in the chart fences, no heading a value made');
SELECT is((SELECT string_agg(what, ' ' ORDER BY what) FROM rpt_docs
           WHERE what LIKE 'h %' AND (doc ~ '[\x01-\x08\x0b-\x1f\x7f-\x9f]' OR strpos(doc, chr(8238)) > 0 OR strpos(doc, chr(8203)) > 0
                                      OR strpos(doc, chr(65279)) > 0 OR strpos(doc, chr(8232)) > 0 OR strpos(doc, chr(8294)) > 0)),
          NULL, 'html, markdown and text: no control character (tab included), no bidirectional, zero-width or line separator character');
SELECT is((SELECT array_agg(v) FROM unnest(pg_temp.rpt_hostile_shown()) v
           WHERE strpos((SELECT doc FROM rpt_docs WHERE what = 'h text'), v) = 0), NULL,
          'text: values as they are, each control or bidirectional character and white space run made one space, on one line');
SELECT is((SELECT count(*) FROM rpt_docs WHERE what LIKE 'h %'
           AND strpos(doc, repeat('A', 39) || CASE WHEN getdatabaseencoding() = 'UTF8' THEN chr(8230) ELSE '...' END) > 0
           AND strpos(doc, repeat('A', 40)) = 0 AND length(doc) < 100000), 3::bigint,
          'the 1 MB id is cut at 40 characters with an ellipsis; each document stays small');
SELECT is((SELECT count(*) FROM rpt_docs WHERE what LIKE 'h %'
           AND strpos(doc, ' ' || repeat('M', 46) || CASE WHEN getdatabaseencoding() = 'UTF8' THEN chr(8230) ELSE '...' END) > 0
           AND strpos(doc, repeat('M', 47)) = 0
           AND strpos(doc, repeat('R', 59) || CASE WHEN getdatabaseencoding() = 'UTF8' THEN chr(8230) ELSE '...' END) > 0
           AND strpos(doc, repeat('R', 60)) = 0), 3::bigint,
          'a memo is cut at 80 characters, a resolution at 60, with an ellipsis');
SELECT matches((SELECT doc FROM rpt_docs WHERE what = 'h text'), E'\nLedger: +rpt_h\\."rpt_l<img src=x onerror=alert\\(9\\)>"\n',
               'text: the hostile relation name as PostgreSQL quotes it');
SELECT is((SELECT count(DISTINCT length(r) + regexp_count(r, '[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3\uf900-\ufaff\uff00-\uff60\uffe0-\uffe6]'))
           || ' ' || bool_or(r ~ '支付宝订单号-１２')
           FROM pg_temp.rpt_rows((SELECT doc FROM rpt_docs WHERE what = 'h text'), '^Item +Key +Ledger id +Statement id +Category +Status') r),
          '1 true', 'text: the open items'' lines are all as wide on a terminal, CJK and fullwidth characters counting two columns');

---------------------------------------------------------------------------------------------------
-- 6. Caps: 250 open items (201 resolved with an account); 60 keys; 501 keys, one group each
---------------------------------------------------------------------------------------------------
CREATE SCHEMA rpt_x;
CREATE TABLE rpt_x.kl (id text, amount numeric(12,2), tx_date date);
CREATE TABLE rpt_x.ks (id text, amount numeric(12,2), tx_date date);
INSERT INTO rpt_x.kl SELECT 'K' || lpad(i::text, 3, '0'), i, '2026-11-02' FROM generate_series(1, 250) i;
SET search_path = rpt_x;
SELECT reconcile.create('rpt_k', 'rpt_x.kl', 'rpt_x.ks') \g /dev/null
RESET search_path;
SELECT reconcile.run('rpt_k', '2026-11-30') AS rk \gset
SELECT count(reconcile.resolve(i.item_id, 'booked', 'memo ' || i.ledger_id, '1590 suspense'))
FROM (SELECT item_id, ledger_id FROM reconcile.items WHERE name = 'rpt_k' ORDER BY ledger_id LIMIT 201) i \g /dev/null
INSERT INTO rpt_ids VALUES ('k', :rk);
INSERT INTO rpt_docs SELECT 'k ' || f, reconcile.report(:rk, f) FROM unnest(ARRAY['html', 'markdown', 'text']) f;
SELECT is((SELECT count(*) FROM reconcile.open_items WHERE name = 'rpt_k') || ' ' || (SELECT count(*) FROM reconcile.adjustments WHERE name = 'rpt_k'),
          '250 201', 'set-up: 250 open items, 201 of them resolved with an account');
SELECT is((SELECT count(*) FROM pg_temp.rpt_rows((SELECT doc FROM rpt_docs WHERE what = 'k text'), '^Item +Key +Ledger id +Statement id +Category +Status')),
          200::bigint, 'text: 250 open items, 200 listed in full');
SELECT is((SELECT string_agg(DISTINCT (substring(r FROM 'K[0-9]{3}') >= 'K051')::text, ' ')
           FROM pg_temp.rpt_rows((SELECT doc FROM rpt_docs WHERE what = 'k text'), '^Item +Key +Ledger id +Statement id +Category +Status') r),
          'true', 'text: the 200 largest (K051 to K250)');
SELECT is((SELECT doc FROM rpt_docs WHERE what = 'k text') ~ E'\nThe 200 largest\n'
          AND strpos(pg_temp.rpt_flat((SELECT doc FROM rpt_docs WHERE what = 'k text')),
                     ' 50 more open items are not listed here; all of them are in reconcile.open_items. ') > 0, true,
          'text: headed The 200 largest, and says 50 more open items are not listed here');
SELECT is((strpos((SELECT doc FROM rpt_docs WHERE what = 'k html'),
                   '<h3>The 200 largest</h3>') > 0
           AND strpos((SELECT doc FROM rpt_docs WHERE what = 'k html'),
                      '<p>50 more open items are not listed here; all of them are in reconcile.open_items.</p>') > 0
           AND strpos((SELECT doc FROM rpt_docs WHERE what = 'k markdown'), E'\n### The 200 largest\n') > 0
           AND strpos((SELECT doc FROM rpt_docs WHERE what = 'k markdown'),
                      E'\n50 more open items are not listed here; all of them are in reconcile.open\\_items.\n') > 0),
          true, 'html and markdown say so too');
SELECT is((SELECT count(*) FROM pg_temp.rpt_rows((SELECT doc FROM rpt_docs WHERE what = 'k text'), '^Adjustment +Item +Key +Account'))
          || ' ' || (SELECT count(*) FROM pg_temp.rpt_rows((SELECT doc FROM rpt_docs WHERE what = 'k text'), '^Item +Key +Ledger id +Statement id +Category +Difference'))
          || ' ' || (strpos(pg_temp.rpt_flat((SELECT doc FROM rpt_docs WHERE what = 'k text')),
                            ' The 200 largest of 201 adjustments are listed; all of them are in reconcile.adjustments. ') > 0)
          || ' ' || (strpos(pg_temp.rpt_flat((SELECT doc FROM rpt_docs WHERE what = 'k text')), ' The first 200 of 201 resolved items are listed. ') > 0),
          '200 200 true true', 'text: 200 of 201 adjustments and 200 of 201 resolved items listed, each cap said');
SELECT matches((SELECT doc FROM rpt_docs WHERE what = 'k text'), E'\n *1590 suspense +201 +20,301\\.00\n',
               'text: the account''s total covers all 201 adjustments');

CREATE TABLE rpt_x.gl (id text, amount numeric(12,2), tx_date date, key text);
CREATE TABLE rpt_x.gs (id text, amount numeric(12,2), tx_date date, key text);
INSERT INTO rpt_x.gl SELECT 'GL' || i, 1000.00, date '2026-11-02', 'G' || lpad(i::text, 2, '0') FROM generate_series(1, 60) i
           UNION ALL SELECT 'GM' || i, i * 10, date '2026-11-02', 'G' || lpad(i::text, 2, '0') FROM generate_series(1, 60) i;
INSERT INTO rpt_x.gs SELECT 'GS' || i, 1000.00, '2026-11-03', 'G' || lpad(i::text, 2, '0') FROM generate_series(1, 60) i;
SET search_path = rpt_x;
SELECT reconcile.create('rpt_g', 'rpt_x.gl', 'rpt_x.gs') \g /dev/null
RESET search_path;
SELECT reconcile.run('rpt_g', '2026-11-30') AS rg \gset
INSERT INTO rpt_docs SELECT 'g ' || f, reconcile.report(:rg, f) FROM unnest(ARRAY['html', 'markdown', 'text']) f;
SELECT is((SELECT count(DISTINCT key) FROM reconcile.proof(:rg)), 60::bigint, 'set-up: a run of 60 keys');
SELECT is(regexp_count((SELECT doc FROM rpt_docs WHERE what = 'g text'), E'\nKey G[0-9]{2}\n') || ' '
          || regexp_count((SELECT doc FROM rpt_docs WHERE what = 'g text'), 'they agree\.') || ' '
          || ((SELECT doc FROM rpt_docs WHERE what = 'g text') ~ E'\nKey G11\n' AND (SELECT doc FROM rpt_docs WHERE what = 'g text') !~ E'\nKey G10\n'),
          '50 50 true', 'text: the proof of the 50 keys whose discrepancies move the most (G11 to G60), each agreeing');
SELECT is(strpos(pg_temp.rpt_flat((SELECT doc FROM rpt_docs WHERE what = 'g text')),
                 format(' The 50 keys whose discrepancies move the most amount are shown; 10 more keys are in reconcile.proof(%s). ', :rg)) > 0,
          true, 'text: says 10 more keys are in reconcile.proof(run)');
SELECT is(regexp_count((SELECT doc FROM rpt_docs WHERE what = 'g html'), '<h3>Key G[0-9]{2}</h3>') || ' '
          || regexp_count((SELECT doc FROM rpt_docs WHERE what = 'g markdown'), E'\n### Key G[0-9]{2}\n') || ' '
          || regexp_count((SELECT doc FROM rpt_docs WHERE what = 'g html'), '<svg ') || ' '
          || (strpos((SELECT doc FROM rpt_docs WHERE what = 'g markdown'), '10 more keys are in reconcile.proof(') > 0),
          '50 50 6 true', 'html and markdown: 50 keys too; charts of the first four keys only');

CREATE TABLE rpt_x.yl (id text, amount numeric(12,2), tx_date date, key text);
CREATE TABLE rpt_x.ys (id text, amount numeric(12,2), tx_date date, key text);
INSERT INTO rpt_x.yl SELECT 'Y' || i, i, '2026-11-02', 'Y' || lpad(i::text, 3, '0') FROM generate_series(1, 501) i;
SET search_path = rpt_x;
SELECT reconcile.create('rpt_y', 'rpt_x.yl', 'rpt_x.ys') \g /dev/null
RESET search_path;
SELECT reconcile.run('rpt_y', '2026-11-30') AS ry \gset
INSERT INTO rpt_docs SELECT 'y text', reconcile.report(:ry, 'text');
SELECT is((SELECT count(*) FROM pg_temp.rpt_rows((SELECT doc FROM rpt_docs WHERE what = 'y text'), '^Key +Category +Days +Items') r
           WHERE r ~ '^Y[0-9]{3} ')
          || ' ' || (pg_temp.rpt_flat((SELECT doc FROM rpt_docs WHERE what = 'y text')) ~ '(\m1 more groups?\M|\m500 of 501 groups\M)')
          || ' ' || (strpos(pg_temp.rpt_flat((SELECT doc FROM rpt_docs WHERE what = 'y text')), ' 451 more keys are in reconcile.proof(') > 0)
          || ' ' || (strpos(pg_temp.rpt_flat((SELECT doc FROM rpt_docs WHERE what = 'y text')), ' 301 more open items are not listed here;') > 0),
          '500 true true true', 'text: 501 keys: 500 groups of open items shown, and the one more said; 451 more keys; 301 more open items');

---------------------------------------------------------------------------------------------------
-- 7. NaN, infinite amounts and infinite dates in the sources
---------------------------------------------------------------------------------------------------
CREATE TABLE rpt_x.nl (id text, amount numeric, tx_date date, key text);
CREATE TABLE rpt_x.ns (id text, amount numeric, tx_date date, key text);
INSERT INTO rpt_x.nl VALUES ('N1', 'NaN', '2026-11-02', 'EUR'), ('N2', 'Infinity', '2026-11-02', 'EUR'),
                            ('N3', '-Infinity', '2026-11-02', 'EUR'), ('N4', 10.00, 'infinity', 'EUR'),
                            ('N5', 20.00, '-infinity', 'EUR'), ('N6', 5.00, '2026-11-02', 'EUR'), ('N8', 8.00, '2026-11-20', 'EUR');
INSERT INTO rpt_x.ns VALUES ('M1', 'NaN', '2026-11-02', 'EUR'), ('M2', 'Infinity', '2026-11-02', 'EUR'),
                            ('M6', 5.00, '2026-11-03', 'EUR'), ('M7', 7.00, 'infinity', 'EUR');
SET search_path = rpt_x;
SELECT reconcile.create('rpt_n', 'rpt_x.nl', 'rpt_x.ns') \g /dev/null
RESET search_path;
SELECT lives_ok($$INSERT INTO rpt_ids SELECT 'n', reconcile.run('rpt_n', '2026-11-30')$$,
                'NaN, infinite amounts and infinite dates: the run takes them');
SELECT lives_ok($$INSERT INTO rpt_docs SELECT 'n ' || f, reconcile.report((SELECT id FROM rpt_ids WHERE what = 'n'), f)
                  FROM unnest(ARRAY['html', 'markdown', 'text']) f$$,
                'and the statement of that run is printed, in the three formats');
SELECT is((SELECT count(*) FROM rpt_docs WHERE what LIKE 'n %' AND length(doc) > 1000), 3::bigint, 'three documents, none empty');
SELECT matches((SELECT doc FROM rpt_docs WHERE what = 'n text'),
               E'\nLedger total +2 +13\\.00\nmatched +1 +0\\.00\nmissing_in_statement +1 +-8\\.00\ninvalid +8 +0\nStatement total +1 +5\\.00\n\n' ||
               E'Ledger total plus the differences equals the statement total: they agree\\.\n',
               'text: the invalid rows are counted, in no amount, and the proof agrees');
SELECT is((SELECT doc FROM rpt_docs WHERE what = 'n text') ~ E'\n  no date +[^\n]* 3 items\n'
          AND (SELECT doc FROM rpt_docs WHERE what = 'n text') ~ E'\n *[0-9]+ +EUR +N1 +invalid +open +2026-11-02 +28 +NaN[ \n]'
          AND (SELECT doc FROM rpt_docs WHERE what = 'n text') ~ E'\n *[0-9]+ +EUR +N2 +invalid +open +2026-11-02 +28 +Infinity[ \n]'
          AND (SELECT doc FROM rpt_docs WHERE what = 'n text') ~ E'\n *[0-9]+ +EUR +M2 +invalid +open +2026-11-02 +28 +Infinity[ \n]'
          AND (SELECT doc FROM rpt_docs WHERE what = 'n text') ~ E'\n *[0-9]+ +EUR +N4 +invalid +open +10\\.00[ \n]',
          true, 'text: NaN and the infinities written as PostgreSQL writes them; an infinite date has no date and no age (bucket no date)');
SELECT is((SELECT array_agg(DISTINCT m[1]) FROM rpt_docs, regexp_matches(doc, '\s(?:x|y|width|height)="([^"]*)"', 'g') m
           WHERE what = 'n html' AND m[1] !~ '^[0-9]+(\.[0-9]+)?$'), NULL,
          'html: every position and size in the charts is a finite number');
SELECT is(pg_temp.rpt_html_faults((SELECT doc FROM rpt_docs WHERE what = 'n html')), '{}'::text[], 'html: well formed');

---------------------------------------------------------------------------------------------------
-- 8. The same bytes every time: twice, under other settings, under another plan
---------------------------------------------------------------------------------------------------
CREATE TEMP TABLE rpt_base AS
    SELECT r.run, f.fmt, reconcile.report(r.run, f.fmt) AS doc
    FROM (SELECT id FROM rpt_ids) r(run), unnest(ARRAY['html', 'markdown', 'text']) f(fmt);
SELECT is((SELECT count(*) FROM rpt_base b WHERE b.fmt = 'html' AND b.doc IS NOT DISTINCT FROM reconcile.report(b.run, 'html')),
          (SELECT count(*) FROM rpt_ids), 'html: the same run twice, the same bytes');
SELECT is((SELECT count(*) FROM rpt_base b WHERE b.fmt = 'markdown' AND b.doc IS NOT DISTINCT FROM reconcile.report(b.run, 'markdown')),
          (SELECT count(*) FROM rpt_ids), 'markdown: the same run twice, the same bytes');
SELECT is((SELECT count(*) FROM rpt_base b WHERE b.fmt = 'text' AND b.doc IS NOT DISTINCT FROM reconcile.report(b.run, 'text')),
          (SELECT count(*) FROM rpt_ids), 'text: the same run twice, the same bytes');
-- a schema of the caller's whose functions and operator bear pg_catalog's names (with exact
-- argument types, so they would win over pg_catalog's), first on the search_path
CREATE SCHEMA rpt_ev;
CREATE FUNCTION rpt_ev.to_char(date, text) RETURNS text LANGUAGE sql AS $$ SELECT 'evil' $$;
CREATE FUNCTION rpt_ev.to_char(timestamp, text) RETURNS text LANGUAGE sql AS $$ SELECT 'evil' $$;
CREATE FUNCTION rpt_ev.replace(text, text, text) RETURNS text LANGUAGE sql AS $$ SELECT 'evil' $$;
CREATE FUNCTION rpt_ev.left(text, integer) RETURNS text LANGUAGE sql AS $$ SELECT 'evil' $$;
CREATE FUNCTION rpt_ev.length(text) RETURNS integer LANGUAGE sql AS $$ SELECT 0 $$;
CREATE FUNCTION rpt_ev.regexp_replace(text, text, text, text) RETURNS text LANGUAGE sql AS $$ SELECT 'evil' $$;
CREATE FUNCTION rpt_ev.format(text, text) RETURNS text LANGUAGE sql AS $$ SELECT 'evil' $$;
CREATE FUNCTION rpt_ev.cat(text, text) RETURNS text LANGUAGE sql AS $$ SELECT 'evil' $$;
CREATE OPERATOR rpt_ev.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = rpt_ev.cat);
CREATE TEMP TABLE rpt_alt (run bigint, fmt text, doc text);
SET TimeZone = 'Pacific/Chatham';
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = -15;
SET bytea_output = 'escape';
DO $$
DECLARE
    l text;
BEGIN
    FOREACH l IN ARRAY ARRAY['de_DE.UTF-8', 'fr_FR.UTF-8', 'en_US.UTF-8', 'C.UTF-8', 'C.utf8', 'POSIX'] LOOP
        CONTINUE WHEN l = current_setting('lc_monetary');
        BEGIN
            PERFORM set_config('lc_monetary', l, false), set_config('lc_numeric', l, false), set_config('lc_time', l, false);
            EXIT;
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
    END LOOP;
END $$;
SET search_path = rpt_ev, pg_catalog, public;
INSERT INTO rpt_alt (run, fmt, doc) SELECT b.run, b.fmt, reconcile.report(b.run, b.fmt) FROM rpt_base b;
RESET search_path;
RESET TimeZone;
RESET DateStyle;
RESET IntervalStyle;
RESET extra_float_digits;
RESET bytea_output;
RESET lc_monetary;
RESET lc_numeric;
RESET lc_time;
SELECT is((SELECT array_agg(b.run || ' ' || b.fmt ORDER BY b.run, b.fmt) FROM rpt_base b JOIN rpt_alt a USING (run, fmt)
           WHERE a.doc IS DISTINCT FROM b.doc), NULL,
          'the same bytes under another TimeZone, DateStyle, IntervalStyle, extra_float_digits, lc_monetary, lc_numeric, lc_time '
          'and a search_path whose first schema shadows to_char, replace, left, length, format and ||');
TRUNCATE rpt_alt;
SET enable_hashagg = off;
SET enable_hashjoin = off;
SET enable_mergejoin = off;
SET enable_material = off;
SET work_mem = '64kB';
SET max_parallel_workers_per_gather = 0;
INSERT INTO rpt_alt (run, fmt, doc) SELECT b.run, b.fmt, reconcile.report(b.run, b.fmt) FROM rpt_base b;
RESET enable_hashagg;
RESET enable_hashjoin;
RESET enable_mergejoin;
RESET enable_material;
RESET work_mem;
RESET max_parallel_workers_per_gather;
SELECT is((SELECT array_agg(b.run || ' ' || b.fmt ORDER BY b.run, b.fmt) FROM rpt_base b JOIN rpt_alt a USING (run, fmt)
           WHERE a.doc IS DISTINCT FROM b.doc), NULL,
          'the same bytes under another plan (no hash aggregate or join, no merge join, a small work_mem)');
SELECT is((SELECT count(*) FROM rpt_alt), (SELECT count(*) FROM rpt_base), 'every run and format was compared');
-- a session with standard_conforming_strings off (a backslash in a plain literal is an escape)
TRUNCATE rpt_alt;
SET escape_string_warning = off;
SET standard_conforming_strings = off;
SELECT pg_temp.rpt_err($$INSERT INTO rpt_alt (run, fmt, doc) SELECT b.run, b.fmt, reconcile.report(b.run, b.fmt) FROM rpt_base b$$) AS rpt_scs \gset
RESET standard_conforming_strings;
RESET escape_string_warning;
SELECT is(:'rpt_scs' || ' / ' || (SELECT count(*) FROM rpt_base b JOIN rpt_alt a USING (run, fmt) WHERE a.doc IS NOT DISTINCT FROM b.doc),
          'no error / ' || (SELECT count(*) FROM rpt_base),
          'the same bytes in a session with standard_conforming_strings off');
-- and the row level security the statement is read through holds in such a session: a view that
-- narrows its reader by pg_has_role or current_user is seen as narrowing (its patterns kept their
-- backslashes; before 0.8.0 they lost them and such a reader read the whole history)
CREATE VIEW pg_temp.rpt_by_role AS SELECT * FROM rpt_o.rl WHERE pg_has_role(region, 'member');
CREATE VIEW pg_temp.rpt_by_user AS SELECT * FROM rpt_o.rl WHERE region = current_user;
SET escape_string_warning = off;
SET standard_conforming_strings = off;
SELECT ok(reconcile.narrowed('pg_temp.rpt_by_role'::regclass, 'rpt_reader'),
          'standard_conforming_strings off: a view calling pg_has_role still narrows its reader');
SELECT ok(reconcile.narrowed('pg_temp.rpt_by_user'::regclass, 'rpt_reader'),
          'standard_conforming_strings off: a view reading current_user still narrows its reader');
RESET standard_conforming_strings;
RESET escape_string_warning;

---------------------------------------------------------------------------------------------------
-- 9. After drop: the history stays readable by superusers only
---------------------------------------------------------------------------------------------------
SET SESSION AUTHORIZATION rpt_owner;
SELECT reconcile.drop('rpt_r') \g /dev/null
RESET SESSION AUTHORIZATION;
SELECT matches(reconcile.report(:ro, 'text'), E'\nLedger: +\\(dropped\\)\nStatement: +\\(dropped\\)\n',
               'a dropped reconciliation''s run is still printed for a superuser, its sources shown as dropped');
SET SESSION AUTHORIZATION rpt_reader;
SELECT throws_ok(format('SELECT reconcile.report(%s)', :ro), '42704', format('run %s does not exist', :ro),
                 'but a reader of the sources gets 42704: the run belonged to the dropped registration');
RESET SESSION AUTHORIZATION;

SELECT * FROM finish();
ROLLBACK;

SELECT dblink_disconnect('rpt_admin') \g /dev/null
SELECT dblink_disconnect('rpt_mk') \g /dev/null
SELECT dblink_disconnect('rpt_ck') \g /dev/null
SELECT pg_temp.rpt_cleanup() \g /dev/null
\if :rpt_add_dblink
DROP EXTENSION dblink;
\endif
\if :rpt_add_reconcile
DROP EXTENSION reconcile;
\endif
