// Where the kernel keeps a task's pid and name inside struct task_struct,
// read from the DWARF of the kernel's debug vmlinux. System.map has no types,
// and the layout changes with every configuration, so without DWARF there is
// no reliable answer and the index says so instead of guessing.
#pragma once

#include "activity/activity_index.h"

#include <string>

namespace krr::activity {

// Throws krr::Error("task layout: <vmlinux>", why) when the file cannot be
// read or holds no complete struct task_struct with pid and comm.
TaskLayout read_task_layout(const std::string& vmlinux);

} // namespace krr::activity
