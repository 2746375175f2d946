/* The micro-guest: a freestanding x86-64 program that exercises what the
 * KVM backend must carry (its own IDT, exceptions, the PIT's interrupts
 * through the 8259 and the local APIC's LINT0, port and MMIO accesses, the
 * TSC, HLT, loops whose registers repeat while memory changes) and prints
 * only what is the same on every accelerator, so runs can be compared by
 * their console output. It ends through krr's control device. */
#include "guest-model/control_device_protocol.h"

#include <stdint.h>

enum {
    COM1 = 0x3f8,
    PIC_MASTER = 0x20,
    PIC_SLAVE = 0xa0,
    PIT_CHANNEL0 = 0x40,
    PIT_COMMAND = 0x43,
    CMOS_INDEX = 0x70,
    CMOS_DATA = 0x71,
    TIMER_VECTOR = 32,
    SPURIOUS_VECTOR = 39,
    /* 1193182 Hz / 1193: about 1 kHz. */
    PIT_DIVISOR = 1193,
};

#define LAPIC_BASE 0xfee00000u
#define LAPIC_SVR 0xf0u
#define LAPIC_LINT0 0x350u

struct interrupt_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error_code, rip, cs, rflags, rsp, ss;
};

struct idt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t attributes;
    uint16_t offset_middle;
    uint32_t offset_high;
    uint32_t zero;
};

extern const uint8_t isr_vectors[];
extern void (*const isr_entries[])(void);
enum { ISR_COUNT = 23 };
void spin_until_tick(uint32_t target);
void micro_main(void);
void interrupt_dispatch(struct interrupt_frame* frame);
void enter_user(void (*rip)(void), void* rsp) __attribute__((noreturn));
void syscall_entry(void);
uint64_t syscall_dispatch(uint64_t number, uint64_t first, uint64_t second);
static void user_main(void);

/* User mode ends when the timer, interrupting it, reaches this tick: 20
 * ticks after user mode began (set then; 0 before), so that a slow host
 * (time here is the host's under KVM) still runs the user-mode part. */
volatile uint32_t user_end_tick;

volatile uint32_t ticks;
volatile uint64_t spin_counter;
static volatile uint32_t breakpoints, invalid_opcodes, spurious;
/* What the entries from user mode saw (interrupt_dispatch). */
static volatile uint64_t user_gp_error = ~0ULL, user_gp_cs, user_pf_address, user_pf_error = ~0ULL,
                         user_int80_cs, user_int3_cs;
static struct idt_gate idt[256] __attribute__((aligned(16)));
static uint64_t counter_at_user_entry;

/* A GDT with user segments (in SYSCALL/SYSRET's layout: user CS 0x33, SS
 * 0x2b) and a 64-bit TSS whose RSP0 is the stack interrupts and exceptions
 * from user mode switch to. These entries (and SYSCALL) are what the KVM
 * backend completes itself on PVM (docs/kvm.md). */
struct __attribute__((packed)) tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
};
static struct tss64 tss __attribute__((aligned(16)));
static uint64_t gdt[9] __attribute__((aligned(16)));
static uint8_t interrupt_stack[8192] __attribute__((aligned(16)));
static uint8_t user_stack[8192] __attribute__((aligned(16)));

static inline void outb(uint16_t port, uint8_t value) {
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}
static inline uint8_t inb(uint16_t port) {
    uint8_t value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}
static inline void outl(uint16_t port, uint32_t value) {
    __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port));
}
static inline uint32_t inl(uint16_t port) {
    uint32_t value;
    __asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}
#define MSR_EFER 0xc0000080u
#define MSR_STAR 0xc0000081u
#define MSR_LSTAR 0xc0000082u
#define MSR_SFMASK 0xc0000084u
#define EFER_SCE 1u
static inline uint64_t rdmsr(uint32_t msr) {
    uint32_t low, high;
    __asm__ volatile("rdmsr" : "=a"(low), "=d"(high) : "c"(msr));
    return ((uint64_t)high << 32) | low;
}
static inline void wrmsr(uint32_t msr, uint64_t value) {
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)));
}
static inline uint64_t rdtsc(void) {
    uint32_t low, high;
    __asm__ volatile("rdtsc" : "=a"(low), "=d"(high));
    return ((uint64_t)high << 32) | low;
}
static inline void lapic_write(uint32_t reg, uint32_t value) {
    *(volatile uint32_t*)(uintptr_t)(LAPIC_BASE + reg) = value;
}
static inline uint32_t lapic_read(uint32_t reg) {
    return *(volatile uint32_t*)(uintptr_t)(LAPIC_BASE + reg);
}

static void put_char(char c) {
    while (!(inb(COM1 + 5) & 0x20)) /* transmitter holding register empty */
        ;
    outb(COM1, (uint8_t)c);
}

static void put_string(const char* s) {
    while (*s)
        put_char(*s++);
}

static void put_decimal(uint64_t v) {
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        put_char(digits[--n]);
}

static void put_hex(uint64_t v) {
    put_string("0x");
    int started = 0;
    for (int shift = 60; shift >= 0; shift -= 4) {
        unsigned nibble = (unsigned)(v >> shift) & 0xf;
        if (nibble || started || shift == 0) {
            put_char("0123456789abcdef"[nibble]);
            started = 1;
        }
    }
}

static void control(uint32_t command, uint32_t argument) {
    outl(KRR_CONTROL_PORT, krr_control_message(command, argument));
}

static void finish(uint32_t status) {
    __asm__ volatile("cli");
    control(KRR_CONTROL_EXIT_STATUS, status);
    control(KRR_CONTROL_POWER_OFF, 0);
    for (;;)
        __asm__ volatile("hlt");
}

void interrupt_dispatch(struct interrupt_frame* frame) {
    switch (frame->vector) {
    case TIMER_VECTOR:
        ++ticks;
        outb(PIC_MASTER, 0x20); /* non-specific EOI */
        if (user_end_tick && ticks >= user_end_tick && (frame->cs & 3) == 3) {
            /* Interrupted in user mode with the loop's target reached: the
             * guest is done. */
            put_string("user mode: timer interrupts from cs ");
            put_hex(frame->cs);
            put_string(spin_counter > counter_at_user_entry ? ", counter moved\n"
                                                            : ", counter stuck\n");
            put_string("done\n");
            finish(0);
        }
        return;
    case SPURIOUS_VECTOR:
        ++spurious; /* the 8259's spurious IRQ 7 takes no EOI */
        return;
    case 3:
        if ((frame->cs & 3) == 3)
            user_int3_cs = frame->cs;
        else
            ++breakpoints; /* INT3 is a trap: RIP is already past it */
        return;
    case 6:
        ++invalid_opcodes;
        frame->rip += 2; /* skip the UD2 */
        return;
    case 13:
        if ((frame->cs & 3) != 3)
            break;
        /* user_main's port read (two bytes: in $0x80, %al) */
        user_gp_error = frame->error_code;
        user_gp_cs = frame->cs;
        frame->rip += 2;
        return;
    case 14:
        if ((frame->cs & 3) != 3)
            break;
        /* user_main's read beyond the mapped 4 GiB (two bytes: mov (%rax), %al) */
        __asm__ volatile("mov %%cr2, %0" : "=r"(user_pf_address));
        user_pf_error = frame->error_code;
        frame->rip += 2;
        return;
    case 128:
        user_int80_cs = frame->cs;
        frame->rax += 1;
        return;
    default:
        break;
    }
    put_string("unexpected exception ");
    put_decimal(frame->vector);
    put_string(" error code ");
    put_hex(frame->error_code);
    put_string(" at ");
    put_hex(frame->rip);
    put_string("\n");
    finish(100 + (uint32_t)frame->vector);
}

static void set_up_idt(void) {
    for (int i = 0; i < ISR_COUNT; ++i) {
        uint64_t handler = (uint64_t)(uintptr_t)isr_entries[i];
        struct idt_gate* gate = &idt[isr_vectors[i]];
        gate->offset_low = (uint16_t)handler;
        gate->selector = 0x10;
        gate->ist = 0;
        /* present, 64-bit interrupt gate, DPL 0 (3 for INT3 and INT 0x80,
         * as user mode may raise them) */
        gate->attributes = isr_vectors[i] == 128 || isr_vectors[i] == 3 ? 0xee : 0x8e;
        gate->offset_middle = (uint16_t)(handler >> 16);
        gate->offset_high = (uint32_t)(handler >> 32);
        gate->zero = 0;
    }
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } idtr = {sizeof idt - 1, (uint64_t)(uintptr_t)idt};
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

static void set_up_user_mode(void) {
    gdt[2] = 0x00af9b000000ffffULL; /* 0x10 kernel code, 64-bit */
    gdt[3] = 0x00cf93000000ffffULL; /* 0x18 kernel data */
    gdt[4] = 0x00cffb000000ffffULL; /* 0x23 user code, 32-bit (SYSRET's base) */
    gdt[5] = 0x00cff3000000ffffULL; /* 0x2b user data */
    gdt[6] = 0x00affb000000ffffULL; /* 0x33 user code, 64-bit */
    uint64_t base = (uint64_t)(uintptr_t)&tss;
    uint64_t limit = sizeof tss - 1;
    gdt[7] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) |
             (((base >> 24) & 0xff) << 56); /* 0x38 available 64-bit TSS */
    gdt[8] = base >> 32;
    tss.rsp[0] = (uint64_t)(uintptr_t)(interrupt_stack + sizeof interrupt_stack);
    tss.iomap_base = sizeof tss; /* no I/O bitmap: user port access faults */
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } gdtr = {sizeof gdt - 1, (uint64_t)(uintptr_t)gdt};
    __asm__ volatile("lgdt %0" : : "m"(gdtr));
    __asm__ volatile("ltr %w0" : : "r"(0x38));

    /* SYSCALL to syscall_entry at CS 0x10, SYSRET to CS 0x33; IF, TF, DF,
     * AC and NT cleared on entry, as Linux does. */
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
    wrmsr(MSR_STAR, (0x23ULL << 48) | (0x10ULL << 32));
    wrmsr(MSR_LSTAR, (uint64_t)(uintptr_t)syscall_entry);
    wrmsr(MSR_SFMASK, 0x47700);
    /* What a guest reads back is its own value whatever KVM is shown. */
    put_string(rdmsr(MSR_LSTAR) == (uint64_t)(uintptr_t)syscall_entry
                   ? "syscall: lstar reads back as written\n"
                   : "syscall: lstar reads back changed\n");
}

enum { SYS_ADD_ONE = 1, SYS_REPORT = 2 };

static uint64_t user_syscall(uint64_t number, uint64_t first, uint64_t second) {
    uint64_t result;
    __asm__ volatile("syscall"
                     : "=a"(result)
                     : "D"(number), "S"(first), "d"(second)
                     : "rcx", "r11", "memory");
    return result;
}

static uint16_t code_selector(void) {
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    return cs;
}

/* Called from syscall_entry at CPL 0 with interrupts off. */
uint64_t syscall_dispatch(uint64_t number, uint64_t first, uint64_t second) {
    switch (number) {
    case SYS_ADD_ONE:
        /* The handler's CS in the upper half: it ran at CPL 0. */
        return first + 1 + ((uint64_t)code_selector() << 32);
    case SYS_REPORT:
        put_string("user mode: syscall ");
        put_decimal(first & 0xffffffff);
        put_string(" from cs ");
        put_hex(second);
        put_string(", handler cs ");
        put_hex(first >> 32);
        put_string("\nuser mode: #gp from cs ");
        put_hex(user_gp_cs);
        put_string(" error ");
        put_hex(user_gp_error);
        put_string(", #pf at ");
        put_hex(user_pf_address);
        put_string(" error ");
        put_hex(user_pf_error);
        put_string(", int 0x80 from cs ");
        put_hex(user_int80_cs);
        put_string(", int3 from cs ");
        put_hex(user_int3_cs);
        put_string("\n");
        return 0;
    }
    return ~0ULL;
}

/* At CPL 3: native speed under a nested KVM whose kernel mode is emulated.
 * The same loop as in kernel mode, with timer interrupts arriving from user
 * mode (through the TSS's RSP0). */
static void user_main(void) {
    /* Entries to CPL 0 and back: SYSCALL/SYSRET, #GP (a port read without
     * I/O permission), #PF (beyond the identity-mapped 4 GiB), INT 0x80
     * (a DPL 3 gate; its handler adds one to RAX), INT3 (a trap). */
    uint64_t added = user_syscall(SYS_ADD_ONE, 41, 0);
    uint64_t cs_after_sysret = code_selector();
    __asm__ volatile("in $0x80, %%al" : : : "rax");
    uint64_t unmapped = 0x100000000ULL;
    __asm__ volatile("mov (%%rax), %%al" : "+a"(unmapped));
    uint64_t rax = 7;
    __asm__ volatile("int $0x80" : "+a"(rax));
    __asm__ volatile("int3");
    user_syscall(SYS_REPORT, added + (rax == 8 ? 0 : 1000), cs_after_sysret);
    spin_until_tick(user_end_tick);
    for (;;)
        ++spin_counter;
}

static void set_up_timer(void) {
    /* 8259s: edge triggered, cascaded, vectors 32-47, only IRQ 0 open. */
    outb(PIC_MASTER, 0x11);
    outb(PIC_SLAVE, 0x11);
    outb(PIC_MASTER + 1, 32);
    outb(PIC_SLAVE + 1, 40);
    outb(PIC_MASTER + 1, 4);
    outb(PIC_SLAVE + 1, 2);
    outb(PIC_MASTER + 1, 1);
    outb(PIC_SLAVE + 1, 1);
    outb(PIC_MASTER + 1, 0xfe);
    outb(PIC_SLAVE + 1, 0xff);
    /* The local APIC passes the 8259's INTR through LINT0 (virtual wire). */
    lapic_write(LAPIC_SVR, 0x1ff);
    lapic_write(LAPIC_LINT0, 0x700);
    /* PIT channel 0: rate generator, low then high byte. */
    outb(PIT_COMMAND, 0x34);
    outb(PIT_CHANNEL0, PIT_DIVISOR & 0xff);
    outb(PIT_CHANNEL0, PIT_DIVISOR >> 8);
}

void micro_main(void) {
    put_string("krr micro-guest\n");

    uint32_t magic = inl(KRR_CONTROL_PORT);
    put_string(magic == KRR_CONTROL_MAGIC ? "control device: present\n"
                                          : "control device: absent\n");
    outb(CMOS_INDEX, 0x09);
    put_string("rtc year register: ");
    put_hex(inb(CMOS_DATA));
    put_string("\n");

    set_up_idt();
    __asm__ volatile("int3");
    __asm__ volatile("ud2");
    put_string("exceptions: int3 ");
    put_decimal(breakpoints);
    put_string(", ud2 ");
    put_decimal(invalid_opcodes);
    put_string("\n");

    set_up_timer();
    put_string("local apic svr: ");
    put_hex(lapic_read(LAPIC_SVR));
    put_string("\n");
    __asm__ volatile("sti");

    /* What the timer counted is printed as "reached": under KVM a further
     * tick may land between the loop's end and the printing. */
    spin_until_tick(20);
    put_string(ticks >= 20 ? "spin: reached tick 20" : "spin: short of tick 20");
    put_string(spin_counter ? ", counter moved\n" : ", counter stuck\n");

    uint64_t before = rdtsc();
    while (ticks < 40)
        __asm__ volatile("hlt");
    uint64_t after = rdtsc();
    put_string(ticks >= 40 ? "halt: reached tick 40" : "halt: short of tick 40");
    put_string(after > before ? ", tsc advanced\n" : ", tsc stuck\n");

    /* A second round of the loop, now with timer interrupts landing in it
     * after the halts. */
    uint64_t counted = spin_counter;
    spin_until_tick(60);
    put_string(ticks >= 60 ? "spin again: reached tick 60" : "spin again: short of tick 60");
    put_string(spin_counter > counted ? ", counter moved\n" : ", counter stuck\n");

    set_up_user_mode();
    counter_at_user_entry = spin_counter;
    user_end_tick = ticks + 20;
    enter_user(user_main, user_stack + sizeof user_stack);
}
