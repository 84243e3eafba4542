# digits -- build, test and run.
#
#   make            build build/digits-trainer and build/digits-server
#   make deps       install missing build dependencies (apt-get, as root)
#   make data       fetch and verify MNIST into data/mnist/
#   make test       the whole test suite (installs what it needs first)
#   make run        build and start the server with the shipped model
#   make SAN=1 ...  the same with AddressSanitizer + UBSan, in build-san/
#   make CC=clang   any target with clang instead of gcc

CC      ?= cc
ARCH    ?= native
BUILD   ?= build
PKGS    := libmicrohttpd libcjson libpng check

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  ?= -O3
CFLAGS  += -std=c17 -march=$(ARCH) -ffp-contract=fast -fno-math-errno -pthread -D_POSIX_C_SOURCE=200809L \
           $(WARN) -Icommon -MMD -MP
LDLIBS  := -lm -pthread

ifeq ($(SAN),1)
BUILD   := build-san
CFLAGS  := $(filter-out -O3,$(CFLAGS)) -O1 -g -fno-omit-frame-pointer \
           -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs libmicrohttpd libcjson libpng 2>/dev/null)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)
CFLAGS    += $(PKG_CFLAGS)

COMMON_SRC  := $(wildcard common/*.c)
TRAINER_SRC := $(filter-out trainer/main.c,$(wildcard trainer/*.c))
SERVER_SRC  := $(filter-out server/main.c,$(wildcard server/*.c))
TEST_SRC    := $(wildcard tests/check_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIB_COMMON  := $(BUILD)/libdigits_common.a
LIB_TRAINER := $(BUILD)/libdigits_trainer.a
LIB_SERVER  := $(BUILD)/libdigits_server.a
TRAINER     := $(BUILD)/digits-trainer
SERVER      := $(BUILD)/digits-server
TESTS       := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))

.PHONY: all deps test-deps data test unit-tests shell-tests run clean sanitize check-deps
all: $(TRAINER) $(if $(wildcard server/main.c),$(SERVER))

$(BUILD)/obj/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB_COMMON): $(call obj,$(COMMON_SRC))
	$(AR) rcs $@ $^
$(LIB_TRAINER): $(call obj,$(TRAINER_SRC))
	$(AR) rcs $@ $^
$(LIB_SERVER): $(call obj,$(SERVER_SRC))
	$(AR) rcs $@ $^

$(TRAINER): $(call obj,trainer/main.c) $(LIB_TRAINER) $(LIB_COMMON)
	$(CC) $(LDFLAGS) $^ -o $@ $(PKG_LIBS) $(LDLIBS)

$(SERVER): $(call obj,server/main.c) $(LIB_SERVER) $(LIB_COMMON)
	$(CC) $(LDFLAGS) $^ -o $@ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/tests/%: $(call obj,tests/%.c) $(LIB_TRAINER) $(LIB_SERVER) $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(PKG_LIBS) $(CHECK_LIBS) $(LDLIBS)

# Dependencies and data are set up by scripts so that the same steps serve a
# person, CI and the container build.
deps:
	@scripts/deps.sh

test-deps:
	@scripts/deps.sh --test

data:
	@scripts/fetch-mnist.sh data/mnist

# The whole suite: unit and integration tests (Check), then the shell-level
# tests. Each Check binary finds MNIST and the shipped model through
# DIGITS_DATA / DIGITS_MODEL and skips loudly when shared material is absent.
test: test-deps data
	@$(MAKE) --no-print-directory all $(TESTS)
	@scripts/run-tests.sh $(BUILD) $(TESTS)

unit-tests: all $(TESTS)
	@scripts/run-tests.sh $(BUILD) $(TESTS)

run: deps
	@$(MAKE) --no-print-directory all
	exec $(SERVER) --model models/mnist-mlp.bin

clean:
	rm -rf build build-san

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
