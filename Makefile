# reconcile: ledger-versus-statement reconciliation for PostgreSQL (PGXS build)

EXTENSION = reconcile
EXTVERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" reconcile.control)
PGFILEDESC = "reconcile - ledger-versus-statement reconciliation"

# The matching core: plain C with no backend calls, one file per stage (src/core.h says which
# pass is where).  The extension, the unit tests and the fuzzer are built from this one list.
CORE = src/core_decimal.c src/core_sort.c src/core_result.c src/core_refindex.c \
	src/core_contain.c src/core_pass_ref.c src/core_pass_amount.c src/core_pass_group.c \
	src/core_pass_fee.c src/core_pass_opposite.c src/core_pass_dup.c src/core_pass_manual.c src/core_match.c \
	src/core_note.c \
	src/core_normalize.c
# The statement and bill readers: plain C too (src/read_core.h), unit-tested and fuzzed the same way.
READERS = src/read_text.c src/read_mt940.c src/read_ofx.c src/read_bill.c
# The fmgr layer around it: numerics, the rule, the aggregate, the primitives.
GLUE = src/amount.c src/rule.c src/agg_state.c src/agg_env.c src/agg_final.c src/primitives.c \
	src/trust.c src/run.c src/act.c src/identity.c src/progress.c src/reader.c

MODULE_big = reconcile
OBJS = $(CORE:.c=.o) $(READERS:.c=.o) $(GLUE:.c=.o)

# The install script of the current version is built from the topic files in sql/install/
# (not committed); the shipped install script of 0.1.0 and the upgrade scripts are kept as they are.
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA = sql/$(EXTENSION)--0.1.0.sql $(wildcard sql/$(EXTENSION)--*--*.sql)

# pg_regress: every sql/<topic>.sql, the install and upgrade scripts filtered out
REGRESS = $(sort $(basename $(notdir $(filter-out sql/$(EXTENSION)--%, $(wildcard sql/*.sql)))))
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)

EXTRA_CLEAN = test/c/core_test test/c/read_test test/c/fuzz_core test/c/fuzz_read test/c/asan_preload.so dist/

# warning-free under -Wall -Wextra; server headers are system headers
PG_CFLAGS += -Wall -Wextra
PG_CONFIG ?= pg_config
PG_CPPFLAGS += -isystem $(shell $(PG_CONFIG) --includedir-server)

# SANITIZE=1: AddressSanitizer and UndefinedBehaviorSanitizer (make sanitize runs the suite so)
ifeq ($(SANITIZE),1)
PG_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer
PG_CPPFLAGS += -DRC_SANITIZE
SHLIB_LINK += -fsanitize=address,undefined
endif

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# the core is plain C; rebuild everything when a header changes
$(OBJS): $(wildcard src/*.h)

$(DATA_built): $(sort $(wildcard sql/install/*.sql)) reconcile.control
	cat $(sort $(wildcard sql/install/*.sql)) > $@

.PHONY: test sanitize unit fuzz demo bench bench-citus bench-builds dist deb

# everything: set-up, unit tests, pg_regress, pgTAP, soak, faults, Citus; "N passed, M failed"
test:
	test/sh/run
# the whole suite with the extension built with ASan and UBSan and loaded into the server
sanitize:
	RC_SANITIZE=1 test/sh/run

# unit tests of the plain-C core, outside the server (with ASan and UBSan where the compiler has them)
test/c/core_test: test/c/core_test.c test/c/harness.h $(CORE) $(wildcard src/*.h)
	$(CC) -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -Isrc $< $(CORE) -o $@ 2>/dev/null || \
		$(CC) -O1 -g -Isrc $< $(CORE) -o $@
test/c/read_test: test/c/read_test.c $(READERS) $(wildcard src/read*.h)
	$(CC) -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -Isrc $< $(READERS) -o $@ 2>/dev/null || \
		$(CC) -O1 -g -Isrc $< $(READERS) -o $@
unit: test/c/core_test test/c/read_test
	test/c/core_test
	test/c/read_test

# preloaded after the ASan runtime by make sanitize (see test/sh/cluster.sh)
test/c/asan_preload.so: test/c/asan_preload.c
	$(CC) -shared -fPIC -O2 $< -o $@ -ldl

# libFuzzer over the plain-C core (clang); FUZZ_SECONDS=60 by default
FUZZ_SECONDS ?= 60
test/c/fuzz_core: test/c/fuzz_core.c test/c/harness.h $(CORE) $(wildcard src/*.h)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Isrc $< $(CORE) -o $@
test/c/fuzz_read: test/c/fuzz_read.c $(READERS) $(wildcard src/read*.h)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Isrc $< $(READERS) -o $@
# the matching core, then the readers (seeded with test/data/statements), FUZZ_SECONDS each
fuzz: test/c/fuzz_core test/c/fuzz_read
	mkdir -p test/c/fuzz_corpus test/c/fuzz_read_corpus
	test/c/fuzz_core -max_total_time=$(FUZZ_SECONDS) -max_len=1024 test/c/fuzz_corpus
	test/c/fuzz_read -max_total_time=$(FUZZ_SECONDS) -max_len=8192 test/c/fuzz_read_corpus test/data/statements

demo:
	demo/run
bench:
	bench/run
# the same reconciliation on single-node PostgreSQL and on a local Citus cluster
bench-citus:
	bench/citus.sh
# this tree's build against the build of git revision BASE: the same answers, and how fast
BASE ?= HEAD
bench-builds:
	bench/builds.sh $(BASE)

# dist/reconcile-X.Y.Z.tar.gz: the files git knows (committed or not, as they are in the working
# tree) and the built install script, under reconcile-X.Y.Z/; what PGXN and the Debian build take
DISTNAME = $(EXTENSION)-$(EXTVERSION)
dist: $(DATA_built)
	rm -rf dist/$(DISTNAME) dist/$(DISTNAME).tar.gz
	mkdir -p dist/$(DISTNAME)
	{ git ls-files --cached --others --exclude-standard; echo $(DATA_built); } | sort -u | \
		while read -r f; do [ -f "$$f" ] && printf '%s\n' "$$f"; done | \
		tar -cf - -T - | tar -xf - -C dist/$(DISTNAME)
	tar -czf dist/$(DISTNAME).tar.gz -C dist $(DISTNAME)
	rm -rf dist/$(DISTNAME)
	@echo dist/$(DISTNAME).tar.gz

# dist/postgresql-<major>-reconcile_X.Y.Z-N_<arch>.deb, built from the dist tarball with
# pg_buildext (debian/rules), which also installchecks it against each PostgreSQL version
deb:
	test/sh/package.sh deb
