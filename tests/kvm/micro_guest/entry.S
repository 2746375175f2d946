/* The micro-guest's entry and interrupt stubs. The harness enters _start in
 * long mode at CPL 0 with paging on (first 4 GiB identity mapped), the flat
 * 64-bit code selector 0x10 and interrupts off. */

    .section .text.entry, "ax"
    .globl _start
_start:
    lea stack_top(%rip), %rsp
    call micro_main
1:  cli
    hlt
    jmp 1b

/* One stub per vector: push a zero where the CPU pushes no error code, so
 * every frame has the same shape, then the vector number. */
    .macro stub vector, error_code
isr_\vector:
    .if \error_code == 0
    pushq $0
    .endif
    pushq $\vector
    jmp isr_common
    .endm

    .text
    stub 0, 0
    stub 1, 0
    stub 2, 0
    stub 3, 0
    stub 4, 0
    stub 5, 0
    stub 6, 0
    stub 7, 0
    stub 8, 1
    stub 9, 0
    stub 10, 1
    stub 11, 1
    stub 12, 1
    stub 13, 1
    stub 14, 1
    stub 15, 0
    stub 16, 0
    stub 17, 1
    stub 18, 0
    stub 19, 0
    stub 32, 0
    stub 39, 0
    stub 128, 0

isr_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    mov %rsp, %rdi
    cld
    call interrupt_dispatch
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    add $16, %rsp
    iretq

/* Registers that repeat while memory changes: each round of the loop
 * leaves every register as it was (flags aside) and only the counter in
 * memory moves on, until the timer handler has counted `ticks` up to the
 * target in %edi. */
    .globl spin_until_tick
spin_until_tick:
1:  incq spin_counter(%rip)
    cmpl %edi, ticks(%rip)
    jb 1b
    ret

/* enter_user(rip, rsp): IRET to 64-bit user mode (CS 0x33, SS 0x2b) with
 * interrupts on. */
    .globl enter_user
enter_user:
    /* Null data segments first, as Linux runs: IRET to user mode nulls
     * those with DPL 0 (SDM), which this host's PVM leaves loaded
     * (docs/kvm.md), so a recording under it would end with other hidden
     * segment state than its replay. */
    xorl %eax, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %fs
    movl %eax, %gs
    pushq $0x2b
    pushq %rsi
    pushq $0x202
    pushq $0x33
    pushq %rdi
    iretq

/* SYSCALL's entry (LSTAR): at CPL 0 on the user's stack with interrupts
 * off (SFMASK). Switch to the syscall stack, call
 * syscall_dispatch(rdi, rsi, rdx), return its RAX with SYSRET. */
    .globl syscall_entry
syscall_entry:
    mov %rsp, syscall_user_rsp(%rip)
    lea syscall_stack_top(%rip), %rsp
    pushq %rcx
    pushq %r11
    cld
    call syscall_dispatch
    popq %r11
    popq %rcx
    mov syscall_user_rsp(%rip), %rsp
    sysretq

    .section .rodata
    .globl isr_vectors, isr_entries
    .balign 8
isr_vectors:
    .byte 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 32, 39, 128
    .balign 8
isr_entries:
    .quad isr_0, isr_1, isr_2, isr_3, isr_4, isr_5, isr_6, isr_7, isr_8, isr_9
    .quad isr_10, isr_11, isr_12, isr_13, isr_14, isr_15, isr_16, isr_17, isr_18, isr_19
    .quad isr_32, isr_39, isr_128

    .bss
    .balign 16
    .skip 16384
stack_top:
    .balign 16
    .skip 8192
syscall_stack_top:
    .balign 8
syscall_user_rsp:
    .skip 8

    .section .note.GNU-stack, "", @progbits
