# digits -- build, test and run.
#
#   make            build build/digits-trainer and build/digits-server
#   make deps       install missing build dependencies (apt-get, as root)
#   make data       fetch and verify MNIST into data/mnist/
#   make test       the whole test suite (installs what it needs first)
#   make run        build and start the server with the shipped model
#   make SAN=1 ...  the same with AddressSanitizer + UBSan, in build-san/
#   make CC=clang   any target with clang instead of gcc (everything is
#                   rebuilt when the compiler or its flags change; keep
#                   both builds with BUILD=build-clang)

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
# The drawing page (GET /): every file in web/, embedded as C arrays.
PAGE_SRC    := $(sort $(wildcard web/*))
PAGE_C      := $(BUILD)/gen/page_data.c
PAGE_OBJ    := $(BUILD)/obj/gen/page_data.o

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIB_COMMON  := $(BUILD)/libdigits_common.a
LIB_TRAINER := $(BUILD)/libdigits_trainer.a
LIB_SERVER  := $(BUILD)/libdigits_server.a
TRAINER     := $(BUILD)/digits-trainer
SERVER      := $(BUILD)/digits-server
TESTS       := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))

.PHONY: all deps test-deps data test unit-tests shell-tests run clean sanitize check-deps
all: $(TRAINER) $(if $(wildcard server/main.c),$(SERVER))

# What the objects were built with. Sources and headers are not all that
# decides an object: after a gcc build, `make CC=clang` (or other CFLAGS)
# must rebuild everything, not keep gcc's objects. The file is rewritten
# only when that command line changes, so it costs no rebuild otherwise.
# It is compared and written while the Makefile is read, not by a rule: a
# rule would have to run every time, and `make -q` would never find the
# build up to date.
FLAGS_STAMP  := $(BUILD)/compile-flags
COMPILE_LINE := $(CC) $(CFLAGS) : $(LDFLAGS) $(LDLIBS)
ifneq ($(COMPILE_LINE),$(file <$(FLAGS_STAMP)))
$(shell mkdir -p $(BUILD))
$(file >$(FLAGS_STAMP),$(COMPILE_LINE))
endif

$(BUILD)/obj/%.o: %.c Makefile $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB_COMMON): $(call obj,$(COMMON_SRC))
	$(AR) rcs $@ $^
$(LIB_TRAINER): $(call obj,$(TRAINER_SRC))
	$(AR) rcs $@ $^
$(LIB_SERVER): $(call obj,$(SERVER_SRC)) $(PAGE_OBJ)
	$(AR) rcs $@ $^

$(PAGE_C): $(PAGE_SRC) scripts/embed.sh
	@mkdir -p $(dir $@)
	sh scripts/embed.sh $@ $(PAGE_SRC)
$(PAGE_OBJ): $(PAGE_C) Makefile $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iserver -c $< -o $@

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
	rm -rf build build-san build-clang build-vg build-fuzz

# --- Fuzzing (libFuzzer) and fuzz-input replay ------------------------------
#   make fuzz          build tests/fuzz/fuzz_*.c with clang's libFuzzer + ASan +
#                      UBSan into build-fuzz/ and run each target FUZZ_SECONDS
#                      (default 60) from its corpus; see tests/fuzz/run.sh
#   make fuzz-replay   run every committed corpus and regression input once
#                      through the targets built with $(CC) (SAN=1: sanitized)
FUZZ_CC      ?= $(firstword $(shell command -v clang-14 clang 2>/dev/null))
FUZZ_BUILD   := build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_LIBS    := $(FUZZ_BUILD)/libdigits_server.a $(FUZZ_BUILD)/libdigits_common.a
FUZZ_FLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=undefined
REPLAY_BINS  := $(patsubst %,$(BUILD)/fuzz-replay/%,$(FUZZ_NAMES))

.PHONY: fuzz fuzz-build fuzz-replay fuzz-replay-build fuzz-libs
fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_NAMES)

fuzz-build:
	@[ -n "$(FUZZ_CC)" ] || { echo "fuzz: clang not found (apt-get install clang)" >&2; exit 1; }
	@$(MAKE) --no-print-directory $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_NAMES))

# The libraries are built by this Makefile's own rules in $(FUZZ_BUILD), with
# coverage instrumentation for libFuzzer; the sub-make is a no-op when they
# are up to date, and the targets relink only when a library changed.
ifneq ($(BUILD),$(FUZZ_BUILD))
$(FUZZ_LIBS): fuzz-libs
	@:
endif
fuzz-libs:
	@CFLAGS='$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link' $(MAKE) --no-print-directory \
	    BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) $(FUZZ_LIBS)

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_server.h $(FUZZ_LIBS)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -std=c17 -D_POSIX_C_SOURCE=200809L -pthread \
	    $(WARN) -Icommon -Iserver $(PKG_CFLAGS) $< $(FUZZ_LIBS) -o $@ $(PKG_LIBS) $(LDLIBS)

fuzz-replay-build: $(REPLAY_BINS)
fuzz-replay: $(REPLAY_BINS)
	@for t in $(FUZZ_NAMES); do \
	    $(BUILD)/fuzz-replay/$$t $$(ls -d tests/fuzz/corpus/$$t tests/fuzz/regressions/$$t 2>/dev/null) \
	        || exit 1; \
	done

$(BUILD)/fuzz-replay/%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/fuzz_server.h \
                        $(LIB_SERVER) $(LIB_COMMON) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -MMD -MP,$(CFLAGS)) -Iserver $(LDFLAGS) $< tests/fuzz/replay.c \
	    $(LIB_SERVER) $(LIB_COMMON) -o $@ $(PKG_LIBS) $(LDLIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
