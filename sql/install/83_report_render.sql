/* 83_report_render.sql: the printable reconciliation statement (SPEC 10, 0.8.0): how it looks

   The second stage of reconcile.report (82_report.sql holds the first): the document that
   reconcile.report_model made, laid out as one HTML file (inline CSS, inline SVG charts, A4 pages),
   as Markdown, or as fixed-width text, every value escaped for its format where it is written;
   and reconcile.report, which checks the format and calls both stages. */

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
