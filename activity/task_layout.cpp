#include "activity/task_layout.h"

#include "guest-model/error.h"

#include <cstring>
#include <dwarf.h>
#include <libdwarf.h>
#include <optional>

namespace krr::activity {

namespace {

struct Found {
    std::optional<uint64_t> pid;
    std::optional<uint64_t> comm;
};

bool has_flag(Dwarf_Die die, Dwarf_Half attribute) {
    Dwarf_Bool has = 0;
    Dwarf_Error error = nullptr;
    return dwarf_hasattr(die, attribute, &has, &error) == DW_DLV_OK && has;
}

std::optional<uint64_t> member_offset(Dwarf_Die die) {
    Dwarf_Attribute attribute = nullptr;
    Dwarf_Error error = nullptr;
    if (dwarf_attr(die, DW_AT_data_member_location, &attribute, &error) != DW_DLV_OK) {
        return std::nullopt;
    }
    Dwarf_Unsigned value = 0;
    bool ok = dwarf_formudata(attribute, &value, &error) == DW_DLV_OK;
    dwarf_dealloc_attribute(attribute);
    return ok ? std::optional<uint64_t>(value) : std::nullopt;
}

std::string die_name(Dwarf_Die die) {
    char* name = nullptr;
    Dwarf_Error error = nullptr;
    return dwarf_diename(die, &name, &error) == DW_DLV_OK ? std::string(name) : std::string();
}

// The members of a structure, walking into anonymous structures (as a
// randomized layout wraps fields) with their offsets added.
void scan_members(Dwarf_Debug dbg, Dwarf_Die structure, uint64_t base, Found& found, int depth) {
    Dwarf_Error error = nullptr;
    Dwarf_Die child = nullptr;
    if (depth > 4 || dwarf_child(structure, &child, &error) != DW_DLV_OK) {
        return;
    }
    while (child) {
        Dwarf_Half tag = 0;
        if (dwarf_tag(child, &tag, &error) == DW_DLV_OK && tag == DW_TAG_member) {
            std::string name = die_name(child);
            auto offset = member_offset(child);
            if (offset && name == "pid" && !found.pid) {
                found.pid = base + *offset;
            } else if (offset && name == "comm" && !found.comm) {
                found.comm = base + *offset;
            } else if (offset && name.empty()) {
                Dwarf_Attribute type_attribute = nullptr;
                Dwarf_Off type_offset = 0;
                if (dwarf_attr(child, DW_AT_type, &type_attribute, &error) == DW_DLV_OK) {
                    if (dwarf_global_formref(type_attribute, &type_offset, &error) == DW_DLV_OK) {
                        Dwarf_Die type = nullptr;
                        if (dwarf_offdie_b(dbg, type_offset, true, &type, &error) == DW_DLV_OK) {
                            scan_members(dbg, type, base + *offset, found, depth + 1);
                            dwarf_dealloc_die(type);
                        }
                    }
                    dwarf_dealloc_attribute(type_attribute);
                }
            }
        }
        Dwarf_Die next = nullptr;
        int r = dwarf_siblingof_b(dbg, child, true, &next, &error);
        dwarf_dealloc_die(child);
        child = r == DW_DLV_OK ? next : nullptr;
    }
}

// Looks through one compilation unit's top-level DIEs for a complete
// struct task_struct.
std::optional<Found> scan_unit(Dwarf_Debug dbg) {
    Dwarf_Error error = nullptr;
    Dwarf_Die unit = nullptr;
    if (dwarf_siblingof_b(dbg, nullptr, true, &unit, &error) != DW_DLV_OK) {
        return std::nullopt;
    }
    std::optional<Found> result;
    Dwarf_Die child = nullptr;
    if (dwarf_child(unit, &child, &error) == DW_DLV_OK) {
        while (child) {
            Dwarf_Half tag = 0;
            if (!result && dwarf_tag(child, &tag, &error) == DW_DLV_OK &&
                tag == DW_TAG_structure_type && !has_flag(child, DW_AT_declaration) &&
                die_name(child) == "task_struct") {
                Found found;
                scan_members(dbg, child, 0, found, 0);
                result = found;
            }
            Dwarf_Die next = nullptr;
            int r = dwarf_siblingof_b(dbg, child, true, &next, &error);
            dwarf_dealloc_die(child);
            child = r == DW_DLV_OK ? next : nullptr;
        }
    }
    dwarf_dealloc_die(unit);
    return result;
}

} // namespace

TaskLayout read_task_layout(const std::string& vmlinux) {
    const std::string what = "task layout: " + vmlinux;
    Dwarf_Debug dbg = nullptr;
    Dwarf_Error error = nullptr;
    int r = dwarf_init_path(vmlinux.c_str(), nullptr, 0, DW_DLC_READ, DW_GROUPNUMBER_ANY, nullptr,
                            nullptr, &dbg, nullptr, 0, nullptr, &error);
    if (r == DW_DLV_NO_ENTRY) {
        throw Error(what, "no DWARF debug information");
    }
    if (r != DW_DLV_OK) {
        std::string why = error ? dwarf_errmsg(error) : "cannot open";
        throw Error(what, why);
    }
    std::optional<Found> found;
    // The structure is defined in most units that use it; a few hundred
    // units is far more than needed and bounds the time on a kernel without it.
    for (int units = 0; units < 400 && !(found && found->pid && found->comm); ++units) {
        Dwarf_Unsigned next = 0;
        Dwarf_Half type = 0;
        r = dwarf_next_cu_header_d(dbg, true, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                   nullptr, nullptr, &next, &type, &error);
        if (r != DW_DLV_OK) {
            break;
        }
        auto in_unit = scan_unit(dbg);
        if (in_unit) {
            found = in_unit;
        }
    }
    dwarf_finish(dbg, &error);
    if (!found || !found->pid || !found->comm) {
        throw Error(what, "no complete struct task_struct with pid and comm in its DWARF");
    }
    TaskLayout layout;
    layout.known = true;
    layout.pid_offset = static_cast<uint32_t>(*found->pid);
    layout.comm_offset = static_cast<uint32_t>(*found->comm);
    return layout;
}

} // namespace krr::activity
