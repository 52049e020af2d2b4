#!/usr/bin/perl
# test/sh/pgxn_meta.pl META.json [DIR]: validate a META.json against the PGXN Meta Spec 1.0.0
# (https://pgxn.org/spec/): the mandatory keys, the type and form of every key the spec names
# (terms, SemVer versions, version ranges, licenses, prerequisite phases and relations,
# resources, no_index), and custom keys only as x_ / X_.  With DIR (the root of the distribution),
# also that every file META.json names is in it.  Prints one line per error and exits 1 when
# there is any; prints "META.json is valid" otherwise.  Written for this project from the spec's
# text; only core Perl (JSON::PP).
use strict;
use warnings;
use JSON::PP;

my ($file, $root) = @ARGV;
die "usage: $0 META.json [DIR]\n" unless defined $file;
open(my $fh, '<:raw', $file) or die "cannot open $file: $!\n";
my $text = do { local $/; <$fh> };
close $fh;

my @errors;
sub err { push @errors, join('', @_) }

my $meta = eval { JSON::PP->new->utf8->relaxed(0)->decode($text) };
if (!defined $meta) {
	print "$file is not JSON: $@";
	exit 1;
}
err("the document must be an object") unless ref $meta eq 'HASH';
exit_report() if @errors;

my $SEMVER = qr/^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;
my %LICENSES = map { $_ => 1 } qw(agpl_3 apache_1_1 apache_2_0 artistic_1 artistic_2 bsd freebsd
	gfdl_1_2 gfdl_1_3 gpl_1 gpl_2 gpl_3 lgpl_2_1 lgpl_3_0 mit mozilla_1_0 mozilla_1_1 openssl
	perl_5 postgresql qpl_1_0 ssleay sun zlib open_source restricted unrestricted unknown);
my %TOP = map { $_ => 1 } qw(name abstract description version maintainer license provides
	prereqs resources no_index tags release_status generated_by meta-spec);

sub is_string { my $v = shift; defined $v && !ref $v && !JSON::PP::is_bool($v) }
sub is_term { my $v = shift; is_string($v) && length($v) >= 2 && $v !~ m{[/\\\s[:cntrl:]]} }
sub is_tag { my $v = shift; is_string($v) && length($v) >= 1 && length($v) <= 255 && $v !~ m{[/\\[:cntrl:]]} }
sub is_uri { my $v = shift; is_string($v) && $v =~ m{^[A-Za-z][A-Za-z0-9+.-]*:\S+$} }
sub custom { my $k = shift; $k =~ /^[xX]_/ }

sub version_range {
	my ($where, $v) = @_;
	if (!is_string($v) && !(defined $v && !ref $v && $v =~ /^\d+$/)) {
		err("$where: a version or version range must be a string");
		return;
	}
	return if $v eq '0' || $v =~ $SEMVER;
	for my $part (split /\s*,\s*/, $v) {
		err("$where: \"$part\" is not a version range (an operator <, <=, >, >=, ==, != and a SemVer)")
			unless $part =~ /^(?:<|<=|>|>=|==|!=)\s*(\S+)$/ && $1 =~ $SEMVER;
	}
}

# mandatory keys
for my $k (qw(name abstract maintainer license provides meta-spec version)) {
	err("missing mandatory key \"$k\"") unless exists $meta->{$k};
}
for my $k (sort keys %$meta) {
	err("unknown key \"$k\" (custom keys start with x_ or X_)") unless $TOP{$k} || custom($k);
}

err("\"name\" must be a term (two or more characters, no slash, backslash, space or control character)")
	if exists $meta->{name} && !is_term($meta->{name});
err("\"version\" must be a SemVer version") if exists $meta->{version} && !(is_string($meta->{version}) && $meta->{version} =~ $SEMVER);
for my $k (qw(abstract description generated_by)) {
	err("\"$k\" must be a non-empty string") if exists $meta->{$k} && !(is_string($meta->{$k}) && length $meta->{$k});
}

if (exists $meta->{maintainer}) {
	my $m = $meta->{maintainer};
	my @list = ref $m eq 'ARRAY' ? @$m : ($m);
	err("\"maintainer\" must be a string or a non-empty list of strings")
		if !@list || grep { !is_string($_) || !length $_ } @list;
}

if (exists $meta->{license}) {
	my $l = $meta->{license};
	if (ref $l eq 'HASH') {
		err("\"license\" as an object must map names to URIs")
			if !%$l || grep { !is_uri($l->{$_}) } keys %$l;
	} else {
		my @list = ref $l eq 'ARRAY' ? @$l : ($l);
		err("\"license\" must be one or more of the spec's license strings")
			if !@list || grep { !is_string($_) || !$LICENSES{$_} } @list;
	}
}

if (exists $meta->{provides}) {
	my $p = $meta->{provides};
	if (ref $p ne 'HASH' || !%$p) {
		err("\"provides\" must be a non-empty object");
	} else {
		for my $ext (sort keys %$p) {
			my $e = $p->{$ext};
			err("provides: \"$ext\" is not a term") unless is_term($ext);
			if (ref $e ne 'HASH') {
				err("provides.$ext must be an object");
				next;
			}
			for my $k (qw(file version)) {
				err("provides.$ext: missing mandatory key \"$k\"") unless exists $e->{$k};
			}
			for my $k (sort keys %$e) {
				err("provides.$ext: unknown key \"$k\"") unless $k =~ /^(?:file|version|abstract|docfile)$/ || custom($k);
			}
			err("provides.$ext.version must be a SemVer version")
				if exists $e->{version} && !(is_string($e->{version}) && $e->{version} =~ $SEMVER);
			for my $k (qw(file docfile abstract)) {
				err("provides.$ext.$k must be a non-empty string") if exists $e->{$k} && !(is_string($e->{$k}) && length $e->{$k});
			}
			for my $k (qw(file docfile)) {
				err("provides.$ext.$k \"$e->{$k}\" is not in the distribution")
					if defined $root && is_string($e->{$k}) && !-f "$root/$e->{$k}";
			}
		}
	}
}

if (exists $meta->{'meta-spec'}) {
	my $ms = $meta->{'meta-spec'};
	if (ref $ms ne 'HASH' || !exists $ms->{version}) {
		err("\"meta-spec\" must be an object with a \"version\"");
	} else {
		err("meta-spec.version must be 1.0.0") unless is_string($ms->{version}) && $ms->{version} eq '1.0.0';
		err("meta-spec.url must be a URI") if exists $ms->{url} && !is_uri($ms->{url});
		for my $k (sort keys %$ms) {
			err("meta-spec: unknown key \"$k\"") unless $k =~ /^(?:version|url)$/ || custom($k);
		}
	}
}

if (exists $meta->{prereqs}) {
	my $pr = $meta->{prereqs};
	if (ref $pr ne 'HASH') {
		err("\"prereqs\" must be an object");
	} else {
		for my $phase (sort keys %$pr) {
			err("prereqs: unknown phase \"$phase\"") unless $phase =~ /^(?:configure|build|runtime|test|develop)$/ || custom($phase);
			my $rel = $pr->{$phase};
			if (ref $rel ne 'HASH') {
				err("prereqs.$phase must be an object");
				next;
			}
			for my $r (sort keys %$rel) {
				err("prereqs.$phase: unknown relation \"$r\"")
					unless $r =~ /^(?:requires|recommends|suggests|conflicts)$/ || custom($r);
				my $deps = $rel->{$r};
				if (ref $deps ne 'HASH') {
					err("prereqs.$phase.$r must be an object");
					next;
				}
				for my $d (sort keys %$deps) {
					err("prereqs.$phase.$r: \"$d\" is not a term") unless is_term($d);
					version_range("prereqs.$phase.$r.$d", $deps->{$d});
				}
			}
		}
	}
}

if (exists $meta->{release_status}) {
	err("\"release_status\" must be stable, testing or unstable")
		unless is_string($meta->{release_status}) && $meta->{release_status} =~ /^(?:stable|testing|unstable)$/;
}

if (exists $meta->{tags}) {
	my $t = $meta->{tags};
	err("\"tags\" must be a non-empty list of tags (1 to 255 characters, no slash, backslash or control character)")
		if ref $t ne 'ARRAY' || !@$t || grep { !is_tag($_) } @$t;
}

if (exists $meta->{no_index}) {
	my $n = $meta->{no_index};
	if (ref $n ne 'HASH') {
		err("\"no_index\" must be an object");
	} else {
		for my $k (sort keys %$n) {
			err("no_index: unknown key \"$k\"") unless $k =~ /^(?:file|directory)$/ || custom($k);
			my $v = $n->{$k};
			my @list = ref $v eq 'ARRAY' ? @$v : ($v);
			err("no_index.$k must be a path or a list of paths") if !@list || grep { !is_string($_) || !length $_ } @list;
		}
	}
}

if (exists $meta->{resources}) {
	my $r = $meta->{resources};
	if (ref $r ne 'HASH') {
		err("\"resources\" must be an object");
	} else {
		for my $k (sort keys %$r) {
			my $v = $r->{$k};
			if ($k eq 'homepage') {
				err("resources.homepage must be a URI") unless is_uri($v);
			} elsif ($k eq 'bugtracker') {
				err("resources.bugtracker must be an object with web and/or mailto")
					if ref $v ne 'HASH' || !%$v || grep { !/^(?:web|mailto)$/ && !custom($_) } keys %$v;
			} elsif ($k eq 'repository') {
				err("resources.repository must be an object with url, web and/or type")
					if ref $v ne 'HASH' || !%$v || grep { !/^(?:url|web|type)$/ && !custom($_) } keys %$v;
			} else {
				err("resources: unknown key \"$k\"") unless custom($k);
			}
		}
	}
}

exit_report();

sub exit_report {
	if (@errors) {
		print "$file is invalid: $_\n" for @errors;
		exit 1;
	}
	print "$file is valid\n";
	exit 0;
}
