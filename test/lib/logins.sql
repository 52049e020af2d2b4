-- test/lib/logins.sql (\ir from a test): pg_temp.login(conn, role) opens dblink connection conn as
-- role, a second login, so that a test can act as another person (maker-checker compares the roles
-- that logged in; SET SESSION AUTHORIZATION does not make one).  The role needs LOGIN and the
-- password 'rc-test-login'.  By-hand clusters listen on their socket only, with trust; pg_virtualenv
-- clusters on localhost, with passwords.  The connection sees only what the test committed.
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE FUNCTION pg_temp.login(conn text, who text) RETURNS void LANGUAGE sql AS $$
    SELECT dblink_connect(conn, CASE WHEN current_setting('listen_addresses') = ''
        THEN format('host=%s port=%s dbname=%s user=%s',
                    split_part(current_setting('unix_socket_directories'), ',', 1),
                    current_setting('port'), current_database(), who)
        ELSE format('host=localhost port=%s dbname=%s user=%s password=rc-test-login',
                    current_setting('port'), current_database(), who) END)
$$;
-- run sql in connection conn; its first column of its first row as text ('' when none)
CREATE FUNCTION pg_temp.as_login(conn text, sql text) RETURNS text LANGUAGE sql AS $$
    SELECT COALESCE((SELECT x FROM dblink(conn, sql) AS t(x text) LIMIT 1), '')
$$;
