# mk/interop.mk -- `make interop`: sesscb against real servers and clients.
#
#   make interop                 everything (interop/run.py; a few minutes)
#   make interop INTEROP_ARGS='nginx twossl -v'   a subset, verbose
#   make interop-twossl          only build the two-OpenSSL test programs
#
# interop/run.py starts nginx, haproxy, stunnel4, apache2 and `openssl s_server
# -ext_cache` (system OpenSSL 3 and the 1.1.1w build) on loopback, plain and
# with LD_PRELOAD=libsesscb.so, and drives them with s_client, curl and a
# Python client; see interop/run.py --help and interop/RESULTS.md.
#
# Uses ROOT, TARGET, LIB from the top Makefile and OSSL111 from
# mk/openssl111.mk.

INTEROP_OUT := $(TARGET)/interop
TWOSSL_OUT := $(INTEROP_OUT)/twossl
TWOSSL_SRC := $(ROOT)/interop/twossl
INTEROP_CC ?= cc
INTEROP_CFLAGS := -O2 -g -Wall -Wextra -Werror
INTEROP_ARGS ?=
INTEROP_PYTHON := /usr/bin/python3

.PHONY: interop interop-twossl

interop-twossl: $(TWOSSL_OUT)/twossl-main $(TWOSSL_OUT)/plugin111.so $(TWOSSL_OUT)/twossl-static111

# The plugin: built against and linked to OpenSSL 1.1.1w (rpath), everything
# hidden but its entry points. The tail-call scenario needs
# twossl_plugin_install's last setter compiled as a sibling call; fail the
# build if the compiler did not emit one.
$(TWOSSL_OUT)/plugin111.so: $(TWOSSL_SRC)/plugin.c $(TWOSSL_SRC)/exercise.h $(OSSL111)/lib/libssl.so.1.1
	@mkdir -p $(@D)
	$(INTEROP_CC) $(INTEROP_CFLAGS) -fPIC -shared -fvisibility=hidden -I$(OSSL111)/include \
	    $< -o $@ -L$(OSSL111)/lib -Wl,-rpath,$(OSSL111)/lib -Wl,--no-undefined -lssl -lcrypto -ldl
	@objdump -d --no-show-raw-insn $@ | awk '/<twossl_plugin_install>:/,/^$$/' \
	    | grep -q 'jmp.*<SSL_CTX_sess_set_remove_cb@plt>' \
	    || { echo "interop-twossl: twossl_plugin_install does not end in a tail call"; rm -f $@; exit 1; }

# The program: linked to the system OpenSSL 3 only.
$(TWOSSL_OUT)/twossl-main: $(TWOSSL_SRC)/main.c $(TWOSSL_SRC)/exercise.h
	@mkdir -p $(@D)
	$(INTEROP_CC) $(INTEROP_CFLAGS) $< -o $@ -lssl -lcrypto -ldl

# Troubleshooting case: OpenSSL 1.1.1w linked statically (cannot be
# interposed; the suite checks that nothing changes and sesscb sees nothing).
$(TWOSSL_OUT)/twossl-static111: $(TWOSSL_SRC)/static.c $(TWOSSL_SRC)/exercise.h $(OSSL111)/lib/libssl.so.1.1
	@mkdir -p $(@D)
	$(INTEROP_CC) $(INTEROP_CFLAGS) -I$(OSSL111)/include $< -o $@ \
	    $(OSSL111)/lib/libssl.a $(OSSL111)/lib/libcrypto.a -ldl -lpthread

interop: lib $(OSSL111)/lib/libssl.so.1.1 interop-twossl
	$(INTEROP_PYTHON) $(ROOT)/interop/run.py $(INTEROP_ARGS)
