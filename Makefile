# sesscb — top-level Makefile. `make demo` and `make test` are the two
# commands the README promises; every other target is a building block.
SHELL := /bin/bash
ROOT := $(abspath .)
TARGET := $(ROOT)/target
CARGO ?= cargo
PROFILE_DIR := $(TARGET)/release
LIB := $(PROFILE_DIR)/libsesscb.so
SONAME := libsesscb.so.0

.PHONY: all lib test demo clean
all: lib

# openssl111.mk and openssl-lines.mk first: the others name $(OSSL111) and
# $(OSSLnn_LIBSSL) in prerequisites, which make expands as it reads them.
OSSL_MKS := mk/openssl111.mk mk/openssl-lines.mk
include $(OSSL_MKS)
include $(filter-out $(OSSL_MKS),$(sort $(wildcard mk/*.mk)))
