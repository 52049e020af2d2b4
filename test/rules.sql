-- Rules per key (SPEC 7, 0.5.0): reconcile.set_rule and reconcile.rules; the views and runs use a
-- key's rule at once, the other keys keep the reconciliation's; errors, the audit, and who may.
BEGIN;
CREATE EXTENSION IF NOT EXISTS reconcile;
SELECT plan(30);

CREATE ROLE rc_rl_owner;
CREATE ROLE rc_rl_member IN ROLE rc_rl_owner;
CREATE ROLE rc_rl_reader;
CREATE ROLE rc_rl_outsider;
GRANT USAGE, CREATE ON SCHEMA public TO rc_rl_owner, rc_rl_outsider;
GRANT USAGE ON SCHEMA public TO rc_rl_member, rc_rl_reader;

-- three platforms in one group set: JD settles T+1 at par, Douyin T+7 in a batch, Tmall 1% short
SET SESSION AUTHORIZATION rc_rl_owner;
CREATE TABLE public.rl_l (id text, shop text, amount numeric(12,2), tx_date date, ref text);
CREATE TABLE public.rl_s (id text, shop text, amount numeric(12,2), tx_date date, ref text);
INSERT INTO public.rl_l VALUES
    ('J1', 'JD', 100.00, '2026-11-01', 'JD-ORDER-0001'), ('J2', 'JD', 200.00, '2026-11-02', NULL),
    ('D1', 'DY', 300.00, '2026-11-01', 'DY-ORDER-0001'), ('D2', 'DY', 400.00, '2026-11-02', NULL),
    ('T1', 'TM', 500.00, '2026-11-01', NULL),            ('T2', 'TM', 600.00, '2026-11-02', NULL);
INSERT INTO public.rl_s VALUES
    ('SJ1', 'JD', 100.00, '2026-11-02', 'PAY JD-ORDER-0001'), ('SJ2', 'JD', 200.00, '2026-11-03', NULL),
    ('SD1', 'DY', 300.00, '2026-11-08', 'DY-ORDER-0001'),     ('SD2', 'DY', 400.00, '2026-11-09', NULL),
    ('ST1', 'TM', 495.00, '2026-11-02', NULL),                ('ST2', 'TM', 594.00, '2026-11-03', NULL);
GRANT SELECT ON public.rl_l, public.rl_s TO rc_rl_reader;
SELECT reconcile.create('rl', 'public.rl_l', 'public.rl_s', reconcile.rule(days_after => 3),
                        '{"ledger": {"key": "shop"}, "statement": {"key": "shop"}}') \g /dev/null
GRANT SELECT ON public.rl_matches TO rc_rl_reader;

CREATE FUNCTION pg_temp.cats(k text) RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(COALESCE(ledger_id, '-') || '/' || COALESCE(statement_id, '-') || ':' || category, ' '
                      ORDER BY ledger_id NULLS LAST, statement_id)
    FROM public.rl_matches WHERE key = k
$$;

SELECT is(pg_temp.cats('DY'), 'D1/SD1:timing_difference D2/-:missing_in_statement -/SD2:missing_in_ledger',
          'before: Douyin''s T+7 is outside the reconciliation''s 3 days');
SELECT is(pg_temp.cats('TM'), 'T1/-:missing_in_statement T2/-:missing_in_statement -/ST1:missing_in_ledger -/ST2:missing_in_ledger',
          'before: Tmall''s 1% is beyond its tolerance');

SELECT lives_ok($$SELECT reconcile.set_rule('rl', 'DY', reconcile.rule(days_after => 8))$$, 'set_rule: Douyin T+7');
SELECT lives_ok($$SELECT reconcile.set_rule('rl', 'TM', reconcile.rule(rel_tol => 0.01, days_after => 2))$$,
                'set_rule: Tmall 1%');
SELECT is(pg_temp.cats('DY'), 'D1/SD1:matched D2/SD2:matched', 'the view uses Douyin''s rule at once');
SELECT is(pg_temp.cats('TM'), 'T1/ST1:matched_within_tolerance T2/ST2:matched_within_tolerance',
          'and Tmall''s, without re-creating anything');
SELECT is(pg_temp.cats('JD'), 'J1/SJ1:matched J2/SJ2:matched', 'a key without a rule keeps the reconciliation''s');
SELECT is((SELECT note FROM public.rl_matches WHERE ledger_id = 'T1'), 'amount differs by 5.00, within tolerance 5.00, 1 day later',
          'the note gives the key''s tolerance');
SELECT results_eq($$SELECT name, key, (rule).days_after, (rule).rel_tol FROM reconcile.rules WHERE name = 'rl' ORDER BY key$$,
                  $$VALUES ('rl'::text, 'DY'::text, 8, 0::numeric), ('rl', 'TM', 2, 0.01)$$,
                  'reconcile.rules lists the rules per key');

-- a run uses them, with its own as_of
SELECT reconcile.run('rl', '2026-11-30') AS r1 \gset
SELECT results_eq($$SELECT key, category::text, count(*) FROM reconcile.results WHERE run_id = $$ || :r1 || $$ GROUP BY 1, 2 ORDER BY 1, 2$$,
                  $$VALUES ('DY'::text, 'matched'::text, 2::bigint), ('JD', 'matched', 2), ('TM', 'matched_within_tolerance', 2)$$,
                  'a run matches each key by its rule');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT count(*) FROM reconcile.audit_log WHERE name = 'rl' AND action = 'set_rule'), 2::bigint,
          'each set_rule is audited');
SELECT is((SELECT details -> 'rule' ->> 'days_after' FROM reconcile.audit_log
           WHERE name = 'rl' AND action = 'set_rule' AND details ->> 'key' = 'DY'), '8', 'with the rule set');

-- replacing and removing, with what it replaced in the audit
INSERT INTO public.rl_l VALUES ('D3', 'DY', 70.00, '2026-11-10', NULL);
INSERT INTO public.rl_s VALUES ('SD3', 'DY', 70.00, '2026-11-16', NULL);
SET SESSION AUTHORIZATION rc_rl_member;
SELECT lives_ok($$SELECT reconcile.set_rule('rl', 'DY', reconcile.rule(days_after => 5))$$,
                'a member of the owning role may set a rule');
SELECT is((SELECT category::text FROM public.rl_matches WHERE ledger_id = 'D3'), 'missing_in_statement',
          'the replaced rule applies (6 days > 5)');
SELECT lives_ok($$SELECT reconcile.set_rule('rl', 'DY', NULL)$$, 'set_rule(name, key, NULL) removes it');
SELECT is((SELECT count(*) FROM reconcile.rules WHERE name = 'rl' AND key = 'DY'), 0::bigint, 'gone from reconcile.rules');
SELECT is((SELECT category::text FROM public.rl_matches WHERE ledger_id = 'D3'), 'missing_in_statement',
          'the key is back on the reconciliation''s rule');
SELECT lives_ok($$SELECT reconcile.set_rule('rl', 'XX', NULL)$$, 'removing a rule that is not there does nothing');
RESET SESSION AUTHORIZATION;
SELECT is((SELECT details -> 'was' ->> 'days_after' FROM reconcile.audit_log
           WHERE name = 'rl' AND action = 'set_rule' AND details ->> 'key' = 'DY' AND details -> 'rule' = 'null'),
          '5', 'the removal is audited with the rule it removed');
SELECT is((SELECT acting_role::text FROM reconcile.audit_log
           WHERE name = 'rl' AND action = 'set_rule' ORDER BY audit_id DESC LIMIT 1), 'rc_rl_member', 'as the role that acted');

-- errors
SET SESSION AUTHORIZATION rc_rl_owner;
SELECT throws_ok($$SELECT reconcile.set_rule('rl_none', 'DY', reconcile.rule())$$, '42704', NULL, 'unknown name: 42704');
SELECT throws_ok($$SELECT reconcile.set_rule('rl', 'DY', ROW(-1, 0, 0, 3, true, NULL)::reconcile.rule)$$, '22023', NULL,
                 'a negative tolerance: 22023');
SELECT throws_ok($$SELECT reconcile.set_rule('rl', 'DY', ROW(0, 0, 0, NULL, true, NULL)::reconcile.rule)$$, '22023', NULL,
                 'a rule with a NULL field: 22023');
SELECT throws_ok($$SELECT reconcile.set_rule('rl', NULL, reconcile.rule())$$, '22023', NULL,
                 'a NULL key: 22023 (the rows without a key use the reconciliation''s rule)');
RESET SESSION AUTHORIZATION;

-- who may: readers and outsiders may not; nobody writes the table directly
SET SESSION AUTHORIZATION rc_rl_reader;
SELECT throws_ok($$SELECT reconcile.set_rule('rl', 'JD', reconcile.rule(days_after => 30))$$, '42501', NULL,
                 'a reader of the sources is not the owner: 42501');
SELECT is(pg_temp.cats('JD'), 'J1/SJ1:matched J2/SJ2:matched', 'a reader reads the view with the rules per key');
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION rc_rl_outsider;
SELECT throws_ok($$SELECT reconcile.set_rule('rl', 'JD', reconcile.rule(days_after => 30))$$, '42501', NULL,
                 'an outsider: 42501');
SELECT throws_ok($$INSERT INTO reconcile.key_rules (recon_id, key, rule, set_by)
                   SELECT id, 'JD', reconcile.rule(days_after => 30), 'x' FROM reconcile.reconciliations WHERE name = 'rl'$$,
                 '42501', NULL, 'an outsider cannot insert a rule into reconcile.key_rules');
SELECT throws_ok($$SELECT reconcile.set_rule_by('rc_rl_owner', 'rc_rl_owner', 'rl', 'JD', reconcile.rule(days_after => 30))$$,
                 '42501', NULL, 'nor call the internal writer');
SELECT throws_ok($$UPDATE reconcile.key_rules SET rule = reconcile.rule(days_after => 30)$$,
                 '42501', NULL, 'nor update the rules');
RESET SESSION AUTHORIZATION;

SELECT * FROM finish();
ROLLBACK;
