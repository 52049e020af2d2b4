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

-- everyone may use the primitives, the aggregate and reconcile.create
GRANT USAGE ON SCHEMA reconcile TO PUBLIC;
