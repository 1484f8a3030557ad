# Host safety: sesscb inside processes that were not written for it
# (tests-c/host/, runner tests/host_safety.rs).
#
#   make tests-host        the C programs: target/tests-c/host/host_*
#   make test-host         build them and run the runner (every case)
#   make tests-host-clean
#
# Programs:
#   host_dlopen-{sys,111}   NOT linked to OpenSSL: dlopen(libssl, RTLD_LOCAL|RTLD_NOW)
#                           (system libssl.so.3 / upstream 1.1.1w by path); the six
#                           by plain (weak) names
#   host_dlopen-{35,40}     the same with the 3.5 and 4.0 builds' libssl by path
#   host_linked-{sys,111}   linked to libssl; modes basic, nullctx, fork, pipe, fdreuse
#   host_twolib             NOT linked to OpenSSL: dlopen's libssl.so.3 and a 1.1.1w libssl
#                           (RTLD_LOCAL), ctxs from the second (ctx_owner / ctx_unattributed)
#   host_nolibssl           no OpenSSL at all; sesscb API by weak names (run preloaded)
#   host_nolibssl-linked    the same linked to libsesscb
# plus tests-c/host/py_ssl_host.py (/usr/bin/python3) and check_log.py (trace validator:
# every line against docs/trace-schema.json, through tools/sesscb_trace).
#
# Uses ROOT, TARGET, LIB, PROFILE_DIR, CARGO from the top Makefile, OSSL111
# from mk/openssl111.mk and OSSL35/OSSL40 from mk/openssl-lines.mk.

HOST_SRC := $(ROOT)/tests-c/host
HOST_OUT := $(TARGET)/tests-c/host
HOST_CC ?= cc
HOST_PYTHON ?= /usr/bin/python3
HOST_CFLAGS := -O1 -g -Wall -Wextra -Werror -I$(ROOT)/include
HOST_CORE := $(HOST_SRC)/tls_core.c $(HOST_SRC)/weak_six.h $(ROOT)/include/sesscb.h
HOST_SYSLIBS := -ldl -lpthread
HOST_111_FLAGS := -I$(OSSL111)/include
HOST_111_LINK := -L$(OSSL111)/lib -Wl,-rpath,$(OSSL111)/lib -lssl -lcrypto

HOST_BINS := $(HOST_OUT)/host_dlopen-sys $(HOST_OUT)/host_dlopen-111 \
             $(HOST_OUT)/host_linked-sys $(HOST_OUT)/host_linked-111 \
             $(HOST_OUT)/host_twolib $(HOST_OUT)/host_nolibssl $(HOST_OUT)/host_nolibssl-linked
HOST_BINS += $(HOST_OUT)/host_dlopen-35 $(HOST_OUT)/host_dlopen-40

# $(call host_no_openssl,binary): fail (and delete it) if it depends on OpenSSL.
host_no_openssl = @if readelf -d $(1) | grep -qE 'NEEDED.*lib(ssl|crypto)'; then \
	  echo "$(1): must not be linked to OpenSSL"; rm -f $(1); exit 1; fi

$(HOST_OUT)/host_dlopen-sys: $(HOST_SRC)/host_dlopen.c $(HOST_CORE)
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) -DHOST_LIBSSL='"libssl.so.3"' $< -o $@ $(HOST_SYSLIBS)
	$(call host_no_openssl,$@)

$(HOST_OUT)/host_dlopen-111: $(HOST_SRC)/host_dlopen.c $(HOST_CORE) $(OSSL111)/lib/libssl.so.1.1
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) $(HOST_111_FLAGS) -DHOST_LIBSSL='"$(OSSL111)/lib/libssl.so.1.1"' \
	    $< -o $@ $(HOST_SYSLIBS)
	$(call host_no_openssl,$@)

# The 3.5 and 4.0 lines: their headers, their libssl dlopen'ed by path
# (sesscb must find 4.0's libssl.so.4 by its soname).
define HOST_DLOPEN_LINE
$$(HOST_OUT)/host_dlopen-$(1): $$(HOST_SRC)/host_dlopen.c $$(HOST_CORE) $$(OSSL$(1)_LIBSSL)
	@mkdir -p $$(@D)
	$$(HOST_CC) $$(HOST_CFLAGS) -I$$(OSSL$(1))/include -DHOST_LIBSSL='"$$(OSSL$(1)_LIBSSL)"' \
	    $$< -o $$@ $$(HOST_SYSLIBS)
	$$(call host_no_openssl,$$@)
endef
$(eval $(call HOST_DLOPEN_LINE,35))
$(eval $(call HOST_DLOPEN_LINE,40))

# Compiled against 1.1.1w's headers: its ctxs come from the 1.1.1w libssl.
$(HOST_OUT)/host_twolib: $(HOST_SRC)/host_twolib.c $(HOST_CORE) $(OSSL111)/lib/libssl.so.1.1
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) $(HOST_111_FLAGS) $< -o $@ $(HOST_SYSLIBS)
	$(call host_no_openssl,$@)

$(HOST_OUT)/host_linked-sys: $(HOST_SRC)/host_linked.c $(HOST_CORE)
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) $< -o $@ -lssl -lcrypto $(HOST_SYSLIBS)

$(HOST_OUT)/host_linked-111: $(HOST_SRC)/host_linked.c $(HOST_CORE) $(OSSL111)/lib/libssl.so.1.1
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) $(HOST_111_FLAGS) $< -o $@ $(HOST_111_LINK) $(HOST_SYSLIBS)

$(HOST_OUT)/host_nolibssl: $(HOST_SRC)/host_nolibssl.c $(HOST_SRC)/weak_six.h $(ROOT)/include/sesscb.h
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) $< -o $@ -ldl
	$(call host_no_openssl,$@)

# Linked to sesscb (soname libsesscb.so.0, made by `lib`), still no OpenSSL.
$(HOST_OUT)/host_nolibssl-linked: $(HOST_SRC)/host_nolibssl.c $(HOST_SRC)/weak_six.h $(ROOT)/include/sesscb.h | lib
	@mkdir -p $(@D)
	$(HOST_CC) $(HOST_CFLAGS) $< -o $@ -L$(PROFILE_DIR) -Wl,-rpath,$(PROFILE_DIR) \
	    -Wl,--no-as-needed -lsesscb -Wl,--as-needed -ldl
	$(call host_no_openssl,$@)

.PHONY: tests-host test-host tests-host-clean
tests-host: $(HOST_BINS)

test-host: lib tests-host
	cd $(ROOT) && SESSCB_HOST_DIR=$(HOST_OUT) SESSCB_LIB=$(LIB) SESSCB_HOST_PYTHON=$(HOST_PYTHON) \
	    $(CARGO) test --release --locked --test host_safety -- --include-ignored

tests-host-clean:
	rm -rf $(HOST_OUT)
