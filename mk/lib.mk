# The library, its header, and installation.

PREFIX ?= /usr/local
DESTDIR ?=
LIBDIR ?= $(PREFIX)/lib
BINDIR ?= $(PREFIX)/bin
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' $(ROOT)/Cargo.toml | head -1)
LIB_SO0 := $(PROFILE_DIR)/$(SONAME)

.PHONY: lib header header-check unit-test exports-check lint install uninstall install-check

# cargo decides whether anything is stale; the symlink gives linked test
# programs the soname they record.
lib:
	$(CARGO) build --release --locked
	ln -sf libsesscb.so $(LIB_SO0)

$(LIB): lib

# Regenerates include/sesscb.h after an API change (the build fails while it
# is stale).
header:
	SESSCB_UPDATE_HEADER=1 $(CARGO) build --release --locked

# sesscb.h compiles clean on its own and next to <openssl/ssl.h> (1.1.1w and
# 3.x) as C99 and C++, and a header with one wrong prototype is rejected, so
# the check can fail.
HEADER_FLAGS := -Wall -Wextra -Werror -pedantic -I$(ROOT)/include
header-check: lib $(OSSL111)/lib/libssl.so.1.1
	@set -e; for cc in "gcc -std=c99 -x c" "g++ -std=c++11 -x c++"; do \
	  for inc in /usr/include $(OSSL111)/include; do \
	    $$cc $(HEADER_FLAGS) -I$$inc -c tests-c/header/prototypes_match.c -o /dev/null; \
	  done; \
	  echo '#include "sesscb.h"' | $$cc $(HEADER_FLAGS) -c - -o /dev/null; \
	done; \
	tmp=$$(mktemp -d); \
	sed 's/int (\*sesscb_new_session_cb)(struct ssl_st\*, struct ssl_session_st\*)/int (*sesscb_new_session_cb)(struct ssl_st*, void*)/' \
	  include/sesscb.h > $$tmp/sesscb.h; \
	if grep -q 'void\*)' $$tmp/sesscb.h && \
	   ! gcc -std=c99 -I$$tmp $(HEADER_FLAGS) -c tests-c/header/prototypes_match.c -o /dev/null 2>/dev/null; then \
	  echo "header-check: ok (C99 and C++, OpenSSL 3 and 1.1.1w; a wrong prototype is rejected)"; \
	else echo "header-check: a deliberately wrong prototype was accepted"; rm -rf $$tmp; exit 1; fi; \
	rm -rf $$tmp

# The export table is the contract: the six OpenSSL names, SSL_CTX_new/_ex (the
# store's provide mode) and SSL_CTX_remove_session (the store's explicit
# removes), pass-throughs when the store is off, unversioned, plus
# sesscb_*; no libssl/libcrypto dependency of any kind.
exports-check: lib
	@set -e; so=$(LIB); \
	defined=$$(nm -D --defined-only $$so | awk '{print $$3}' | sort | tr '\n' ' '); \
	want="SSL_CTX_new SSL_CTX_new_ex SSL_CTX_remove_session SSL_CTX_sess_get_get_cb SSL_CTX_sess_get_new_cb SSL_CTX_sess_get_remove_cb SSL_CTX_sess_set_get_cb SSL_CTX_sess_set_new_cb SSL_CTX_sess_set_remove_cb sesscb_stats sesscb_version "; \
	[ "$$defined" = "$$want" ] || { echo "exports-check: unexpected exports: $$defined"; exit 1; }; \
	! readelf --dyn-syms -W $$so | grep -E ' SSL_CTX_(sess|new|remove).*@' || { echo "exports-check: versioned export"; exit 1; }; \
	! nm -D --undefined-only $$so | grep -iE ' (SSL|CRYPTO|OPENSSL|ERR)_' || { echo "exports-check: OpenSSL import"; exit 1; }; \
	! readelf -d $$so | grep -E 'NEEDED.*lib(ssl|crypto)' || { echo "exports-check: DT_NEEDED on OpenSSL"; exit 1; }; \
	readelf -d $$so | grep -q 'SONAME.*\[$(SONAME)\]' || { echo "exports-check: soname"; exit 1; }; \
	echo "exports-check: ok (the six + SSL_CTX_new/_ex + SSL_CTX_remove_session unversioned, sesscb_*; no OpenSSL link dependency)"

unit-test:
	$(CARGO) test --release --locked --lib

# The layers of src/, top first: a file imports only from its own layer or
# those below it, and no two files import each other, even indirectly. `bin`
# is the sesscb command (src/bin), above the library.
SRC_LAYERS := bin,abi,dispatch,registry,tickets,store,libssl,observe,sync,ffi,limits

# Static checks: clippy with -D warnings (which also enforces Cargo.toml's
# [lints]: unsafe_op_in_unsafe_fn, undocumented_unsafe_blocks), rustfmt, and
# the import graph (its self-test first, so a broken checker cannot pass).
lint:
	$(CARGO) clippy --release --locked --all-targets -- -D warnings
	$(CARGO) fmt --check
	python3 scripts/import-graph.py --self-test
	python3 scripts/import-graph.py --quiet --layers $(SRC_LAYERS)

# Installs the library with its soname and symlinks, the header and a
# pkg-config file.
install: lib
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(BINDIR)
	install -m 0755 $(LIB) $(DESTDIR)$(LIBDIR)/libsesscb.so.$(VERSION)
	install -m 0755 $(PROFILE_DIR)/sesscb $(DESTDIR)$(BINDIR)/sesscb
	ln -sf libsesscb.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libsesscb.so
	install -m 0644 include/sesscb.h $(DESTDIR)$(INCLUDEDIR)/sesscb.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' sesscb.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/sesscb.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/sesscb.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libsesscb.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	      $(DESTDIR)$(LIBDIR)/libsesscb.so $(DESTDIR)$(INCLUDEDIR)/sesscb.h \
	      $(DESTDIR)$(PKGCONFIGDIR)/sesscb.pc $(DESTDIR)$(BINDIR)/sesscb

# `make install` / `make uninstall` into a scratch DESTDIR: the files and
# symlinks land where documented, pkg-config finds the library, a program
# built from the installed header and library (-lsesscb before -lssl) runs
# with sesscb in its path, and uninstall leaves nothing behind.
install-check: lib
	@set -e; dest=$$(mktemp -d); trap 'rm -rf $$dest' EXIT; \
	$(MAKE) --no-print-directory -s install DESTDIR=$$dest PREFIX=/opt/sesscb >/dev/null; \
	lib=$$dest/opt/sesscb/lib; \
	$$dest/opt/sesscb/bin/sesscb keygen $$dest/keyring >/dev/null; \
	test -f $$lib/libsesscb.so.$(VERSION); \
	test "$$(readlink $$lib/$(SONAME))" = libsesscb.so.$(VERSION); \
	test "$$(readlink $$lib/libsesscb.so)" = $(SONAME); \
	test -f $$dest/opt/sesscb/include/sesscb.h; \
	pc="PKG_CONFIG_PATH=$$lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$$dest"; \
	flags=$$(env $$pc pkg-config --cflags --libs sesscb); \
	test "$$(env $$pc pkg-config --modversion sesscb)" = "$(VERSION)"; \
	cc -std=c99 -Wall -Wextra -Werror tests-c/header/installed_program.c $$flags \
	   -Wl,-rpath,$$lib -lssl -lcrypto -o $$dest/program; \
	readelf -d $$dest/program | grep -q 'NEEDED.*\[$(SONAME)\]'; \
	$$dest/program; \
	$(MAKE) --no-print-directory -s uninstall DESTDIR=$$dest PREFIX=/opt/sesscb >/dev/null; \
	left=$$(find $$dest/opt -type f -o -type l); \
	[ -z "$$left" ] || { echo "install-check: uninstall left: $$left"; exit 1; }; \
	echo "install-check: ok (soname + symlinks, header, sesscb.pc, the sesscb command; linked program runs through sesscb; uninstall clean)"
