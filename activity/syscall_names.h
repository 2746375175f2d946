// x86-64 system call names by number, generated at build time from the
// kernel's uapi unistd_64.h (see generate_syscall_names.py).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace krr::activity {

// Empty for a number the table does not name.
std::string_view syscall_name(uint64_t number);
std::optional<uint64_t> syscall_number(std::string_view name);

} // namespace krr::activity
