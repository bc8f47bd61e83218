# ctnet — container networking helpers.  `make`, `make check`, `make demo`, `make bench`.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# The CNI plugin goes where Debian's runtimes look for plugins (their CNI_PATH), whatever PREFIX.
CNIDIR ?= /usr/lib/cni
# systemd reads units from /usr/local/lib/systemd/system too; Debian 12's package uses /lib.
UNITDIR ?= $(PREFIX)/lib/systemd/system
# Runtime examples (examples/), installed as they are named in the source.
EXAMPLESDIR ?= $(PREFIX)/share/doc/ctnet/examples
# Units shipped by `make install` (and the package).
UNITS ?= ctnet@.service ctnet-restore.service ctnet-gc.service ctnet-gc.timer \
	ctnet-apply.service ctnet-watch.service ctnet-dns.service
DESTDIR ?=
PKG_CONFIG ?= pkg-config
CC ?= gcc

# B is the build directory; SAN=1 builds with AddressSanitizer + UBSan (make check does).
SAN ?=
ifeq ($(SAN),1)
B ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else
B ?= build
SANFLAGS :=
endif

PKGS := libnftables libnl-3.0 libnl-route-3.0 libmnl libcap jansson libbpf
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
# libnftables is not linked: nat/nft.c dlopen()s it when a table is created or rebuilt.
# Every ctnet program is a short-lived process whose start a hook pays on each call, so by
# default libnl-3, libnl-route-3, libcap and jansson are linked from Debian's static archives
# (~0.2 ms less loader work per process than 4 more shared objects); STATIC_LIBS=0 links them
# as shared libraries (what a distribution package would do).
STATIC_LIBS ?= 1
STATIC_PKGS := libnl-3.0 libnl-route-3.0 libcap jansson
ifeq ($(STATIC_LIBS),1)
PKG_LIBS := -Wl,-Bstatic $(shell $(PKG_CONFIG) --static --libs-only-l $(STATIC_PKGS) 2>/dev/null \
	| sed 's/-lpthread//g') -Wl,-Bdynamic $(shell $(PKG_CONFIG) --libs libmnl libbpf 2>/dev/null)
else
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(STATIC_PKGS) libmnl libbpf 2>/dev/null)
endif

CFLAGS ?= -O2 -g
WARNFLAGS := -std=c11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wformat-truncation=1 \
	-Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wwrite-strings -Wvla \
	-Wundef -Wnull-dereference -Wimplicit-fallthrough
override CPPFLAGS += -D_GNU_SOURCE -Ilib -I$(B)/gen -MMD -MP
override CFLAGS += $(WARNFLAGS) $(SANFLAGS) $(PKG_CFLAGS) -fPIE -fstack-protector-strong
override LDFLAGS += $(SANFLAGS) -pie -Wl,-z,relro,-z,now -Wl,--as-needed
LDLIBS += $(PKG_LIBS)

# Modules: a folder with main.c is a program ctnet-<folder> over a library of its other .c
# files. tools/ holds the launcher, which links every module library.
MODULES := $(sort $(patsubst %/main.c,%,$(wildcard ipam/main.c netd/main.c nat/main.c)))
LIB_SRCS := $(wildcard lib/*.c)
# main.c and main_*.c are the program (what it prints); the other .c files its library.
lib_objs = $(patsubst %.c,$(B)/%.o,$(filter-out $(1)/main.c $(1)/main_%.c %.bpf.c,$(wildcard $(1)/*.c)))
prog_objs = $(patsubst %.c,$(B)/%.o,$(wildcard $(1)/main.c $(1)/main_*.c))
MOD_LIBS := $(foreach m,$(MODULES),$(B)/lib$(m).a)
PROGS := $(foreach m,$(MODULES),$(B)/ctnet-$(m))
TOOL_SRCS := $(wildcard tools/*.c)
# launch/ is the launcher library (spec, records, up/converge/down) over the three module
# libraries; the ctnet CLI (tools/) and the CNI plugin (cni/) are front-ends that link it.
LAUNCH_LIB := $(B)/liblaunch.a
CNI_SRCS := $(wildcard cni/*.c)
TOOL_OBJS := $(patsubst %.c,$(B)/%.o,$(TOOL_SRCS))
ifeq ($(words $(MODULES)),3)
ifneq ($(TOOL_SRCS),)
PROGS += $(B)/ctnet
ifneq ($(CNI_SRCS),)
PROGS += $(B)/ctnet-cni
endif
endif
endif
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_TESTS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRCS))

all: $(PROGS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# The loopback-forward BPF programs (nat/lofwd.bpf.c, issue 33): compiled with clang for
# the bpf target and embedded through bpftool's libbpf skeleton (GEN: $(B)/gen or the fuzz
# build's). The target headers (asm/) are the host's multiarch ones.
BPF_CC ?= clang
BPFTOOL ?= bpftool
BPF_CFLAGS := -O2 -g -target bpf -Wall -Werror -Inat \
	-I/usr/include/$(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
%/gen/lofwd.bpf.o: nat/lofwd.bpf.c nat/lofwd.h
	@mkdir -p $(dir $@)
	$(BPF_CC) $(BPF_CFLAGS) -c -o $@ $<
%/gen/lofwd.skel.h: %/gen/lofwd.bpf.o
	$(BPFTOOL) gen skeleton $< name lofwd > $@
$(B)/nat/lofwd.o: $(B)/gen/lofwd.skel.h
.SECONDARY: $(B)/gen/lofwd.bpf.o

$(B)/libctnet.a: $(patsubst %.c,$(B)/%.o,$(LIB_SRCS))
	@rm -f $@
	$(AR) rcs $@ $^

define module_rules
$(B)/lib$(1).a: $(call lib_objs,$(1))
	@rm -f $$@
	$$(AR) rcs $$@ $$^
$(B)/ctnet-$(1): $(call prog_objs,$(1)) $(B)/lib$(1).a $(B)/libctnet.a
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach m,$(MODULES),$(eval $(call module_rules,$(m))))

$(LAUNCH_LIB): $(patsubst %.c,$(B)/%.o,$(wildcard launch/*.c))
	@rm -f $@
	$(AR) rcs $@ $^

$(B)/ctnet: $(TOOL_OBJS) $(LAUNCH_LIB) $(MOD_LIBS) $(B)/libctnet.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/ctnet-cni: $(patsubst %.c,$(B)/%.o,$(CNI_SRCS)) $(LAUNCH_LIB) $(MOD_LIBS) $(B)/libctnet.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: tests/unit/%.c $(LAUNCH_LIB) $(MOD_LIBS) $(B)/libctnet.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit -I. $(CFLAGS) $(LDFLAGS) -o $@ $< $(LAUNCH_LIB) $(MOD_LIBS) $(B)/libctnet.a $(LDLIBS)

# The launcher's unit test also drives its front-ends: the CLI's parser and the CNI plugin's.
$(B)/tests/test_launch: tests/unit/test_launch.c $(filter-out $(B)/tools/ctnet.o,$(TOOL_OBJS)) \
		$(filter-out $(B)/cni/main.o,$(patsubst %.c,$(B)/%.o,$(CNI_SRCS))) $(LAUNCH_LIB) $(MOD_LIBS) $(B)/libctnet.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit -I. $(CFLAGS) $(LDFLAGS) -o $@ $(filter-out %.a,$^) $(LAUNCH_LIB) $(MOD_LIBS) $(B)/libctnet.a $(LDLIBS)

tests: $(UNIT_TESTS)

# The sanitizer build runs every test; T=pattern selects tests by file name.
deps:
	@tools/deps.sh

# Sub-makes: after `deps` installed packages, pkg-config answers for them. The optimized
# build is for the valgrind pass (valgrind cannot run ASan binaries).
check: deps
	$(MAKE) SAN=1 all tests
	$(MAKE) all
	$(MAKE) fuzz-check
	CTNET_BIN=$(CURDIR)/build/san tests/run.sh $(T)

# The netns tests on Debian 12's stock kernel in QEMU under TCG (tests/vm/run.sh): the
# optimized build, the host's root shared read-only. T=pattern(s) replaces the default list.
check-vm: deps
	$(MAKE) all
	CTNET_BIN=$(CURDIR)/build tests/vm/run.sh $(T)

# Same suite on the optimized build (faster, no sanitizers).
check-fast: all tests
	CTNET_BIN=$(CURDIR)/build tests/run.sh $(T)

demo: deps
	$(MAKE) all
	CTNET_BIN=$(CURDIR)/build tools/demo.sh

# The data-plane part's client and server (bench/connrate.c): a bench tool, not installed.
$(B)/bench/connrate: bench/connrate.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -pthread -o $@ $<

bench: all $(B)/bench/connrate
	CTNET_BIN=$(CURDIR)/build bench/run.sh $(BENCH_ARGS)

install: all
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(filter-out $(B)/ctnet-cni,$(PROGS)) $(DESTDIR)$(BINDIR)/
	@if [ -e $(B)/ctnet-cni ]; then \
		echo "install $(B)/ctnet-cni $(DESTDIR)$(CNIDIR)/"; \
		install -d $(DESTDIR)$(CNIDIR) && install -m 0755 $(B)/ctnet-cni $(DESTDIR)$(CNIDIR)/; fi
	@if ls man/*.8 >/dev/null 2>&1; then \
		install -d $(DESTDIR)$(MANDIR)/man8 && install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/; fi
	@if ls man/*.5 >/dev/null 2>&1; then \
		install -d $(DESTDIR)$(MANDIR)/man5 && install -m 0644 man/*.5 $(DESTDIR)$(MANDIR)/man5/; fi
	@if [ -f completion/ctnet.bash ]; then \
		install -d $(DESTDIR)$(BASHCOMPDIR) && \
		for p in $(filter-out ctnet-cni,$(notdir $(PROGS))); do \
			install -m 0644 completion/ctnet.bash $(DESTDIR)$(BASHCOMPDIR)/$$p; done; fi
	install -d $(DESTDIR)$(UNITDIR)
	@# The units name /usr/sbin; another BINDIR is written into the installed copies.
	for u in $(UNITS); do \
		sed 's|/usr/sbin/|$(BINDIR)/|g' units/$$u > $(DESTDIR)$(UNITDIR)/$$u.tmp && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.tmp && mv $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u; done
	@# The examples too (the OCI hooks name /usr/sbin/ctnet): copied from there, they are right.
	cd examples && find . -type f | sort | while read -r f; do \
		install -d "$(DESTDIR)$(EXAMPLESDIR)/$${f%/*}" && \
		sed 's|/usr/sbin/|$(BINDIR)/|g' "$$f" > "$(DESTDIR)$(EXAMPLESDIR)/$$f" && \
		chmod 0644 "$(DESTDIR)$(EXAMPLESDIR)/$$f" || exit 1; done

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(filter-out ctnet-cni,$(notdir $(PROGS))))
	rm -f $(DESTDIR)$(CNIDIR)/ctnet-cni $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS))
	rm -f $(DESTDIR)$(MANDIR)/man8/ctnet*.8 $(DESTDIR)$(MANDIR)/man5/ctnet.conf.5 $(addprefix $(DESTDIR)$(BASHCOMPDIR)/,$(notdir $(PROGS)))
	rm -rf $(DESTDIR)$(EXAMPLESDIR)

clean:
	rm -rf build

.PHONY: deps all tests check check-vm check-fast demo bench install uninstall clean
.DELETE_ON_ERROR:

# --- Reliability (issue 7): libFuzzer targets and full-size stress runs. ---
# make fuzz: every tests/fuzz/fuzz_*.c for FUZZ_SECONDS each (clang-14 + libclang-rt-14-dev);
# make check runs a short pass (FUZZ_CHECK_SECONDS each) and the reduced-count rel tests;
# make stress: the rel tests at full size (2,000-op storm, 200 kill -9s).
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CHECK_SECONDS ?= 4
FUZZ_B := build/fuzz
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -Ilib -I. -I$(FUZZ_B)/gen -g -O1 -Wall -Wextra -Werror \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_LIB_SRCS := $(LIB_SRCS) $(filter-out ipam/main.c netd/main.c netd/main_%.c nat/main.c tools/ctnet.c %.bpf.c,\
	$(wildcard ipam/*.c netd/*.c nat/*.c launch/*.c tools/*.c))
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,$(FUZZ_B)/%,$(wildcard tests/fuzz/fuzz_*.c))

$(FUZZ_B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_B)/obj/nat/lofwd.o: $(FUZZ_B)/gen/lofwd.skel.h
.SECONDARY: $(FUZZ_B)/gen/lofwd.bpf.o

$(FUZZ_B)/libfuzzed.a: $(patsubst %.c,$(FUZZ_B)/obj/%.o,$(FUZZ_LIB_SRCS))
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_B)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_B)/libfuzzed.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -o $@ $< $(FUZZ_B)/libfuzzed.a $(PKG_LIBS)

fuzz-build: $(FUZZ_TARGETS)

fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_SECONDS)

fuzz-check: fuzz-build
	tests/fuzz/run.sh $(FUZZ_CHECK_SECONDS)

stress: deps
	$(MAKE) SAN=1 all tests
	REL_STORM_OPS=2000 REL_STORM_NAMES=100 REL_KILLS=200 CTNET_TEST_TIMEOUT=1800 \
		CTNET_BIN=$(CURDIR)/build/san tests/run.sh test_rel_

.PHONY: fuzz fuzz-build fuzz-check stress

-include $(shell find $(B) -name '*.d' 2>/dev/null)
