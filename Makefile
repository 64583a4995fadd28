# loyalty: PGXS build.  The version lives in one place, loyalty.control.
EXTENSION  = loyalty
EXTVERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = loyalty
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script is built from one SQL source per concept, in this order.
SQL_PARTS = src/schema.sql src/api.sql src/tenants.sql src/programs.sql src/points.sql src/coupon_code.sql \
            src/rules.sql src/tiers.sql src/coupons.sql src/orders.sql \
            src/wallets.sql src/rewards.sql src/jobs.sql src/reports.sql src/member_views.sql src/verify.sql src/grants.sql
DATA_built = $(EXTENSION)--$(EXTVERSION).sql
DATA = $(wildcard sql/upgrade/$(EXTENSION)--*--*.sql)

# pg_regress suites: sql/NAME.sql -> expected/NAME.out, in this order.
REGRESS = setup programs points points_reverse points_errors jobs reports rules tiers orders orders_errors member_views coupon_code coupons coupons_errors wallets wallets_errors rewards direct_access security tenants
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)
ISOLATION = $(basename $(notdir $(sort $(wildcard tests/isolation/*.spec))))

PG_CONFIG ?= pg_config
# -Wshadow=compatible-local: PostgreSQL 17 builds extensions with it, 15 does not.
PG_CFLAGS = -std=gnu11 -Wall -Wextra -Wshadow=compatible-local -Wno-unused-parameter -Wno-missing-field-initializers
EXTRA_CLEAN = results regression.diffs regression.out output_iso tmp_check log

# On a fresh machine the server headers may be missing: `make test` and
# `make demo` install them first, so only the build targets need PGXS.
PGXS := $(wildcard $(shell $(PG_CONFIG) --pgxs 2>/dev/null))
ifneq ($(PGXS),)
include $(PGXS)
else ifeq ($(filter test demo bench,$(MAKECMDGOALS)),)
$(error PGXS not found: install postgresql-server-dev-15 (make test does it for you))
endif

$(DATA_built): $(SQL_PARTS) $(EXTENSION).control Makefile
	{ echo '-- Built from src/*.sql by the Makefile: do not edit.'; \
	  printf '%s\n' '\echo Use "CREATE EXTENSION $(EXTENSION)" to load this file. \quit'; \
	  for f in $(SQL_PARTS); do echo; echo "-- ==== $$f"; cat $$f; done; } > $@

# PGXS tracks no header dependencies: rebuild every object when a header changes.
$(OBJS): $(wildcard src/*.h)

.PHONY: test demo bench
# The README's two commands and the benchmark: each starts and stops its own cluster.
test:
	tests/run_tests.sh
demo:
	tests/demo/run_demo.sh
bench:
	tests/bench/run_bench.sh
