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
	vmm/devices/report.c \
	vmm/devices/serial.c \
	vmm/iobus.c \
	vmm/json.c \
	vmm/loader.c \
	vmm/log.c \
	vmm/loop.c \
	vmm/mem.c \
	vmm/run.c \
	vmm/util.c \
	vmm/vcpu.c \
	vmm/vcpu_x86.c \
	vmm/vm.c \
	vmm/vm_x86.c

VMM_MAIN := vmm/main.c

# ---- device simulator (hardware stand-in, a separate process) ------------
DEVSIM_SRCS :=

# ---- tests -----------------------------------------------------------------
TAP_SRCS := tests/tap.c

UNIT_TESTS :=

INT_HARNESS_SRCS :=

INT_TESTS :=

# ---- guest-fw: freestanding, never host libc, never sanitized --------------
FW_SRCS :=

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

.PHONY: all check sanitize fuzz clean tests
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
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(DEVSIM): $(call obj,$(DEVSIM_SRCS)) $(VMM_LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/integration/%: $(BUILD)/obj/tests/integration/%.o \
		$(INT_HARNESS_OBJS) $(TAP_OBJS) $(VMM_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TAP_OBJS) $(VMM_LIB)
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

# Every test binary through prove, each limited to 30 s by tests/run-test.
check: all tests
	$(Q)LUVMM_BUILD=$(abspath $(BUILD)) prove --exec tests/run-test \
		$(UNIT_BINS) $(INT_BINS)

sanitize:
	$(MAKE) BUILD=build-san SAN=$(if $(filter thread,$(SAN)),thread,address) check

clean:
	rm -rf build build-san build-fuzz

-include $(VMM_OBJS:.o=.d) $(TAP_OBJS:.o=.d) $(FW_OBJS:.o=.d) \
	$(patsubst %,$(BUILD)/obj/%.d,$(basename $(UNIT_TESTS) $(INT_TESTS) $(INT_HARNESS_SRCS) $(VMM_MAIN) $(DEVSIM_SRCS)))
