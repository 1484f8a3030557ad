# mk/openssl-lines.mk -- shared builds of the OpenSSL 3.5, 3.6 and 4.0 lines.
# Uses ROOT from the top Makefile and `deps` from mk/openssl111.mk.
#
# scripts/build-openssl.sh builds each line once per machine into a cache
# outside the clone (${SESSCB_CACHE:-~/.cache/sesscb}); the prefix it prints
# is a link whose name carries the line and a hash of the build recipe, so a
# second clone or `make test` reuses the build and a changed recipe builds anew.
#
# Provides:
#   OSSL35 OSSL36 OSSL40            install prefixes (lib/ include/ bin/openssl)
#   OSSL35_LIBSSL ...               file targets: build the line when missing
#   openssl35 openssl36 openssl40   (phony) the same by name
#   OSSL35ND, openssl35nd           3.5 configured no-deprecated (the ticket
#                                   keys' EVP form is proven on it)
#   openssl-lines                   (phony) all four
#   OSSL_LINES, OSSL_<nn>_{CPPFLAGS,LDFLAGS,DEPS}   the lines and their flags

OSSL_BUILD_SCRIPT := $(ROOT)/scripts/build-openssl.sh
export SESSCB_CACHE

OSSL35 := $(shell $(OSSL_BUILD_SCRIPT) --prefix 3.5)
OSSL36 := $(shell $(OSSL_BUILD_SCRIPT) --prefix 3.6)
OSSL40 := $(shell $(OSSL_BUILD_SCRIPT) --prefix 4.0)
OSSL35ND := $(shell $(OSSL_BUILD_SCRIPT) --prefix 3.5-nodep)
OSSL35_LIBSSL := $(OSSL35)/lib/libssl.so.3
OSSL36_LIBSSL := $(OSSL36)/lib/libssl.so.3
OSSL40_LIBSSL := $(OSSL40)/lib/libssl.so.4
OSSL35ND_LIBSSL := $(OSSL35ND)/lib/libssl.so.3

# $(1) = 35 | 36 | 40, $(2) = the line as the script names it.
define OSSL_LINE
$$(OSSL$(1)_LIBSSL): | deps
	@$(OSSL_BUILD_SCRIPT) $(2)

.PHONY: openssl$(1)
openssl$(1): $$(OSSL$(1)_LIBSSL)
endef
$(eval $(call OSSL_LINE,35,3.5))
$(eval $(call OSSL_LINE,36,3.6))
$(eval $(call OSSL_LINE,40,4.0))
$(eval $(call OSSL_LINE,35ND,3.5-nodep))

# Per-build flags, as mk/openssl111.mk gives OSSL_sys_* and OSSL_111_*. The
# 3.0 API level keeps calls deprecated since 3.4 (SSL_SESSION_set_time...)
# warning-free.
OSSL_LINES := 35 36 40
$(foreach n,$(OSSL_LINES),$(eval OSSL_$(n)_CPPFLAGS := -I$(OSSL$(n))/include -DOPENSSL_API_COMPAT=30000) \
    $(eval OSSL_$(n)_LDFLAGS := -L$(OSSL$(n))/lib -Wl,-rpath,$(OSSL$(n))/lib) \
    $(eval OSSL_$(n)_DEPS := $(OSSL$(n)_LIBSSL)))

.PHONY: openssl-lines
openssl-lines: openssl35 openssl36 openssl40 openssl35ND
