# mk/openssl111.mk -- upstream OpenSSL 1.1.1w (shared) and system dependencies.
# Included by the top Makefile, which defines before the include:
#   ROOT   := $(abspath .)
#   TARGET := $(ROOT)/target
#
# Provides:
#   OSSL111                 prefix of the OpenSSL 1.1.1w install (lib/ include/ bin/)
#   $(OSSL111_LIBSSL)       file target: builds it with scripts/build-openssl111.sh
#   openssl111 (phony)      same, by name
#   OSSL_{sys,111}_{CPPFLAGS,LDFLAGS,DEPS}  compile/link flags and prerequisites per build
#   deps (phony)            scripts/install-deps.sh (apt packages; checks cargo)

OSSL111        := $(TARGET)/openssl-1.1.1w
OSSL111_LIBSSL := $(OSSL111)/lib/libssl.so.1.1
OSSL111_LIBCRYPTO := $(OSSL111)/lib/libcrypto.so.1.1
OSSL111_OPENSSL := $(OSSL111)/bin/openssl

# Per-build flags, for rules that take the build name B (sys: Debian's
# OpenSSL 3, which the compiler finds; 111: the build below) as $(OSSL_B_...).
OSSL_sys_CPPFLAGS :=
OSSL_sys_LDFLAGS :=
OSSL_sys_DEPS :=
OSSL_111_CPPFLAGS := -I$(OSSL111)/include
OSSL_111_LDFLAGS := -L$(OSSL111)/lib -Wl,-rpath,$(OSSL111)/lib
OSSL_111_DEPS := $(OSSL111_LIBSSL)

# The script is idempotent (version/config stamp), so re-running it after an
# edit of the script or of the helper crate only rebuilds when that matters.
# `deps` is order-only: under `make -j` the toolchain (perl, gcc...) is
# installed before the build starts, without forcing a rebuild.
$(OSSL111_LIBSSL): $(ROOT)/scripts/build-openssl111.sh \
                   $(ROOT)/tools/openssl111/Cargo.toml \
                   $(ROOT)/tools/openssl111/Cargo.lock | deps
	@$(ROOT)/scripts/build-openssl111.sh

.PHONY: openssl111 deps
openssl111: $(OSSL111_LIBSSL)

deps:
	@$(ROOT)/scripts/install-deps.sh
