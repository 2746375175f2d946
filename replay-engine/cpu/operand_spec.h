// How an opcode names its operands, in the notation of the Intel SDM's
// opcode maps (appendix A): an addressing method letter and a width code.
// "Ev" is a general register or memory operand chosen by ModRM.rm with the
// instruction's operand size; "Ib" a byte immediate; "Vx" the XMM register
// chosen by ModRM.reg. The opcode table is written in this notation so each
// row reads like the manual.
#pragma once

#include <cstdint>

namespace krr::cpu {

enum class Addressing : uint8_t {
    None,
    E,        // general register (ModRM.rm, mod=3) or memory
    G,        // general register in ModRM.reg
    M,        // memory only (ModRM with mod != 3)
    R,        // general register in ModRM.rm (mod=3, or mod ignored)
    C,        // control register in ModRM.reg
    D,        // debug register in ModRM.reg
    S,        // segment register in ModRM.reg
    I,        // immediate
    J,        // relative branch offset
    O,        // absolute memory offset (moffs), as wide as the address size
    Z,        // general register in the low three opcode bits (+ REX.B)
    FixedGpr, // a named general register (AL, CL, DX, rAX, ...)
    One,      // the constant 1 of the shift-by-one forms
    X,        // string source DS:rSI
    Y,        // string destination ES:rDI
    St0,      // x87 top of stack
    StI,      // x87 ST(i), i = ModRM.rm
    P,        // MMX register in ModRM.reg
    Q,        // MMX register (ModRM.rm) or memory
    N,        // MMX register in ModRM.rm
    V,        // XMM register in ModRM.reg
    W,        // XMM register (ModRM.rm) or memory
    U,        // XMM register in ModRM.rm
    FixedSeg, // a named segment register (push/pop fs/gs)
    A,        // direct far pointer: an offset as wide as the operand size, then a selector
};

enum class Width : uint8_t {
    None,
    B,       // byte
    BS,      // byte immediate, sign-extended to the operand size
    W,       // word
    D,       // doubleword
    Q,       // quadword
    V,       // word, doubleword or quadword: the operand size
    VW,      // "Rv/Mw": a register of the operand size, or a 16-bit memory operand
    Z,       // word for 16-bit operand size, else doubleword
    Y,       // doubleword, or quadword with 64-bit operand size
    X,       // 128-bit XMM
    SS,      // scalar single (32 bits)
    SD,      // scalar double (64 bits)
    T,       // 80-bit x87 extended / packed BCD
    P,       // far pointer: offset of the operand size + 16-bit selector
    S,       // descriptor-table pseudo-descriptor (10 bytes in 64-bit mode)
    FX,      // the 512-byte FXSAVE area
    Unsized, // memory whose size the instruction defines (lea, xsave, fldenv)
};

struct OperandSpec {
    Addressing addressing = Addressing::None;
    Width width = Width::None;
    uint8_t reg = 0; // the register of FixedGpr / FixedSeg

    constexpr bool uses_modrm() const {
        switch (addressing) {
        case Addressing::E:
        case Addressing::G:
        case Addressing::M:
        case Addressing::R:
        case Addressing::C:
        case Addressing::D:
        case Addressing::S:
        case Addressing::StI:
        case Addressing::P:
        case Addressing::Q:
        case Addressing::N:
        case Addressing::V:
        case Addressing::W:
        case Addressing::U:
            return true;
        default:
            return false;
        }
    }
};

} // namespace krr::cpu
