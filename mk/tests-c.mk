# tests-c: the C scenario programs of the differential suite
# (docs/test-suite-contract.md) and the Rust runner tests/differential.rs.
#
#   make tests-c         all binaries: target/tests-c/{sys,111,35,36,40}/scenarios-{plain,linked,asan}
#   make tests-c-plain   plain binaries only (no libsesscb.so needed)
#   make test-c          build everything, then run the differential runner
#   make test-c-asan     runner with SESSCB_TEST_VARIANT=asan (ASan+UBSan linked, valgrind preload)
#
# Uses ROOT, TARGET, LIB from the top Makefile and OSSL111, OSSL_<build>_* from
# mk/openssl111.mk.
# Every tests-c/scenarios/sNN_name.c is compiled in (wildcard) and gets a
# SCENARIO(NN, sNN_name) line in the generated $(TC_TABLE), which
# tests-c/scenarios.c turns into its table: a new scenario file is picked up
# without editing a list (the Rust runner asks the binary: `--list`).

OSSL111 ?= $(TARGET)/openssl-1.1.1w

TC_SRC_DIR := $(ROOT)/tests-c
TC_OUT := $(TARGET)/tests-c
TC_SCENARIO_SRCS := $(sort $(wildcard $(TC_SRC_DIR)/scenarios/*.c))
TC_SRCS := $(TC_SRC_DIR)/harness.c $(TC_SRC_DIR)/scenarios.c $(TC_SCENARIO_SRCS)
TC_HDRS := $(TC_SRC_DIR)/harness.h $(wildcard $(ROOT)/include/*.h)
TC_GEN := $(TC_OUT)/gen
TC_TABLE := $(TC_GEN)/scenario_table.h
TC_CC ?= cc
TC_CFLAGS := -O1 -g -Wall -Wextra -Werror -I$(TC_SRC_DIR) -I$(TC_GEN) -I$(ROOT)/include
TC_ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
TC_SYSLIBS := -ldl -lpthread
# sesscb must come BEFORE -lssl; --no-as-needed keeps it even though the
# programs reference none of its own symbols directly.
TC_SESSCB := -L$(TARGET)/release -Wl,-rpath,$(TARGET)/release -Wl,--no-as-needed -lsesscb -Wl,--as-needed

# $(call tc_objs,build,variant) -> object list
tc_objs = $(patsubst $(TC_SRC_DIR)/%.c,$(TC_OUT)/$(1)/obj-$(2)/%.o,$(TC_SRCS))

# Regenerated on every make (it is one short loop) but rewritten only when its
# text changes (a scenario file added, removed or renamed), so scenarios.o is
# rebuilt only then.
.PHONY: tc-table-always
$(TC_TABLE): tc-table-always
	@mkdir -p $(dir $@)
	@set -e; for f in $(notdir $(basename $(TC_SCENARIO_SRCS))); do \
	  case $$f in s[0-9][0-9]_*) ;; \
	    *) echo "tests-c/scenarios/$$f.c: a scenario file is named sNN_what.c" >&2; exit 1;; esac; \
	  echo "SCENARIO($${f:1:2}, $$f)"; \
	done > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@; fi

# Template: one OpenSSL build ($1 = sys | 111). Binaries are linked to a
# temporary name and renamed, so a runner started concurrently never executes
# a half-written file.
define TC_BUILD
$(TC_OUT)/$(1)/obj-std/%.o: $(TC_SRC_DIR)/%.c $(TC_HDRS) $(OSSL_$(1)_DEPS)
	@mkdir -p $$(dir $$@)
	$(TC_CC) $(TC_CFLAGS) $(OSSL_$(1)_CPPFLAGS) -c $$< -o $$@

$(TC_OUT)/$(1)/obj-asan/%.o: $(TC_SRC_DIR)/%.c $(TC_HDRS) $(OSSL_$(1)_DEPS)
	@mkdir -p $$(dir $$@)
	$(TC_CC) $(TC_CFLAGS) $(TC_ASAN_FLAGS) $(OSSL_$(1)_CPPFLAGS) -c $$< -o $$@

$(TC_OUT)/$(1)/obj-std/scenarios.o $(TC_OUT)/$(1)/obj-asan/scenarios.o: $(TC_TABLE)

$(TC_OUT)/$(1)/scenarios-plain: $(call tc_objs,$(1),std)
	$(TC_CC) $(TC_CFLAGS) $$^ -o $$@.tmp $(OSSL_$(1)_LDFLAGS) -lssl -lcrypto $(TC_SYSLIBS)
	mv -f $$@.tmp $$@

$(TC_OUT)/$(1)/scenarios-linked: $(call tc_objs,$(1),std) $(LIB)
	$(TC_CC) $(TC_CFLAGS) $(call tc_objs,$(1),std) -o $$@.tmp $(TC_SESSCB) $(OSSL_$(1)_LDFLAGS) -lssl -lcrypto $(TC_SYSLIBS)
	mv -f $$@.tmp $$@

$(TC_OUT)/$(1)/scenarios-asan: $(call tc_objs,$(1),asan) $(LIB)
	$(TC_CC) $(TC_CFLAGS) $(TC_ASAN_FLAGS) $(call tc_objs,$(1),asan) -o $$@.tmp $(TC_SESSCB) $(OSSL_$(1)_LDFLAGS) -lssl -lcrypto $(TC_SYSLIBS)
	mv -f $$@.tmp $$@
endef
# Every build: system 3.0, 1.1.1w and the 3.5, 3.6 and 4.0 lines (their
# OSSL_<build>_* flags come from mk/openssl111.mk and mk/openssl-lines.mk).
TC_BUILDS := sys 111 $(OSSL_LINES)
$(foreach b,$(TC_BUILDS),$(eval $(call TC_BUILD,$(b))))

TC_PLAIN_BINS := $(foreach b,$(TC_BUILDS),$(TC_OUT)/$(b)/scenarios-plain)
TC_ALL_BINS := $(TC_PLAIN_BINS) \
               $(foreach b,$(TC_BUILDS),$(TC_OUT)/$(b)/scenarios-linked $(TC_OUT)/$(b)/scenarios-asan)

.PHONY: tests-c tests-c-plain test-c test-c-asan tests-c-clean
tests-c: $(TC_ALL_BINS)
tests-c-plain: $(TC_PLAIN_BINS)

# The runner needs the soname link target/release/libsesscb.so.0 (made by the
# top Makefile's `lib` target) at run time.
test-c: lib tests-c
	cd $(ROOT) && SESSCB_TEST_DIR=$(TC_OUT) $(CARGO) test --release --locked --test differential -- --include-ignored

test-c-asan: lib tests-c
	cd $(ROOT) && SESSCB_TEST_DIR=$(TC_OUT) SESSCB_TEST_VARIANT=asan \
	    $(CARGO) test --release --locked --test differential -- --include-ignored

tests-c-clean:
	rm -rf $(TC_OUT)
