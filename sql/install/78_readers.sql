/* 78_readers.sql: reading the statements and bills users receive (SPEC 9, 0.7.0) */

----------------------------------------------------------------------------
-- A line of a statement or bill
----------------------------------------------------------------------------

CREATE TYPE reconcile.statement_line AS (
    source       text,
    account      text,
    currency     text,
    id           text,
    tx_date      date,
    value_date   date,
    amount       numeric,
    fee          numeric,
    ref          text,
    memo         text,
    counterparty text,
    raw          jsonb
);
COMMENT ON TYPE reconcile.statement_line IS
'One line of a statement or bill as the reconcile.read_* functions return it: the reader (source), account, currency, an id unique within the document and stable, booking and value dates, the amount signed by the document''s own marks (money in is positive), the fee deducted, the reference (end-to-end id), memo and counterparty, and every field of the line as read (raw)';

----------------------------------------------------------------------------
-- The readers in C (src/read_*.c, src/reader.c)
----------------------------------------------------------------------------

CREATE FUNCTION reconcile.read_mt940(doc text)
RETURNS SETOF reconcile.statement_line
AS 'MODULE_PATHNAME', 'rc_read_mt940'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION reconcile.read_mt940(text) IS
'The statement lines of a SWIFT MT940 document (one or more statements): one per :61:, with its :86: (structured ?20.. subfields and SEPA keywords, /EREF/ /REMI/ keywords, or text) as ref, memo and counterparty; 22P02 with the line for a malformed or truncated document, 22023 for one that is not MT940';

CREATE FUNCTION reconcile.read_ofx(doc text)
RETURNS SETOF reconcile.statement_line
AS 'MODULE_PATHNAME', 'rc_read_ofx'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION reconcile.read_ofx(text) IS
'The transactions of an OFX 1.x (SGML) or 2.x (XML) bank or card statement document: one per STMTTRN, FITID as the id (the account and position when there is none); 22P02 with the line for a malformed or truncated document, 22023 for one that is not OFX';

CREATE FUNCTION reconcile.read_alipay(doc bytea)
RETURNS SETOF reconcile.statement_line
AS 'MODULE_PATHNAME', 'rc_read_alipay'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION reconcile.read_alipay(bytea) IS
'The rows of an Alipay merchant bill (the account statement or the business statement), GBK or UTF-8, its #-lines of preamble and totals left out; 22P02 with the line for a malformed, truncated or wrongly encoded bill, 22023 for another layout';

CREATE FUNCTION reconcile.read_wechatpay(doc bytea)
RETURNS SETOF reconcile.statement_line
AS 'MODULE_PATHNAME', 'rc_read_wechatpay'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION reconcile.read_wechatpay(bytea) IS
'The rows of a WeChat Pay merchant trade bill, GBK or UTF-8: backtick-prefixed fields, the totals left out, the fee column as the fee, a refund''s amount negative under its refund id; 22P02 with the line for a malformed, truncated or wrongly encoded bill, 22023 for another layout';

----------------------------------------------------------------------------
-- camt.053 (and camt.052, camt.054) through PostgreSQL's XML support
----------------------------------------------------------------------------

-- An XPath of element names (and a last @attribute) that matches them in any namespace:
-- 'Acct/Id/IBAN' becomes *[local-name()='Acct']/*[local-name()='Id']/*[local-name()='IBAN'].
CREATE FUNCTION reconcile.camt_path(path text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.string_agg(CASE WHEN s LIKE '@%' OR s = '.' THEN s
                                      ELSE pg_catalog.format('*[local-name()=%L]', s) END, '/' ORDER BY n)
    FROM pg_catalog.unnest(pg_catalog.string_to_array(path, '/')) WITH ORDINALITY u(s, n)
$$;
COMMENT ON FUNCTION reconcile.camt_path(text) IS
'Internal to reconcile.read_camt053: an XPath of element names that matches them in any namespace (camt has one per version)';

-- The texts of an XML fragment (several Ustrd, say), joined by spaces; NULL for none.
CREATE FUNCTION reconcile.xml_texts(x xml)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT NULLIF(pg_catalog.btrim(pg_catalog.array_to_string(
               pg_catalog.xpath('/r//text()', XMLELEMENT(NAME r, x))::text[], ' ')), '')
$$;
COMMENT ON FUNCTION reconcile.xml_texts(xml) IS
'Internal to reconcile.read_camt053: the texts of an XML fragment joined by spaces';

-- One line per entry detail (a batch entry split into its transactions, the entry's references
-- kept), or per entry without details, of every statement (report, notification) of the
-- document.  The document is parsed once; malformed XML, an entry or transaction without an
-- amount or debit/credit mark, or an amount that is not a number is 22P02 naming the element;
-- a document that is not camt.052/053/054 is 22023; PostgreSQL built without libxml 0A000.
CREATE FUNCTION reconcile.read_camt053(doc text)
RETURNS SETOF reconcile.statement_line
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE ROWS 1000
SET search_path = pg_catalog, pg_temp
SET standard_conforming_strings = on
AS $$
DECLARE
    x    xml;
    t    record;
    amt  text;
    mark text;
    fee  numeric;
    what text;
BEGIN
    BEGIN
        x := XMLPARSE(DOCUMENT doc);
    EXCEPTION
        WHEN feature_not_supported THEN
            RAISE EXCEPTION 'reading camt.053 needs PostgreSQL built with libxml'
                USING ERRCODE = '0A000',
                      HINT = 'This server was built without --with-libxml; the other readers work without it.';
        WHEN SQLSTATE '2200M' OR SQLSTATE '2200N' THEN
            GET STACKED DIAGNOSTICS what = PG_EXCEPTION_DETAIL;
            RAISE EXCEPTION 'malformed camt.053 document: %', pg_catalog.split_part(COALESCE(what, SQLERRM), E'\n', 1)
                USING ERRCODE = '22P02';
    END;
    IF NOT pg_catalog.xpath_exists(reconcile.camt_path('Document') ||
            '/*[local-name()=''BkToCstmrStmt'' or local-name()=''BkToCstmrAcctRpt'' or local-name()=''BkToCstmrDbtCdtNtfctn'']', x) THEN
        RAISE EXCEPTION 'not a layout of camt document that reconcile.read_camt053 knows'
            USING ERRCODE = '22023',
                  DETAIL = 'No Document/BkToCstmrStmt (camt.053), BkToCstmrAcctRpt (camt.052) or BkToCstmrDbtCdtNtfctn (camt.054).';
    END IF;
    FOR t IN
        SELECT s.sn, s.stmt_id, COALESCE(s.iban, s.othr) AS account, s.ccy AS stmt_ccy,
               e.en, e.amt, e.amt_ccy, e.cdi, e.rvsl, COALESCE(e.bookg, e.bookg_tm::date) AS bookg,
               COALESCE(e.val, e.val_tm::date) AS val, e.ntryref, e.acctsvcr, e.addtl, e.btch, e.ntxs,
               d.tn, d.tx_amt, d.tx_amt2, d.tx_ccy, d.tx_ccy2, d.tx_cdi, d.e2e, d.tx_acctsvcr, d.msgid,
               d.pmtinf, d.instr, COALESCE(d.dbtr, d.dbtr2) AS dbtr, COALESCE(d.cdtr, d.cdtr2) AS cdtr,
               reconcile.xml_texts(d.ustrd) AS ustrd, d.cdtrref, d.rtr, d.addtl_tx,
               reconcile.xml_texts(d.chrgs) AS chrgs
        FROM XMLTABLE((reconcile.camt_path('Document') ||
                       '/*/*[local-name()=''Stmt'' or local-name()=''Rpt'' or local-name()=''Ntfctn'']')
                      PASSING x
                      COLUMNS sn FOR ORDINALITY,
                              stmt_id text PATH (reconcile.camt_path('Id')),
                              iban text PATH (reconcile.camt_path('Acct/Id/IBAN')),
                              othr text PATH (reconcile.camt_path('Acct/Id/Othr/Id')),
                              ccy text PATH (reconcile.camt_path('Acct/Ccy')),
                              body xml PATH '.') s
        CROSS JOIN LATERAL XMLTABLE(('*/' || reconcile.camt_path('Ntry')) PASSING s.body
                      COLUMNS en FOR ORDINALITY,
                              amt text PATH (reconcile.camt_path('Amt')),
                              amt_ccy text PATH (reconcile.camt_path('Amt/@Ccy')),
                              cdi text PATH (reconcile.camt_path('CdtDbtInd')),
                              rvsl text PATH (reconcile.camt_path('RvslInd')),
                              bookg date PATH (reconcile.camt_path('BookgDt/Dt')),
                              bookg_tm timestamptz PATH (reconcile.camt_path('BookgDt/DtTm')),
                              val date PATH (reconcile.camt_path('ValDt/Dt')),
                              val_tm timestamptz PATH (reconcile.camt_path('ValDt/DtTm')),
                              ntryref text PATH (reconcile.camt_path('NtryRef')),
                              acctsvcr text PATH (reconcile.camt_path('AcctSvcrRef')),
                              addtl text PATH (reconcile.camt_path('AddtlNtryInf')),
                              btch text PATH (reconcile.camt_path('NtryDtls/Btch/PmtInfId')),
                              ntxs integer PATH ('count(' || reconcile.camt_path('NtryDtls/TxDtls') || ')'),
                              body xml PATH '.') e
        LEFT JOIN LATERAL XMLTABLE(('*/' || reconcile.camt_path('NtryDtls/TxDtls')) PASSING e.body
                      COLUMNS tn FOR ORDINALITY,
                              tx_amt text PATH (reconcile.camt_path('Amt')),
                              tx_ccy text PATH (reconcile.camt_path('Amt/@Ccy')),
                              tx_amt2 text PATH (reconcile.camt_path('AmtDtls/TxAmt/Amt')),
                              tx_ccy2 text PATH (reconcile.camt_path('AmtDtls/TxAmt/Amt/@Ccy')),
                              tx_cdi text PATH (reconcile.camt_path('CdtDbtInd')),
                              e2e text PATH (reconcile.camt_path('Refs/EndToEndId')),
                              tx_acctsvcr text PATH (reconcile.camt_path('Refs/AcctSvcrRef')),
                              msgid text PATH (reconcile.camt_path('Refs/MsgId')),
                              pmtinf text PATH (reconcile.camt_path('Refs/PmtInfId')),
                              instr text PATH (reconcile.camt_path('Refs/InstrId')),
                              dbtr text PATH (reconcile.camt_path('RltdPties/Dbtr/Nm')),
                              dbtr2 text PATH (reconcile.camt_path('RltdPties/Dbtr/Pty/Nm')),
                              cdtr text PATH (reconcile.camt_path('RltdPties/Cdtr/Nm')),
                              cdtr2 text PATH (reconcile.camt_path('RltdPties/Cdtr/Pty/Nm')),
                              ustrd xml PATH (reconcile.camt_path('RmtInf/Ustrd')),
                              cdtrref text PATH (reconcile.camt_path('RmtInf/Strd/CdtrRefInf/Ref')),
                              rtr text PATH (reconcile.camt_path('RtrInf/Rsn/Cd')),
                              addtl_tx text PATH (reconcile.camt_path('AddtlTxInf')),
                              chrgs xml PATH (reconcile.camt_path('Chrgs') || '//' || reconcile.camt_path('Amt'))) d
            ON true
        ORDER BY s.sn, e.en, d.tn
    LOOP
        what := pg_catalog.format('Ntry %s of statement %s', t.en, COALESCE(t.stmt_id, t.sn::text));
        -- an entry of one transaction is what was booked (net of its charges); a transaction of a
        -- batch has its own amount, less its own charges
        amt := CASE WHEN COALESCE(t.ntxs, 0) <= 1 THEN t.amt ELSE COALESCE(t.tx_amt, t.tx_amt2) END;
        IF amt IS NULL THEN
            RAISE EXCEPTION 'malformed camt.053 document: % has no Amt%', what,
                            CASE WHEN t.tn IS NOT NULL THEN pg_catalog.format(' for its TxDtls %s', t.tn) ELSE '' END
                USING ERRCODE = '22P02';
        END IF;
        IF amt !~ '^\s*[0-9]+(\.[0-9]+)?\s*$' THEN
            RAISE EXCEPTION 'malformed camt.053 document: the Amt of % is not an amount: %', what, pg_catalog.left(amt, 40)
                USING ERRCODE = '22P02';
        END IF;
        mark := CASE WHEN COALESCE(t.ntxs, 0) <= 1 THEN t.cdi ELSE COALESCE(t.tx_cdi, t.cdi) END;
        fee := (SELECT pg_catalog.sum(c::numeric) FROM pg_catalog.unnest(pg_catalog.string_to_array(t.chrgs, ' ')) c
                WHERE c ~ '^[0-9]+(\.[0-9]+)?$');
        IF mark IS NULL OR mark NOT IN ('CRDT', 'DBIT') THEN
            RAISE EXCEPTION 'malformed camt.053 document: % has no CdtDbtInd (CRDT or DBIT)', what
                USING ERRCODE = '22P02';
        END IF;
        IF t.bookg IS NULL AND t.val IS NULL THEN
            RAISE EXCEPTION 'malformed camt.053 document: % has no BookgDt nor ValDt', what USING ERRCODE = '22P02';
        END IF;
        RETURN NEXT ROW(
            'camt053', t.account, COALESCE(t.tx_ccy, t.tx_ccy2, t.amt_ccy, t.stmt_ccy),
            COALESCE(t.stmt_id, t.sn::text) || '/' || t.en || CASE WHEN t.tn IS NOT NULL AND t.ntxs > 1 THEN '/' || t.tn ELSE '' END,
            COALESCE(t.bookg, t.val), t.val,
            (CASE WHEN mark = 'DBIT' THEN -1 ELSE 1 END)
                * (amt::numeric - CASE WHEN COALESCE(t.ntxs, 0) > 1 THEN COALESCE(fee, 0) ELSE 0 END),
            fee,
            COALESCE(NULLIF(t.e2e, 'NOTPROVIDED'), t.cdtrref, t.ntryref),
            COALESCE(t.ustrd, t.addtl_tx, t.addtl),
            CASE WHEN mark = 'CRDT' THEN t.dbtr ELSE t.cdtr END,
            pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                'Stmt/Id', t.stmt_id, 'Acct', t.account, 'Ntry/Amt', t.amt, 'Ntry/Amt/@Ccy', t.amt_ccy,
                'Ntry/CdtDbtInd', t.cdi, 'Ntry/RvslInd', t.rvsl, 'Ntry/BookgDt', t.bookg, 'Ntry/ValDt', t.val,
                'Ntry/NtryRef', t.ntryref, 'Ntry/AcctSvcrRef', t.acctsvcr, 'Ntry/AddtlNtryInf', t.addtl,
                'Ntry/Btch/PmtInfId', t.btch, 'TxDtls/Amt', COALESCE(t.tx_amt, t.tx_amt2),
                'TxDtls/CdtDbtInd', t.tx_cdi, 'TxDtls/Refs/EndToEndId', t.e2e,
                'TxDtls/Refs/AcctSvcrRef', t.tx_acctsvcr, 'TxDtls/Refs/MsgId', t.msgid,
                'TxDtls/Refs/PmtInfId', t.pmtinf, 'TxDtls/Refs/InstrId', t.instr,
                'TxDtls/RltdPties/Dbtr', t.dbtr, 'TxDtls/RltdPties/Cdtr', t.cdtr,
                'TxDtls/RmtInf/Ustrd', t.ustrd, 'TxDtls/RmtInf/CdtrRefInf/Ref', t.cdtrref,
                'TxDtls/RtrInf/Rsn/Cd', t.rtr, 'TxDtls/AddtlTxInf', t.addtl_tx, 'TxDtls/Chrgs', t.chrgs))
        )::reconcile.statement_line;
    END LOOP;
END
$$;
COMMENT ON FUNCTION reconcile.read_camt053(text) IS
'The lines of an ISO 20022 camt.053 statement (also camt.052 reports and camt.054 notifications): one per entry detail (a batch entry split into its transactions, the entry''s references kept), the end-to-end id or creditor reference as ref, the unstructured remittance as memo, charges as the fee; needs PostgreSQL built with libxml (0A000 otherwise); 22P02 naming the element for a malformed document, 22023 for one that is not camt';
