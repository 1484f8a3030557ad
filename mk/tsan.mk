# mk/tsan.mk -- ThreadSanitizer run of the thread scenarios (39, 40).
#
#   make tsan        builds target/tests-c/sys/scenarios-tsan (clang
#                    -fsanitize=thread, linked mode: libsesscb before -lssl)
#                    and runs scenarios 39 and 40 with halt_on_error=1.
#   make tsan-111    the same against upstream 1.1.1w (target/tests-c/111/).
#
# Only the test program (harness + scenarios) is instrumented. OpenSSL and the
# Rust library are not: TSan sees their pthread/malloc calls through its
# interceptors but not their plain memory accesses or their inline atomics.
# OpenSSL's refcounts are inline atomics TSan cannot see, so its own
# memcmp/free calls on refcounted objects look racy: the run uses
# ignore_noninstrumented_modules=1 (interceptors called from uninstrumented
# modules record no memory accesses; lock/unlock still gives happens-before).
# Every access made by the instrumented test code -- including the callbacks
# OpenSSL calls through sesscb's trampolines -- is still checked.
# tests-c/tsan.supp is for narrow, commented suppressions (none needed now).
# SESSCB_TSAN_ITERS, if set, is passed on as SESSCB_TEST_ITERS (handshakes per
# thread); unset, the scenarios' defaults apply (both runs take ~15 s on 2
# cores under TSan).
#
# Uses TC_SRCS, TC_SRC_DIR, TC_OUT, TC_HDRS, TC_GEN, TC_TABLE from mk/tests-c.mk
# (included before this file), OSSL_*_CPPFLAGS/LDFLAGS/DEPS from
# mk/openssl111.mk and LIB from the top Makefile.

TSAN_CC ?= clang
TSAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer -g -O1
TSAN_CFLAGS := -Wall -Wextra -I$(TC_SRC_DIR) -I$(TC_GEN) -I$(ROOT)/include
TSAN_SUPP := $(TC_SRC_DIR)/tsan.supp
TSAN_SCENARIOS ?= 39 40
SESSCB_TSAN_ITERS ?=
TSAN_RUN_OPTIONS = halt_on_error=1 ignore_noninstrumented_modules=1 second_deadlock_stack=1 history_size=4 \
                   suppressions=$(TSAN_SUPP)

tsan_objs = $(patsubst $(TC_SRC_DIR)/%.c,$(TC_OUT)/$(1)/obj-tsan/%.o,$(TC_SRCS))

# $(call tsan_run_scenarios,KIND,BUILD,ANNOUNCE,MODE_CHECK,PASS_NOTE): the
# recipe that runs each of TSAN_SCENARIOS with $(TC_OUT)/BUILD/scenarios-KIND
# (log KIND-n.log beside it) and fails on a ThreadSanitizer report or a failed
# scenario; ANNOUNCE non-empty prints each scenario first, MODE_CHECK non-empty
# also fails a run without sesscb in the path. Written for use inside a
# define that is $(eval $(call ...))'d, hence the doubled escapes.
define tsan_run_scenarios
@set -e; for n in $(TSAN_SCENARIOS); do \
	  $(if $(3),echo "$(1)[$(2)]: scenario $$$$n";) out=$(TC_OUT)/$(2)/$(1)-$$$$n.log; \
	  if env TSAN_OPTIONS="$(TSAN_RUN_OPTIONS)" $(if $(SESSCB_TSAN_ITERS),SESSCB_TEST_ITERS=$(SESSCB_TSAN_ITERS)) \
	       $(TC_OUT)/$(2)/scenarios-$(1) $$$$n >$$$$out 2>&1; then rc=0; else rc=$$$$?; fi; \
	  if grep -q 'WARNING: ThreadSanitizer' $$$$out; then \
	    echo "$(1)[$(2)]: scenario $$$$n: ThreadSanitizer report (log: $$$$out)"; \
	    sed -n '/WARNING: ThreadSanitizer/,/^SUMMARY/p' $$$$out | head -80; exit 1; fi; \
	  if [ $$$$rc -ne 0 ] || ! grep -q '^RESULT PASS' $$$$out; then \
	    echo "$(1)[$(2)]: scenario $$$$n failed (exit $$$$rc, log: $$$$out)"; \
	    grep -E 'CHECK FAIL|RESULT|MODE' $$$$out | head -40; exit 1; fi; \
	  $(if $(4),grep -q '^MODE sesscb' $$$$out || { echo "$(1)[$(2)]: sesscb not in the path"; exit 1; };) \
	  echo "$(1)[$(2)]: scenario $$$$n: PASS, no ThreadSanitizer report$(5)"; \
	done
endef

define TSAN_BUILD
$(TC_OUT)/$(1)/obj-tsan/%.o: $(TC_SRC_DIR)/%.c $(TC_HDRS) $(OSSL_$(1)_DEPS)
	@mkdir -p $$(dir $$@)
	$(TSAN_CC) $(TSAN_FLAGS) $(TSAN_CFLAGS) $(OSSL_$(1)_CPPFLAGS) -c $$< -o $$@

$(TC_OUT)/$(1)/obj-tsan/scenarios.o: $(TC_TABLE)

$(TC_OUT)/$(1)/scenarios-tsan: $(call tsan_objs,$(1)) $(LIB)
	$(TSAN_CC) $(TSAN_FLAGS) $(call tsan_objs,$(1)) -o $$@ \
	    -L$(TARGET)/release -Wl,-rpath,$(TARGET)/release -Wl,--no-as-needed -lsesscb -Wl,--as-needed \
	    $(OSSL_$(1)_LDFLAGS) -lssl -lcrypto -ldl -lpthread

.PHONY: tsan-run-$(1)
tsan-run-$(1): $(TC_OUT)/$(1)/scenarios-tsan $(TSAN_SUPP)
	$(call tsan_run_scenarios,tsan,$(1),announce,mode-check)
endef
$(eval $(call TSAN_BUILD,sys))
$(eval $(call TSAN_BUILD,111))

.PHONY: tsan tsan-111
tsan: tsan-run-sys
tsan-111: tsan-run-111

# ---------------------------------------------------------------------------
# Optional: the same run with libsesscb itself TSan-instrumented, so races
# inside the Rust code (not only in the test program) are reported.
#   make tsan-rs / tsan-rs-111
# Needs the nightly toolchain (-Zsanitizer=thread). Without rust-src there is
# no -Zbuild-std, so std stays uninstrumented (hence
# -Cunsafe-allow-abi-mismatch=sanitizer); the crate's own code is instrumented.
# Nightly's LLVM emits __tsan_memcpy/__tsan_memset/__tsan_memmove, which
# clang-14's TSan runtime lacks: a tiny generated shim forwards them to the
# intercepted libc functions.
TSAN_RS_DIR := $(TARGET)/tsan-rust
TSAN_RS_LIBDIR := $(TSAN_RS_DIR)/x86_64-unknown-linux-gnu/release
TSAN_RS_SHIM := $(TC_OUT)/tsan-rs-shim.o

.PHONY: tsan-rs-lib tsan-rs tsan-rs-111
tsan-rs-lib:
	CARGO_TARGET_DIR=$(TSAN_RS_DIR) RUSTFLAGS="-Zsanitizer=thread -Cunsafe-allow-abi-mismatch=sanitizer" \
	    $(CARGO) +nightly build --release --locked --offline --lib --target x86_64-unknown-linux-gnu
	ln -sf libsesscb.so $(TSAN_RS_LIBDIR)/libsesscb.so.0

$(TSAN_RS_SHIM):
	@mkdir -p $(dir $@)
	printf '%s\n' '#include <string.h>' \
	  'void *__tsan_memcpy(void *d, const void *s, size_t n) { return memcpy(d, s, n); }' \
	  'void *__tsan_memset(void *d, int c, size_t n) { return memset(d, c, n); }' \
	  'void *__tsan_memmove(void *d, const void *s, size_t n) { return memmove(d, s, n); }' \
	  | $(TSAN_CC) $(TSAN_FLAGS) -x c -c - -o $@

define TSAN_RS_BUILD
.PHONY: tsan-rs-run-$(1)
tsan-rs-run-$(1): tsan-rs-lib $(call tsan_objs,$(1)) $(TSAN_RS_SHIM) $(TSAN_SUPP)
	$(TSAN_CC) $(TSAN_FLAGS) $(TSAN_RS_SHIM) $(call tsan_objs,$(1)) -o $(TC_OUT)/$(1)/scenarios-tsan-rs \
	    -Wl,--export-dynamic-symbol=__tsan_memcpy -Wl,--export-dynamic-symbol=__tsan_memset \
	    -Wl,--export-dynamic-symbol=__tsan_memmove \
	    -L$(TSAN_RS_LIBDIR) -Wl,-rpath,$(TSAN_RS_LIBDIR) -Wl,--no-as-needed -lsesscb -Wl,--as-needed \
	    $(OSSL_$(1)_LDFLAGS) -lssl -lcrypto -ldl -lpthread
	$(call tsan_run_scenarios,tsan-rs,$(1),,, (sesscb instrumented))
endef
$(eval $(call TSAN_RS_BUILD,sys))
$(eval $(call TSAN_RS_BUILD,111))

tsan-rs: tsan-rs-run-sys
tsan-rs-111: tsan-rs-run-111
