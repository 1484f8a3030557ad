# bench: what sesscb costs. See bench/run.py and bench/RESULTS.md.
#
#   make bench             full run (~8 min on this 2-core VM): table on stdout,
#                          JSON + Markdown in target/bench/
#   BENCH_QUICK=1 make bench   scaled-down run (~1-2 min)
#   make bench-guard       < 30 s: fails only on a gross regression of the
#                          per-remove-callback cost (sesscb > 3x plain); `make
#                          test` runs it (TEST_SUITES in mk/test.mk)
#   make bench-bins        just the binaries
#
# Knobs (environment): BENCH_QUICK=1, BENCH_BUILDS=sys,111, BENCH_ONLY=
# dispatch,storm,hs,registry, BENCH_LIB_DIR=<dir with another libsesscb.so>.
#
# One C source, compiled once per OpenSSL build and linked twice:
#   target/bench/<build>/bench-plain    -lssl -lcrypto
#   target/bench/<build>/bench-linked   -lsesscb (--no-as-needed) before -lssl
# (bench-plain under LD_PRELOAD is the third variant). Uses ROOT, TARGET, LIB
# from the top Makefile and OSSL111, OSSL_<build>_* from mk/openssl111.mk.

BENCH_SRC := $(ROOT)/bench/sesscb_bench.c
BENCH_OUT := $(TARGET)/bench
BENCH_CC ?= cc
BENCH_CFLAGS := -O2 -g -fno-omit-frame-pointer -Wall -Wextra -Werror
BENCH_SYSLIBS := -lpthread -ldl
BENCH_SESSCB := -L$(TARGET)/release -Wl,-rpath,$(TARGET)/release -Wl,--no-as-needed -lsesscb -Wl,--as-needed
BENCH_PY ?= python3

define BENCH_BUILD
$(BENCH_OUT)/$(1)/sesscb_bench.o: $(BENCH_SRC) $(OSSL_$(1)_DEPS)
	@mkdir -p $$(dir $$@)
	$(BENCH_CC) $(BENCH_CFLAGS) $(OSSL_$(1)_CPPFLAGS) -c $$< -o $$@

$(BENCH_OUT)/$(1)/bench-plain: $(BENCH_OUT)/$(1)/sesscb_bench.o
	$(BENCH_CC) $$^ -o $$@ $(OSSL_$(1)_LDFLAGS) -lssl -lcrypto $(BENCH_SYSLIBS)

$(BENCH_OUT)/$(1)/bench-linked: $(BENCH_OUT)/$(1)/sesscb_bench.o $(LIB)
	$(BENCH_CC) $(BENCH_OUT)/$(1)/sesscb_bench.o -o $$@ $(BENCH_SESSCB) $(OSSL_$(1)_LDFLAGS) -lssl -lcrypto $(BENCH_SYSLIBS)
endef
$(eval $(call BENCH_BUILD,sys))
$(eval $(call BENCH_BUILD,111))

BENCH_BINS := $(foreach b,sys 111,$(BENCH_OUT)/$(b)/bench-plain $(BENCH_OUT)/$(b)/bench-linked)

.PHONY: bench bench-bins bench-guard bench-clean
bench-bins: deps lib $(BENCH_BINS)

bench: bench-bins
	$(BENCH_PY) $(ROOT)/bench/run.py --bin-dir $(BENCH_OUT) --lib $(LIB) --out $(BENCH_OUT)

bench-guard: bench-bins
	@$(BENCH_PY) $(ROOT)/bench/run.py --guard --bin-dir $(BENCH_OUT) --lib $(LIB) --out $(BENCH_OUT)

bench-clean:
	rm -rf $(BENCH_OUT)
