# mk/interop.mk -- `make interop`: sesscb against real servers and clients.
#
#   make interop                 everything (interop/run.py; a few minutes)
#   make interop INTEROP_ARGS='nginx twossl -v'   a subset, verbose
#   make interop-twossl          only build the two-OpenSSL test programs
#
# interop/run.py starts nginx, haproxy, stunnel4, apache2 and `openssl s_server
# -ext_cache` (system OpenSSL 3, 1.1.1w, 3.5, 3.6, 4.0) on loopback, plain and
# with LD_PRELOAD=libsesscb.so, and drives them with s_client, curl and a
# Python client; see interop/run.py --help and interop/RESULTS.md.
#
# Uses ROOT, TARGET, LIB from the top Makefile, OSSL111 from
# mk/openssl111.mk and OSSL35/36/40 from mk/openssl-lines.mk.

INTEROP_OUT := $(TARGET)/interop
TWOSSL_OUT := $(INTEROP_OUT)/twossl
TWOSSL_SRC := $(ROOT)/interop/twossl
INTEROP_CC ?= cc
INTEROP_CFLAGS := -O2 -g -Wall -Wextra -Werror
INTEROP_ARGS ?=
INTEROP_PYTHON := /usr/bin/python3

.PHONY: interop interop-twossl

# The mixes (main + plugin): system 3.0 + 1.1.1w, system 3.0 + 4.0
# (libssl.so.3 beside libssl.so.4), 3.5 + 1.1.1w.
TWOSSL_BINS := $(TWOSSL_OUT)/twossl-main $(TWOSSL_OUT)/twossl-main35 \
               $(TWOSSL_OUT)/plugin111.so $(TWOSSL_OUT)/plugin40.so
interop-twossl: $(TWOSSL_BINS) $(TWOSSL_OUT)/twossl-static111

# The plugin of one OpenSSL: TWOSSL_PREFIX, its tag and libssl soname.
$(TWOSSL_OUT)/plugin111.so: TWOSSL_PREFIX := $(OSSL111)
$(TWOSSL_OUT)/plugin111.so: TWOSSL_DEFS := -DPLUGIN_TAG='"111"' -DPLUGIN_SONAME='"libssl.so.1.1"'
$(TWOSSL_OUT)/plugin111.so: $(OSSL111)/lib/libssl.so.1.1
$(TWOSSL_OUT)/plugin40.so: TWOSSL_PREFIX := $(OSSL40)
$(TWOSSL_OUT)/plugin40.so: TWOSSL_DEFS := -DPLUGIN_TAG='"40"' -DPLUGIN_SONAME='"libssl.so.4"' \
    -DOPENSSL_API_COMPAT=30000
$(TWOSSL_OUT)/plugin40.so: $(OSSL40_LIBSSL)

# Built against and linked to its OpenSSL (rpath), everything hidden but its
# entry points. The tail-call scenario needs twossl_plugin_install's last
# setter compiled as a sibling call; fail the build if the compiler did not
# emit one.
$(TWOSSL_OUT)/plugin%.so: $(TWOSSL_SRC)/plugin.c $(TWOSSL_SRC)/exercise.h
	@mkdir -p $(@D)
	$(INTEROP_CC) $(INTEROP_CFLAGS) -fPIC -shared -fvisibility=hidden -I$(TWOSSL_PREFIX)/include $(TWOSSL_DEFS) \
	    $< -o $@ -L$(TWOSSL_PREFIX)/lib -Wl,-rpath,$(TWOSSL_PREFIX)/lib -Wl,--no-undefined -lssl -lcrypto -ldl
	@objdump -d --no-show-raw-insn $@ | awk '/<twossl_plugin_install>:/,/^$$/' \
	    | grep -q 'jmp.*<SSL_CTX_sess_set_remove_cb@plt>' \
	    || { echo "interop-twossl: twossl_plugin_install does not end in a tail call"; rm -f $@; exit 1; }

# The program: linked to the system OpenSSL 3 only.
$(TWOSSL_OUT)/twossl-main: $(TWOSSL_SRC)/main.c $(TWOSSL_SRC)/exercise.h
	@mkdir -p $(@D)
	$(INTEROP_CC) $(INTEROP_CFLAGS) $< -o $@ -lssl -lcrypto -ldl

# The same linked to the 3.5 build only (rpath).
$(TWOSSL_OUT)/twossl-main35: $(TWOSSL_SRC)/main.c $(TWOSSL_SRC)/exercise.h $(OSSL35_LIBSSL)
	@mkdir -p $(@D)
	$(INTEROP_CC) $(INTEROP_CFLAGS) -I$(OSSL35)/include -DOPENSSL_API_COMPAT=30000 \
	    -DMAIN_TAG='"35"' -DMAIN_SONAME='"libssl.so.3"' $< -o $@ \
	    -L$(OSSL35)/lib -Wl,-rpath,$(OSSL35)/lib -lssl -lcrypto -ldl

# Troubleshooting case: OpenSSL 1.1.1w linked statically (cannot be
# interposed; the suite checks that nothing changes and sesscb sees nothing).
$(TWOSSL_OUT)/twossl-static111: $(TWOSSL_SRC)/static.c $(TWOSSL_SRC)/exercise.h $(OSSL111)/lib/libssl.so.1.1
	@mkdir -p $(@D)
	$(INTEROP_CC) $(INTEROP_CFLAGS) -I$(OSSL111)/include $< -o $@ \
	    $(OSSL111)/lib/libssl.a $(OSSL111)/lib/libcrypto.a -ldl -lpthread

interop: lib $(OSSL111)/lib/libssl.so.1.1 $(OSSL35_LIBSSL) $(OSSL36_LIBSSL) $(OSSL40_LIBSSL) $(OSSL35ND_LIBSSL) \
    interop-twossl
	$(INTEROP_PYTHON) $(ROOT)/interop/run.py $(INTEROP_ARGS)
