# letitcrash: GNU make. `make` builds, `make test` installs what is missing and runs every test,
# `make run` runs the demo tree in the foreground. See README.md.

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
DOCDIR  ?= $(PREFIX)/share/doc/letitcrash
ETCDIR  ?= $(PREFIX)/share/letitcrash
DESTDIR ?=

CC      ?= cc
CFLAGS  ?= -O2 -g
BUILD   ?= build
SAN     ?=

PKGS      := nanomsg libbsd inih sqlite3 libsodium
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lnanomsg -lbsd -linih -lsqlite3 -lsodium)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

override CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wno-unused-parameter -fno-strict-aliasing \
	-D_GNU_SOURCE -Iipc/include -Iipc $(PKG_CFLAGS) -MMD -MP
ifeq ($(SAN),1)
override CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
override LDFLAGS += -fsanitize=address,undefined
endif
LDLIBS += $(PKG_LIBS)

.DELETE_ON_ERROR:
.SECONDARY:
.SUFFIXES:
.PHONY: all test run demo bench install uninstall clean deps check-unit check-e2e check-asan \
	check-valgrind check-fuzz fuzz fuzz-build chaos check-chaos

# --- sources ----------------------------------------------------------------------------------
IPC_SRC   := $(wildcard ipc/*.c)
SUP_LIB   := $(filter-out supervisor/supervisor.c supervisor/supctl.c, $(wildcard supervisor/*.c))
WORK_LIB  := workers/common.c
WORK_BINS := $(patsubst workers/%.c,%,$(filter-out $(WORK_LIB),$(wildcard workers/lc-*.c)))
# chatd/: every .c but the executables' main files goes into libchat.a
CHAT_MAIN := chatd/chatd.c chatd/chat-session.c chatd/chat-storage.c chatd/chat.c \
	chatd/chat-bench.c
CHAT_LIB  := $(filter-out $(CHAT_MAIN),$(wildcard chatd/*.c))
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
BENCH_SRC := $(wildcard scripts/bench/lc-bench-*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIBLC   := $(BUILD)/libletitcrash.a
LIBSUP  := $(BUILD)/libsup.a
LIBCHAT := $(BUILD)/libchat.a
BIN     := $(BUILD)/bin
CHAT_BINS := $(BIN)/chatd $(BIN)/chat-storage $(BIN)/chat-session $(BIN)/chat \
	$(BIN)/chat-bench
BINS    := $(BIN)/supervisor $(BIN)/supctl $(addprefix $(BIN)/,$(WORK_BINS)) $(CHAT_BINS)
UNITS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
BENCH_BINS := $(patsubst scripts/bench/%.c,$(BIN)/%,$(BENCH_SRC))

# test helpers: built with everything, never installed
TEST_BINS := $(BIN)/chat-fake

all: $(BINS) $(TEST_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(CPPFLAGS) -c -o $@ $<

$(LIBLC): $(call obj,$(IPC_SRC))
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(LIBSUP): $(call obj,$(SUP_LIB))
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(LIBCHAT): $(call obj,$(CHAT_LIB))
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BIN)/supervisor: $(call obj,supervisor/supervisor.c) $(LIBSUP) $(LIBLC)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/supctl: $(call obj,supervisor/supctl.c) $(LIBSUP) $(LIBLC)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/chat: $(call obj,chatd/chat.c) $(LIBCHAT) $(LIBLC)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/chatd: $(call obj,chatd/chatd.c) $(LIBCHAT) $(LIBLC)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/lc-chatctl: $(call obj,workers/lc-chatctl.c) $(call obj,$(WORK_LIB)) $(LIBCHAT) $(LIBLC)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/chat-fake: $(call obj,tests/e2e/chat-fake.c) $(LIBCHAT) $(LIBLC)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/lc-%: $(call obj,workers/lc-%.c) $(call obj,$(WORK_LIB)) $(LIBLC)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# the chat service's backend workers (docs/chat.md)
$(BIN)/chat-storage: $(call obj,chatd/chat-storage.c) $(LIBCHAT) $(LIBLC)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/chat-session: $(call obj,chatd/chat-session.c) $(LIBCHAT) $(LIBLC)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# the IRC load generator (scripts/bench-chat)
$(BIN)/chat-bench: $(call obj,chatd/chat-bench.c) $(LIBCHAT) $(LIBLC)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# benchmark helpers (scripts/bench/): the shorter stem wins over $(BIN)/lc-% above
$(BIN)/lc-bench-%: $(call obj,scripts/bench/lc-bench-%.c) $(LIBCHAT) $(LIBLC)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_%: $(call obj,tests/unit/test_%.c) $(LIBCHAT) $(LIBSUP) $(LIBLC)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CMOCKA_LIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# --- tests ------------------------------------------------------------------------------------
# `make test`: dependencies, build, unit tests, end-to-end tests, then the same suites under
# AddressSanitizer + UBSan, and the supervisor's end-to-end tests under valgrind.
deps:
	@scripts/deps.sh test

test: deps
	$(MAKE) all check-unit check-e2e check-chaos
	$(MAKE) check-asan
	$(MAKE) check-valgrind
	$(MAKE) check-fuzz

check-unit: $(UNITS)
	@scripts/run-units $(UNITS)

check-e2e: all
	@LC_BIN=$(abspath $(BIN)) python3 tests/e2e/run.py $(E2E)

check-asan:
	LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp):print_suppressions=0 \
	$(MAKE) BUILD=build-asan SAN=1 all check-unit check-e2e

check-valgrind: all
	@LC_BIN=$(abspath $(BIN)) LC_VALGRIND=1 python3 tests/e2e/run.py --valgrind $(E2E)

# --- fuzzing (clang + libFuzzer) --------------------------------------------------------------
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(FUZZ_SRC))
FUZZ_TIME ?= 60
FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -Iipc/include -Iipc $(PKG_CFLAGS) \
	-fsanitize=fuzzer,address,undefined

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(IPC_SRC) $(SUP_LIB) $(CHAT_LIB)
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -o $@ $^ $(PKG_LIBS)

fuzz-build: $(FUZZ_BINS)

# Replay every fuzz target's corpus (seeds and regression inputs) without fuzzing.
check-fuzz: fuzz-build
	@for f in $(FUZZ_BINS); do n=$${f#build-fuzz/fuzz_}; \
		$$f -runs=0 tests/fuzz/corpus/$$n 2>&1 | grep -E 'ERROR|Done' || exit 1; done

fuzz: fuzz-build
	@for f in $(FUZZ_BINS); do n=$${f#build-fuzz/fuzz_}; mkdir -p build-fuzz/corpus-$$n; \
		echo "== $$n ($(FUZZ_TIME) s)"; \
		$$f -max_total_time=$(FUZZ_TIME) -artifact_prefix=tests/fuzz/ \
			build-fuzz/corpus-$$n tests/fuzz/corpus/$$n 2>&1 | grep -E '^(#|Done|==|SUMMARY)' | tail -3; \
	done

# --- run, bench, install ----------------------------------------------------------------------
# `make run`: the chat service (etc/chat.conf) on 127.0.0.1:$${CHAT_PORT:-6667} in the
# foreground; `make demo`: the demo tree of workers (etc/demo.conf). Ctrl-C stops either.
RUNCONF ?= etc/chat.conf
run:
	@scripts/deps.sh build
	@$(MAKE) -s all
	PATH="$(abspath $(BIN)):$$PATH" exec $(BIN)/supervisor -c $(RUNCONF)

demo:
	@$(MAKE) -s run RUNCONF=etc/demo.conf

# `make chaos`: the chat tree under load while random processes of it are killed -9, then every
# acknowledged message is checked (scripts/chaos, docs/reliability.md). `make chaos
# DURATION=1800` is the soak. `make check-chaos` (part of `make test`) is the short run, 60 s at
# 2 kills/s: it fails on a lost, duplicated or reordered message or a surviving process, and is
# bounded: SIGTERM after CHAOS_LIMIT s (the script then stops its tree), SIGKILL 30 s later.
DURATION ?= 60
RATE ?= 2
CHAOS_LIMIT ?= 300
chaos: all
	LC_BIN=$(abspath $(BIN)) scripts/chaos --duration $(DURATION) --rate $(RATE) $(CHAOS_ARGS)

check-chaos: all
	LC_BIN=$(abspath $(BIN)) timeout -k 30 $(CHAOS_LIMIT) scripts/chaos --duration 60 --rate 2

bench:
	@scripts/deps.sh bench
	@$(MAKE) -s all $(BENCH_BINS)
	scripts/bench-restart
	scripts/bench-ipc
	scripts/bench-journal

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR)/letitcrash \
		$(DESTDIR)$(DOCDIR) $(DESTDIR)$(ETCDIR)
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)
	install -m 644 $(LIBLC) $(DESTDIR)$(LIBDIR)
	install -m 644 ipc/include/letitcrash/*.h $(DESTDIR)$(INCDIR)/letitcrash
	install -m 644 docs/*.md README.md $(DESTDIR)$(DOCDIR)
	install -m 644 etc/*.conf $(DESTDIR)$(ETCDIR)

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(BINS))) $(DESTDIR)$(LIBDIR)/libletitcrash.a
	rm -rf $(DESTDIR)$(INCDIR)/letitcrash $(DESTDIR)$(DOCDIR) $(DESTDIR)$(ETCDIR)

clean:
	rm -rf build build-asan build-fuzz
