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

# The OpenSSL builds first: the others name $(OSSL111), $(OSSL35)... in prerequisites.
include mk/openssl111.mk mk/openssl-lines.mk
include $(filter-out mk/openssl111.mk mk/openssl-lines.mk,$(sort $(wildcard mk/*.mk)))
