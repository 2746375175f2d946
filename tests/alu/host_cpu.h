// The host CPU as the oracle: each function runs one instruction natively
// with the given input RFLAGS and returns what the CPU produced. The
// instruction is bracketed by POPFQ/PUSHFQ; the stack pointer first steps
// over the red zone, where the compiler may keep live values in a leaf.
#pragma once

#include <cstdint>

namespace krr::alu::host {

template <class T>
struct Out {
    T value;
    uint64_t rflags;
};

template <class T>
struct WideOut {
    T low;
    T high;
    uint64_t rflags;
};

// Input flags: the status bits asked for, plus the fixed bit 1 and IF (user
// mode cannot clear IF; POPFQ would ignore the attempt anyway).
inline uint64_t input_rflags(uint32_t status) {
    return 0x202u | (status & 0x8d5u);
}

#define KRR_WITH_FLAGS(body)                                                                       \
    "lea -128(%%rsp), %%rsp\n\t"                                                                   \
    "push %[fin]\n\t"                                                                              \
    "popfq\n\t" body "\n\t"                                                                        \
    "pushfq\n\t"                                                                                   \
    "pop %[fout]\n\t"                                                                              \
    "lea 128(%%rsp), %%rsp"

#define KRR_NATIVE_BINARY(function, mnemonic)                                                      \
    template <class T>                                                                             \
    Out<T> function(T dst, T src, uint32_t status) {                                               \
        uint64_t fout;                                                                             \
        asm volatile(KRR_WITH_FLAGS(mnemonic " %[src], %[dst]")                                    \
                     : [dst] "+r"(dst), [fout] "=&r"(fout)                                         \
                     : [src] "r"(src), [fin] "r"(input_rflags(status))                             \
                     : "cc");                                                                      \
        return {dst, fout};                                                                        \
    }

KRR_NATIVE_BINARY(add, "add")
KRR_NATIVE_BINARY(adc, "adc")
KRR_NATIVE_BINARY(sub, "sub")
KRR_NATIVE_BINARY(sbb, "sbb")
KRR_NATIVE_BINARY(cmp, "cmp")
KRR_NATIVE_BINARY(and_, "and")
KRR_NATIVE_BINARY(or_, "or")
KRR_NATIVE_BINARY(xor_, "xor")
KRR_NATIVE_BINARY(test, "test")
KRR_NATIVE_BINARY(imul2, "imul")
KRR_NATIVE_BINARY(bsf, "bsf")
KRR_NATIVE_BINARY(bsr, "bsr")
KRR_NATIVE_BINARY(bt, "bt")
KRR_NATIVE_BINARY(bts, "bts")
KRR_NATIVE_BINARY(btr, "btr")
KRR_NATIVE_BINARY(btc, "btc")

// XADD writes its source register too (the old destination).
template <class T>
Out<T> xadd(T dst, T src, uint32_t status) {
    uint64_t fout;
    asm volatile(KRR_WITH_FLAGS("xadd %[src], %[dst]")
                 : [dst] "+r"(dst), [src] "+r"(src), [fout] "=&r"(fout)
                 : [fin] "r"(input_rflags(status))
                 : "cc");
    return {dst, fout};
}

// CMPXCHG compares the accumulator with the destination; returns the
// flags (the data movement is the handler's, not the ALU's).
template <class T>
uint64_t cmpxchg_flags(T accumulator, T dst, T src, uint32_t status) {
    uint64_t fout;
    asm volatile(KRR_WITH_FLAGS("cmpxchg %[src], %[dst]")
                 : [dst] "+r"(dst), "+a"(accumulator), [fout] "=&r"(fout)
                 : [src] "r"(src), [fin] "r"(input_rflags(status))
                 : "cc");
    return fout;
}

#define KRR_NATIVE_UNARY(function, mnemonic)                                                       \
    template <class T>                                                                             \
    Out<T> function(T dst, uint32_t status) {                                                      \
        uint64_t fout;                                                                             \
        asm volatile(KRR_WITH_FLAGS(mnemonic " %[dst]")                                            \
                     : [dst] "+r"(dst), [fout] "=&r"(fout)                                         \
                     : [fin] "r"(input_rflags(status))                                             \
                     : "cc");                                                                      \
        return {dst, fout};                                                                        \
    }

KRR_NATIVE_UNARY(neg, "neg")
KRR_NATIVE_UNARY(inc, "inc")
KRR_NATIVE_UNARY(dec, "dec")
KRR_NATIVE_UNARY(not_, "not")

#define KRR_NATIVE_SHIFT(function, mnemonic)                                                       \
    template <class T>                                                                             \
    Out<T> function(T dst, uint8_t count, uint32_t status) {                                       \
        uint64_t fout;                                                                             \
        asm volatile(KRR_WITH_FLAGS(mnemonic " %%cl, %[dst]")                                      \
                     : [dst] "+r"(dst), [fout] "=&r"(fout)                                         \
                     : "c"(count), [fin] "r"(input_rflags(status))                                 \
                     : "cc");                                                                      \
        return {dst, fout};                                                                        \
    }

KRR_NATIVE_SHIFT(shl, "shl")
KRR_NATIVE_SHIFT(shr, "shr")
KRR_NATIVE_SHIFT(sar, "sar")
KRR_NATIVE_SHIFT(rol, "rol")
KRR_NATIVE_SHIFT(ror, "ror")
KRR_NATIVE_SHIFT(rcl, "rcl")
KRR_NATIVE_SHIFT(rcr, "rcr")

#define KRR_NATIVE_DOUBLE_SHIFT(function, mnemonic)                                                \
    template <class T>                                                                             \
    Out<T> function(T dst, T src, uint8_t count, uint32_t status) {                                \
        uint64_t fout;                                                                             \
        asm volatile(KRR_WITH_FLAGS(mnemonic " %%cl, %[src], %[dst]")                              \
                     : [dst] "+r"(dst), [fout] "=&r"(fout)                                         \
                     : [src] "r"(src), "c"(count), [fin] "r"(input_rflags(status))                 \
                     : "cc");                                                                      \
        return {dst, fout};                                                                        \
    }

KRR_NATIVE_DOUBLE_SHIFT(shld, "shld")
KRR_NATIVE_DOUBLE_SHIFT(shrd, "shrd")

// One-operand MUL/IMUL: the accumulator times `src`, high half in AH or
// the D register.
#define KRR_NATIVE_WIDENING(function, mnemonic)                                                    \
    template <class T>                                                                             \
    WideOut<T> function(T acc, T src, uint32_t status) {                                           \
        uint64_t fout;                                                                             \
        if constexpr (sizeof(T) == 1) {                                                            \
            uint16_t ax = acc;                                                                     \
            asm volatile(KRR_WITH_FLAGS(mnemonic "b %[src]")                                       \
                         : "+a"(ax), [fout] "=&r"(fout)                                            \
                         : [src] "q"(src), [fin] "r"(input_rflags(status))                         \
                         : "cc");                                                                  \
            return {static_cast<T>(ax), static_cast<T>(ax >> 8), fout};                            \
        } else {                                                                                   \
            T high;                                                                                \
            asm volatile(KRR_WITH_FLAGS(mnemonic " %[src]")                                        \
                         : "+a"(acc), "=d"(high), [fout] "=&r"(fout)                               \
                         : [src] "r"(src), [fin] "r"(input_rflags(status))                         \
                         : "cc");                                                                  \
            return {acc, high, fout};                                                              \
        }                                                                                          \
    }

KRR_NATIVE_WIDENING(mul, "mul")
KRR_NATIVE_WIDENING(imul1, "imul")

// DIV/IDIV: dividend high:low, returns quotient in `low` and remainder in
// `high`. The caller must not pass a case that raises #DE.
#define KRR_NATIVE_DIVIDE(function, mnemonic)                                                      \
    template <class T>                                                                             \
    WideOut<T> function(T high, T low, T divisor, uint32_t status) {                               \
        uint64_t fout;                                                                             \
        if constexpr (sizeof(T) == 1) {                                                            \
            uint16_t ax = static_cast<uint16_t>(high << 8 | low);                                  \
            asm volatile(KRR_WITH_FLAGS(mnemonic "b %[src]")                                       \
                         : "+a"(ax), [fout] "=&r"(fout)                                            \
                         : [src] "q"(divisor), [fin] "r"(input_rflags(status))                     \
                         : "cc");                                                                  \
            return {static_cast<T>(ax), static_cast<T>(ax >> 8), fout};                            \
        } else {                                                                                   \
            asm volatile(KRR_WITH_FLAGS(mnemonic " %[src]")                                        \
                         : "+a"(low), "+d"(high), [fout] "=&r"(fout)                               \
                         : [src] "r"(divisor), [fin] "r"(input_rflags(status))                     \
                         : "cc");                                                                  \
            return {low, high, fout};                                                              \
        }                                                                                          \
    }

KRR_NATIVE_DIVIDE(div, "div")
KRR_NATIVE_DIVIDE(idiv, "idiv")

// Three-operand IMUL needs its immediate at compile time.
template <int32_t Imm, class T>
Out<T> imul3(T src, uint32_t status) {
    T dst;
    uint64_t fout;
    asm volatile(KRR_WITH_FLAGS("imul %[imm], %[src], %[dst]")
                 : [dst] "=&r"(dst), [fout] "=&r"(fout)
                 : [src] "r"(src), [imm] "i"(Imm), [fin] "r"(input_rflags(status))
                 : "cc");
    return {dst, fout};
}

// A 32-bit operation on a full 64-bit register, to see what happens to the
// upper half (BSF/BSR with a zero source, BSWAP).
inline Out<uint64_t> bsf32_in_64(uint64_t dst, uint32_t src, uint32_t status) {
    uint64_t fout;
    asm volatile(KRR_WITH_FLAGS("bsf %[src], %k[dst]")
                 : [dst] "+r"(dst), [fout] "=&r"(fout)
                 : [src] "r"(src), [fin] "r"(input_rflags(status))
                 : "cc");
    return {dst, fout};
}

inline Out<uint64_t> bsr32_in_64(uint64_t dst, uint32_t src, uint32_t status) {
    uint64_t fout;
    asm volatile(KRR_WITH_FLAGS("bsr %[src], %k[dst]")
                 : [dst] "+r"(dst), [fout] "=&r"(fout)
                 : [src] "r"(src), [fin] "r"(input_rflags(status))
                 : "cc");
    return {dst, fout};
}

// BT with a memory operand and a register bit offset, which may reach
// outside the addressed operand.
template <class T>
uint64_t bt_memory(const void* base, T offset, uint32_t status) {
    uint64_t fout;
    asm volatile(KRR_WITH_FLAGS("bt %[offset], (%[base])")
                 : [fout] "=&r"(fout)
                 : [offset] "r"(offset), [base] "r"(base), [fin] "r"(input_rflags(status))
                 : "cc", "memory");
    return fout;
}

inline uint64_t bswap16_in_64(uint64_t rax) {
    // 66 0F C8: BSWAP AX, which assemblers refuse to spell.
    asm volatile(".byte 0x66, 0x0f, 0xc8" : "+a"(rax));
    return rax;
}

inline uint64_t bswap32_in_64(uint64_t reg) {
    asm volatile("bswap %k0" : "+r"(reg));
    return reg;
}

inline uint64_t bswap64(uint64_t reg) {
    asm volatile("bswap %q0" : "+r"(reg));
    return reg;
}

inline uint64_t lahf(uint64_t rax, uint32_t status) {
    uint64_t fout;
    asm volatile(KRR_WITH_FLAGS("lahf")
                 : "+a"(rax), [fout] "=&r"(fout)
                 : [fin] "r"(input_rflags(status))
                 : "cc");
    return rax;
}

inline uint64_t sahf(uint64_t rax, uint32_t status) {
    uint64_t fout;
    asm volatile(KRR_WITH_FLAGS("sahf")
                 : [fout] "=&r"(fout)
                 : "a"(rax), [fin] "r"(input_rflags(status))
                 : "cc");
    return fout;
}

// Sign extension within the accumulator: CBW/CWDE/CDQE act on RAX alone,
// CWD/CDQ/CQO write the D register.
#define KRR_NATIVE_ACC_EXTEND(function, mnemonic)                                                  \
    inline uint64_t function(uint64_t rax) {                                                       \
        asm volatile(mnemonic : "+a"(rax));                                                        \
        return rax;                                                                                \
    }

KRR_NATIVE_ACC_EXTEND(cbw, "cbw")
KRR_NATIVE_ACC_EXTEND(cwde, "cwde")
KRR_NATIVE_ACC_EXTEND(cdqe, "cdqe")

#define KRR_NATIVE_ACC_SPLIT(function, mnemonic)                                                   \
    inline uint64_t function(uint64_t rax, uint64_t rdx) {                                         \
        asm volatile(mnemonic : "+a"(rax), "+d"(rdx));                                             \
        return rdx;                                                                                \
    }

KRR_NATIVE_ACC_SPLIT(cwd, "cwd")
KRR_NATIVE_ACC_SPLIT(cdq, "cdq")
KRR_NATIVE_ACC_SPLIT(cqo, "cqo")

// SETcc under the given status flags, for condition code `cc` (0..15).
#define KRR_NATIVE_SETCC(function, mnemonic)                                                       \
    inline bool function(uint32_t status) {                                                        \
        uint8_t value;                                                                             \
        asm volatile("lea -128(%%rsp), %%rsp\n\t"                                                  \
                     "push %[fin]\n\t"                                                             \
                     "popfq\n\t" mnemonic " %[v]\n\t"                                              \
                     "lea 128(%%rsp), %%rsp"                                                       \
                     : [v] "=q"(value)                                                             \
                     : [fin] "r"(input_rflags(status))                                             \
                     : "cc");                                                                      \
        return value != 0;                                                                         \
    }

KRR_NATIVE_SETCC(seto, "seto")
KRR_NATIVE_SETCC(setno, "setno")
KRR_NATIVE_SETCC(setb, "setb")
KRR_NATIVE_SETCC(setae, "setae")
KRR_NATIVE_SETCC(sete, "sete")
KRR_NATIVE_SETCC(setne, "setne")
KRR_NATIVE_SETCC(setbe, "setbe")
KRR_NATIVE_SETCC(seta, "seta")
KRR_NATIVE_SETCC(sets, "sets")
KRR_NATIVE_SETCC(setns, "setns")
KRR_NATIVE_SETCC(setp, "setp")
KRR_NATIVE_SETCC(setnp, "setnp")
KRR_NATIVE_SETCC(setl, "setl")
KRR_NATIVE_SETCC(setge, "setge")
KRR_NATIVE_SETCC(setle, "setle")
KRR_NATIVE_SETCC(setg, "setg")

inline bool setcc(unsigned cc, uint32_t status) {
    using Setcc = bool (*)(uint32_t);
    static constexpr Setcc kByCode[16] = {seto, setno, setb, setae, sete, setne, setbe, seta,
                                          sets, setns, setp, setnp, setl, setge, setle, setg};
    return kByCode[cc & 15](status);
}

} // namespace krr::alu::host
