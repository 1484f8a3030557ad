# mk/store-proofs.mk -- the C server of the store's ASan proof
# (interop/suite/store_proofs.py, test `store-sanitizers`).
#
#   make store-proofs   target/tests-c/store/store-server-asan
#
# tests-c/store/store_server.c built with ASan+UBSan against the system
# OpenSSL 3 and linked with -lsesscb before -lssl (TC_SESSCB and
# TC_ASAN_FLAGS from mk/tests-c.mk), so the store path runs instrumented in
# a real server process. `make interop` builds it first.

STORE_PROOFS_OUT := $(TARGET)/tests-c/store
STORE_PROOFS_SRC := $(ROOT)/tests-c/store/store_server.c
STORE_PROOFS_ASAN := $(STORE_PROOFS_OUT)/store-server-asan

.PHONY: store-proofs
store-proofs: $(STORE_PROOFS_ASAN)

# Linked to a temporary name and renamed: a suite started concurrently never
# runs a half-written file.
$(STORE_PROOFS_ASAN): $(STORE_PROOFS_SRC) $(LIB)
	@mkdir -p $(@D)
	$(TC_CC) -O1 -g -Wall -Wextra -Werror $(TC_ASAN_FLAGS) $< -o $@.tmp $(TC_SESSCB) -lssl -lcrypto
	mv -f $@.tmp $@

interop: $(STORE_PROOFS_ASAN)
