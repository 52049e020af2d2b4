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

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# the core is plain C; rebuild everything when a header changes
$(OBJS): $(wildcard src/*.h)

.PHONY: test demo bench
test:
	test/run
demo:
	demo/run
bench:
	bench/run
