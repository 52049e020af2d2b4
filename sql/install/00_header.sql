/*
 * reconcile: the install script of the current version, built by make from the topic files in
 * sql/install/ (00_header.sql first, then in name order).  Edit the topic files, never the built
 * script; an upgrade to the next version restates, in its own reconcile--X--Y.sql, just what
 * changed.  In each file the internal helpers stand under a banner of their own ("Internal: ..."),
 * ahead of the objects that need them, each with a comment that starts with "Internal"; they are
 * revoked from PUBLIC unless code running with the caller's rights calls them.
 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION reconcile" to load this file. \quit

-- A schema reconcile that someone else made before CREATE EXTENSION could hold objects of theirs
-- that the extension's functions would then find: refuse it.
DO $$
BEGIN
    IF (SELECT n.nspowner FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.=) 'reconcile')
       OPERATOR(pg_catalog.<>) (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user) THEN
        RAISE EXCEPTION 'schema "reconcile" already exists and belongs to another role'
            USING ERRCODE = '42501',
                  HINT = 'Drop it, or have its owner install the extension; reconcile installs into a schema of its own.';
    END IF;
END
$$;

-- everyone may use the primitives, the aggregate and reconcile.create
GRANT USAGE ON SCHEMA reconcile TO PUBLIC;
