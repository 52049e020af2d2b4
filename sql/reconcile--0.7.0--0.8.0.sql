/* reconcile--0.7.0--0.8.0.sql: the printable reconciliation statement */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION reconcile UPDATE TO '0.8.0'" to load this file. \quit

-- What changes for users (see the README's "The month-end statement"): reconcile.report and its
-- internal helpers; reconcile.proof gives the same lines, computed by hashing (a run of 10,000
-- keys took minutes, now under a second); the partitions of reconcile.cleared get an index on
-- run_id, which the match rate counts per run.

----------------------------------------------------------------------------
-- The cleared rows of a run, by run
----------------------------------------------------------------------------

-- Index a bare partition, over the rows already in it: building an index by sorting is several
-- times cheaper than inserting each row into it, and a first run clears millions.  A partition
-- holds one registration, so the indexes leave recon_id out: the unique identity of a cleared row,
-- which the look-ups of a run from a mark use; the tags, which unmatch releases together; and the
-- manual matches, which every view reads (few, whatever the history); and (0.8.0) the run that
-- cleared each row, which the match rate counts per run.  CREATE INDEX locks the
-- partition against writes until the transaction ends: they are the registration's own, which
-- wait for its run anyway.
CREATE OR REPLACE FUNCTION reconcile.cleared_index(part regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE pg_catalog.format('CREATE UNIQUE INDEX ON %s (is_ledger, reconcile.row_ident(key, id))', part);
    EXECUTE pg_catalog.format('CREATE INDEX ON %s (match_tag)', part);
    EXECUTE pg_catalog.format('CREATE INDEX ON %s (is_ledger) WHERE category OPERATOR(pg_catalog.=) ''manual''', part);
    EXECUTE pg_catalog.format('CREATE INDEX ON %s (run_id)', part);
END
$$;
COMMENT ON FUNCTION reconcile.cleared_index(regclass) IS
'Internal: builds the indexes of a bare partition of reconcile.cleared over the rows in it';

-- the partitions that already have their indexes (a bare one gets them all at its first run)
DO $$
DECLARE
    part regclass;
BEGIN
    FOR part IN SELECT c.oid::regclass FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_class c ON c.oid = h.inhrelid
                WHERE h.inhparent = 'reconcile.cleared'::regclass
                  AND EXISTS (SELECT FROM pg_catalog.pg_index x WHERE x.indrelid = c.oid)
                ORDER BY c.oid LOOP
        EXECUTE pg_catalog.format('CREATE INDEX ON %s (run_id)', part);
    END LOOP;
END
$$;

-- Functions whose literals hold backslashes read them as written whatever the session's
-- standard_conforming_strings: with it off, narrowed() missed a view's calls of pg_has_role and
-- the like (its patterns lost their backslashes), and so let a role such a view narrows read
-- the reconciliation's whole history.
ALTER FUNCTION reconcile.narrowed(regclass, name) SET standard_conforming_strings = on;
ALTER FUNCTION reconcile.read_camt053(text) SET standard_conforming_strings = on;

-- (0.8.0) a reconciliation's latest entry, which its statement names
CREATE INDEX audit_log_recon ON reconcile.audit_log (recon_id, audit_id);

----------------------------------------------------------------------------
-- The proof, by hashing
----------------------------------------------------------------------------

-- What each category of a run holds, per key: its rows, and its ledger and statement rows counted
-- once each (a group's shared row once; a row whose category is invalid counted on its line but
-- in no amount, and among the rows read).  A row is on one line of its run but the one row of a
-- group (SPEC 3), so only the lines of groups are looked at row by row (the row on its first
-- line by category); every other line is counted as it is, by hashing: a run of 10,000 keys, or of
-- 2,000,000 lines, costs a pass over its lines (the key NULL apart from '').
CREATE FUNCTION reconcile.run_sides(run_id bigint)
RETURNS TABLE (key text, category reconcile.category, rows bigint, ledger_rows bigint, ledger_amount numeric,
               statement_rows bigint, statement_amount numeric, ledger_read bigint, statement_read bigint)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH r AS MATERIALIZED (
        SELECT x.key, x.category, x.ledger_id, x.statement_id, x.ledger_amount, x.statement_amount, x.group_id
        FROM reconcile.results x WHERE x.run_id = run_sides.run_id),
    -- the lines of no group: each row on them once
    c AS (SELECT r.key, r.category, pg_catalog.count(*) AS n,
                 pg_catalog.count(r.ledger_id) FILTER (WHERE r.group_id IS NULL AND r.category <> 'invalid') AS ln,
                 pg_catalog.sum(r.ledger_amount) FILTER (WHERE r.group_id IS NULL AND r.ledger_id IS NOT NULL
                                                         AND r.category <> 'invalid') AS la,
                 pg_catalog.count(r.ledger_id) FILTER (WHERE r.group_id IS NULL) AS lr,
                 pg_catalog.count(r.statement_id) FILTER (WHERE r.group_id IS NULL AND r.category <> 'invalid') AS sn,
                 pg_catalog.sum(r.statement_amount) FILTER (WHERE r.group_id IS NULL AND r.statement_id IS NOT NULL
                                                            AND r.category <> 'invalid') AS sa,
                 pg_catalog.count(r.statement_id) FILTER (WHERE r.group_id IS NULL) AS sr
          FROM r GROUP BY r.key, r.category),
    -- the lines of groups: each row once, on its first line by category
    l AS (SELECT DISTINCT ON (r.key, r.ledger_id) r.key, r.category, r.ledger_amount AS amount
          FROM r WHERE r.ledger_id IS NOT NULL AND r.group_id IS NOT NULL
          ORDER BY r.key, r.ledger_id, r.category),
    s AS (SELECT DISTINCT ON (r.key, r.statement_id) r.key, r.category, r.statement_amount AS amount
          FROM r WHERE r.statement_id IS NOT NULL AND r.group_id IS NOT NULL
          ORDER BY r.key, r.statement_id, r.category),
    d AS (SELECT l.key, l.category, true AS is_ledger, pg_catalog.count(*) FILTER (WHERE l.category <> 'invalid') AS n,
                 pg_catalog.sum(l.amount) FILTER (WHERE l.category <> 'invalid') AS amount, pg_catalog.count(*) AS n_read
          FROM l GROUP BY l.key, l.category
          UNION ALL
          SELECT s.key, s.category, false, pg_catalog.count(*) FILTER (WHERE s.category <> 'invalid'),
                 pg_catalog.sum(s.amount) FILTER (WHERE s.category <> 'invalid'), pg_catalog.count(*)
          FROM s GROUP BY s.key, s.category)
    SELECT c.key, c.category, c.n,
           (c.ln + COALESCE(pg_catalog.sum(d.n) FILTER (WHERE d.is_ledger), 0))::bigint,
           COALESCE(c.la, 0) + COALESCE(pg_catalog.sum(d.amount) FILTER (WHERE d.is_ledger), 0),
           (c.sn + COALESCE(pg_catalog.sum(d.n) FILTER (WHERE NOT d.is_ledger), 0))::bigint,
           COALESCE(c.sa, 0) + COALESCE(pg_catalog.sum(d.amount) FILTER (WHERE NOT d.is_ledger), 0),
           (c.lr + COALESCE(pg_catalog.sum(d.n_read) FILTER (WHERE d.is_ledger), 0))::bigint,
           (c.sr + COALESCE(pg_catalog.sum(d.n_read) FILTER (WHERE NOT d.is_ledger), 0))::bigint
    FROM c
    LEFT JOIN d ON (d.key IS NULL) = (c.key IS NULL) AND COALESCE(d.key, '') = COALESCE(c.key, '')
               AND d.category = c.category
    GROUP BY c.key, c.category, c.n, c.ln, c.la, c.lr, c.sn, c.sa, c.sr
$$;
COMMENT ON FUNCTION reconcile.run_sides(bigint) IS
'Internal (reconcile.proof, reconcile.report): per key and category of one run, its result rows and its ledger and statement rows and amounts, each row once, invalid rows in no amount; and the rows read, invalid ones too';

CREATE OR REPLACE FUNCTION reconcile.proof(run_id bigint)
RETURNS TABLE (key text, line integer, item text, rows bigint, amount numeric)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH p AS MATERIALIZED (SELECT * FROM reconcile.run_sides(proof.run_id))
    SELECT q.key, q.line, q.item, q.rows, q.amount FROM (
        SELECT p.key, 1 AS line, 'ledger total' AS item, pg_catalog.sum(p.ledger_rows)::bigint AS rows,
               pg_catalog.sum(p.ledger_amount) AS amount
        FROM p GROUP BY p.key
        UNION ALL
        SELECT p.key, 1 + pg_catalog.row_number() OVER (PARTITION BY p.key ORDER BY p.category)::integer,
               p.category::text, p.rows, p.statement_amount - p.ledger_amount
        FROM p
        UNION ALL
        SELECT p.key, 2 + pg_catalog.count(*)::integer, 'statement total', pg_catalog.sum(p.statement_rows)::bigint,
               pg_catalog.sum(p.statement_amount)
        FROM p GROUP BY p.key) q
    ORDER BY q.key, q.line
$$;
COMMENT ON FUNCTION reconcile.proof(bigint) IS
'The reconciliation statement of one run, per key: ledger total, each category''s contribution (its statement rows minus its ledger rows), statement total; ledger total plus the contributions equals the statement total; invalid rows are counted on their line but left out of every amount';

----------------------------------------------------------------------------
-- Internal: values made printable
----------------------------------------------------------------------------

-- A character of the database's encoding: chr(code) where the database is UTF-8, else the ASCII
-- stand-in.  The code goes through a CASE, so that no plan folds chr() of a constant the
-- database's encoding cannot hold (which fails even where the branch is never taken).
CREATE FUNCTION reconcile.report_glyph(code integer, ascii text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN pg_catalog.getdatabaseencoding() = 'UTF8'
                THEN pg_catalog.chr(CASE WHEN pg_catalog.getdatabaseencoding() = 'UTF8' THEN code END)
                ELSE ascii END
$$;
COMMENT ON FUNCTION reconcile.report_glyph(integer, text) IS
'Internal (reconcile.report): a character where the database is UTF-8, its ASCII stand-in elsewhere';

-- A value as one printable line of at most max characters: control characters (C0, DEL, C1),
-- the bidirectional and zero-width controls that could make a line read differently from what
-- it holds, the invisible fillers, selectors and tags, and runs of white space become one
-- space; a longer value is cut and ends with an ellipsis ('...' where the database is not UTF-8:
-- chr's argument is computed, not a constant the planner would fold, and fail on, there).  A
-- megabyte id costs what max characters do.
CREATE FUNCTION reconcile.report_clean(s text, max integer)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $$
    SELECT CASE WHEN pg_catalog.length(c) > max OR pg_catalog.length(s) > max + 256
                THEN pg_catalog.rtrim(pg_catalog.left(c, max - pg_catalog.length(reconcile.report_glyph(8230, '...'))))
                     || reconcile.report_glyph(8230, '...')
                ELSE c END
    FROM (SELECT pg_catalog.btrim(pg_catalog.regexp_replace(pg_catalog.left(s, max + 256),
                     '[\s\x01-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u180b-\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb\U000e0000-\U000e007f\U000e0100-\U000e01ef]+',
                     ' ', 'g')) AS c) x
$$;
COMMENT ON FUNCTION reconcile.report_clean(text, integer) IS
'Internal (reconcile.report): a value as one printable line of at most max characters (control, bidirectional and zero-width characters and runs of white space made one space; a longer value cut with an ellipsis)';

-- A key as the statement prints it: blank for no key (NULL), "" for the empty one (and a key
-- cleaned to nothing), a key that starts with a double quote quoted again, so that none of them
-- reads as another.
CREATE FUNCTION reconcile.report_key(k text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN k IS NULL THEN ''
                WHEN c = '' OR c LIKE '"%' THEN '"' || c || '"'
                ELSE c END
    FROM (SELECT reconcile.report_clean(k, 40) AS c) x
$$;
COMMENT ON FUNCTION reconcile.report_key(text) IS
'Internal (reconcile.report): a key as the statement prints it (blank for NULL, "" for the empty key)';

-- An amount as an accountant writes it: exact (every digit of the numeric, its scale kept),
-- thousands separated by commas; NaN and the infinities as PostgreSQL writes them; NULL as ''.
-- An amount of more than 40 characters (no ledger holds one; a hostile row may: the run makes it
-- invalid) is cut, in scientific notation, and says so.  Linear: the groups of three are found
-- from the right, in the reversed digits.
CREATE FUNCTION reconcile.report_amount(a numeric)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $$
    SELECT CASE WHEN a IS NULL THEN ''
                WHEN t !~ '^-?[0-9]' THEN t
                WHEN pg_catalog.length(t) > 40 THEN pg_catalog.to_char(a, '9.999999EEEE') || ' (cut)'
                ELSE pg_catalog.reverse(pg_catalog.regexp_replace(pg_catalog.reverse(pg_catalog.split_part(t, '.', 1)),
                                                                  '([0-9]{3})(?=[0-9])', '\1,', 'g'))
                     || CASE WHEN pg_catalog.strpos(t, '.') > 0 THEN '.' || pg_catalog.split_part(t, '.', 2) ELSE '' END
           END
    FROM (SELECT a::text AS t) x
$$;
COMMENT ON FUNCTION reconcile.report_amount(numeric) IS
'Internal (reconcile.report): an amount written exactly, with thousands separators (NULL as an empty string)';

-- The width of a value on a terminal: CJK, emoji and other wide characters take two columns,
-- combining marks none.  In a
-- database whose encoding is not UTF-8 a multibyte character is counted by its bytes (two for
-- the CJK encodings).
CREATE FUNCTION reconcile.report_width(s text)
RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $$
    SELECT CASE WHEN pg_catalog.getdatabaseencoding() <> 'UTF8' THEN pg_catalog.octet_length(s)
                ELSE pg_catalog.length(s)
                     + pg_catalog.length(pg_catalog.regexp_replace(s,
                           '[^\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6\U0001f300-\U0001f64f\U0001f900-\U0001f9ff\U00020000-\U0003fffd]',
                           '', 'g'))
                     - pg_catalog.length(pg_catalog.regexp_replace(s, '[^\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]', '', 'g')) END
$$;
COMMENT ON FUNCTION reconcile.report_width(text) IS
'Internal (reconcile.report): the columns a value takes on a terminal (wide characters two)';

-- A share as a percentage with one decimal, exact (rounded half away from zero); '' of nothing.
CREATE FUNCTION reconcile.report_pct(n bigint, total bigint)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN total > 0 THEN pg_catalog.round(100 * n::numeric / total, 1)::text || '%' ELSE '' END
$$;
COMMENT ON FUNCTION reconcile.report_pct(bigint, bigint) IS
'Internal (reconcile.report): n of total as a percentage with one decimal (an empty string when total is 0)';

-- A rule as the statement says it: its tolerances, its date window and whether references are used.
CREATE FUNCTION reconcile.report_rule(r reconcile.rule)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.format('within %s (absolute) or %s (relative); dates %s days before to %s days after; references %s',
                             reconcile.report_amount(r.abs_tol), reconcile.report_amount(r.rel_tol), r.days_before, r.days_after,
                             CASE WHEN r.use_ref THEN 'used' ELSE 'not used' END)
$$;
COMMENT ON FUNCTION reconcile.report_rule(reconcile.rule) IS
'Internal (reconcile.report): a rule in words (tolerances, date window, references)';

-- A value escaped for a format: HTML (the five characters that matter, in text and in attribute
-- values), Markdown (the characters that would end a table cell or make emphasis, code, a link,
-- a mention, an issue reference, math or HTML of it, the :// and www. that GitHub would make a
-- link of, and what would make a heading or a list of a line it begins), text (as it is: it was
-- cleaned).
CREATE FUNCTION reconcile.report_esc(s text, format text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $$
    SELECT CASE format
        WHEN 'html' THEN pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(
                             COALESCE(s, ''), '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;')
        WHEN 'markdown' THEN pg_catalog.regexp_replace(pg_catalog.regexp_replace(pg_catalog.regexp_replace(pg_catalog.regexp_replace(
                             pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(COALESCE(s, ''), '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),
                             '([\\`*_\[\]|~@#$])', '\\\1', 'g'),
                             '(:)(//)|(www)(\.)', '\1\3\\\2\4', 'gi'),
                             '^(#+|[+=-])( |$)', '\\\1\2'),
                             '^([0-9]+)([.)])( |$)', '\1\\\2\3')
        ELSE COALESCE(s, '') END
$$;
COMMENT ON FUNCTION reconcile.report_esc(text, text) IS
'Internal (reconcile.report): a value escaped for html, markdown or text';

----------------------------------------------------------------------------
-- Internal: what the statement says
----------------------------------------------------------------------------

-- The statement of run_id as a document: {title, facts: [[label, value]], sections: [{heading,
-- blocks}]}, a block being {"p": text}, {"h": text}, {"table": {cols, num (right-aligned
-- columns), keep (columns not to wrap), rows, strong (rows in bold)}}, {"chart": {title, max,
-- bars: [{label, value, text}]}} or {"sign": [[role, name]]}.  Every text in it is cleaned and
-- cut; amounts are written exactly.  Read with the caller's rights: a run they may not see is
-- 42704, as if it did not exist.  Without JIT: the joins on item identities are estimated far
-- above what they hold, and compiling for that guess cost a second on a run of 100,000 items.
CREATE FUNCTION reconcile.report_model(run_id bigint)
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    rid    bigint := report_model.run_id;
    u      reconcile.runs;
    reg    reconcile.reconciliations;
    facts  jsonb := '[]';
    secs   jsonb := '[]';
    blocks jsonb;
    proof  jsonb;
    opens  jsonb;
    adj    jsonb;
    rate   jsonb;
    signs  jsonb;
    nkeys  bigint;
    k      integer;
    run_items bigint[];
    nread  jsonb;
    cleared_here bigint;
    whole  boolean;
    last_audit record;
    rules  jsonb;
BEGIN
    SELECT * INTO u FROM reconcile.runs x WHERE x.run_id = rid;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % does not exist', rid USING ERRCODE = 'undefined_object';
    END IF;
    SELECT * INTO reg FROM reconcile.reconciliations r WHERE r.id = u.recon_id;
    -- a caller that row level security narrows sees its own runs, and the items its runs found
    -- last: an item a later run found again is out of its sight, open or not
    whole := u.recon_id IN (SELECT reconcile.readable(true));

    -- the facts: what was reconciled, against what, by which rule, when and by whom; the rules
    -- per key (the first 20 by key) after them
    SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array('Rule for key ' || reconcile.report_key(k.key),
                                                             reconcile.report_clean(reconcile.report_rule(k.rule), 160))
                                ORDER BY k.key COLLATE "C"),
           (SELECT pg_catalog.count(*) FROM reconcile.key_rules kr WHERE kr.recon_id = u.recon_id)
      INTO rules, nkeys
    FROM (SELECT kr.key, kr.rule FROM reconcile.key_rules kr WHERE kr.recon_id = u.recon_id
          ORDER BY kr.key COLLATE "C" LIMIT 20) k;
    SELECT a.audit_id, a.at INTO last_audit FROM reconcile.audit_log a
    WHERE a.recon_id = u.recon_id ORDER BY a.audit_id DESC LIMIT 1;

    facts := pg_catalog.jsonb_build_array(
        pg_catalog.jsonb_build_array('Reconciliation', reconcile.report_clean(u.name, 120)),
        pg_catalog.jsonb_build_array('Ledger', COALESCE(reconcile.report_clean(reg.ledger::text, 120), '(dropped)')),
        pg_catalog.jsonb_build_array('Statement', COALESCE(reconcile.report_clean(reg.statement::text, 120), '(dropped)')),
        pg_catalog.jsonb_build_array('Rule', CASE WHEN reg.id IS NULL THEN '(dropped)'
                                                  ELSE 'amounts ' || reconcile.report_rule(reg.rule) END),
        pg_catalog.jsonb_build_array('Run', pg_catalog.format('#%s, as of %s', u.run_id, pg_catalog.to_char(u.as_of, 'YYYY-MM-DD'))),
        pg_catalog.jsonb_build_array('Started', pg_catalog.to_char(u.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC'),
        pg_catalog.jsonb_build_array('Finished', COALESCE(pg_catalog.to_char(u.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC', 'not finished')),
        pg_catalog.jsonb_build_array('Run by', reconcile.report_clean(u.run_by::text, 64)),
        pg_catalog.jsonb_build_array('Rows read', pg_catalog.format('%s ledger, %s statement',
            reconcile.report_amount(u.ledger_rows), reconcile.report_amount(u.statement_rows))),
        pg_catalog.jsonb_build_array('Follow-up as of', CASE WHEN last_audit.audit_id IS NULL THEN 'no follow-up recorded'
            ELSE pg_catalog.format('audit entry #%s, %s UTC', last_audit.audit_id,
                                   pg_catalog.to_char(last_audit.at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')) END));
    IF rules IS NOT NULL THEN
        facts := facts || rules;
        IF nkeys > 20 THEN
            facts := facts || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array('Rules for other keys',
                pg_catalog.format('%s more in reconcile.rules', nkeys - 20)));
        END IF;
    END IF;

    -- 1. the proof, per key: ledger total, each category's contribution, statement total.  At
    -- most 50 keys: those whose discrepancies move the most, listed in key order.
    WITH s AS MATERIALIZED (SELECT * FROM reconcile.run_sides(rid)),
    k AS MATERIALIZED (
        SELECT s.key, pg_catalog.sum(s.ledger_amount) AS lt, pg_catalog.sum(s.statement_amount) AS st,
               pg_catalog.sum(s.ledger_rows) AS lr, pg_catalog.sum(s.statement_rows) AS sr,
               pg_catalog.sum(pg_catalog.abs(s.statement_amount - s.ledger_amount))
                   FILTER (WHERE reconcile.is_discrepancy(s.category)) AS moved
        FROM s GROUP BY s.key),
    top AS MATERIALIZED (SELECT k.* FROM k ORDER BY k.moved DESC NULLS LAST, k.key COLLATE "C" NULLS FIRST LIMIT 50),
    per AS (
        SELECT s.key, pg_catalog.sum(s.statement_amount - s.ledger_amount) AS moves,
               pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(s.category::text, reconcile.report_amount(s.rows),
                                    reconcile.report_amount(s.statement_amount - s.ledger_amount)) ORDER BY s.category) AS lines,
               pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                   'label', s.category::text,
                   'value', CASE WHEN pg_catalog.abs(s.ledger_amount) >= pg_catalog.abs(s.statement_amount)
                                 THEN pg_catalog.abs(s.ledger_amount) ELSE pg_catalog.abs(s.statement_amount) END,
                   'text', CASE WHEN pg_catalog.abs(s.ledger_amount) >= pg_catalog.abs(s.statement_amount)
                                THEN reconcile.report_amount(s.ledger_amount) ELSE reconcile.report_amount(s.statement_amount) END
                           || ' (' || s.rows || CASE WHEN s.rows = 1 THEN ' row)' ELSE ' rows)' END) ORDER BY s.category) AS bars
        FROM s JOIN top ON (s.key IS NULL) = (top.key IS NULL) AND COALESCE(s.key, '') = COALESCE(top.key, '')
        GROUP BY s.key)
    SELECT (SELECT pg_catalog.count(*) FROM k),
           (SELECT pg_catalog.jsonb_build_object('l', COALESCE(pg_catalog.sum(s.ledger_read), 0),
                                                 's', COALESCE(pg_catalog.sum(s.statement_read), 0)) FROM s),
           pg_catalog.jsonb_build_object('keys', COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
               'key', reconcile.report_key(top.key), 'nokey', top.key IS NULL,
               'agrees', top.lt + per.moves = top.st,
               'rows', pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array('Ledger total', reconcile.report_amount(top.lr),
                                                                                reconcile.report_amount(top.lt)))
                       || per.lines
                       || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array('Statement total', reconcile.report_amount(top.sr),
                                                                                   reconcile.report_amount(top.st))),
               'bars', per.bars) ORDER BY top.key COLLATE "C" NULLS FIRST), '[]'))
      INTO nkeys, nread, proof
    FROM top JOIN per ON (per.key IS NULL) = (top.key IS NULL) AND COALESCE(per.key, '') = COALESCE(top.key, '');

    blocks := pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('p',
        'Per key: the ledger total, what each category adds to it (its statement rows minus its ledger rows), and the statement total. '
        || 'The ledger total plus the differences is the statement total. Rows of the category invalid are counted but carry no amount.'));
    IF nkeys = 0 THEN
        blocks := blocks || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('p', 'The run read no rows.'));
    END IF;
    FOR k IN 0 .. pg_catalog.jsonb_array_length(proof -> 'keys') - 1 LOOP
        IF nkeys > 1 OR NOT (proof -> 'keys' -> k ->> 'nokey')::boolean THEN
            blocks := blocks || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('h',
                CASE WHEN (proof -> 'keys' -> k ->> 'nokey')::boolean THEN 'Rows without a key'
                     ELSE 'Key ' || (proof -> 'keys' -> k ->> 'key') END));
        END IF;
        blocks := blocks || pg_catalog.jsonb_build_array(
            pg_catalog.jsonb_build_object('table', pg_catalog.jsonb_build_object(
                'cols', pg_catalog.jsonb_build_array('', 'Rows', 'Amount'),
                'num', pg_catalog.jsonb_build_array(false, true, true),
                'strong', pg_catalog.jsonb_build_array(0, pg_catalog.jsonb_array_length(proof -> 'keys' -> k -> 'rows') - 1),
                'rows', proof -> 'keys' -> k -> 'rows')),
            pg_catalog.jsonb_build_object('p', CASE WHEN (proof -> 'keys' -> k ->> 'agrees')::boolean
                THEN 'Ledger total plus the differences equals the statement total: they agree.'
                ELSE 'Ledger total plus the differences DOES NOT AGREE with the statement total.' END));
    END LOOP;
    IF nkeys > 50 THEN
        blocks := blocks || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('p', pg_catalog.format(
            'The 50 keys whose discrepancies move the most amount are shown; %s more keys are in reconcile.proof(%s).',
            reconcile.report_amount(nkeys - 50), rid)));
    END IF;
    -- and every row the run read is in it: its distinct ledger and statement rows (invalid ones
    -- too) against the counts the run recorded when it read them
    blocks := blocks || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('p',
        CASE WHEN (nread ->> 'l')::bigint = u.ledger_rows AND (nread ->> 's')::bigint = u.statement_rows
             THEN pg_catalog.format('Every row the run read is in the proof: %s ledger rows and %s statement rows.',
                                    reconcile.report_amount((nread ->> 'l')::bigint), reconcile.report_amount((nread ->> 's')::bigint))
             ELSE pg_catalog.format('The proof DOES NOT AGREE with the rows the run read: %s of %s ledger rows and %s of %s statement rows are in it.',
                                    reconcile.report_amount((nread ->> 'l')::bigint), reconcile.report_amount(u.ledger_rows),
                                    reconcile.report_amount((nread ->> 's')::bigint), reconcile.report_amount(u.statement_rows)) END));
    secs := secs || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('heading', '1. Proof', 'blocks', blocks));

    -- 2. the open items of the run: its discrepancies and the matches it held for review whose
    -- item is still open, resolved but not approved, or suggested; aged from the run's as_of (a
    -- group by its oldest row).  Each result looks its live item up by identity in the partial
    -- unique index of items (at most one: the index is unique), a probe per row: what it costs is
    -- the run's rows, however many items years of history left behind.  A row an item shares with others (a group's one row) is counted once,
    -- on its first line by category and the other row's id.  An invalid row has no difference
    -- and comes last among the largest: it carries no amount (a NaN would sort above all).
    WITH x AS MATERIALIZED (
        SELECT x.key, x.ledger_id, x.statement_id, x.category, x.group_id, x.ledger_amount, x.statement_amount,
               x.ledger_date, x.statement_date,
               i.item_id, i.status, i.resolved_by, i.approved_by, i.resolution,
               CASE WHEN pg_catalog.isfinite(LEAST(x.ledger_date, x.statement_date))
                    THEN u.as_of - LEAST(x.ledger_date, x.statement_date) END AS age,
               CASE WHEN x.category = 'invalid' THEN NULL
                    WHEN x.ledger_id IS NULL THEN x.statement_amount WHEN x.statement_id IS NULL THEN -x.ledger_amount
                    ELSE x.amount_diff END AS diff
        FROM reconcile.results x
        LEFT JOIN LATERAL (
            SELECT i.item_id, i.status, i.resolved_by, i.approved_by, i.resolution
            FROM reconcile.items i
            WHERE i.recon_id = u.recon_id AND i.status NOT IN ('cleared', 'rejected')
              AND reconcile.item_ident(i.key, i.ledger_id, i.statement_id)
                  = reconcile.item_ident(x.key, x.ledger_id, x.statement_id)
              AND i.first_run_id <= rid
            LIMIT 1) i ON true
        WHERE x.run_id = rid AND (reconcile.is_discrepancy(x.category) OR x.review)),
    o AS MATERIALIZED (
        SELECT y.*,
               CASE WHEN y.gage IS NULL THEN 5 WHEN y.gage <= 7 THEN 1 WHEN y.gage <= 30 THEN 2
                    WHEN y.gage <= 90 THEN 3 ELSE 4 END AS bucket_no,
               CASE WHEN y.ledger_id IS NOT NULL AND y.category <> 'invalid'
                     AND pg_catalog.row_number() OVER (PARTITION BY y.key, y.ledger_id
                                                       ORDER BY y.category, y.statement_id COLLATE "C") = 1
                    THEN y.ledger_amount END AS l_once,
               CASE WHEN y.statement_id IS NOT NULL AND y.category <> 'invalid'
                     AND pg_catalog.row_number() OVER (PARTITION BY y.key, y.statement_id
                                                       ORDER BY y.category, y.ledger_id COLLATE "C") = 1
                    THEN y.statement_amount END AS s_once,
               pg_catalog.abs(y.diff) AS size
        FROM (SELECT x.*, CASE WHEN x.group_id IS NULL THEN x.age
                               ELSE pg_catalog.max(x.age) OVER (PARTITION BY x.key, x.category, x.group_id) END AS gage
              FROM x WHERE x.status IN ('open', 'resolved', 'suggested')) y),
    b AS (SELECT n, label FROM (VALUES (1, '0-7'), (2, '8-30'), (3, '31-90'), (4, '90+'), (5, 'no date')) b(n, label)),
    g AS MATERIALIZED (
        SELECT o.key, o.category, o.bucket_no, pg_catalog.count(*) AS n, COALESCE(pg_catalog.sum(o.l_once), 0) AS la,
               COALESCE(pg_catalog.sum(o.s_once), 0) AS sa,
               pg_catalog.row_number() OVER (ORDER BY o.key COLLATE "C" NULLS FIRST, o.category, o.bucket_no) AS rn
        FROM o GROUP BY o.key, o.category, o.bucket_no)
    SELECT pg_catalog.jsonb_build_object(
        'n', (SELECT pg_catalog.count(*) FROM o),
        'approved', (SELECT pg_catalog.count(*) FROM x WHERE x.status = 'approved'),
        'closed', (SELECT pg_catalog.count(*) FROM x WHERE x.status IS NULL),
        'groups', (SELECT pg_catalog.count(*) FROM g),
        'aging', (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                      'label', b.label, 'value', COALESCE(a.n, 0),
                      'text', COALESCE(a.n, 0) || CASE WHEN COALESCE(a.n, 0) = 1 THEN ' item' ELSE ' items' END) ORDER BY b.n)
                  FROM b LEFT JOIN (SELECT o.bucket_no, pg_catalog.count(*) AS n FROM o GROUP BY o.bucket_no) a ON a.bucket_no = b.n),
        'grouped', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(
                        reconcile.report_key(g.key), g.category::text, b.label, reconcile.report_amount(g.n),
                        reconcile.report_amount(g.la), reconcile.report_amount(g.sa), reconcile.report_amount(g.sa - g.la))
                        ORDER BY g.rn), '[]')
                    FROM g JOIN b ON b.n = g.bucket_no WHERE g.rn <= 500)
                   -- the groups past the 500th in one line, and a total line; amounts summed
                   -- only within one key (keys are often currencies)
                   || (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(t.label, '', '',
                                  reconcile.report_amount(t.n),
                                  CASE WHEN t.one_key THEN reconcile.report_amount(t.la) ELSE '' END,
                                  CASE WHEN t.one_key THEN reconcile.report_amount(t.sa) ELSE '' END,
                                  CASE WHEN t.one_key THEN reconcile.report_amount(t.sa - t.la) ELSE '' END) ORDER BY t.o), '[]')
                       FROM (SELECT past.o, CASE WHEN past.o = 1 THEN pg_catalog.format('%s more groups', reconcile.report_amount(pg_catalog.count(*)))
                                                 ELSE 'Total' END AS label,
                                    COALESCE(pg_catalog.sum(g.n), 0) AS n, COALESCE(pg_catalog.sum(g.la), 0) AS la,
                                    COALESCE(pg_catalog.sum(g.sa), 0) AS sa, pg_catalog.count(g.rn) AS groups,
                                    pg_catalog.count(DISTINCT COALESCE(g.key, '')) <= 1 AND pg_catalog.count(DISTINCT g.key IS NULL) <= 1 AS one_key
                             FROM (VALUES (1, 501), (2, 1)) past(o, from_rn)
                             LEFT JOIN g ON g.rn >= past.from_rn
                             GROUP BY past.o) t
                       WHERE t.o = 2 OR t.groups > 0),
        'largest', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(
                        COALESCE(t.item_id::text, ''), reconcile.report_key(t.key),
                        COALESCE(reconcile.report_clean(t.ledger_id, 40), ''), COALESCE(reconcile.report_clean(t.statement_id, 40), ''),
                        t.category::text, t.status, COALESCE(pg_catalog.to_char(LEAST(t.ledger_date, t.statement_date), 'YYYY-MM-DD'), ''),
                        COALESCE(t.age::text, ''),
                        reconcile.report_amount(t.ledger_amount), reconcile.report_amount(t.statement_amount),
                        reconcile.report_amount(t.diff)) ORDER BY t.rn), '[]')
                    FROM (SELECT o.*, pg_catalog.row_number() OVER (ORDER BY o.size DESC NULLS LAST, o.key COLLATE "C" NULLS FIRST,
                                       o.ledger_id COLLATE "C" NULLS FIRST, o.statement_id COLLATE "C" NULLS FIRST, o.category) AS rn
                          FROM o ORDER BY o.size DESC NULLS LAST, o.key COLLATE "C" NULLS FIRST, o.ledger_id COLLATE "C" NULLS FIRST,
                                   o.statement_id COLLATE "C" NULLS FIRST, o.category LIMIT 200) t),
        'resolved', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(
                        t.item_id::text, reconcile.report_key(t.key),
                        COALESCE(reconcile.report_clean(t.ledger_id, 40), ''), COALESCE(reconcile.report_clean(t.statement_id, 40), ''),
                        t.category::text, reconcile.report_amount(t.diff), COALESCE(reconcile.report_clean(t.resolution, 60), ''),
                        COALESCE(reconcile.report_clean(t.resolved_by::text, 64), ''),
                        COALESCE(reconcile.report_clean(t.approved_by::text, 64), 'awaiting approval')) ORDER BY t.item_id), '[]')
                     FROM (SELECT x.* FROM x WHERE x.status IN ('resolved', 'approved')
                           ORDER BY x.item_id LIMIT 200) t),
        'resolved_n', (SELECT pg_catalog.count(*) FROM x WHERE x.status IN ('resolved', 'approved')),
        'checkers', (SELECT COALESCE(pg_catalog.jsonb_agg(c.n ORDER BY c.n COLLATE "C"), '[]')
                     FROM (SELECT DISTINCT x.approved_by::text AS n FROM x WHERE x.approved_by IS NOT NULL) c)),
           (SELECT pg_catalog.array_agg(DISTINCT x.item_id) FROM x WHERE x.item_id IS NOT NULL)
      INTO opens, run_items
    FROM (SELECT 1) one;

    blocks := pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('p', pg_catalog.format(
        'The discrepancies this run found and the matches it held for review, by what became of them. '
        || 'Open items are those not yet resolved, resolved but awaiting approval, or suggested for review; '
        || 'they are aged from %s to the older of their dates.', pg_catalog.to_char(u.as_of, 'YYYY-MM-DD'))),
        pg_catalog.jsonb_build_object('table', pg_catalog.jsonb_build_object(
            'cols', pg_catalog.jsonb_build_array('', 'Items'),
            'num', pg_catalog.jsonb_build_array(false, true),
            'rows', pg_catalog.jsonb_build_array(
                pg_catalog.jsonb_build_array('Open', reconcile.report_amount((opens ->> 'n')::bigint)),
                pg_catalog.jsonb_build_array('Approved', reconcile.report_amount((opens ->> 'approved')::bigint)),
                pg_catalog.jsonb_build_array(CASE WHEN whole THEN 'Matched, accepted or rejected since'
                                                  ELSE 'Closed since, or found again by a later run you may not see' END,
                                             reconcile.report_amount((opens ->> 'closed')::bigint))))),
        pg_catalog.jsonb_build_object('chart', pg_catalog.jsonb_build_object('title', 'Open items by aging bucket (days)', 'bars', opens -> 'aging')));
    IF (opens ->> 'n')::bigint > 0 THEN
        blocks := blocks || pg_catalog.jsonb_build_array(
            pg_catalog.jsonb_build_object('h', 'By key, category and age'),
            pg_catalog.jsonb_build_object('table', pg_catalog.jsonb_build_object(
                'cols', pg_catalog.jsonb_build_array('Key', 'Category', 'Days', 'Items', 'Ledger', 'Statement', 'Difference'),
                'num', pg_catalog.jsonb_build_array(false, false, false, true, true, true, true),
                'strong', pg_catalog.jsonb_build_array(pg_catalog.jsonb_array_length(opens -> 'grouped') - 1),
                'keep', pg_catalog.jsonb_build_array(1, 2),
                'rows', opens -> 'grouped')));
        blocks := blocks || pg_catalog.jsonb_build_array(
            pg_catalog.jsonb_build_object('h', CASE WHEN (opens ->> 'n')::bigint > 200 THEN 'The 200 largest' ELSE 'Every open item' END),
            pg_catalog.jsonb_build_object('table', pg_catalog.jsonb_build_object(
                'cols', pg_catalog.jsonb_build_array('Item', 'Key', 'Ledger id', 'Statement id', 'Category', 'Status', 'Date', 'Days',
                                                     'Ledger', 'Statement', 'Difference'),
                'num', pg_catalog.jsonb_build_array(true, false, false, false, false, false, false, true, true, true, true),
                'keep', pg_catalog.jsonb_build_array(4, 5, 6),
                'rows', opens -> 'largest')));
        IF (opens ->> 'n')::bigint > 200 THEN
            blocks := blocks || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('p', pg_catalog.format(
                '%s more open items are not listed here; all of them are in reconcile.open_items.',
                reconcile.report_amount((opens ->> 'n')::bigint - 200))));
        END IF;
    END IF;
    secs := secs || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('heading', '2. Open items', 'blocks', blocks));

    -- 3. adjustments and resolutions: what the resolved items mean for the books, who made each
    -- (the maker) and who approved it (the checker)
    WITH a AS MATERIALIZED (
        SELECT e.adjustment_id, e.item_id, e.key, e.account, e.amount, e.memo, e.made_by, i.approved_by,
               CASE WHEN e.exported_at IS NOT NULL THEN 'exported' WHEN i.status = 'approved' THEN 'approved'
                    ELSE 'pending' END AS status
        FROM reconcile.adjustment_entries e
        LEFT JOIN reconcile.items i ON i.item_id = e.item_id
        WHERE e.recon_id = u.recon_id AND e.cancelled_at IS NULL
          AND e.item_id IN (SELECT pg_catalog.unnest(run_items)
                            UNION SELECT f.item_id FROM reconcile.adjustment_entries f
                                  WHERE f.recon_id = u.recon_id AND f.run_id = rid))
    SELECT pg_catalog.jsonb_build_object(
        'n', (SELECT pg_catalog.count(*) FROM a),
        'rows', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(
                     t.adjustment_id::text, t.item_id::text, reconcile.report_key(t.key),
                     reconcile.report_clean(t.account, 60), reconcile.report_amount(t.amount),
                     COALESCE(reconcile.report_clean(t.memo, 80), ''), reconcile.report_clean(t.made_by::text, 64),
                     COALESCE(reconcile.report_clean(t.approved_by::text, 64), 'awaiting approval'), t.status)
                     ORDER BY t.adjustment_id), '[]')
                 FROM (SELECT a.* FROM a ORDER BY pg_catalog.abs(a.amount) DESC, a.adjustment_id LIMIT 200) t),
        'accounts', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(
                         reconcile.report_key(t.key), reconcile.report_clean(t.account, 60), reconcile.report_amount(t.n),
                         reconcile.report_amount(t.total)) ORDER BY t.key COLLATE "C" NULLS FIRST, t.account COLLATE "C"), '[]')
                     FROM (SELECT a.key, a.account, pg_catalog.count(*) AS n, pg_catalog.sum(a.amount) AS total
                           FROM a GROUP BY a.key, a.account ORDER BY a.key COLLATE "C" NULLS FIRST, a.account COLLATE "C" LIMIT 200) t),
        'naccounts', (SELECT pg_catalog.count(*) FROM (SELECT DISTINCT a.key, a.account FROM a) t),
        'checkers', (SELECT COALESCE(pg_catalog.jsonb_agg(DISTINCT a.approved_by::text), '[]') FROM a WHERE a.approved_by IS NOT NULL))
      INTO adj;

    blocks := '[]';
    IF (adj ->> 'n')::bigint = 0 THEN
        blocks := blocks || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('p', 'No adjustments.'));
    ELSE
        blocks := blocks || pg_catalog.jsonb_build_array(
            pg_catalog.jsonb_build_object('p', 'Each adjustment is minus what the items it resolves add to the proof. Made by the maker of the resolution, approved by a different person, the checker.'),
            pg_catalog.jsonb_build_object('table', pg_catalog.jsonb_build_object(
                'cols', pg_catalog.jsonb_build_array('Adjustment', 'Item', 'Key', 'Account', 'Amount', 'Memo', 'Maker', 'Checker', 'Status'),
                'num', pg_catalog.jsonb_build_array(true, true, false, false, true, false, false, false, false),
                'rows', adj -> 'rows')));
        IF (adj ->> 'n')::bigint > 200 THEN
            blocks := blocks || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('p', pg_catalog.format(
                'The 200 largest of %s adjustments are listed; all of them are in reconcile.adjustments.',
                reconcile.report_amount((adj ->> 'n')::bigint))));
        END IF;
        blocks := blocks || pg_catalog.jsonb_build_array(
            pg_catalog.jsonb_build_object('h', 'By key and account'),
            pg_catalog.jsonb_build_object('table', pg_catalog.jsonb_build_object(
                'cols', pg_catalog.jsonb_build_array('Key', 'Account', 'Adjustments', 'Amount'),
                'num', pg_catalog.jsonb_build_array(false, false, true, true),
                'rows', adj -> 'accounts')));
        IF (adj ->> 'naccounts')::bigint > 200 THEN
            blocks := blocks || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('p', pg_catalog.format(
                'The first 200 of %s keys and accounts are shown.', reconcile.report_amount((adj ->> 'naccounts')::bigint))));
        END IF;
    END IF;
    IF (opens ->> 'resolved_n')::bigint > 0 THEN
        blocks := blocks || pg_catalog.jsonb_build_array(
            pg_catalog.jsonb_build_object('h', 'Resolved items'),
            pg_catalog.jsonb_build_object('table', pg_catalog.jsonb_build_object(
                'cols', pg_catalog.jsonb_build_array('Item', 'Key', 'Ledger id', 'Statement id', 'Category', 'Difference',
                                                     'Resolution', 'Maker', 'Checker'),
                'num', pg_catalog.jsonb_build_array(true, false, false, false, false, true, false, false, false),
                'keep', pg_catalog.jsonb_build_array(4),
                'rows', opens -> 'resolved')));
        IF (opens ->> 'resolved_n')::bigint > 200 THEN
            blocks := blocks || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('p', pg_catalog.format(
                'The first 200 of %s resolved items are listed.', reconcile.report_amount((opens ->> 'resolved_n')::bigint))));
        END IF;
    END IF;
    secs := secs || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('heading', '3. Adjustments and approvals', 'blocks', blocks));

    -- 4. the match rate: this run's rows by what became of them, and the share matched over the
    -- reconciliation's last twelve runs up to this one (the rows each cleared, over the rows it read)
    SELECT pg_catalog.jsonb_build_array(
            pg_catalog.jsonb_build_array('Matched automatically', reconcile.report_amount(m.auto_rows), reconcile.report_pct(m.auto_rows, m.total_rows)),
            pg_catalog.jsonb_build_array('Matched on review', reconcile.report_amount(m.reviewed_rows), reconcile.report_pct(m.reviewed_rows, m.total_rows)),
            pg_catalog.jsonb_build_array('Matched by hand', reconcile.report_amount(m.manual_rows), reconcile.report_pct(m.manual_rows, m.total_rows)),
            pg_catalog.jsonb_build_array('Written off', reconcile.report_amount(m.written_off_rows), reconcile.report_pct(m.written_off_rows, m.total_rows)),
            pg_catalog.jsonb_build_array('Open', reconcile.report_amount(m.open_rows), reconcile.report_pct(m.open_rows, m.total_rows)),
            pg_catalog.jsonb_build_array('Rows read', reconcile.report_amount(m.total_rows), reconcile.report_pct(m.total_rows, m.total_rows))),
           m.auto_rows + m.reviewed_rows + m.manual_rows
      INTO rate, cleared_here
    FROM reconcile.match_rate m WHERE m.run_id = rid;
    blocks := pg_catalog.jsonb_build_array(
        pg_catalog.jsonb_build_object('p', 'The rows this run read, by what became of them (reconcile.match_rate).'),
        pg_catalog.jsonb_build_object('table', pg_catalog.jsonb_build_object(
            'cols', pg_catalog.jsonb_build_array('', 'Rows', 'Share'),
            'num', pg_catalog.jsonb_build_array(false, true, true),
            'strong', pg_catalog.jsonb_build_array(5),
            'rows', COALESCE(rate, '[]'))),
        pg_catalog.jsonb_build_object('chart', pg_catalog.jsonb_build_object(
            'title', 'Rows matched, over the last runs',
            'max', 100,
            'bars', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                         'label', 'Run ' || v.run_id || ', ' || pg_catalog.to_char(v.as_of, 'YYYY-MM-DD'),
                         'value', CASE WHEN v.total > 0 THEN pg_catalog.round(100 * c.n::numeric / v.total, 1) ELSE 0 END,
                         'text', reconcile.report_pct(c.n, v.total) || ' of ' || reconcile.report_amount(v.total))
                         ORDER BY v.run_id), '[]')
                     FROM (SELECT w.run_id, w.as_of, w.ledger_rows + w.statement_rows AS total FROM reconcile.runs w
                           WHERE w.recon_id = u.recon_id AND w.run_id <= rid
                           ORDER BY w.run_id DESC LIMIT 12) v
                     -- this run's count is the match rate's, above; an earlier run's is counted
                     CROSS JOIN LATERAL (SELECT CASE WHEN v.run_id = rid THEN cleared_here ELSE
                                                (SELECT pg_catalog.count(*) FROM reconcile.cleared k
                                                 WHERE k.recon_id = u.recon_id AND k.run_id = v.run_id AND v.run_id <> rid) END AS n) c))));
    secs := secs || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('heading', '4. Match rate', 'blocks', blocks));

    -- 5. charts of what the run read: per key, the amount of each category (the larger of its
    -- ledger and statement sides), for the first four keys of the proof
    blocks := '[]';
    FOR k IN 0 .. LEAST(pg_catalog.jsonb_array_length(proof -> 'keys'), 4) - 1 LOOP
        blocks := blocks || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('chart', pg_catalog.jsonb_build_object(
            'title', 'Amount by category' || CASE WHEN (proof -> 'keys' -> k ->> 'nokey')::boolean
                                                       THEN CASE WHEN nkeys > 1 THEN ', rows without a key' ELSE '' END
                                                  ELSE ', key ' || (proof -> 'keys' -> k ->> 'key') END,
            'bars', COALESCE(proof -> 'keys' -> k -> 'bars', '[]'))));
    END LOOP;
    IF pg_catalog.jsonb_array_length(blocks) > 0 THEN
        secs := secs || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('heading', '5. Amount by category', 'blocks', blocks));
    END IF;

    -- the signatures: who prepared it (ran it) and who approved what it resolves
    SELECT COALESCE(pg_catalog.jsonb_agg(n ORDER BY n COLLATE "C"), '[]') INTO signs
    FROM (SELECT pg_catalog.jsonb_array_elements_text(opens -> 'checkers') AS n
          UNION SELECT pg_catalog.jsonb_array_elements_text(adj -> 'checkers')) c;
    secs := secs || pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('heading', 'Signatures', 'blocks',
        pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('sign',
            pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array('Prepared by', reconcile.report_clean(u.run_by::text, 64)))
            || CASE WHEN pg_catalog.jsonb_array_length(signs) = 0
                    THEN pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array('Approved by', ''))
                    ELSE (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array('Approved by', reconcile.report_clean(n, 64)) ORDER BY o)
                          FROM pg_catalog.jsonb_array_elements_text(signs) WITH ORDINALITY AS t(n, o)) END))));

    RETURN pg_catalog.jsonb_build_object(
        'title', 'Reconciliation statement',
        'subtitle', reconcile.report_clean(u.name, 120) || ', run #' || u.run_id || ' as of ' || pg_catalog.to_char(u.as_of, 'YYYY-MM-DD'),
        'name', reconcile.report_clean(u.name, 60),
        'facts', facts,
        'sections', secs);
END
$$;
COMMENT ON FUNCTION reconcile.report_model(bigint) IS
'Internal (reconcile.report): what the reconciliation statement of a run says, as a jsonb document the renderers lay out, read with the caller''s rights';

----------------------------------------------------------------------------
-- Internal: the document laid out
----------------------------------------------------------------------------

-- The length of a chart's bar, len for the chart's largest value (or its max): 0 for
-- nothing, NaN or an infinity.
CREATE FUNCTION reconcile.report_bar(value text, top numeric, len integer)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN value IS NULL OR value IN ('NaN', 'Infinity', '-Infinity') OR top IS NULL OR top <= 0
                     OR top IN ('NaN'::numeric, 'Infinity'::numeric) THEN 0
                ELSE pg_catalog.round(LEAST(pg_catalog.abs(value::numeric) / top, 1) * len, 1) END
$$;
COMMENT ON FUNCTION reconcile.report_bar(text, numeric, integer) IS
'Internal (reconcile.report): the length of a chart''s bar';

-- The largest finite value of a chart's bars (or the chart's own max).
CREATE FUNCTION reconcile.report_top(chart jsonb)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE((chart ->> 'max')::numeric,
                    (SELECT pg_catalog.max(pg_catalog.abs((b ->> 'value')::numeric))
                     FROM pg_catalog.jsonb_array_elements(chart -> 'bars') b
                     WHERE (b ->> 'value') NOT IN ('NaN', 'Infinity', '-Infinity')))
$$;
COMMENT ON FUNCTION reconcile.report_top(jsonb) IS
'Internal (reconcile.report): the value a chart''s longest bar stands for';

-- A chart as lines of text, for Markdown (in a fenced block: a backtick, which could close it,
-- becomes a quote) and for the text format: each bar's label padded to the widest, a bar of up to
-- 40 blocks ('#' where the database is not UTF-8), its text.
CREATE FUNCTION reconcile.report_text_bars(chart jsonb, indent text, fenced boolean)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT COALESCE(pg_catalog.string_agg(
               indent || label || pg_catalog.repeat(' ', lw - reconcile.report_width(label) + 1)
               || pg_catalog.repeat(reconcile.report_glyph(9608, '#'),
                                    pg_catalog.round(reconcile.report_bar(b.e ->> 'value', top, 40))::integer)
               || ' ' || text || E'\n', '' ORDER BY b.n), '')
    FROM pg_catalog.jsonb_array_elements(chart -> 'bars') WITH ORDINALITY AS b(e, n)
    CROSS JOIN LATERAL (SELECT CASE WHEN fenced THEN pg_catalog.replace(b.e ->> 'label', '`', '''') ELSE b.e ->> 'label' END AS label,
                               CASE WHEN fenced THEN pg_catalog.replace(b.e ->> 'text', '`', '''') ELSE b.e ->> 'text' END AS text) v
    CROSS JOIN (SELECT reconcile.report_top(chart) AS top,
                       COALESCE((SELECT pg_catalog.max(reconcile.report_width(x ->> 'label'))
                                 FROM pg_catalog.jsonb_array_elements(chart -> 'bars') x), 0) AS lw) w
$$;
COMMENT ON FUNCTION reconcile.report_text_bars(jsonb, text, boolean) IS
'Internal (reconcile.report): a chart as lines of text bars (Markdown and text)';

-- HTML: one file that prints on A4, its style inline, its charts inline SVG; no script, and a
-- Content-Security-Policy that would refuse one, and anything fetched, if one got in.
CREATE FUNCTION reconcile.report_html(doc jsonb)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $$
DECLARE
    out   text;
    sec   jsonb;
    blk   jsonb;
    r     jsonb;
    i     integer;
    j     integer;
    top   numeric;
    w     numeric;
    y     integer;
    css_name text;
BEGIN
    -- the name in the page's running head: a CSS string, every character but letters, digits and
    -- spaces written as an escape (non-ASCII ones dropped where the database is not UTF-8)
    SELECT pg_catalog.string_agg(CASE WHEN c ~ '^[A-Za-z0-9 ]$' THEN c
                                      WHEN pg_catalog.getdatabaseencoding() = 'UTF8' OR pg_catalog.octet_length(c) = 1
                                      THEN '\' || pg_catalog.to_hex(pg_catalog.ascii(c)) || ' '
                                      ELSE '' END, '' ORDER BY n)
      INTO css_name
    FROM pg_catalog.regexp_split_to_table(doc ->> 'name', '') WITH ORDINALITY AS t(c, n);

    out := '<!DOCTYPE html>' || E'\n'
        || '<html lang="en">' || E'\n' || '<head>' || E'\n'
        || '<meta charset="utf-8">' || E'\n'
        || '<meta http-equiv="Content-Security-Policy" content="default-src ''none''; style-src ''unsafe-inline''">' || E'\n'
        || '<meta name="generator" content="reconcile">' || E'\n'
        || '<title>' || reconcile.report_esc((doc ->> 'title') || ': ' || (doc ->> 'subtitle'), 'html') || '</title>' || E'\n'
        || '<style>' || E'\n'
        || '@page { size: A4; margin: 18mm 14mm 18mm 14mm;' || E'\n'
        || '  @top-left { content: "Reconciliation statement: ' || COALESCE(css_name, '') || '"; font: 8pt sans-serif; color: #555; }' || E'\n'
        || '  @bottom-right { content: "Page " counter(page) " of " counter(pages); font: 8pt sans-serif; color: #555; } }' || E'\n'
        || 'body { font: 9pt/1.35 "Noto Sans", "Noto Sans CJK SC", "DejaVu Sans", sans-serif; color: #111; margin: 0 auto; max-width: 182mm; }' || E'\n'
        || 'h1 { font-size: 16pt; margin: 0 0 2pt; } .sub { font-size: 11pt; margin: 0 0 8pt; color: #333; }' || E'\n'
        || 'h2 { font-size: 12pt; border-bottom: 1px solid #888; margin: 14pt 0 6pt; break-after: avoid; }' || E'\n'
        || 'h3 { font-size: 10pt; margin: 8pt 0 3pt; break-after: avoid; }' || E'\n'
        || 'p { margin: 3pt 0 6pt; }' || E'\n'
        || 'table { border-collapse: collapse; width: 100%; margin: 3pt 0 8pt; font-size: 7.5pt; }' || E'\n'
        || 'th, td { border-bottom: 0.5pt solid #ccc; padding: 1.5pt 3pt; text-align: left; vertical-align: top; overflow-wrap: break-word; }' || E'\n'
        || 'th { background: #eee; } .n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; } .k { white-space: nowrap; }' || E'\n'
        || 'thead { display: table-header-group; } tr { break-inside: avoid; }' || E'\n'
        || 'tr.strong td { font-weight: bold; border-top: 0.8pt solid #333; }' || E'\n'
        || 'table.facts { width: auto; font-size: 8.5pt; } table.facts th { background: none; padding-right: 12pt; }' || E'\n'
        || '.bad { color: #b00; font-weight: bold; }' || E'\n'
        || 'figure { margin: 4pt 0 10pt; break-inside: avoid; } figcaption { font-weight: bold; margin-bottom: 2pt; }' || E'\n'
        || 'svg { display: block; width: 100%; height: auto; }' || E'\n'
        || '.sign { display: flex; gap: 10mm; margin-top: 8pt; break-inside: avoid; } .sign div { flex: 1; }' || E'\n'
        || '.line { border-bottom: 0.8pt solid #000; height: 12mm; } .small { font-size: 8pt; color: #444; }' || E'\n'
        || '</style>' || E'\n' || '</head>' || E'\n' || '<body>' || E'\n'
        || '<h1>' || reconcile.report_esc(doc ->> 'title', 'html') || '</h1>' || E'\n'
        || '<p class="sub">' || reconcile.report_esc(doc ->> 'subtitle', 'html') || '</p>' || E'\n'
        || '<table class="facts">' || E'\n';
    FOR r IN SELECT e FROM pg_catalog.jsonb_array_elements(doc -> 'facts') WITH ORDINALITY AS t(e, n) ORDER BY n LOOP
        out := out || '<tr><th>' || reconcile.report_esc(r ->> 0, 'html') || '</th><td>'
                   || reconcile.report_esc(r ->> 1, 'html') || '</td></tr>' || E'\n';
    END LOOP;
    out := out || '</table>' || E'\n';

    FOR sec IN SELECT e FROM pg_catalog.jsonb_array_elements(doc -> 'sections') WITH ORDINALITY AS t(e, n) ORDER BY n LOOP
        out := out || '<section>' || E'\n' || '<h2>' || reconcile.report_esc(sec ->> 'heading', 'html') || '</h2>' || E'\n';
        FOR blk IN SELECT e FROM pg_catalog.jsonb_array_elements(sec -> 'blocks') WITH ORDINALITY AS t(e, n) ORDER BY n LOOP
            IF blk ? 'p' THEN
                out := out || '<p' || CASE WHEN blk ->> 'p' LIKE '%DOES NOT AGREE%' THEN ' class="bad"' ELSE '' END || '>'
                           || reconcile.report_esc(blk ->> 'p', 'html') || '</p>' || E'\n';
            ELSIF blk ? 'h' THEN
                out := out || '<h3>' || reconcile.report_esc(blk ->> 'h', 'html') || '</h3>' || E'\n';
            ELSIF blk ? 'table' THEN
                out := out || '<table>' || E'\n' || '<thead><tr>';
                FOR i IN 0 .. pg_catalog.jsonb_array_length(blk -> 'table' -> 'cols') - 1 LOOP
                    out := out || '<th' || CASE WHEN (blk -> 'table' -> 'num' ->> i)::boolean THEN ' class="n"'
                                               WHEN COALESCE(blk -> 'table' -> 'keep', '[]') @> pg_catalog.to_jsonb(i) THEN ' class="k"'
                                               ELSE '' END || '>'
                               || reconcile.report_esc(blk -> 'table' -> 'cols' ->> i, 'html') || '</th>';
                END LOOP;
                out := out || '</tr></thead>' || E'\n' || '<tbody>' || E'\n';
                j := 0;
                FOR r IN SELECT e FROM pg_catalog.jsonb_array_elements(blk -> 'table' -> 'rows') WITH ORDINALITY AS t(e, n) ORDER BY n LOOP
                    out := out || CASE WHEN COALESCE(blk -> 'table' -> 'strong', '[]') @> pg_catalog.to_jsonb(j)
                                       THEN '<tr class="strong">' ELSE '<tr>' END;
                    FOR i IN 0 .. pg_catalog.jsonb_array_length(r) - 1 LOOP
                        out := out || '<td' || CASE WHEN (blk -> 'table' -> 'num' ->> i)::boolean THEN ' class="n"'
                                                   WHEN COALESCE(blk -> 'table' -> 'keep', '[]') @> pg_catalog.to_jsonb(i) THEN ' class="k"'
                                                   ELSE '' END || '>'
                                   || reconcile.report_esc(r ->> i, 'html') || '</td>';
                    END LOOP;
                    out := out || '</tr>' || E'\n';
                    j := j + 1;
                END LOOP;
                out := out || '</tbody>' || E'\n' || '</table>' || E'\n';
            ELSIF blk ? 'chart' THEN
                top := reconcile.report_top(blk -> 'chart');
                j := pg_catalog.jsonb_array_length(blk -> 'chart' -> 'bars');
                out := out || '<figure>' || E'\n' || '<figcaption>' || reconcile.report_esc(blk -> 'chart' ->> 'title', 'html')
                           || '</figcaption>' || E'\n'
                           || '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 680 ' || (j * 20 + 4) || '" role="img" aria-label="'
                           || reconcile.report_esc(blk -> 'chart' ->> 'title', 'html') || '">' || E'\n';
                y := 0;
                FOR r IN SELECT e FROM pg_catalog.jsonb_array_elements(blk -> 'chart' -> 'bars') WITH ORDINALITY AS t(e, n) ORDER BY n LOOP
                    w := reconcile.report_bar(r ->> 'value', top, 300);
                    out := out || '<text x="0" y="' || (y + 15) || '" font-size="11" font-family="sans-serif">'
                               || reconcile.report_esc(r ->> 'label', 'html') || '</text>'
                               || '<rect x="190" y="' || (y + 4) || '" width="' || w || '" height="13" fill="#3d6fb0"/>'
                               || '<text x="' || (194 + w) || '" y="' || (y + 15) || '" font-size="11" font-family="sans-serif">'
                               || reconcile.report_esc(r ->> 'text', 'html') || '</text>' || E'\n';
                    y := y + 20;
                END LOOP;
                out := out || '</svg>' || E'\n' || '</figure>' || E'\n';
            ELSIF blk ? 'sign' THEN
                out := out || '<div class="sign">' || E'\n';
                FOR r IN SELECT e FROM pg_catalog.jsonb_array_elements(blk -> 'sign') WITH ORDINALITY AS t(e, n) ORDER BY n LOOP
                    out := out || '<div><div class="line"></div><p>' || reconcile.report_esc(r ->> 0, 'html') || ': <b>'
                               || reconcile.report_esc(r ->> 1, 'html') || '</b></p><p class="small">Signature and date</p></div>' || E'\n';
                END LOOP;
                out := out || '</div>' || E'\n';
            END IF;
        END LOOP;
        out := out || '</section>' || E'\n';
    END LOOP;
    RETURN out || '</body>' || E'\n' || '</html>' || E'\n';
END
$$;
COMMENT ON FUNCTION reconcile.report_html(jsonb) IS
'Internal (reconcile.report): the statement as one HTML file (inline CSS and SVG, no script, prints on A4)';

-- Markdown (GitHub's tables): the charts as bars of text in fenced blocks.
CREATE FUNCTION reconcile.report_markdown(doc jsonb)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $$
DECLARE
    out text;
    sec jsonb;
    blk jsonb;
    r   jsonb;
    i   integer;
    j   integer;
BEGIN
    out := '# ' || reconcile.report_esc(doc ->> 'title', 'markdown') || E'\n\n'
        || reconcile.report_esc(doc ->> 'subtitle', 'markdown') || E'\n\n'
        || '| | |' || E'\n' || '|:--|:--|' || E'\n';
    FOR r IN SELECT e FROM pg_catalog.jsonb_array_elements(doc -> 'facts') WITH ORDINALITY AS t(e, n) ORDER BY n LOOP
        out := out || '| **' || reconcile.report_esc(r ->> 0, 'markdown') || '** | ' || reconcile.report_esc(r ->> 1, 'markdown') || ' |' || E'\n';
    END LOOP;
    FOR sec IN SELECT e FROM pg_catalog.jsonb_array_elements(doc -> 'sections') WITH ORDINALITY AS t(e, n) ORDER BY n LOOP
        out := out || E'\n' || '## ' || reconcile.report_esc(sec ->> 'heading', 'markdown') || E'\n';
        FOR blk IN SELECT e FROM pg_catalog.jsonb_array_elements(sec -> 'blocks') WITH ORDINALITY AS t(e, n) ORDER BY n LOOP
            IF blk ? 'p' THEN
                out := out || E'\n' || reconcile.report_esc(blk ->> 'p', 'markdown') || E'\n';
            ELSIF blk ? 'h' THEN
                out := out || E'\n' || '### ' || reconcile.report_esc(blk ->> 'h', 'markdown') || E'\n';
            ELSIF blk ? 'table' THEN
                out := out || E'\n' || '|';
                FOR i IN 0 .. pg_catalog.jsonb_array_length(blk -> 'table' -> 'cols') - 1 LOOP
                    out := out || ' ' || reconcile.report_esc(blk -> 'table' -> 'cols' ->> i, 'markdown') || ' |';
                END LOOP;
                out := out || E'\n' || '|';
                FOR i IN 0 .. pg_catalog.jsonb_array_length(blk -> 'table' -> 'cols') - 1 LOOP
                    out := out || CASE WHEN (blk -> 'table' -> 'num' ->> i)::boolean THEN '--:|' ELSE ':--|' END;
                END LOOP;
                out := out || E'\n';
                j := 0;
                FOR r IN SELECT e FROM pg_catalog.jsonb_array_elements(blk -> 'table' -> 'rows') WITH ORDINALITY AS t(e, n) ORDER BY n LOOP
                    out := out || '|';
                    FOR i IN 0 .. pg_catalog.jsonb_array_length(r) - 1 LOOP
                        out := out || ' ' || CASE WHEN COALESCE(blk -> 'table' -> 'strong', '[]') @> pg_catalog.to_jsonb(j) AND r ->> i <> ''
                                                  THEN '**' || reconcile.report_esc(r ->> i, 'markdown') || '**'
                                                  ELSE reconcile.report_esc(r ->> i, 'markdown') END || ' |';
                    END LOOP;
                    out := out || E'\n';
                    j := j + 1;
                END LOOP;
            ELSIF blk ? 'chart' THEN
                out := out || E'\n' || '**' || reconcile.report_esc(blk -> 'chart' ->> 'title', 'markdown') || '**' || E'\n\n' || '```text' || E'\n'
                           || reconcile.report_text_bars(blk -> 'chart', '', true) || '```' || E'\n';
            ELSIF blk ? 'sign' THEN
                out := out || E'\n' || '| | Name | Signature | Date |' || E'\n' || '|:--|:--|:--|:--|' || E'\n';
                FOR r IN SELECT e FROM pg_catalog.jsonb_array_elements(blk -> 'sign') WITH ORDINALITY AS t(e, n) ORDER BY n LOOP
                    out := out || '| ' || reconcile.report_esc(r ->> 0, 'markdown') || ' | ' || reconcile.report_esc(r ->> 1, 'markdown')
                               || ' | \_\_\_\_\_\_\_\_\_\_\_\_\_\_\_\_\_\_\_\_ | \_\_\_\_\_\_\_\_\_\_ |' || E'\n';
                END LOOP;
            END IF;
        END LOOP;
    END LOOP;
    RETURN out;
END
$$;
COMMENT ON FUNCTION reconcile.report_markdown(jsonb) IS
'Internal (reconcile.report): the statement as Markdown (GitHub tables, the charts as text in fenced blocks)';

-- A line of a fixed-width table: each cell padded to its column, numbers to the right.
CREATE FUNCTION reconcile.report_cells(cells jsonb, widths integer[], num jsonb)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.rtrim(pg_catalog.string_agg(
               CASE WHEN (num ->> (n - 1)::integer)::boolean
                    THEN pg_catalog.repeat(' ', widths[n] - reconcile.report_width(c)) || c
                    ELSE c || pg_catalog.repeat(' ', widths[n] - reconcile.report_width(c)) END, '  ' ORDER BY n))
    FROM pg_catalog.jsonb_array_elements_text(cells) WITH ORDINALITY AS t(c, n)
$$;
COMMENT ON FUNCTION reconcile.report_cells(jsonb, integer[], jsonb) IS
'Internal (reconcile.report): one line of a fixed-width table';

-- Fixed-width text, for a terminal or an e-mail: paragraphs wrapped at 78 columns, tables as wide
-- as their cells (ids are cut at 40 characters, memos at 80).
CREATE FUNCTION reconcile.report_text(doc jsonb)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $$
DECLARE
    out    text;
    sec    jsonb;
    blk    jsonb;
    r      jsonb;
    widths integer[];
    lw     integer;
BEGIN
    out := (doc ->> 'title') || E'\n' || pg_catalog.repeat('=', reconcile.report_width(doc ->> 'title')) || E'\n'
        || (doc ->> 'subtitle') || E'\n\n';
    SELECT pg_catalog.max(reconcile.report_width(e ->> 0)) INTO lw FROM pg_catalog.jsonb_array_elements(doc -> 'facts') e;
    FOR r IN SELECT e FROM pg_catalog.jsonb_array_elements(doc -> 'facts') WITH ORDINALITY AS t(e, n) ORDER BY n LOOP
        out := out || (r ->> 0) || ':' || pg_catalog.repeat(' ', lw - reconcile.report_width(r ->> 0) + 1) || (r ->> 1) || E'\n';
    END LOOP;
    FOR sec IN SELECT e FROM pg_catalog.jsonb_array_elements(doc -> 'sections') WITH ORDINALITY AS t(e, n) ORDER BY n LOOP
        out := out || E'\n' || (sec ->> 'heading') || E'\n' || pg_catalog.repeat('-', reconcile.report_width(sec ->> 'heading')) || E'\n';
        FOR blk IN SELECT e FROM pg_catalog.jsonb_array_elements(sec -> 'blocks') WITH ORDINALITY AS t(e, n) ORDER BY n LOOP
            IF blk ? 'p' THEN
                out := out || E'\n' || pg_catalog.regexp_replace(blk ->> 'p', '(.{1,78})( +|$)', E'\\1\n', 'g');
            ELSIF blk ? 'h' THEN
                out := out || E'\n' || (blk ->> 'h') || E'\n';
            ELSIF blk ? 'table' THEN
                SELECT pg_catalog.array_agg(w ORDER BY n) INTO widths
                FROM (SELECT t.n, pg_catalog.max(reconcile.report_width(c.c)) AS w
                      FROM (SELECT blk -> 'table' -> 'cols' AS e UNION ALL
                            SELECT e FROM pg_catalog.jsonb_array_elements(blk -> 'table' -> 'rows') e) x
                      CROSS JOIN LATERAL pg_catalog.jsonb_array_elements_text(x.e) WITH ORDINALITY AS t(v, n)
                      CROSS JOIN LATERAL (SELECT t.v AS c) c
                      GROUP BY t.n) y;
                out := out || E'\n' || reconcile.report_cells(blk -> 'table' -> 'cols', widths, blk -> 'table' -> 'num') || E'\n'
                           || (SELECT pg_catalog.string_agg(pg_catalog.repeat('-', w), '  ' ORDER BY n)
                               FROM pg_catalog.unnest(widths) WITH ORDINALITY AS t(w, n)) || E'\n';
                FOR r IN SELECT e FROM pg_catalog.jsonb_array_elements(blk -> 'table' -> 'rows') WITH ORDINALITY AS t(e, n) ORDER BY n LOOP
                    out := out || reconcile.report_cells(r, widths, blk -> 'table' -> 'num') || E'\n';
                END LOOP;
            ELSIF blk ? 'chart' THEN
                out := out || E'\n' || (blk -> 'chart' ->> 'title') || E'\n' || reconcile.report_text_bars(blk -> 'chart', '  ', false);
            ELSIF blk ? 'sign' THEN
                FOR r IN SELECT e FROM pg_catalog.jsonb_array_elements(blk -> 'sign') WITH ORDINALITY AS t(e, n) ORDER BY n LOOP
                    out := out || E'\n' || (r ->> 0) || ': ' || (r ->> 1) || E'\n\n'
                               || '    Signature: ______________________________   Date: ______________' || E'\n';
                END LOOP;
            END IF;
        END LOOP;
    END LOOP;
    RETURN out;
END
$$;
COMMENT ON FUNCTION reconcile.report_text(jsonb) IS
'Internal (reconcile.report): the statement as fixed-width text';

----------------------------------------------------------------------------
-- The reconciliation statement
----------------------------------------------------------------------------

CREATE FUNCTION reconcile.report(run_id bigint, format text DEFAULT 'html')
RETURNS text
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF format NOT IN ('html', 'markdown', 'text') THEN
        RAISE EXCEPTION 'unknown report format "%"', reconcile.report_clean(format, 40)
            USING ERRCODE = 'invalid_parameter_value', HINT = 'The formats are html, markdown and text.';
    END IF;
    RETURN CASE format
        WHEN 'html' THEN reconcile.report_html(reconcile.report_model(run_id))
        WHEN 'markdown' THEN reconcile.report_markdown(reconcile.report_model(run_id))
        ELSE reconcile.report_text(reconcile.report_model(run_id)) END;
END
$$;
COMMENT ON FUNCTION reconcile.report(bigint, text) IS
'The reconciliation statement of a run, to print, sign and hand to the auditor: html (one file, inline CSS and SVG charts, no scripts, A4), markdown or text; the proof per key, the open items with their aging, the adjustments with maker and checker, the match rate, charts and signatures; read with the caller''s rights (a run they may not see: 42704)';
