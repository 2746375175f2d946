/* SSE/SSE2, MMX, x87 and FXSAVE snippets for the differential test (see
 * snippets.S for the conventions: r15 = data window, rsp in its middle,
 * everything else random, including the XMM, ST and MXCSR contents). */

#include "snippet_macros.inc"

/* ---- SSE/SSE2 data movement ---- */
SNIPPET sse_moves
    movdqa (%r15), %xmm0
    movdqu 3(%r15), %xmm1
    movaps %xmm2, 32(%r15)
    movups %xmm3, 49(%r15)
    movapd 64(%r15), %xmm9
    movupd 71(%r15), %xmm10
    movupd %xmm11, 87(%r15)
    movapd %xmm12, 112(%r15)
    movdqa %xmm13, 128(%r15)
    movdqu %xmm14, 145(%r15)
    movdqa %xmm15, %xmm8
    movaps %xmm4, %xmm12
END_SNIPPET sse_moves

SNIPPET sse_scalar_and_half_moves
    movd %eax, %xmm4
    movq %rbx, %xmm5
    movd %xmm6, %ecx
    movq %xmm7, %rdx
    movd 4(%r15), %xmm12
    movd %xmm13, 20(%r15)
    movq 8(%r15), %xmm8
    movq %xmm9, 64(%r15)
    movq %xmm10, %xmm11
    movlpd 72(%r15), %xmm10
    movhpd 80(%r15), %xmm11
    movlps 88(%r15), %xmm12
    movhps 96(%r15), %xmm13
    movhps %xmm12, 104(%r15)
    movlps %xmm13, 112(%r15)
    movlpd %xmm14, 120(%r15)
    movhpd %xmm15, 128(%r15)
    movss 100(%r15), %xmm14
    movsd 104(%r15), %xmm15
    movss %xmm1, %xmm2
    movsd %xmm3, %xmm4
    movss %xmm5, 140(%r15)
    movsd %xmm6, 150(%r15)
    movhlps %xmm7, %xmm0
    movlhps %xmm1, %xmm3
END_SNIPPET sse_scalar_and_half_moves

SNIPPET sse_nontemporal_and_masked_stores
    movntdq %xmm0, 16(%r15)
    movntps %xmm1, 32(%r15)
    movntpd %xmm2, 48(%r15)
    movnti %eax, 4(%r15)
    movnti %rbx, 8(%r15)
    lea 256(%r15), %rdi
    maskmovdqu %xmm2, %xmm3
    lea 301(%r15), %rdi
    maskmovdqu %xmm4, %xmm5
    sfence
END_SNIPPET sse_nontemporal_and_masked_stores

SNIPPET sse_mxcsr_store_load
    stmxcsr (%r15)
    movl $0x7f80, 4(%r15)
    ldmxcsr 4(%r15)
    stmxcsr 8(%r15)
    movl $0x9fc0, 12(%r15)
    ldmxcsr 12(%r15)
    stmxcsr 16(%r15)
END_SNIPPET sse_mxcsr_store_load

SNIPPET sse_ldmxcsr_reserved_bit_faults
    movl $0x11f80, (%r15)
    ldmxcsr (%r15)
END_SNIPPET sse_ldmxcsr_reserved_bit_faults

SNIPPET sse_movdqa_misaligned_faults
    movdqa 8(%r15), %xmm0
END_SNIPPET sse_movdqa_misaligned_faults

SNIPPET sse_movaps_store_misaligned_faults
    movaps %xmm1, 4(%r15)
END_SNIPPET sse_movaps_store_misaligned_faults

SNIPPET sse_paddb_memory_misaligned_faults
    paddb 1(%r15), %xmm2
END_SNIPPET sse_paddb_memory_misaligned_faults

SNIPPET sse_movdqu_guard_page_faults
    movdqu 0xfff8(%r15), %xmm3
END_SNIPPET sse_movdqu_guard_page_faults

/* ---- SSE2 integer ---- */
SNIPPET sse_logic
    pxor %xmm0, %xmm1
    por %xmm2, %xmm3
    pand %xmm4, %xmm5
    pandn %xmm6, %xmm7
    pxor 16(%r15), %xmm8
    por 32(%r15), %xmm9
    pand 48(%r15), %xmm10
    pandn 64(%r15), %xmm11
    andps %xmm12, %xmm13
    andnps %xmm14, %xmm15
    orps 80(%r15), %xmm0
    xorps %xmm1, %xmm2
    andpd %xmm3, %xmm4
    andnpd 96(%r15), %xmm5
    orpd %xmm6, %xmm7
    xorpd %xmm8, %xmm9
    pxor %xmm10, %xmm10
END_SNIPPET sse_logic

SNIPPET sse_compare_integer
    pcmpeqb %xmm0, %xmm1
    pcmpeqw %xmm2, %xmm3
    pcmpeqd 16(%r15), %xmm4
    pcmpgtb %xmm5, %xmm6
    pcmpgtw 32(%r15), %xmm7
    pcmpgtd %xmm8, %xmm9
    pmovmskb %xmm1, %eax
    pmovmskb %xmm6, %r10d
    pminub %xmm10, %xmm11
    pmaxub 48(%r15), %xmm12
    pminsw %xmm13, %xmm14
    pmaxsw %xmm15, %xmm0
    movdqa (%r15), %xmm2
    pcmpeqb 16(%r15), %xmm2
    pmovmskb %xmm2, %ecx
    movmskps %xmm3, %edx
    movmskpd %xmm4, %esi
END_SNIPPET sse_compare_integer

SNIPPET sse_add_subtract_integer
    paddb %xmm0, %xmm1
    paddw %xmm2, %xmm3
    paddd 16(%r15), %xmm4
    paddq %xmm5, %xmm6
    psubb %xmm7, %xmm8
    psubw 32(%r15), %xmm9
    psubd %xmm10, %xmm11
    psubq %xmm12, %xmm13
    paddusb %xmm14, %xmm15
    paddusw %xmm0, %xmm2
    paddsb %xmm1, %xmm3
    paddsw 48(%r15), %xmm4
    psubusb %xmm5, %xmm7
    psubusw %xmm6, %xmm8
    psubsb %xmm9, %xmm10
    psubsw %xmm11, %xmm12
END_SNIPPET sse_add_subtract_integer

SNIPPET sse_shuffles_and_unpacks
    pshufd $0x1b, %xmm0, %xmm1
    pshufd $0xe4, 16(%r15), %xmm2
    pshuflw $0x93, %xmm3, %xmm4
    pshufhw $0x39, %xmm5, %xmm6
    punpcklbw %xmm7, %xmm8
    punpckhbw %xmm9, %xmm10
    punpcklwd 32(%r15), %xmm11
    punpckhwd %xmm12, %xmm13
    punpckldq %xmm14, %xmm15
    punpckhdq %xmm0, %xmm1
    punpcklqdq %xmm2, %xmm3
    punpckhqdq 48(%r15), %xmm4
    shufps $0x4e, %xmm5, %xmm6
    shufpd $1, %xmm7, %xmm8
    shufpd $2, 64(%r15), %xmm9
    unpcklps %xmm10, %xmm11
    unpckhps %xmm12, %xmm13
    unpcklpd %xmm14, %xmm15
    unpckhpd 80(%r15), %xmm0
END_SNIPPET sse_shuffles_and_unpacks

SNIPPET sse_shifts
    psllw $3, %xmm0
    psrlw $15, %xmm1
    psraw $16, %xmm2
    pslld $31, %xmm3
    psrld $32, %xmm4
    psrad $40, %xmm5
    psllq $63, %xmm6
    psrlq $64, %xmm7
    pslldq $5, %xmm8
    psrldq $17, %xmm9
    pslldq $16, %xmm10
    psrldq $1, %xmm11
    mov $5, %eax
    movd %eax, %xmm12
    psllw %xmm12, %xmm13
    psrad %xmm12, %xmm14
    psrlq %xmm12, %xmm15
    psllw %xmm0, %xmm1
    psrld 16(%r15), %xmm2
    psraw %xmm3, %xmm4
    psllq 32(%r15), %xmm5
END_SNIPPET sse_shifts

SNIPPET sse_pack_multiply_average
    packuswb %xmm0, %xmm1
    packsswb %xmm2, %xmm3
    packssdw 16(%r15), %xmm4
    pmullw %xmm5, %xmm6
    pmulhw %xmm7, %xmm8
    pmulhuw %xmm9, %xmm10
    pmuludq 32(%r15), %xmm11
    pmaddwd %xmm12, %xmm13
    psadbw %xmm14, %xmm15
    pavgb %xmm0, %xmm2
    pavgw 48(%r15), %xmm3
    pextrw $3, %xmm1, %eax
    pextrw $7, %xmm9, %r11d
    pinsrw $5, %ebx, %xmm2
    pinsrw $1, 2(%r15), %xmm3
END_SNIPPET sse_pack_multiply_average

/* ---- SSE/SSE2 floating point ---- */
SNIPPET sse_arithmetic_single
    addps %xmm0, %xmm1
    subps 16(%r15), %xmm2
    mulps %xmm3, %xmm4
    divps %xmm5, %xmm6
    sqrtps %xmm7, %xmm8
    minps %xmm9, %xmm10
    maxps 32(%r15), %xmm11
    rcpps %xmm12, %xmm13
    rsqrtps %xmm14, %xmm15
    addss %xmm0, %xmm2
    subss 48(%r15), %xmm3
    mulss %xmm4, %xmm5
    divss 52(%r15), %xmm6
    sqrtss %xmm7, %xmm9
    minss %xmm8, %xmm10
    maxss %xmm11, %xmm12
    rcpss %xmm13, %xmm14
    rsqrtss 57(%r15), %xmm15
END_SNIPPET sse_arithmetic_single

SNIPPET sse_arithmetic_double
    addpd %xmm0, %xmm1
    subpd 16(%r15), %xmm2
    mulpd %xmm3, %xmm4
    divpd %xmm5, %xmm6
    sqrtpd %xmm7, %xmm8
    minpd %xmm9, %xmm10
    maxpd 32(%r15), %xmm11
    addsd %xmm12, %xmm13
    subsd 49(%r15), %xmm14
    mulsd %xmm15, %xmm0
    divsd %xmm1, %xmm2
    sqrtsd 64(%r15), %xmm3
    minsd %xmm4, %xmm5
    maxsd %xmm6, %xmm7
END_SNIPPET sse_arithmetic_double

SNIPPET sse_compare_packed_predicates
    cmpeqps %xmm0, %xmm1
    cmpltps %xmm2, %xmm3
    cmpleps 16(%r15), %xmm4
    cmpunordps %xmm5, %xmm6
    cmpneqps %xmm7, %xmm8
    cmpnltps %xmm9, %xmm10
    cmpnleps %xmm11, %xmm12
    cmpordps %xmm13, %xmm14
    cmpeqpd %xmm15, %xmm0
    cmpltpd %xmm1, %xmm2
    cmplepd %xmm3, %xmm4
    cmpunordpd 32(%r15), %xmm5
    cmpneqpd %xmm6, %xmm7
    cmpnltpd %xmm8, %xmm9
    cmpnlepd %xmm10, %xmm11
    cmpordpd %xmm12, %xmm13
END_SNIPPET sse_compare_packed_predicates

SNIPPET sse_compare_scalar_predicates
    cmpeqss %xmm0, %xmm1
    cmpltss %xmm2, %xmm3
    cmpless 16(%r15), %xmm4
    cmpunordss %xmm5, %xmm6
    cmpneqss %xmm7, %xmm8
    cmpnltss %xmm9, %xmm10
    cmpnless %xmm11, %xmm12
    cmpordss %xmm13, %xmm14
    cmpeqsd %xmm15, %xmm0
    cmpltsd %xmm1, %xmm2
    cmplesd %xmm3, %xmm4
    cmpunordsd 33(%r15), %xmm5
    cmpneqsd %xmm6, %xmm7
    cmpnltsd %xmm8, %xmm9
    cmpnlesd %xmm10, %xmm11
    cmpordsd %xmm12, %xmm13
END_SNIPPET sse_compare_scalar_predicates

SNIPPET sse_ordered_compares_into_flags
    comiss %xmm0, %xmm1
    seta %al
    setp %bl
    sete %cl
    setb %dl
    ucomiss 4(%r15), %xmm2
    setae %sil
    setnp %dil
    comisd %xmm3, %xmm4
    setbe %r8b
    setp %r9b
    ucomisd %xmm5, %xmm6
END_SNIPPET sse_ordered_compares_into_flags

SNIPPET sse_compare_self_sets_zf_pf
    ucomiss %xmm7, %xmm7
    setp %al
    comisd %xmm8, %xmm8
END_SNIPPET sse_compare_self_sets_zf_pf

SNIPPET sse_conversions_scalar
    cvtsi2ss %eax, %xmm0
    cvtsi2ss %rbx, %xmm1
    cvtsi2sd %ecx, %xmm2
    cvtsi2sdq 8(%r15), %xmm3
    cvtss2si %xmm4, %eax
    cvtss2si %xmm5, %rbx
    cvttss2si %xmm6, %ecx
    cvttss2si 12(%r15), %rdx
    cvtsd2si %xmm7, %esi
    cvtsd2si %xmm8, %rdi
    cvttsd2si %xmm9, %r8d
    cvttsd2si 16(%r15), %r9
    cvtss2sd %xmm10, %xmm11
    cvtsd2ss %xmm12, %xmm13
    cvtss2sd 20(%r15), %xmm14
    cvtsd2ss 24(%r15), %xmm15
END_SNIPPET sse_conversions_scalar

SNIPPET sse_conversions_packed
    cvtps2dq %xmm0, %xmm1
    cvttps2dq %xmm2, %xmm3
    cvtdq2ps %xmm4, %xmm5
    cvtpd2dq %xmm6, %xmm7
    cvttpd2dq 16(%r15), %xmm8
    cvtdq2pd %xmm9, %xmm10
    cvtdq2pd 40(%r15), %xmm11
    cvtps2pd %xmm12, %xmm13
    cvtpd2ps %xmm14, %xmm15
    cvtps2pd 72(%r15), %xmm0
END_SNIPPET sse_conversions_packed

SNIPPET sse_conversions_with_mmx
    cvtpi2ps %mm0, %xmm1
    cvtps2pi %xmm2, %mm3
    cvttps2pi %xmm4, %mm5
    cvtpi2pd %mm6, %xmm7
    cvtpd2pi %xmm8, %mm1
    cvttpd2pi 16(%r15), %mm2
    cvtpi2ps 8(%r15), %xmm9
    movq2dq %mm3, %xmm10
    movdq2q %xmm11, %mm4
    emms
END_SNIPPET sse_conversions_with_mmx

SNIPPET sse_rounding_modes
    movl $0x1f80, (%r15)
    movl $0x3f80, 4(%r15)
    movl $0x5f80, 8(%r15)
    movl $0x7f80, 12(%r15)
    movl $0x9fc0, 16(%r15)
    mov $0x40490fdb, %eax
    movd %eax, %xmm14
    mov $3, %ebx
    cvtsi2ss %ebx, %xmm15
    ldmxcsr 4(%r15)
    movaps %xmm14, %xmm0
    divss %xmm15, %xmm0
    cvtss2si %xmm14, %eax
    addpd %xmm1, %xmm2
    ldmxcsr 8(%r15)
    movaps %xmm14, %xmm3
    divss %xmm15, %xmm3
    cvtss2si %xmm14, %ebx
    mulps %xmm4, %xmm5
    ldmxcsr 12(%r15)
    movaps %xmm14, %xmm6
    divss %xmm15, %xmm6
    cvtsd2si %xmm7, %rcx
    sqrtpd %xmm8, %xmm9
    ldmxcsr 16(%r15)
    mulps %xmm10, %xmm11
    addss %xmm12, %xmm13
    ldmxcsr (%r15)
END_SNIPPET sse_rounding_modes

SNIPPET sse_unmasked_divide_by_zero_raises_xm
    movl $0x1d80, (%r15)
    ldmxcsr (%r15)
    mov $0x3f800000, %eax
    movd %eax, %xmm0
    xorps %xmm1, %xmm1
    divss %xmm1, %xmm0
END_SNIPPET sse_unmasked_divide_by_zero_raises_xm

SNIPPET sse_unmasked_invalid_raises_xm
    movl $0x1f00, (%r15)
    ldmxcsr (%r15)
    mov $0xbf800000, %eax
    movd %eax, %xmm0
    sqrtps %xmm0, %xmm2
END_SNIPPET sse_unmasked_invalid_raises_xm

SNIPPET sse_unmasked_overflow_raises_xm
    movl $0x1780, (%r15)
    ldmxcsr (%r15)
    mov $0x7f000000, %eax
    movd %eax, %xmm0
    mulss %xmm0, %xmm0
END_SNIPPET sse_unmasked_overflow_raises_xm

SNIPPET sse_masked_exception_flags_accumulate
    movl $0x1f80, (%r15)
    ldmxcsr (%r15)
    xorps %xmm1, %xmm1
    divps %xmm1, %xmm2
    mulpd %xmm3, %xmm4
    cvtpd2ps %xmm5, %xmm6
    stmxcsr 4(%r15)
END_SNIPPET sse_masked_exception_flags_accumulate

SNIPPET x87_pending_exception_raises_at_fldcw
    fninit
    movw $0x037b, (%r15)
    fldcw (%r15)
    fldz
    fld1
    fdiv %st(1), %st
    movw $0x037f, 2(%r15)
    fldcw 2(%r15)
END_SNIPPET x87_pending_exception_raises_at_fldcw

SNIPPET x87_pending_exception_raises_at_mmx
    fninit
    movw $0x037b, (%r15)
    fldcw (%r15)
    fldz
    fld1
    fdivp %st, %st(1)
    movq %mm0, %mm1
END_SNIPPET x87_pending_exception_raises_at_mmx

SNIPPET x87_pending_exception_lets_control_and_sse_run
    fninit
    movw $0x037b, (%r15)
    fldcw (%r15)
    fldz
    fld1
    fdiv %st(1), %st
    fnstsw %ax
    fnstcw 4(%r15)
    fnstenv 16(%r15)
    addps %xmm0, %xmm1
    fxsave64 64(%r15)
    fnclex
    fld1
    fninit
    fldpi
END_SNIPPET x87_pending_exception_lets_control_and_sse_run

SNIPPET sse_unmasked_precision_raises_xm
    movl $0x0f80, (%r15)
    ldmxcsr (%r15)
    mov $1, %eax
    cvtsi2sd %eax, %xmm0
    mov $3, %eax
    cvtsi2sd %eax, %xmm1
    divsd %xmm1, %xmm0
END_SNIPPET sse_unmasked_precision_raises_xm

SNIPPET sse_unmasked_underflow_raises_xm
    movl $0x1780, (%r15)
    ldmxcsr (%r15)
    mov $0x00800001, %eax
    movd %eax, %xmm0
    mov $0x3e000001, %eax
    movd %eax, %xmm1
    mulss %xmm1, %xmm0
END_SNIPPET sse_unmasked_underflow_raises_xm

SNIPPET sse_unmasked_denormal_operand_raises_xm
    movl $0x1e80, (%r15)
    ldmxcsr (%r15)
    mov $0x00000010, %eax
    movd %eax, %xmm0
    addss %xmm0, %xmm1
END_SNIPPET sse_unmasked_denormal_operand_raises_xm

SNIPPET sse_unmasked_invalid_on_conversion_raises_xm
    movl $0x1f00, (%r15)
    ldmxcsr (%r15)
    mov $0x7f800000, %eax
    movd %eax, %xmm0
    cvttss2si %xmm0, %eax
END_SNIPPET sse_unmasked_invalid_on_conversion_raises_xm

SNIPPET sse_unmasked_underflow_exact_tiny_raises_xm
    movl $0x1780, (%r15)
    ldmxcsr (%r15)
    mov $0x00800000, %eax
    movd %eax, %xmm0
    mov $0x3f000000, %eax
    movd %eax, %xmm1
    mulss %xmm1, %xmm0
END_SNIPPET sse_unmasked_underflow_exact_tiny_raises_xm

SNIPPET sse_unmasked_underflow_exact_tiny_packed_double_raises_xm
    movl $0x1780, (%r15)
    ldmxcsr (%r15)
    mov $0x0010000000000000, %rax
    movq %rax, %xmm2
    mov $0x3fe0000000000000, %rax
    movq %rax, %xmm3
    divpd %xmm3, %xmm3
    mulpd %xmm3, %xmm2
    mulsd %xmm3, %xmm2
    movq %rax, %xmm3
    mulsd %xmm3, %xmm2
END_SNIPPET sse_unmasked_underflow_exact_tiny_packed_double_raises_xm

SNIPPET x87_pending_exception_at_fldenv
    fninit
    fnstenv 64(%r15)
    movw $0x037b, (%r15)
    fldcw (%r15)
    fldz
    fld1
    fdiv %st(1), %st
    fldenv 64(%r15)
    fld1
END_SNIPPET x87_pending_exception_at_fldenv

SNIPPET x87_pending_exception_at_frstor
    fninit
    fnsave 128(%r15)
    movw $0x037b, (%r15)
    fldcw (%r15)
    fldz
    fld1
    fdiv %st(1), %st
    frstor 128(%r15)
    fld1
END_SNIPPET x87_pending_exception_at_frstor

SNIPPET x87_pending_exception_at_fxrstor
    fninit
    fxsave64 256(%r15)
    movw $0x037b, (%r15)
    fldcw (%r15)
    fldz
    fld1
    fdiv %st(1), %st
    fxrstor64 256(%r15)
    fld1
END_SNIPPET x87_pending_exception_at_fxrstor

SNIPPET x87_pending_exception_at_8087_controls
    fninit
    movw $0x037b, (%r15)
    fldcw (%r15)
    fldz
    fld1
    fdiv %st(1), %st
    .byte 0xdb, 0xe0 /* fneni */
    .byte 0xdb, 0xe1 /* fndisi */
    .byte 0xdb, 0xe4 /* fnsetpm */
    fnstsw %ax
    fnclex
    ffreep %st(1)
    fld1
    fnstsw %ax
END_SNIPPET x87_pending_exception_at_8087_controls

SNIPPET x87_pending_exception_at_fnop
    fninit
    movw $0x037b, (%r15)
    fldcw (%r15)
    fldz
    fld1
    fdiv %st(1), %st
    fnop
END_SNIPPET x87_pending_exception_at_fnop

SNIPPET x87_pending_exception_at_fxam
    fninit
    movw $0x037b, (%r15)
    fldcw (%r15)
    fldz
    fld1
    fdiv %st(1), %st
    fxam
END_SNIPPET x87_pending_exception_at_fxam

/* ---- MMX ---- */
SNIPPET mmx_integer
    movq (%r15), %mm0
    movq 8(%r15), %mm1
    movd %eax, %mm2
    movq %rbx, %mm3
    paddb %mm0, %mm1
    psubw %mm1, %mm2
    pmullw %mm2, %mm3
    pcmpeqb %mm0, %mm4
    pcmpgtw 16(%r15), %mm5
    punpcklbw %mm6, %mm7
    packuswb %mm1, %mm0
    psllq $7, %mm1
    psrad %mm0, %mm2
    pmaddwd %mm3, %mm4
    pxor %mm5, %mm6
    pand 24(%r15), %mm7
    pminub %mm0, %mm1
    pavgb %mm2, %mm3
    psadbw %mm4, %mm5
    pshufw $0x1b, %mm6, %mm7
    pextrw $2, %mm7, %ecx
    pinsrw $3, %edx, %mm0
    pmovmskb %mm1, %esi
    pmuludq %mm2, %mm3
    paddq %mm4, %mm5
    movd %mm0, %edi
    movq %mm1, %r8
    movq %mm2, 32(%r15)
    movd %mm3, 40(%r15)
    lea 48(%r15), %rdi
    maskmovq %mm4, %mm5
    movntq %mm6, 64(%r15)
END_SNIPPET mmx_integer

SNIPPET mmx_then_emms
    movq (%r15), %mm0
    paddd %mm0, %mm0
    movq %mm0, 8(%r15)
    emms
END_SNIPPET mmx_then_emms

/* ---- x87 ---- */
SNIPPET x87_load_store
    fninit
    fld1
    fldz
    fldpi
    fldl2e
    fldl2t
    fldlg2
    fldln2
    flds (%r15)
    fstpl 8(%r15)
    fstps 16(%r15)
    fstpt 24(%r15)
    fldl 40(%r15)
    fldt 48(%r15)
    fildl 64(%r15)
    fildll 68(%r15)
    filds 76(%r15)
    fistl 80(%r15)
    fistpll 84(%r15)
    fistps 92(%r15)
    fstl 96(%r15)
    fsts 104(%r15)
    fst %st(3)
    fstp %st(2)
    fld %st(1)
    fnstsw %ax
    fnstcw 112(%r15)
    fnstsw 114(%r15)
END_SNIPPET x87_load_store

SNIPPET x87_on_random_stack
    fld1
    fadd %st(2), %st
    fmulp %st, %st(3)
    fsubs 4(%r15)
    fdivrl 8(%r15)
    fxch %st(4)
    fstps 32(%r15)
    fnstsw %ax
END_SNIPPET x87_on_random_stack

SNIPPET x87_arithmetic_memory
    fninit
    flds (%r15)
    fadds 4(%r15)
    fsubl 8(%r15)
    fsubrs 16(%r15)
    fmull 20(%r15)
    fdivs 28(%r15)
    fdivrs 32(%r15)
    fiaddl 36(%r15)
    fisubs 40(%r15)
    fisubrl 42(%r15)
    fimuls 46(%r15)
    fidivl 48(%r15)
    fidivrs 52(%r15)
    fstpt 64(%r15)
    fnstsw %ax
END_SNIPPET x87_arithmetic_memory

SNIPPET x87_arithmetic_registers
    fninit
    fldl (%r15)
    fldl 8(%r15)
    fldl 16(%r15)
    fadd %st(1), %st
    fadd %st, %st(2)
    faddp %st, %st(1)
    fsub %st(1), %st
    fsubr %st, %st(1)
    fsubp %st, %st(1)
    fldl 24(%r15)
    fsubrp %st, %st(1)
    fldl 32(%r15)
    fmul %st(1), %st
    fdiv %st(1), %st
    fdivr %st, %st(1)
    fdivp %st, %st(1)
    fldl 40(%r15)
    fdivrp %st, %st(1)
    fchs
    fabs
    fsqrt
    fstpl 48(%r15)
    fstpl 56(%r15)
    fnstsw %ax
END_SNIPPET x87_arithmetic_registers

SNIPPET x87_compares
    fninit
    fldl (%r15)
    fldl 8(%r15)
    fcom %st(1)
    fnstsw %ax
    mov %eax, %ebx
    fcoms 16(%r15)
    fnstsw %ax
    mov %eax, %ecx
    fucom %st(1)
    fnstsw %ax
    mov %eax, %edx
    fcomi %st(1), %st
    setb %sil
    fucomi %st(1), %st
    setp %dil
    ftst
    fxam
    fnstsw %ax
    mov %eax, %r8d
    ficoml 20(%r15)
    fldl 24(%r15)
    fcomp %st(1)
    fldl 32(%r15)
    fucomp %st(1)
    fldl 40(%r15)
    fcomip %st(1), %st
    fldl 48(%r15)
    fucomip %st(1), %st
    fcompp
    fnstsw %ax
END_SNIPPET x87_compares

SNIPPET x87_compare_nan_and_empty
    fninit
    fldz
    fld1
    fldz
    fdiv %st(1), %st
    fldz
    fdiv %st(0), %st
    fucomi %st(1), %st
    fnstsw %ax
    mov %eax, %ebx
    fcomi %st(2), %st
    fnstsw %ax
    mov %eax, %ecx
    ffree %st(3)
    fxch %st(3)
    fnstsw %ax
    fucompp
END_SNIPPET x87_compare_nan_and_empty

SNIPPET x87_misc
    fninit
    fldl (%r15)
    fldl 8(%r15)
    frndint
    fscale
    fprem
    fnstsw %ax
    mov %eax, %ebx
    fprem1
    fxch
    fcmovb %st(1), %st
    fcmove %st(1), %st
    fcmovbe %st(1), %st
    fcmovu %st(1), %st
    fcmovnb %st(1), %st
    fcmovne %st(1), %st
    fcmovnbe %st(1), %st
    fcmovnu %st(1), %st
    fincstp
    fdecstp
    ffree %st(1)
    fnop
    fxtract
    fsin
    fcos
    fptan
    fpatan
    f2xm1
    fyl2x
    fld1
    fyl2xp1
    fsincos
    fbstp 64(%r15)
    fbld 64(%r15)
    fstpt 80(%r15)
    fnstsw %ax
END_SNIPPET x87_misc

SNIPPET x87_stack_overflow_and_underflow
    fninit
    fld1
    fld1
    fld1
    fld1
    fld1
    fld1
    fld1
    fld1
    fld1
    fnstsw %ax
    mov %eax, %ebx
    fninit
    fstp %st(0)
    fnstsw %ax
    mov %eax, %ecx
    fadd %st(1), %st
    fnclex
    fnstsw %ax
END_SNIPPET x87_stack_overflow_and_underflow

SNIPPET x87_conversion_limits
    fninit
    movl $0x7f800000, (%r15)
    flds (%r15)
    fistl 4(%r15)
    fistps 8(%r15)
    movl $0x4f000000, 12(%r15)
    flds 12(%r15)
    fistpl 16(%r15)
    movq $-1, 24(%r15)
    fildll 24(%r15)
    fistps 32(%r15)
    movl $0x00000001, 40(%r15)
    flds 40(%r15)
    fstpl 48(%r15)
    fnstsw %ax
END_SNIPPET x87_conversion_limits

SNIPPET x87_precision_and_rounding_control
    fninit
    movw $0x007f, (%r15)
    fldcw (%r15)
    fld1
    fldl 8(%r15)
    fdivr %st(1), %st
    fstpt 16(%r15)
    movw $0x0c7f, 32(%r15)
    fldcw 32(%r15)
    fldl 40(%r15)
    frndint
    fistpl 48(%r15)
    movw $0x067f, 52(%r15)
    fldcw 52(%r15)
    fldl 56(%r15)
    fistpl 64(%r15)
    fnstcw 68(%r15)
END_SNIPPET x87_precision_and_rounding_control

SNIPPET x87_unmasked_exception_pends_until_fwait
    fninit
    movw $0x037b, (%r15)
    fldcw (%r15)
    fldz
    fld1
    fdiv %st(1), %st
    fnstsw %ax
    mov %eax, %ebx
    fnstcw 4(%r15)
    fwait
END_SNIPPET x87_unmasked_exception_pends_until_fwait

SNIPPET x87_unmasked_exception_raises_at_next_x87
    fninit
    movw $0x037e, (%r15)
    fldcw (%r15)
    fld1
    fstp %st(0)
    fstp %st(0)
    fnstsw %ax
    fld1
END_SNIPPET x87_unmasked_exception_raises_at_next_x87

SNIPPET x87_unmasked_overflow_store_suppressed
    fninit
    movw $0x0377, (%r15)
    fldcw (%r15)
    fldl 8(%r15)
    movl $0x7f7fffff, 16(%r15)
    fmuls 16(%r15)
    fmuls 16(%r15)
    fnstsw %ax
    mov %eax, %ebx
    fsts 24(%r15)
    fnstsw %ax
END_SNIPPET x87_unmasked_overflow_store_suppressed

SNIPPET x87_environment
    fnstenv (%r15)
    fldenv (%r15)
    fld1
    fnsave 32(%r15)
    fld1
    frstor 32(%r15)
    fnstenv 160(%r15)
END_SNIPPET x87_environment

/* ---- FXSAVE/FXRSTOR ---- */
SNIPPET fxsave_both_layouts
    fxsave64 256(%r15)
    fxsave 768(%r15)
    fldpi
    fxsave64 1280(%r15)
    fxrstor64 256(%r15)
    fxsave64 1792(%r15)
END_SNIPPET fxsave_both_layouts

SNIPPET fxrstor_layouts
    movl $0x1f80, 24(%r15)
    movl $0x1f80, 536(%r15)
    andw $0x7f3f, 2(%r15)
    andw $0x7f3f, 514(%r15)
    fxrstor64 (%r15)
    fxsave64 1024(%r15)
    fxrstor 512(%r15)
    fxsave 1536(%r15)
END_SNIPPET fxrstor_layouts

SNIPPET fxsave_misaligned_faults
    fxsave64 8(%r15)
END_SNIPPET fxsave_misaligned_faults

SNIPPET fxrstor_bad_mxcsr_faults
    fxsave64 (%r15)
    movl $0x10000, 24(%r15)
    fxrstor64 (%r15)
END_SNIPPET fxrstor_bad_mxcsr_faults

SNIPPET fxsave_reaching_into_guard_page
    fxsave64 0xfe60(%r15)
END_SNIPPET fxsave_reaching_into_guard_page

SNIPPET fxrstor_reaching_into_guard_page
    fxsave64 0xfe60(%r15)
    fxrstor64 0xfe60(%r15)
END_SNIPPET fxrstor_reaching_into_guard_page

SNIPPET x87_unmasked_invalid_fist_store_suppressed
    fninit
    movw $0x037e, (%r15)
    fldcw (%r15)
    movl $0x7f800000, 4(%r15)
    flds 4(%r15)
    fistl 8(%r15)
    fnstsw %ax
    mov %eax, %ebx
    fnclex
    movw $0x035f, 12(%r15)
    fldcw 12(%r15)
    fldpi
    fsts 16(%r15)
    fnstsw %ax
END_SNIPPET x87_unmasked_invalid_fist_store_suppressed

SNIPPET mmx_every_operation
    movq (%r15), %mm0
    movq 8(%r15), %mm1
    movq 16(%r15), %mm2
    paddw %mm0, %mm1
    paddd %mm1, %mm2
    paddsb %mm2, %mm3
    paddsw 24(%r15), %mm4
    paddusb %mm3, %mm5
    paddusw %mm4, %mm6
    psubb %mm5, %mm7
    psubd %mm6, %mm0
    psubq %mm7, %mm1
    psubsb %mm0, %mm2
    psubsw %mm1, %mm3
    psubusb %mm2, %mm4
    psubusw 32(%r15), %mm5
    pmulhw %mm3, %mm6
    pmulhuw %mm4, %mm7
    pmaxsw %mm5, %mm0
    pminsw %mm6, %mm1
    pmaxub %mm7, %mm2
    pavgw %mm0, %mm3
    pcmpeqw %mm1, %mm4
    pcmpeqd %mm2, %mm5
    pcmpgtb %mm3, %mm6
    pcmpgtd 40(%r15), %mm7
    packsswb %mm4, %mm0
    packssdw %mm5, %mm1
    punpckhbw %mm6, %mm2
    punpckhwd %mm7, %mm3
    punpckhdq %mm0, %mm4
    punpcklwd %mm1, %mm5
    punpckldq 48(%r15), %mm6
    pandn %mm2, %mm7
    por %mm3, %mm0
    psllw $4, %mm1
    psrlw $16, %mm2
    psraw $3, %mm3
    pslld $33, %mm4
    psrld $7, %mm5
    psrlq $63, %mm6
    psllw %mm0, %mm7
    psrlw 56(%r15), %mm1
    psraw %mm2, %mm3
    pslld %mm4, %mm5
    psrld %mm6, %mm7
    psllq 64(%r15), %mm0
    psrlq %mm1, %mm2
    movq %mm3, %mm4
    movq %mm4, 72(%r15)
    movq %mm5, 80(%r15)
    movq %mm6, 88(%r15)
    movq %mm7, 96(%r15)
END_SNIPPET mmx_every_operation

SNIPPET x87_integer_operands
    fninit
    fildl (%r15)
    fildll 4(%r15)
    filds 12(%r15)
    ficoms 14(%r15)
    fnstsw %ax
    mov %eax, %ebx
    ficompl 16(%r15)
    fnstsw %ax
    mov %eax, %ecx
    fiaddl 20(%r15)
    fimull 24(%r15)
    fidivrl 28(%r15)
    fisubrs 32(%r15)
    fistps 40(%r15)
    fistpl 42(%r15)
    fldt 48(%r15)
    fistpll 64(%r15)
    fldt 72(%r15)
    fxam
    fnstsw %ax
    mov %eax, %edx
    fstpt 88(%r15)
    fnstsw %ax
END_SNIPPET x87_integer_operands

SNIPPET sse_more_forms
    movq %xmm1, %xmm2
    movq 8(%r15), %xmm3
    pshufhw $0xb1, 16(%r15), %xmm4
    pshuflw $0x1e, 32(%r15), %xmm5
    cvtps2pd 40(%r15), %xmm6
    cvtsi2ssl 48(%r15), %xmm7
    cvtsi2sdl 52(%r15), %xmm8
    cvtss2si 56(%r15), %eax
    cvtsd2si 64(%r15), %rbx
    cvtps2pi 72(%r15), %mm0
    cvttps2pi 80(%r15), %mm1
    cvtpd2pi 96(%r15), %mm2
    cvtpi2pd 112(%r15), %xmm9
    movntpd %xmm10, 128(%r15)
    andnpd %xmm11, %xmm12
    orpd 144(%r15), %xmm13
    xorpd 160(%r15), %xmm14
    psubq 176(%r15), %xmm15
    pmuludq %xmm0, %xmm1
    psadbw 192(%r15), %xmm2
    pmaddwd 208(%r15), %xmm3
    rcpss %xmm4, %xmm4
    rsqrtps 224(%r15), %xmm5
    sqrtss 240(%r15), %xmm6
    minsd 248(%r15), %xmm7
    maxps %xmm8, %xmm8
    movmskpd %xmm9, %r10
    pmovmskb %xmm10, %r11
    emms
END_SNIPPET sse_more_forms

/* ---- x87 environment sizes: 66 gives the 16-bit layouts (14 and 94
 * bytes), unless REX.W is also there: REX.W wins, 28 and 108 bytes. ---- */
SNIPPET x87_environment_16_bit_layouts
    fldpi
    fld1
    .byte 0x66; fnstenv 16(%r15)
    .byte 0x66; fldenv 16(%r15)
    .byte 0x66; fnsave 64(%r15)
    fldz
    .byte 0x66; frstor 64(%r15)
    fnstenv 192(%r15)
END_SNIPPET x87_environment_16_bit_layouts

SNIPPET x87_environment_66_with_rex_w
    fldpi
    .byte 0x66, 0x49, 0xd9, 0x77, 0x10 /* fnstenv 16(%r15) */
    .byte 0x66, 0x49, 0xd9, 0x67, 0x10 /* fldenv 16(%r15) */
    .byte 0x66, 0x49, 0xdd, 0x77, 0x40 /* fnsave 64(%r15) */
    fldz
    .byte 0x66, 0x49, 0xdd, 0x67, 0x40 /* frstor 64(%r15) */
    fnstenv 192(%r15)
END_SNIPPET x87_environment_66_with_rex_w

/* ---- What a store has done when it faults on the guard page at
 * 0x10000(%r15) ---- */

/* An 80-bit store is the 8-byte significand, then the 2-byte exponent:
 * here the significand lands and the exponent faults. */
SNIPPET x87_fstp_m80_faults_after_significand
    fldpi
    fstpt 0xfff7(%r15)
END_SNIPPET x87_fstp_m80_faults_after_significand

SNIPPET x87_fbstp_faults_after_digits
    fld1
    fbstp 0xfff8(%r15)
END_SNIPPET x87_fbstp_faults_after_digits

SNIPPET x87_fstp_m80_significand_crossing_writes_nothing
    fldpi
    fstpt 0xfffa(%r15)
END_SNIPPET x87_fstp_m80_significand_crossing_writes_nothing

/* An MMX store has set TOP to 0 (tags unchanged) when it faults. */
SNIPPET mmx_movq_store_fault_top_zero
    movq %mm1, 0xfffc(%r15)
END_SNIPPET mmx_movq_store_fault_top_zero

SNIPPET mmx_movd_store_fault_top_zero
    movd %mm2, 0xfffe(%r15)
END_SNIPPET mmx_movd_store_fault_top_zero

SNIPPET mmx_movntq_fault_top_zero
    movntq %mm3, 0x10000(%r15)
END_SNIPPET mmx_movntq_fault_top_zero

/* MASKMOVQ is wholly in MMX mode (TOP 0, all tags valid) when it faults,
 * checks all 8 bytes whatever the mask, and writes none of them. */
SNIPPET mmx_maskmovq_crossing_fault
    lea 0xfffc(%r15), %rdi
    maskmovq %mm4, %mm5
END_SNIPPET mmx_maskmovq_crossing_fault

SNIPPET mmx_maskmovq_zero_mask_still_faults
    pxor %mm4, %mm4 /* the mask: AT&T names it first */
    lea 0x10000(%r15), %rdi
    maskmovq %mm4, %mm5
END_SNIPPET mmx_maskmovq_zero_mask_still_faults

SNIPPET sse_maskmovdqu_crossing_fault
    pcmpeqb %xmm4, %xmm4 /* the mask */
    lea 0xfff8(%r15), %rdi
    maskmovdqu %xmm4, %xmm5
END_SNIPPET sse_maskmovdqu_crossing_fault

SNIPPET sse_maskmovdqu_zero_mask_still_faults
    pxor %xmm4, %xmm4 /* the mask */
    lea 0x10000(%r15), %rdi
    maskmovdqu %xmm4, %xmm5
END_SNIPPET sse_maskmovdqu_zero_mask_still_faults

/* A faulting MMX load leaves the x87 state as it was. */
SNIPPET mmx_load_fault_keeps_x87_state
    paddb 0xfffc(%r15), %mm2
END_SNIPPET mmx_load_fault_keeps_x87_state

/* The MMX PUNPCKL forms read 32 bits: the last 4 bytes of the window
 * suffice; PUNPCKH reads 64 and faults. */
SNIPPET mmx_unpack_low_reads_32_bits
    punpcklbw 0xfffc(%r15), %mm1
    punpcklwd 0xfffc(%r15), %mm2
    punpckldq 0xfffc(%r15), %mm3
    movq %mm1, (%r15)
    movq %mm2, 8(%r15)
    movq %mm3, 16(%r15)
    punpckhbw 0xfffc(%r15), %mm4
END_SNIPPET mmx_unpack_low_reads_32_bits

    .section .note.GNU-stack, "", @progbits
