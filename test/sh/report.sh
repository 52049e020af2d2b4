#!/usr/bin/env bash
# test/sh/report.sh: the reconciliation statement looked at as a person would: the demo loaded into a
# database of its own, the statement of December's bank account (reconcile.report) printed by
# headless Chromium to an A4 PDF and to a PNG; the PDF's pages counted and its text read for the
# proof's totals, the open items, the adjustments and both signatures' names.  Then a statement
# whose ids and memos are hostile HTML, printed the same way: they must show as text.  Last, the
# statement in databases whose encoding is not UTF-8.
# Runs against the cluster the libpq variables point at (test/sh/suite); prints TAP.
set -uo pipefail
cd "$(dirname "$0")/../.."

work=$(mktemp -d)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
n=0
failed=0
ok() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
}
has() { grep -qF -- "$2" "$1"; }

# headless Chromium as a person's browser would print it: A4 from the page's own @page rule, no
# header and footer of the browser's (the statement draws its own page numbers)
print_pdf() {
	timeout 120 chromium --headless --no-sandbox --disable-gpu --no-pdf-header-footer \
		--user-data-dir="$work/profile" --print-to-pdf="$2" "file://$1" >"$work/chromium.log" 2>&1
}
print_png() {
	timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=794,1123 \
		--user-data-dir="$work/profile" --screenshot="$2" "file://$1" >>"$work/chromium.log" 2>&1
}

db=report_demo
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
psql -X -q -d postgres -c "DROP ROLE IF EXISTS demo_checker" >/dev/null 2>&1
PGDATABASE=$db psql -X -q -v ON_ERROR_STOP=1 -v report_dir="$work" -f demo/demo.sql >"$work/demo.log" 2>&1
ok $? "the demo loads and writes its statement (make demo's last step)"
html=$work/bank_dec-statement.html
[ -s "$html" ] && [ -s "$work/bank_dec-statement.md" ] && [ -s "$work/bank_dec-statement.txt" ]
ok $? "the statement is written as html, markdown and text"
grep -qF "== The statement to print and sign: $work/bank_dec-statement.html" "$work/demo.log"
ok $? "the demo prints the path of the statement"

# the file is self-contained: no script, nothing fetched
! grep -qiE '<script|javascript:|<img|<link|<iframe|<object|src=|href=|url\(|@import' "$html"
ok $? "the html has no script and loads nothing (no src, href, url(), @import)"
[ "$(grep -oE 'https?://[^" ]*' "$html" | sort -u)" = "http://www.w3.org/2000/svg" ]
ok $? "the only address in the html is the SVG namespace"
[ "$(grep -c '<svg ' "$html")" -ge 3 ] && [ "$(grep -c '<svg ' "$html")" = "$(grep -c '</svg>' "$html")" ]
ok $? "the charts are inline SVG ($(grep -c '<svg ' "$html") of them)"

print_pdf "$html" "$work/statement.pdf"
ok $? "headless Chromium prints it to PDF"
print_png "$html" "$work/statement.png"
ok $? "headless Chromium draws its first page to PNG"
[ "$(head -c 8 "$work/statement.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] && [ "$(stat -c %s "$work/statement.png")" -gt 20000 ]
ok $? "the PNG is a picture ($(stat -c %s "$work/statement.png" 2>/dev/null) bytes)"
[ "${RC_REPORT_PNG:-}" ] && cp "$work/statement.png" "$RC_REPORT_PNG"

pdfinfo "$work/statement.pdf" >"$work/info" 2>&1
pages=$(awk '/^Pages:/ { print $2 }' "$work/info")
[ "$pages" = 2 ]
ok $? "the PDF has the 2 pages expected (has $pages)"
grep -qE '^Page size: +59[45](\.[0-9]+)? x 84[12](\.[0-9]+)? pts \(A4\)' "$work/info"
ok $? "the pages are A4"
pdftotext -layout "$work/statement.pdf" "$work/statement.txt"
ok $? "pdftotext reads the PDF"
t=$work/statement.txt
has "$t" "Page 1 of 2" && has "$t" "Page 2 of 2"
ok $? "every page is numbered, Page X of 2"
has "$t" "Reconciliation statement" && has "$t" "bank_dec, run #5 as of 2026-12-31" && has "$t" "shop.dec_receipts" && has "$t" "shop.dec_bank"
ok $? "the title, the run and the sources"

# the proof's totals, as reconcile.proof gives them
totals=$(PGDATABASE=$db psql -X -At -c "SELECT string_agg(reconcile.report_amount(amount), ' ' ORDER BY line)
                                        FROM reconcile.proof((SELECT max(run_id) FROM reconcile.runs WHERE name = 'bank_dec'))
                                        WHERE item IN ('ledger total', 'statement total')")
[ "$totals" = "1,078.00 8,766.47" ] && grep -qE 'Ledger total +3 +1,078\.00' "$t" && grep -qE 'Statement total +4 +8,766\.47' "$t"
ok $? "the proof's ledger and statement totals ($totals)"
has "$t" "they agree"
ok $? "the proof says they agree"
grep -qE 'missing_in_ledger +2 +7,987\.50' "$t" && grep -qE 'amount_mismatch +1 +-0\.03' "$t"
ok $? "each category's contribution to the proof"

# the open items, with their aging
open=$(PGDATABASE=$db psql -X -At -c "SELECT string_agg(coalesce(ledger_id, statement_id), ' ' ORDER BY item_id)
                                      FROM reconcile.open_items WHERE name = 'bank_dec'")
all=0
for id in $open; do grep -qE "(^| )$id( |$)" "$t" || all=1; done
[ -n "$open" ] && [ $all = 0 ] && grep -qE 'BK-5 .*missing_in_ledger +open +2026-12-08 +23 +8,000\.00' "$t"
ok $? "the open items ($open), with date, age and amount"
has "$t" "Open items by aging bucket" && grep -qE '8-30 +2 items' "$t"
ok $? "the aging chart"

# the adjustments with maker and checker, and the signatures
grep -qE '6600 Bank charges +12\.50 +December account fee +postgres +demo_checker' "$t"
ok $? "the adjustment with its maker and its checker"
grep -qE 'Prepared by: postgres' "$t" && grep -qE 'Approved by: demo_checker' "$t"
ok $? "both signatures' names: Prepared by postgres, Approved by demo_checker"
has "$t" "Rows matched, over the last runs" && has "$t" "Matched on review"
ok $? "the match rate and its chart"

# the same bytes every time
PGDATABASE=$db psql -X -q -At -c "SET TimeZone = 'Asia/Shanghai'" -c "SET DateStyle = 'SQL, DMY'" \
	-c "SELECT reconcile.report(max(run_id)) FROM reconcile.runs WHERE name = 'bank_dec'" >"$work/again.html"
cmp -s "$work/again.html" "$html"
ok $? "the same statement, byte for byte, under another TimeZone and DateStyle"

# hostile ids and memos print as text
PGDATABASE=$db psql -X -q -v ON_ERROR_STOP=1 >"$work/hostile.log" 2>&1 <<'SQL'
CREATE TABLE shop.rpt_led (id text, amount numeric, tx_date date);
CREATE TABLE shop.rpt_bank (id text, amount numeric, tx_date date);
INSERT INTO shop.rpt_led VALUES ('<script>alert(1)</script>', 10, '2026-12-01'),
                                ('</svg><img src=x onerror=alert(2)>', 20, '2026-12-02');
INSERT INTO shop.rpt_bank VALUES ('"quoted" & <b>bold</b>', 30, '2026-12-03');
SELECT reconcile.create('rpt_hostile', 'shop.rpt_led', 'shop.rpt_bank') \g /dev/null
SELECT reconcile.run('rpt_hostile', '2026-12-31') AS r \gset
SELECT reconcile.resolve(item_id, '<script>x</script>', 'memo </style><script>y</script>', account => '<i>acct</i>')
FROM reconcile.items WHERE name = 'rpt_hostile' AND statement_id IS NOT NULL \g /dev/null
SQL
ok $? "a statement of hostile ids and memos"
PGDATABASE=$db psql -X -At -c "SELECT reconcile.report(max(run_id)) FROM reconcile.runs WHERE name = 'rpt_hostile'" >"$work/hostile.html"
! grep -qiE '<script|<img|<b>bold|<i>acct' "$work/hostile.html" && [ "$(grep -c '<style' "$work/hostile.html")" = 1 ] && has "$work/hostile.html" "&lt;script&gt;alert(1)&lt;/script&gt;"
ok $? "hostile values are escaped in the html"
print_pdf "$work/hostile.html" "$work/hostile.pdf" && pdftotext -layout "$work/hostile.pdf" "$work/hostile.txt"
ok $? "Chromium prints the hostile statement"
has "$work/hostile.txt" "<script>alert(1)</script>" && has "$work/hostile.txt" "</svg><img src=x" \
	&& has "$work/hostile.txt" '"quoted" & <b>bold</b>' && has "$work/hostile.txt" "<i>acct</i>" \
	&& has "$work/hostile.txt" "</style><script>y</script>"
ok $? "and they show as the text they are"

# databases that are not UTF-8: the statement in every format, an id cut with '...'
for enc in LATIN1 EUC_CN SQL_ASCII; do
	edb=report_$(tr 'A-Z' 'a-z' <<<"$enc")
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $edb" \
		-c "CREATE DATABASE $edb ENCODING '$enc' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0" >/dev/null
	out=$(PGDATABASE=$edb psql -X -q -At -v ON_ERROR_STOP=1 2>&1 <<'SQL'
CREATE EXTENSION reconcile;
CREATE TABLE l (id text, amount numeric, tx_date date);
CREATE TABLE s (id text, amount numeric, tx_date date);
INSERT INTO l VALUES ('a', 10, '2026-11-01'), ('b' || repeat('x', 60), 20, '2026-11-01');
INSERT INTO s VALUES ('x', 10, '2026-11-02'), ('y', 7, '2026-11-02');
SELECT reconcile.create('enc', 'l', 's') \g /dev/null
SELECT reconcile.run('enc', '2026-11-30') AS r \gset
SELECT string_agg(f || ' ' || (reconcile.report(:r, f) LIKE '%Every row the run read is in the proof%')::text
                  || ' ' || (reconcile.report(:r, f) LIKE '%bxxx%...%')::text, ', ' ORDER BY f)
FROM unnest(ARRAY['html', 'markdown', 'text']) f;
SQL
)
	[ "$out" = "html true true, markdown true true, text true true" ]
	ok $? "a $enc database: the statement in every format (got: $out)"
	psql -X -q -d postgres -c "DROP DATABASE $edb" >/dev/null
done

psql -X -q -d postgres -c "DROP DATABASE $db" -c "DROP ROLE IF EXISTS demo_checker" >/dev/null 2>&1
echo "1..$n"
[ "$failed" -eq 0 ]
