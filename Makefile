# luvmm: one plain Makefile, no configure step.
#
#   make            build/luvmm, build/luvmm-devsim, build/guest-fw.elf (+ .bin)
#   make check      build everything and run every TAP test through prove
#   make sanitize   the same checks, ASan+UBSan build in build-san/ (SAN=thread: TSan)
#   make fuzz       libFuzzer targets (clang) in build-fuzz/
#   make clean
#
# V=1 shows commands. WERROR=0 is for local experiments only.

BUILD	?= build
CC	?= cc
V	?= 0
WERROR	?= 1
SAN	?=

ifeq ($(V),1)
Q :=
else
Q := @
endif

PKGS		:= liburing libseccomp
PKG_CFLAGS	:= $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS	:= $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -luring -lseccomp)

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wundef -Wwrite-strings -Wpointer-arith
ifeq ($(WERROR),1)
WARN += -Werror
endif

CFLAGS	:= -std=gnu11 -O2 -g -D_GNU_SOURCE $(WARN) -fstack-protector-strong \
	   -MMD -MP $(PKG_CFLAGS)
LDFLAGS	:= -Wl,-z,noexecstack,-z,relro,-z,now
LDLIBS	:= $(PKG_LIBS) -lpthread

ifeq ($(SAN),)
CFLAGS	+= -D_FORTIFY_SOURCE=2
# luvmm links statically: an exec-mode update starts it inside the
# blackout, and skipping the dynamic loader saves ~0.2 ms there
LUVMM_LDFLAGS := -static
else ifeq ($(SAN),thread)
CFLAGS	+= -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS	+= -fsanitize=thread
else
CFLAGS	+= -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined
LDFLAGS	+= -fsanitize=address,undefined
endif

# ---- the VMM (everything but main.c also goes into libluvmm.a for tests) --
VMM_SRCS := \
	vmm/config.c \
	vmm/ctl.c \
	vmm/devices/devices.c \
	vmm/devices/passthrough.c \
	vmm/devices/pt_iommu.c \
	vmm/devices/pt_soft.c \
	vmm/devices/pt_vfio.c \
	vmm/devices/report.c \
	vmm/devices/serial.c \
	vmm/iobus.c \
	vmm/iommu/iommu.c \
	vmm/iommu/iommufd.c \
	vmm/iommu/iopt.c \
	vmm/iommu/iova_tree.c \
	vmm/iommu/maplog.c \
	vmm/iommu/soft.c \
	vmm/iommu/vfio.c \
	vmm/json.c \
	vmm/liveupdate/crc32c.c \
	vmm/liveupdate/handoff.c \
	vmm/liveupdate/lu.c \
	vmm/liveupdate/lu_exec.c \
	vmm/liveupdate/lu_incoming.c \
	vmm/liveupdate/record.c \
	vmm/liveupdate/replay.c \
	vmm/liveupdate/state.c \
	vmm/loader.c \
	vmm/log.c \
	vmm/loop.c \
	vmm/mem.c \
	vmm/run.c \
	vmm/util.c \
	vmm/vcpu.c \
	vmm/vcpu_state_x86.c \
	vmm/vcpu_x86.c \
	vmm/vm.c \
	vmm/vm_state_x86.c \
	vmm/vm_x86.c

VMM_MAIN := vmm/main.c

# ---- device simulator (hardware stand-in, a separate process) ------------
DEVSIM_SRCS := \
	devsim/busguard.c \
	devsim/engine.c \
	devsim/main.c \
	devsim/proto.c \
	devsim/slots.c

# ---- tests -----------------------------------------------------------------
TAP_SRCS := \
	tests/fake_iommufd.c \
	tests/tap.c

UNIT_TESTS := \
	tests/test_config.c \
	tests/test_ctl.c \
	tests/test_dev_report.c \
	tests/test_dev_serial.c \
	tests/test_devsim.c \
	tests/test_iobus.c \
	tests/test_iommu.c \
	tests/test_iommufd.c \
	tests/test_iopt.c \
	tests/test_json.c \
	tests/test_loader.c \
	tests/test_loop.c \
	tests/test_lu_oldrec.c \
	tests/test_lu_sections.c \
	tests/test_mem.c \
	tests/test_pt_vfio.c \
	tests/test_state.c \
	tests/test_util.c

INT_HARNESS_SRCS := \
	tests/integration/harness.c \
	tests/integration/lu_checks.c

INT_TESTS := \
	tests/integration/test_badinput.c \
	tests/integration/test_boot.c \
	tests/integration/test_dma_updates.c \
	tests/integration/test_liveupdate.c \
	tests/integration/test_lu_cases.c \
	tests/integration/test_lu_races.c \
	tests/integration/test_lu_stress.c \
	tests/integration/test_memcheck.c \
	tests/integration/test_passthrough.c \
	tests/integration/test_pause.c \
	tests/integration/test_qemu_boot.c \
	tests/integration/test_rollback.c \
	tests/integration/test_state_live.c

# ---- guest-fw: freestanding, never host libc, never sanitized --------------
FW_SRCS := \
	guest-fw/clock.c \
	guest-fw/cmdline.c \
	guest-fw/con.c \
	guest-fw/cpu.c \
	guest-fw/dma.c \
	guest-fw/dmamap.c \
	guest-fw/entry.S \
	guest-fw/lib.c \
	guest-fw/main.c \
	guest-fw/workload.c

FW_CC		:= gcc
FW_CFLAGS	:= -std=gnu11 -O2 -g -ffreestanding -fno-builtin -nostdlib \
		   -fno-pic -fno-pie -fno-stack-protector -mno-red-zone \
		   -mgeneral-regs-only -mcmodel=small -m64 -MMD -MP \
		   -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
		   -Wmissing-prototypes -Wundef -Wpointer-arith
FW_LDFLAGS	:= -nostdlib -static -no-pie -Wl,--build-id=none \
		   -Wl,-z,max-page-size=0x1000 -Wl,--no-warn-rwx-segments

# ---- derived ---------------------------------------------------------------
obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(patsubst %.S,$(BUILD)/obj/%.o,$(1)))

VMM_OBJS	:= $(call obj,$(VMM_SRCS))
VMM_LIB		:= $(BUILD)/libluvmm.a
TAP_OBJS	:= $(call obj,$(TAP_SRCS))
INT_HARNESS_OBJS := $(call obj,$(INT_HARNESS_SRCS))
UNIT_BINS	:= $(patsubst %.c,$(BUILD)/%,$(UNIT_TESTS))
INT_BINS	:= $(patsubst %.c,$(BUILD)/%,$(INT_TESTS))
FW_OBJS		:= $(patsubst %,$(BUILD)/fw/%.o,$(basename $(FW_SRCS)))

LUVMM		:= $(BUILD)/luvmm
DEVSIM		:= $(BUILD)/luvmm-devsim
FW_ELF		:= $(BUILD)/guest-fw.elf
FW_BIN		:= $(BUILD)/guest-fw.bin

ALL := $(LUVMM) $(if $(FW_SRCS),$(FW_ELF) $(FW_BIN)) $(if $(DEVSIM_SRCS),$(DEVSIM))

.PHONY: all check sanitize fuzz clean tests demo
all: $(ALL)

tests: $(UNIT_BINS) $(INT_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(VMM_LIB): $(VMM_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(LUVMM): $(call obj,$(VMM_MAIN)) $(VMM_LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $(LUVMM_LDFLAGS) -o $@ $^ $(LDLIBS)

$(DEVSIM): $(call obj,$(DEVSIM_SRCS)) $(VMM_LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(INT_BINS): $(BUILD)/tests/integration/%: $(BUILD)/obj/tests/integration/%.o \
		$(INT_HARNESS_OBJS) $(TAP_OBJS) $(VMM_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(UNIT_BINS): $(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TAP_OBJS) $(VMM_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# guest-fw
$(BUILD)/fw/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FWCC    $<")
	$(Q)$(FW_CC) $(FW_CFLAGS) -c -o $@ $<

$(BUILD)/fw/%.o: %.S
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FWAS    $<")
	$(Q)$(FW_CC) $(FW_CFLAGS) -c -o $@ $<

$(FW_ELF): $(FW_OBJS) guest-fw/fw.ld
	@$(if $(Q),echo "  FWLD    $@")
	$(Q)$(FW_CC) $(FW_CFLAGS) $(FW_LDFLAGS) -T guest-fw/fw.ld -o $@ $(FW_OBJS)

$(FW_BIN): $(FW_ELF)
	@$(if $(Q),echo "  OBJCOPY $@")
	$(Q)objcopy -O binary $< $@

# ---- benchmarks (built by all, run by hand; see bench/README-*.md) ---------
BENCH_BINS := $(BUILD)/bench/iopt_bench $(BUILD)/bench/replay_bench

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(VMM_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

all: $(BENCH_BINS)

-include $(BUILD)/obj/bench/iopt_bench.d $(BUILD)/obj/bench/replay_bench.d

# Every test binary through prove, each limited to 30 s by tests/run-test.
check: all tests
	$(Q)LUVMM_BUILD=$(abspath $(BUILD)) prove --exec tests/run-test \
		$(UNIT_BINS) $(INT_BINS)
	$(Q)if command -v $(FUZZ_CC) >/dev/null 2>&1; then \
		mkdir -p $(FUZZ_BUILD); \
		$(MAKE) --no-print-directory fuzz-run >$(FUZZ_BUILD)/fuzz-run.log 2>&1 \
		&& echo "fuzz_state: ok, $(FUZZ_SECONDS) s, log in $(FUZZ_BUILD)/fuzz-run.log" \
		|| { tail -n 40 $(FUZZ_BUILD)/fuzz-run.log; exit 1; }; \
	else echo "fuzz_state: SKIP, $(FUZZ_CC) not found"; fi

# The README's main job.
demo: all
	$(Q)LUVMM_BUILD=$(abspath $(BUILD)) scripts/demo

# Live-update downtime beside QEMU's, report in bench/out/ (bench/README.md).
# BENCH_ARGS=--quick for a smoke run.
.PHONY: bench
bench: all
	$(Q)bench/downtime --build $(abspath $(BUILD)) $(BENCH_ARGS)

sanitize:
	$(MAKE) BUILD=build-san SAN=$(if $(filter thread,$(SAN)),thread,address) check

# ---- fuzz: libFuzzer targets (clang only), in build-fuzz/ ------------------
#   make fuzz          build-fuzz/fuzz_state
#   make fuzz-run      run it for FUZZ_SECONDS over seeds that test_state writes;
#                      what it learns stays in build-fuzz/corpus, crashes land
#                      in build-fuzz/crash-* and fail the target
FUZZ_CC		?= clang
FUZZ_BUILD	:= build-fuzz
FUZZ_SECONDS	?= 10
FUZZ_FLAGS	?=
FUZZ_CFLAGS	:= -std=gnu11 -O1 -g -D_GNU_SOURCE $(WARN) -fno-omit-frame-pointer \
		   -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_STATE_SRCS	:= \
	fuzz/fuzz_state.c \
	vmm/liveupdate/crc32c.c \
	vmm/liveupdate/state.c

.PHONY: fuzz-run
fuzz: $(FUZZ_BUILD)/fuzz_state

$(FUZZ_BUILD)/fuzz_state: $(FUZZ_STATE_SRCS) vmm/liveupdate/crc32c.h \
		vmm/liveupdate/state.h vmm/compiler.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(FUZZ_STATE_SRCS)

fuzz-run: $(FUZZ_BUILD)/fuzz_state $(BUILD)/tests/test_state
	$(Q)rm -rf $(FUZZ_BUILD)/seeds
	$(Q)mkdir -p $(FUZZ_BUILD)/seeds $(FUZZ_BUILD)/corpus
	$(Q)$(BUILD)/tests/test_state --write-corpus $(FUZZ_BUILD)/seeds
	$(Q)$(FUZZ_BUILD)/fuzz_state -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
		-print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_FLAGS) \
		$(FUZZ_BUILD)/corpus $(FUZZ_BUILD)/seeds

clean:
	rm -rf build build-san build-fuzz

-include $(VMM_OBJS:.o=.d) $(TAP_OBJS:.o=.d) $(FW_OBJS:.o=.d) \
	$(patsubst %,$(BUILD)/obj/%.d,$(basename $(UNIT_TESTS) $(INT_TESTS) $(INT_HARNESS_SRCS) $(VMM_MAIN) $(DEVSIM_SRCS)))
