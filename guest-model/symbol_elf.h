// A kernel's System.map turned into an ELF symbol file, so that gdb knows the
// kernel's functions and objects when no vmlinux with debug information is at
// hand: `symbol-file FILE` makes `break do_sys_openat2`, `bt`, `x/i $pc` and
// `info symbol ADDR` speak in kernel names.
//
// The file holds no code or data: every region is an SHT_NOBITS section, so
// gdb reads memory from its target and only takes names and places from here.
// Text symbols (T, t, W) sit in executable sections and become functions;
// data symbols (D, d, V; R, r; B, b) become objects in .data, .rodata and
// .bss. A symbol's size runs to the next higher address, at most
// SymbolTable::default_max_offset. Symbols below the kernel half of the
// address space are per-CPU offsets, not places: they are absolute. Absolute
// (A) symbols and types gdb has no use for (U, w, N, ...) are left out.
#pragma once

#include "guest-model/symbols.h"

#include <string>

namespace krr {

// Writes atomically (a temporary file in the same directory, then renamed).
// Throws krr::Error("symbol file: <path>", why).
void write_symbol_elf(const SymbolTable& symbols, const std::string& path);

// The symbol file for a System.map, from `cache_dir` (created if missing),
// named by the hash of the map's content and generated only when absent.
// Returns its path. Throws krr::Error for an unreadable or malformed map or an
// unwritable cache.
std::string symbol_elf_for(const std::string& system_map_path, const std::string& cache_dir);

} // namespace krr
