# nodehealth. The two commands a newcomer needs:
#   make run    install dependencies, build, start the agent
#   make test   install dependencies, build, run every test
# Others: make build | unit | e2e | lint | format | clean
# SANITIZE=1: AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
# (`make test SANITIZE=1` runs the whole suite on it).

SANITIZE ?= 0
ifneq ($(SANITIZE),0)
BUILD    ?= build-asan
# (GCC 12 reports false maybe-uninitialized warnings inside libstdc++ under the sanitizers.)
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all \
             -Wno-maybe-uninitialized
else
BUILD    ?= build
SAN_FLAGS :=
endif
CXX      ?= g++
PKGS     := yaml-cpp spdlog fmt prometheus-cpp-core zlib libbpf libseccomp \
            openssl libcrypt
OPT      ?= -O2
CXXFLAGS ?= $(OPT) -g
CXXFLAGS += -std=c++23 -Wall -Wextra -Werror -Wno-missing-field-initializers -pthread \
            -I. -Iinclude -MMD -MP $(SAN_FLAGS)
# pkg-config is asked only by the build, so `make deps` works on a bare machine.
# libcurl's headers only: the agent loads libcurl.so.4 when a Kubernetes client is first made
# (agent/kube/curl_lib.h), so a plain host never maps it and its dependencies.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) libcurl 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcivetweb-cpp -lcivetweb
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
COMMIT   := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

# eBPF: bpf/<name>.bpf.c -> $(BUILD)/bpf/<name>.bpf.o -> $(BUILD)/bpf/<name>.skel.h, included
# only by agent/probes/<name>.cpp. `make vmlinux` regenerates the committed vmlinux.h.
BPF_CLANG  ?= clang
BPFTOOL    ?= bpftool
BPF_ARCH   := x86
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -Ibpf -Ibpf/vmlinux/$(BPF_ARCH) \
              -Wall -Werror -MMD -MP
BPF_SRCS   := $(sort $(wildcard bpf/*.bpf.c))
BPF_SKELS  := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/bpf/%.skel.h)

AGENT_SRCS := $(filter-out agent/main.cpp,$(shell find agent -name '*.cpp' | sort))
AGENT_OBJS := $(AGENT_SRCS:%.cpp=$(BUILD)/%.o)
UNIT_SRCS  := $(shell find tests/unit -name '*.cpp' | sort)
UNIT_OBJS  := $(UNIT_SRCS:%.cpp=$(BUILD)/%.o)

RUN_ARGS ?=

.PHONY: all build deps test-deps run test unit e2e lint tidy format install clean bench vmlinux \
        fuzz fuzz-deps fuzz-build soak

all: build
build: $(BUILD)/nodehealth

deps:
	@scripts/install-deps.sh
test-deps:
	@scripts/install-deps.sh --test

$(BUILD)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(PKG_CFLAGS) -c $< -o $@

# Compiled with -g for the BTF that CO-RE needs, then put through bpftool's linker, which
# keeps .BTF/.BTF.ext and drops the DWARF: the objects go from ~650 KB to ~40 KB, and the
# skeletons embed them in the agent (resident memory).
define bpf_compile
	@mkdir -p $(dir $@)
	$(BPF_CLANG) $(BPF_CFLAGS) -MT $@ -c $< -o $@.full.o
	$(BPFTOOL) gen object $@ $@.full.o && rm -f $@.full.o
endef

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c
	$(bpf_compile)

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name nh_$* > $@.tmp && mv $@.tmp $@

# The loaders include their skeleton: generate it first (a parallel build is then right).
$(BUILD)/agent/probes/%.o: CXXFLAGS += -I$(BUILD)/bpf
$(filter $(BUILD)/agent/probes/%,$(AGENT_OBJS)): $(BPF_SKELS)

# Keep the objects: the skeletons embed them, and make would delete them as intermediates.
.SECONDARY: $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/bpf/%.bpf.o)

vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > bpf/vmlinux/$(BPF_ARCH)/vmlinux.h

# The version and commit are baked into one object only.
$(BUILD)/agent/version.o: CXXFLAGS += -DNODEHEALTH_VERSION='"$(VERSION)"' -DNODEHEALTH_COMMIT='"$(COMMIT)"'
$(BUILD)/agent/version.o: $(BUILD)/commit.stamp VERSION
# Rewritten only when the commit changes, so a new commit re-stamps the binary
# and an unchanged one rebuilds nothing.
$(BUILD)/commit.stamp: FORCE
	@mkdir -p $(BUILD)
	@echo '$(COMMIT)' | cmp -s - $@ || echo '$(COMMIT)' > $@
FORCE:

# Unit tests find the fixture trees wherever the checkout is.
$(BUILD)/tests/%.o: CXXFLAGS += -DNODEHEALTH_FIXTURES='"$(CURDIR)/tests/fixtures"'

$(BUILD)/libagent.a: $(AGENT_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/nodehealth: $(BUILD)/agent/main.o $(BUILD)/libagent.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/unit-tests: $(UNIT_OBJS) $(BUILD)/libagent.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(PKG_LIBS)

run: deps
	@$(MAKE) --no-print-directory -j$$(nproc) build
	$(BUILD)/nodehealth run $(RUN_ARGS)

unit: $(BUILD)/unit-tests
	$(BUILD)/unit-tests

e2e: $(BUILD)/nodehealth
	NODEHEALTH_BIN=$(abspath $(BUILD))/nodehealth BUILD=$(BUILD) python3 tests/e2e/run.py

# Under SANITIZE=1 every finding stops the process with a report (a failing test).
SAN_ENV := ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0 \
           UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
           LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp

test: test-deps
	@$(MAKE) --no-print-directory -j$$(nproc) $(BUILD)/nodehealth $(BUILD)/unit-tests
	@$(if $(SAN_FLAGS),$(SAN_ENV)) BUILD=$(BUILD) NODEHEALTH_BIN=$(abspath $(BUILD))/nodehealth \
	  tests/run-tests.sh

# Soak (tests/soak/, as root): the agent, sandboxed and with its probes, for DURATION under
# rotating pressure and faults; RSS, fds, threads and CPU over time; fails on growth.
DURATION ?= 10m
soak: test-deps
	@$(MAKE) --no-print-directory $(BUILD)/nodehealth
	NODEHEALTH_BIN=$(abspath $(BUILD))/nodehealth python3 tests/soak/soak.py --duration $(DURATION)

# The agent's cost and speed next to node_exporter (tests/bench/, as root).
# QUICK=1: under 2 minutes, fails only on gross regressions; BENCH_ARGS for more flags.
# The floor: empty programs on the probes' hooks (tests/bench/bpf/), measured the same way.
$(BUILD)/bench/floor.bpf.o: tests/bench/bpf/floor.bpf.c
	$(bpf_compile)

$(BUILD)/bench/bench-bpf-floor: tests/bench/bpf/floor.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) $(PKG_CFLAGS) -o $@ $< -lbpf

# The concurrent scrapers: one epoll thread instead of 50 Python threads.
$(BUILD)/bench/bench-scrape: tests/bench/scrape_client.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -o $@ $<

bench:
	@scripts/install-deps.sh --bench
	@$(MAKE) --no-print-directory $(BUILD)/nodehealth $(BUILD)/bench/floor.bpf.o \
	  $(BUILD)/bench/bench-bpf-floor $(BUILD)/bench/bench-scrape
	NODEHEALTH_BIN=$(abspath $(BUILD))/nodehealth NODEHEALTH_BENCH_DIR=$(abspath $(BUILD))/bench \
	  python3 tests/bench/bench.py $(if $(filter-out 0,$(QUICK)),--quick) $(BENCH_ARGS)

# libFuzzer targets (fuzz/*.cpp) for every parser, built with Debian's clang-16 (clang-14
# cannot compile libstdc++ 12's std::expected; clang-16 can once told it has C++20 concepts).
# `make fuzz` runs each for FUZZ_SECONDS from the committed seeds in fuzz/corpus/<target>/.
FUZZ_CXX      ?= clang++-16
FUZZ_BUILD    ?= build-fuzz
FUZZ_SECONDS  ?= 60
FUZZ_TARGETS  := $(basename $(notdir $(wildcard fuzz/*.cpp)))
FUZZ_CXXFLAGS := -std=c++2b -Wno-macro-redefined -D__cpp_concepts=202002L -g -O1 \
                 -fsanitize=address,undefined -fno-sanitize-recover=all -I. -Iinclude
FUZZ_LIB_SRCS := $(sort $(wildcard agent/parse/*.cpp agent/config/*.cpp agent/features/*.cpp \
                   agent/kube/*.cpp agent/checkpoint/*.cpp agent/sinks/kubernetes*.cpp) \
                   agent/sinks/web_config.cpp agent/sinks/node_labels.cpp \
                   agent/condition.cpp agent/host_paths.cpp agent/sources/files.cpp \
                   agent/sources/mounts.cpp)
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.cpp=$(FUZZ_BUILD)/%.o)

$(FUZZ_BUILD)/agent/%.o: agent/%.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link -MMD -MP $(PKG_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/libagent.a: $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz-%: fuzz/%.cpp $(FUZZ_BUILD)/libagent.a
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -o $@ $< \
	  $(FUZZ_BUILD)/libagent.a $(PKG_LIBS)

fuzz-deps:
	@scripts/install-deps.sh --fuzz
fuzz-build: fuzz-deps
	@$(MAKE) --no-print-directory -j$$(nproc) $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz-%)

# Each target for FUZZ_SECONDS; new interesting inputs go to $(FUZZ_BUILD)/corpus/<target>
# (the committed seeds stay as they are); a crash stops with the input saved there.
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/crashes; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
	  $(FUZZ_BUILD)/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/crashes/$$t- -max_len=65536 \
	    $(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t > $(FUZZ_BUILD)/$$t.log 2>&1; rc=$$?; \
	  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb)|DONE" $(FUZZ_BUILD)/$$t.log; \
	  if [ $$rc -ne 0 ]; then tail -40 $(FUZZ_BUILD)/$$t.log; exit 1; fi; \
	done

# clang-format, and cppcheck for the static analysis: Debian 12's clang-tidy 14
# cannot parse libstdc++ 12's std::expected (it needs clang 16), so .clang-tidy
# is kept for newer toolchains (`make tidy`) and is not part of lint.
lint:
	clang-format --dry-run --Werror $$(find agent include tests -name '*.cpp' -o -name '*.h' | grep -v fixtures)
	cppcheck --quiet --std=c++20 --enable=warning,performance,portability --inline-suppr \
	  --error-exitcode=1 --suppress=missingIncludeSystem -I include -I . agent

tidy:
	clang-tidy --quiet $(AGENT_SRCS) agent/main.cpp -- -std=c++2b -I. -Iinclude $(PKG_CFLAGS)

format:
	clang-format -i $$(find agent include tests -name '*.cpp' -o -name '*.h' | grep -v fixtures)

# The repository's unit names the default PREFIX's binary and SYSCONFDIR's config; the
# installed one names $(PREFIX)'s and $(SYSCONFDIR)'s. UNITDIR: where systemd looks for it.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
UNITDIR ?= /etc/systemd/system
UNIT_EXEC := ExecStart=/usr/local/bin/nodehealth
UNIT_CONFIG := /etc/nodehealth/config.yaml
install: $(BUILD)/nodehealth
	install -D -m 0755 $(BUILD)/nodehealth $(DESTDIR)$(PREFIX)/bin/nodehealth
	@[ "$$(grep -c '^$(UNIT_EXEC) ' systemd/nodehealth.service)" = 1 ] || \
	  { echo "systemd/nodehealth.service: want one line starting '$(UNIT_EXEC) '" >&2; exit 1; }
	sed -e 's|^$(UNIT_EXEC) |ExecStart=$(PREFIX)/bin/nodehealth |' \
	  -e '/^ExecStart=/s| --config $(UNIT_CONFIG)| --config $(SYSCONFDIR)/nodehealth/config.yaml|' \
	  systemd/nodehealth.service > $(BUILD)/nodehealth.service
	install -D -m 0644 $(BUILD)/nodehealth.service $(DESTDIR)$(UNITDIR)/nodehealth.service
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/nodehealth/config.yaml ]; then \
	  echo "keeping existing $(DESTDIR)$(SYSCONFDIR)/nodehealth/config.yaml"; \
	else \
	  install -D -m 0644 deploy/host/config.yaml $(DESTDIR)$(SYSCONFDIR)/nodehealth/config.yaml; \
	fi

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
