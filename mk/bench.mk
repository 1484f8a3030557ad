# bench: what sesscb costs. See bench/run.py and docs/performance.md.
#
#   make bench             full run on every OpenSSL build (sys = system 3.0,
#                          111 = 1.1.1w, 35, 36, 40 = the 3.5, 3.6, 4.0 lines;
#                          ~20 min on this 2-core VM when quiet, plus
#                          ~80 s for the store): table on
#                          stdout, JSON + Markdown in target/bench/
#   BENCH_QUICK=1 make bench   scaled-down run (~6 min for the five builds,
#                          plus ~45 s for the store)
#   make bench-guard       fails only on a gross regression of the
#                          per-remove-callback cost (sesscb > 3x plain) on
#                          BENCH_GUARD_BUILDS (default sys,111,40: 3.5 and 3.6
#                          share 3.0's flush, 4.0 has its own), or of the store
#                          (resumptions it serves < 0.5x the internal cache's
#                          rate, or a store write's p50 > 100 µs); `make test`
#                          runs it (TEST_SUITES in mk/test.mk)
#   make bench-bins        just the binaries
#   BENCH_ONLY=store make bench   only the shared store (bench/store.py,
#                          ~2 min with BENCH_QUICK=1): resumed handshakes
#                          served by the store vs the internal cache, new/get
#                          latency, 2 processes x 2 threads writing, and
#                          resumption across processes; on STORE_BENCH_BUILD
#                          (default sys)
#   BENCH_ONLY=redis make bench   only the store's Redis tier (bench/redis_tier.py,
#                          ~1 min with BENCH_QUICK=1): starts redis-server on a
#                          free loopback port; Redis GET round trip vs a get
#                          through sesscb, resumed handshakes via Redis vs the
#                          embedded tier vs the internal cache, handshakes with
#                          Redis SIGSTOPped, 10k new sessions/s with no drops;
#                          on STORE_BENCH_BUILD
#
# Knobs (environment): BENCH_QUICK=1, BENCH_BUILDS=sys,111,35,36,40 (the
# default; only these are built), BENCH_GUARD_BUILDS=sys,111,40, BENCH_ONLY=
# dispatch,storm,hs,registry,store,redis, BENCH_LIB_DIR=<dir with another libsesscb.so>.
#
# One C source, compiled once per OpenSSL build and linked twice:
#   target/bench/<build>/bench-plain    -lssl -lcrypto
#   target/bench/<build>/bench-linked   -lsesscb (--no-as-needed) before -lssl
# (bench-plain under LD_PRELOAD is the third variant). Uses ROOT, TARGET, LIB
# from the top Makefile and OSSL_<build>_* from mk/openssl111.mk (sys, 111)
# and mk/openssl-lines.mk (35, 36, 40).

BENCH_SRC := $(ROOT)/bench/sesscb_bench.c
BENCH_TLS_SRC := $(ROOT)/bench/bench_tls.c
STORE_BENCH_SRCS := $(addprefix $(ROOT)/bench/,store_bench.c store_bench_util.c lock_wait.c store_counters.c resp_client.c)
BENCH_OUT := $(TARGET)/bench
BENCH_CC ?= cc
BENCH_CFLAGS := -O2 -g -fno-omit-frame-pointer -Wall -Wextra -Werror -I$(ROOT)/include
BENCH_SYSLIBS := -lpthread -ldl
BENCH_SESSCB := -L$(TARGET)/release -Wl,-rpath,$(TARGET)/release -Wl,--no-as-needed -lsesscb -Wl,--as-needed
BENCH_PY ?= python3

BENCH_ALL_BUILDS := sys 111 $(OSSL_LINES)

define BENCH_BUILD
$(BENCH_OUT)/$(1)/%.o: $(ROOT)/bench/%.c $(wildcard $(ROOT)/bench/*.h) $(ROOT)/include/sesscb.h $(OSSL_$(1)_DEPS)
	@mkdir -p $$(dir $$@)
	$(BENCH_CC) $(BENCH_CFLAGS) $(OSSL_$(1)_CPPFLAGS) -c $$< -o $$@

$(BENCH_OUT)/$(1)/bench-plain: $(BENCH_OUT)/$(1)/sesscb_bench.o $(BENCH_OUT)/$(1)/bench_tls.o
	$(BENCH_CC) $$^ -o $$@ $(OSSL_$(1)_LDFLAGS) -lssl -lcrypto $(BENCH_SYSLIBS)

$(BENCH_OUT)/$(1)/bench-linked: $(BENCH_OUT)/$(1)/sesscb_bench.o $(BENCH_OUT)/$(1)/bench_tls.o $(LIB)
	$(BENCH_CC) $(BENCH_OUT)/$(1)/sesscb_bench.o $(BENCH_OUT)/$(1)/bench_tls.o -o $$@ $(BENCH_SESSCB) $(OSSL_$(1)_LDFLAGS) -lssl -lcrypto $(BENCH_SYSLIBS)

# The store benchmark: lock_wait.o defines pthread_mutex_lock in the
# program, exported (-rdynamic) so LMDB's calls inside libsesscb bind to it.
$(1)_STORE_OBJS := $(patsubst $(ROOT)/bench/%.c,$(BENCH_OUT)/$(1)/%.o,$(STORE_BENCH_SRCS) $(BENCH_TLS_SRC))

$(BENCH_OUT)/$(1)/store-plain: $$($(1)_STORE_OBJS)
	$(BENCH_CC) -rdynamic $$^ -o $$@ $(OSSL_$(1)_LDFLAGS) -lssl -lcrypto $(BENCH_SYSLIBS)

$(BENCH_OUT)/$(1)/store-linked: $$($(1)_STORE_OBJS) $(LIB)
	$(BENCH_CC) -rdynamic $$($(1)_STORE_OBJS) -o $$@ $(BENCH_SESSCB) $(OSSL_$(1)_LDFLAGS) -lssl -lcrypto $(BENCH_SYSLIBS)
endef
$(foreach b,$(BENCH_ALL_BUILDS),$(eval $(call BENCH_BUILD,$(b))))

# Only the builds run.py will run (BENCH_BUILDS, default all), so a run on
# two builds does not build the other three OpenSSL lines.
BENCH_COMMA := ,
BENCH_EMPTY :=
BENCH_BUILDS ?= $(subst $(BENCH_EMPTY) $(BENCH_EMPTY),$(BENCH_COMMA),$(BENCH_ALL_BUILDS))
bench_bins_of = $(foreach b,$(subst $(BENCH_COMMA), ,$(1)),$(BENCH_OUT)/$(b)/bench-plain $(BENCH_OUT)/$(b)/bench-linked)
STORE_BENCH_BUILD ?= sys
BENCH_BINS := $(call bench_bins_of,$(BENCH_BUILDS)) \
	$(BENCH_OUT)/$(STORE_BENCH_BUILD)/store-plain $(BENCH_OUT)/$(STORE_BENCH_BUILD)/store-linked
BENCH_GUARD_BUILDS ?= sys,111,40

.PHONY: bench bench-bins bench-guard bench-clean
bench-bins: deps lib $(BENCH_BINS)

bench: bench-bins
	$(BENCH_PY) $(ROOT)/bench/run.py --builds $(BENCH_BUILDS) --store-build $(STORE_BENCH_BUILD) --sesscb $(PROFILE_DIR)/sesscb --bin-dir $(BENCH_OUT) --lib $(LIB) --out $(BENCH_OUT)

STORE_BENCH_BINS := $(BENCH_OUT)/$(STORE_BENCH_BUILD)/store-plain $(BENCH_OUT)/$(STORE_BENCH_BUILD)/store-linked

bench-guard: deps lib $(call bench_bins_of,$(BENCH_GUARD_BUILDS)) $(STORE_BENCH_BINS)
	@$(BENCH_PY) $(ROOT)/bench/run.py --guard --builds $(BENCH_GUARD_BUILDS) --store-build $(STORE_BENCH_BUILD) --sesscb $(PROFILE_DIR)/sesscb --bin-dir $(BENCH_OUT) --lib $(LIB) --out $(BENCH_OUT)

bench-clean:
	rm -rf $(BENCH_OUT)
