/* Instruction snippets run both natively (the oracle) and in krr's
 * interpreter, from the same random register states. Conventions: r15 points
 * at the data window (0x20000000), rsp at its middle (set by the test);
 * other registers are random. Each snippet lands in section
 * krr_snippet_table as (name, begin, end). */

#include "snippet_macros.inc"

/* ---- data transfer ---- */
SNIPPET mov_registers
    mov %rax, %rbx
    mov %ecx, %edx
    mov %si, %di
    mov %r8b, %r9b
    mov %ah, %bl
    mov %r10, %r11
END_SNIPPET mov_registers

SNIPPET mov_immediates
    mov $0x1234, %ax
    mov $0x89abcdef, %ebx
    mov $-5, %rcx
    movabs $0x123456789abcdef0, %rdx
    mov $0x7f, %sil
    movb $0x12, %ch
END_SNIPPET mov_immediates

SNIPPET mov_memory
    mov %rax, 8(%r15)
    mov %ebx, 20(%r15)
    mov %cx, 30(%r15)
    mov %dl, 33(%r15)
    mov 8(%r15), %rsi
    mov 20(%r15), %edi
    movw $0x4321, 40(%r15)
    movq $-2, 48(%r15)
    mov 40(%r15), %r8w
    mov 48(%r15), %r9
END_SNIPPET mov_memory

SNIPPET mov_rip_relative_and_absolute
    lea 0x10(%rip), %rax
    movabs 0x20000100, %eax
    movabs %rax, 0x20000108
END_SNIPPET mov_rip_relative_and_absolute

SNIPPET movzx_movsx
    movzbl %al, %ebx
    movzwq %cx, %rdx
    movsbq %sil, %rdi
    movswl %r8w, %r9d
    movslq %r10d, %r11
    movsbw %ah, %bx
    movzbw %dh, %si
END_SNIPPET movzx_movsx

SNIPPET lea_forms
    lea (%rax,%rbx,4), %rcx
    lea -8(%rsi,%rdi,8), %rdx
    lea 0x12345678(,%r8,2), %r9
    lea (%r10d,%r11d), %r12d
    lea 3(%r13), %r14w
END_SNIPPET lea_forms

SNIPPET xchg_forms
    xchg %rax, %rbx
    xchg %ecx, %edx
    xchg %si, %di
    xchg %cl, %ah
    mov %r9, 64(%r15)
    xchg %r10, 64(%r15)
    xchg %eax, %eax
    xchg %ax, %r11w
END_SNIPPET xchg_forms

SNIPPET push_pop
    push %rax
    push %rbx
    pushq $-3
    pushq $0x12345678
    pushw $7
    push %r12w
    pop %r13w
    pop %r14w
    pop %rcx
    pop %rdx
    pop %rsi
    pop %rdi
    pushq 8(%r15)
    popq 16(%r15)
END_SNIPPET push_pop

SNIPPET pop_rsp_and_push_rsp
    push %rsp
    pop %rax
    mov %rsp, %rbx
    push %rbx
    pop %rsp
END_SNIPPET pop_rsp_and_push_rsp

SNIPPET enter_leave
    mov %rsp, %rbp
    enter $32, $0
    mov %rsp, %rax
    leave
    enter $16, $1
    mov %rsp, %rbx
    leave
END_SNIPPET enter_leave

SNIPPET conversions
    cbw
    cwde
    cdqe
    cwd
    cdq
    cqo
END_SNIPPET conversions

SNIPPET bswap_and_xlat
    bswap %eax
    bswap %rbx
    bswap %r9
    mov %r15, %rbx
    xlat
END_SNIPPET bswap_and_xlat

SNIPPET flag_moves
    lahf
    mov %ah, %bl
    mov $0xd7, %ah
    sahf
    pushf
    pop %rcx
    stc
    cmc
    cld
    std
    pushf
    pop %rdx
    push %rcx
    popf
    cld
END_SNIPPET flag_moves

SNIPPET near_branches
    jmp 1f
    mov $1, %rax
1:  call 2f
    mov $2, %rbx
    jmp 3f
2:  ret
3:  lea 4f(%rip), %rcx
    jmp *%rcx
    mov $3, %rdx
4:  lea 5f(%rip), %rsi
    push %rsi
    ret $0
5:  nop
END_SNIPPET near_branches

SNIPPET loops
    mov $5, %ecx
1:  lea 1(%rax), %rax
    loop 1b
    mov $3, %rcx
2:  loop 2b
    jrcxz 3f
    mov $9, %rdx
3:  nop
END_SNIPPET loops

/* ---- faults ---- */
SNIPPET fault_load_from_guard
    mov 0x10000(%r15), %rax
END_SNIPPET fault_load_from_guard

SNIPPET fault_store_across_guard
    mov %rax, 0xfffc(%r15)
END_SNIPPET fault_store_across_guard

SNIPPET fault_privileged_hlt
    hlt
END_SNIPPET fault_privileged_hlt

SNIPPET fault_ud2
    ud2
END_SNIPPET fault_ud2

SNIPPET fault_noncanonical_jump
    movabs $0x0000800000000000, %rax
    jmp *%rax
END_SNIPPET fault_noncanonical_jump
