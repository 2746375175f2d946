// The integer ALU of the x86-64 emulator: the result and the exact status
// flags of every integer instruction a compiler emits, the flags the manuals
// leave undefined set as Intel CPUs set them. Pure functions on values,
// templated on the operand width (uint8_t .. uint64_t); operand fetch and
// write-back are the instruction handlers' job. See docs/emulator-alu.md.
#pragma once

#include "replay-engine/alu/arithmetic.h"
#include "replay-engine/alu/bit_scan.h"
#include "replay-engine/alu/bit_test.h"
#include "replay-engine/alu/byte_swap.h"
#include "replay-engine/alu/condition.h"
#include "replay-engine/alu/divide.h"
#include "replay-engine/alu/flags_byte.h"
#include "replay-engine/alu/logical.h"
#include "replay-engine/alu/multiply.h"
#include "replay-engine/alu/rotate.h"
#include "replay-engine/alu/shift.h"
#include "replay-engine/alu/sign_extension.h"
#include "replay-engine/alu/status_flags.h"
