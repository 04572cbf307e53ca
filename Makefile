# mighost - plain make, no generated build system.
#   make            build build/mighost
#   make test       install what is missing, build, run every test
#   make check      the tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make valgrind   the tests under valgrind (no leaks allowed)
#   make bench      the benchmarks in bench/ (figures go in bench/RESULTS.md)
#   make demo       the VAMS v2.4 -> v2.5 migration end to end on a local dynalite
#   make install    PREFIX=/usr/local
#   make deps       install missing Debian and npm packages

PREFIX  ?= /usr/local
BUILD   ?= build
SAN_BUILD ?= build-san
CC      ?= cc
PKGS     = lua5.4 libcurl json-c openssl expat zlib
# The release is VERSION (tagged vX.Y.Z when released); a build from any
# other commit adds the commit as semver build metadata: 0.3.0+g1a2b3c4.
RELEASE := $(strip $(file < VERSION))
GIT_REV := $(shell git describe --tags --always --dirty --match 'v[0-9]*' 2>/dev/null)
VERSION := $(RELEASE)$(if $(filter v$(RELEASE),$(GIT_REV)),,$(if $(GIT_REV),+g$(patsubst g%,%,$(lastword $(subst -, ,$(GIT_REV:-dirty=))))$(findstring -dirty,$(GIT_REV))))

PKG_CONFIG ?= pkg-config
DEPS       ?= sh scripts/deps.sh

# The packages' flags are read on first use, not when the Makefile is parsed:
# on a new machine the packages appear only once `deps` has run, so targets
# that need deps build in a sub-make started after it (see `test`, `demo`).
# tests/scripts/setup_order.sh checks that no flag is read before deps.
pkg_flags = $(or $(shell $(PKG_CONFIG) $(1) $(PKGS) 2>/dev/null),$(error \
    the development files of some of [$(PKGS)] are missing: run `make deps` \
    (or `make test` / `make demo`, which run it first)))
PKG_CFLAGS = $(eval PKG_CFLAGS := $(call pkg_flags,--cflags))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(call pkg_flags,--libs))$(PKG_LIBS)

# OPT and SAN are what `make check` changes; CFLAGS/LDFLAGS stay the user's.
OPT     ?= -O2 -g
SAN     ?=
ALL_CFLAGS = $(OPT) $(SAN) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
           -Wstrict-prototypes $(PKG_CFLAGS) \
           -DMIGHOST_VERSION='"$(VERSION)"' -DMIGHOST_DATADIR='"$(PREFIX)/share/mighost"' $(CFLAGS)
ALL_LDFLAGS = $(SAN) $(LDFLAGS)
LDLIBS  += $(PKG_LIBS) -lm -pthread

# The layers, bottom to top (docs/design.md). A layer's files see their own
# headers and those of the layers below, never above: an include that
# reaches up does not compile. tests/scripts/layers.sh checks the same.
LAYERS      := base net aws lua bindings cli
INC_base     = -Isrc/base
INC_net      = $(INC_base) -Isrc/net
INC_aws      = $(INC_net) -Isrc/aws
INC_lua      = $(INC_aws) -Isrc/lua
INC_bindings = $(INC_lua) -Isrc/bindings
INC_cli      = $(INC_bindings) -Isrc/cli
layer_of     = $(word 2,$(subst /, ,$(1)))

CORE_SRC  := $(filter-out src/cli/main.c,$(foreach l,$(LAYERS),$(wildcard src/$(l)/*.c)))
CORE_OBJ  := $(CORE_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/embedded_lua.o
EMBED_LUA := $(shell find lua -name '*.lua' | sort)
SUPPORT_SRC := $(wildcard tests/support/*.c)
SUPPORT_OBJ := $(SUPPORT_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
INTEG_SRC := $(wildcard tests/integration/test_*.c)
TEST_BIN  := $(UNIT_SRC:%.c=$(BUILD)/%) $(INTEG_SRC:%.c=$(BUILD)/%)
BENCH_SRC := $(wildcard bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:%.c=$(BUILD)/%)

Q := @
ifeq ($(V),1)
Q :=
endif

.PHONY: all test check valgrind bench demo install clean deps tests FORCE
# Keep the objects made on the way (tests/support/*.o): no rebuild next time.
.SECONDARY:

all: $(BUILD)/mighost

$(BUILD)/mighost: $(BUILD)/src/cli/main.o $(CORE_OBJ)
	@echo "  LINK    $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# -MMD: each object lists the headers it includes (build/**/*.d, read below).
$(BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) $(INC_$(call layer_of,$<)) -MMD -MP -c -o $@ $<

# Tests and benchmarks stand above every layer.
$(BUILD)/tests/support/%.o: tests/support/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) $(INC_cli) -Itests/support -MMD -MP -c -o $@ $<

$(BUILD)/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) -O1 -o $@ $<

$(BUILD)/gen/embedded_lua.c: $(BUILD)/tools/embed $(EMBED_LUA)
	@mkdir -p $(dir $@)
	@echo "  EMBED   $(words $(EMBED_LUA)) Lua modules"
	$(Q)$(BUILD)/tools/embed $@ lua $(EMBED_LUA)

$(BUILD)/gen/embedded_lua.o: $(BUILD)/gen/embedded_lua.c src/bindings/embedded.h
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) $(INC_bindings) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c $(CORE_OBJ) $(SUPPORT_OBJ)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(INC_cli) -Itests/support -MMD -MP $(ALL_LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS) -lcmocka

# The benchmarks link testsupport.o alone: the other support files fail
# tests through cmocka.
$(BUILD)/bench/%: bench/%.c $(CORE_OBJ) $(BUILD)/tests/support/testsupport.o
	@mkdir -p $(dir $@)
	@echo "  BENCH   $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(INC_cli) -Itests/support $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# The install prefix is compiled into paths.o (where packaged migrations
# live): rebuild it when PREFIX changes.
$(BUILD)/prefix.stamp: FORCE
	@mkdir -p $(BUILD)
	@echo '$(PREFIX)' | cmp -s - $@ || echo '$(PREFIX)' > $@
$(BUILD)/src/base/paths.o: $(BUILD)/prefix.stamp
# The same for the version, in the objects that print or send it.
$(BUILD)/version.stamp: FORCE
	@mkdir -p $(BUILD)
	@echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' > $@
$(BUILD)/src/cli/main.o $(BUILD)/src/aws/aws.o $(BUILD)/src/net/fetch.o $(BUILD)/src/bindings/core.o: \
    $(BUILD)/version.stamp
FORCE:

tests: $(BUILD)/mighost $(TEST_BIN)

# `+`: deps runs under `make -n` too, so that a dry run shows the build as it
# would be after set-up (scripts/deps.sh only reports under -n).
deps:
	+@$(DEPS) $(if $(findstring n,$(firstword -$(MAKEFLAGS))),--dry-run)

test: deps
	@$(MAKE) --no-print-directory tests
	@MIGHOST_TEST_JOBS=$${MIGHOST_TEST_JOBS:-2} sh tests/run-tests $(BUILD)

check: deps
	@$(MAKE) --no-print-directory BUILD=$(SAN_BUILD) OPT="-O1 -g -fno-omit-frame-pointer" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" tests
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    MIGHOST_TEST_WRITER_ITEMS=20000 MIGHOST_TEST_RESUME_ITEMS=20000 MIGHOST_TEST_SCALE_ITEMS=20000 \
	    MIGHOST_TEST_V1_BOTS=1000 \
	    MIGHOST_TEST_JOBS=$${MIGHOST_TEST_JOBS:-2} sh tests/run-tests $(SAN_BUILD)

valgrind: deps
	@$(MAKE) --no-print-directory tests
	@MIGHOST_BIN_WRAPPER=tests/valgrind-mighost MIGHOST_TEST_WRITER_ITEMS=5000 MIGHOST_TEST_RESUME_ITEMS=5000 \
	    MIGHOST_TEST_OUTAGE_ITEMS=5000 MIGHOST_TEST_SCALE_ITEMS=2000 \
	    MIGHOST_TEST_PROGRESS_ITEMS=3000 MIGHOST_TEST_V1_BOTS=200 \
	    MIGHOST_TEST_WRAPPER="valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99" \
	    sh tests/run-tests $(BUILD)

bench: deps
	@$(MAKE) --no-print-directory $(BUILD)/mighost $(BENCH_BIN)
	@sh bench/run $(BUILD)

demo: deps
	@$(MAKE) --no-print-directory $(BUILD)/mighost
	@sh scripts/demo.sh $(BUILD)

install: $(BUILD)/mighost
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/mighost
	install -m 755 $(BUILD)/mighost $(DESTDIR)$(PREFIX)/bin/mighost
	cp -R migrations $(DESTDIR)$(PREFIX)/share/mighost/

clean:
	rm -rf build build-san

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
