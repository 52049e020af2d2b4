#!/usr/bin/env bash
# test/sh/package.sh: the ways users install reconcile, checked end to end.
#   - PGXN: META.json is valid against the PGXN Meta Spec (test/sh/pgxn_meta.pl) and names files the
#     tarball has;
#   - make dist: the versioned tarball has what a build needs, and the built install script;
#   - Debian: postgresql-<major>-reconcile built from that tarball with dpkg-buildpackage and
#     pg_buildext (debian/rules), as an unprivileged user so that the build-time installcheck runs
#     in a pg_virtualenv of its own (temporary directory, private port and socket directory); its
#     fields and contents checked with dpkg-deb, and unpacked into a throwaway root.
# Run by test/sh/run; prints TAP.
#
#   test/sh/package.sh        the checks (make test)
#   test/sh/package.sh deb    build the package into dist/ and say where it is (make deb)
set -uo pipefail
cd "$(dirname "$0")/../.."
source test/sh/cluster.sh

rc_deps "$RC_PACKAGES_DEB" >&2 || exit 1
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" reconcile.control)
major=$("$(rc_pg_config)" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
pkg=postgresql-$major-reconcile
n=0
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}

work=$(mktemp -d /tmp/reconcile-package.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

# the tarball
make -s dist >"$work/dist.log" 2>&1
tarball=dist/reconcile-$version.tar.gz
[ -f "$tarball" ] || { cat "$work/dist.log"; echo "not ok 1 - make dist made $tarball"; exit 1; }
tar -xzf "$tarball" -C "$work"
src=$work/reconcile-$version

if [ "${1:-}" != deb ]; then
	echo "1..12"
	ok 0 "make dist made $tarball"
	ok $(tar -tzf "$tarball" | grep -qE '\.(o|so|bc)$|/results/|regression\.(diffs|out)'; [ $? = 1 ]; echo $?) \
		"the tarball holds sources only, no build products or test output"
	ok $(cmp -s "$src/sql/reconcile--$version.sql" "sql/reconcile--$version.sql"; echo $?) \
		"and the install script of $version, as make builds it"
	out=$(perl test/sh/pgxn_meta.pl "$src/META.json" "$src" 2>&1)
	ok $? "META.json is valid against the PGXN Meta Spec 1.0.0 and names files the tarball has"
	[ "$out" = "$src/META.json is valid" ] || echo "$out" | sed 's/^/# /'
	meta_versions=$(perl -MJSON::PP -e 'local $/; my $m = decode_json(<STDIN>);
		print join(" ", $m->{version}, $m->{provides}{reconcile}{version}), "\n"' <META.json)
	changelog=$(dpkg-parsechangelog -l debian/changelog -S Version | sed 's/-[^-]*$//')
	ok $([ "$meta_versions" = "$version $version" ] && [ "$changelog" = "$version" ]; echo $?) \
		"META.json, debian/changelog and reconcile.control all say $version"
fi

# the Debian package, built from the tarball by the postgres user
chown -R postgres "$work"
runuser -u postgres -- env -C "$src" PGPORT="$(rc_free_port 56432)" \
	dpkg-buildpackage -b -us -uc >"$work/build.log" 2>&1
built=$?
deb=$(ls "$work"/"$pkg"_"$version"-*_*.deb 2>/dev/null | head -n 1)

if [ "${1:-}" = deb ]; then
	[ "$built" = 0 ] && [ -n "$deb" ] || { tail -n 60 "$work/build.log"; exit 1; }
	cp "$deb" dist/
	echo "dist/$(basename "$deb")"
	exit 0
fi

ok $([ "$built" = 0 ] && [ -n "$deb" ]; echo $?) "dpkg-buildpackage built $pkg from the tarball"
[ "$built" = 0 ] || tail -n 80 "$work/build.log" | sed 's/^/# /'
ok $(grep -qE 'All [0-9]+ tests passed' "$work/build.log"; echo $?) \
	"pg_buildext installchecked it at build time (pg_regress in a pg_virtualenv)"
grep -E 'All [0-9]+ tests passed|tests? failed' "$work/build.log" | sed 's/^/# /'

if [ -n "$deb" ]; then
	fields=$(dpkg-deb --show --showformat='${Package} ${Version} | ${Depends}' "$deb")
	contents=$(dpkg-deb --contents "$deb" | awk '{print $NF}')
	root=$work/root
	dpkg-deb -x "$deb" "$root"
else
	fields="" contents="" root=/nonexistent
fi
echo "# $fields"
ok $(grep -qE "^$pkg $version-[0-9]+ \| .*postgresql-$major" <<<"$fields"; echo $?) \
	"the package is $pkg $version and depends on postgresql-$major"
missing=""
for f in "./usr/lib/postgresql/$major/lib/reconcile.so" "./usr/share/postgresql/$major/extension/reconcile.control" \
	$(cd sql && ls reconcile--*.sql | sed "s|^|./usr/share/postgresql/$major/extension/|"); do
	grep -qxF "$f" <<<"$contents" || missing="$missing $f"
done
ok $([ -z "$missing" ]; echo $?) "it holds the library, the control file, the install script and every upgrade script"
[ -z "$missing" ] || echo "# missing:$missing"
ok $(cmp -s "$root/usr/share/postgresql/$major/extension/reconcile--$version.sql" "sql/reconcile--$version.sql"; echo $?) \
	"unpacked into a throwaway root, its install script is the one make builds"
ok $(grep -q "^default_version = '$version'" "$root/usr/share/postgresql/$major/extension/reconcile.control"; echo $?) \
	"and its control file installs $version by default"
ok $(nm -D --defined-only "$root/usr/lib/postgresql/$major/lib/reconcile.so" 2>/dev/null |
	grep -w Pg_magic_func >/dev/null; echo $?) "its library is a PostgreSQL module (it exports Pg_magic_func)"
