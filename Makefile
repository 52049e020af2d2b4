# reconcile: ledger-versus-statement reconciliation for PostgreSQL (PGXS build)

MODULE_big = reconcile
OBJS = src/amount.o src/match_agg.o src/match_core.o src/normalize.o src/primitives.o
PGFILEDESC = "reconcile - ledger-versus-statement reconciliation"

EXTENSION = reconcile
DATA = $(wildcard sql/reconcile--*.sql)

# pg_regress: every sql/<topic>.sql except the install and upgrade scripts
REGRESS = $(sort $(basename $(notdir $(filter-out sql/reconcile--%, $(wildcard sql/*.sql)))))
REGRESS_OPTS = --inputdir=. --load-extension=reconcile

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

.PHONY: test sanitize demo bench bench-citus fuzz
test:
	test/run
# the whole suite with the extension built with ASan and UBSan and loaded into the server
sanitize:
	RC_SANITIZE=1 test/run
demo:
	demo/run
bench:
	bench/run
# the same reconciliation on single-node PostgreSQL and on a local Citus cluster
bench-citus:
	bench/citus.sh

# libFuzzer over the plain-C core (clang); FUZZ_SECONDS=60 by default
FUZZ_SECONDS ?= 60
fuzz:
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Isrc \
		test/fuzz_core.c src/match_core.c src/normalize.c -o test/fuzz_core
	mkdir -p test/fuzz_corpus
	test/fuzz_core -max_total_time=$(FUZZ_SECONDS) -max_len=1024 test/fuzz_corpus
