#include "tui/source_lines.h"

#include "guest-model/error.h"

#include <dwarf.h>
#include <libdwarf.h>

namespace krr::tui {

SourceLines::SourceLines(const std::string& vmlinux) {
    Dwarf_Debug dbg = nullptr;
    Dwarf_Error error = nullptr;
    int r = dwarf_init_path(vmlinux.c_str(), nullptr, 0, DW_DLC_READ, DW_GROUPNUMBER_ANY, nullptr,
                            nullptr, &dbg, nullptr, 0, nullptr, &error);
    if (r != DW_DLV_OK) {
        throw Error("source lines: " + vmlinux, "no DWARF debug information");
    }
    Dwarf_Arange* aranges = nullptr;
    Dwarf_Signed count = 0;
    if (dwarf_get_aranges(dbg, &aranges, &count, &error) != DW_DLV_OK) {
        dwarf_finish(dbg, &error);
        throw Error("source lines: " + vmlinux, "no DWARF address ranges");
    }
    dbg_ = dbg;
    aranges_ = aranges;
    arange_count_ = count;
}

SourceLines::~SourceLines() {
    Dwarf_Error error = nullptr;
    // The aranges belong to the Dwarf_Debug and go with it.
    dwarf_finish(static_cast<Dwarf_Debug>(dbg_), &error);
}

std::optional<std::string> SourceLines::lookup(uint64_t address) {
    auto dbg = static_cast<Dwarf_Debug>(dbg_);
    Dwarf_Error error = nullptr;
    Dwarf_Arange arange = nullptr;
    if (dwarf_get_arange(static_cast<Dwarf_Arange*>(aranges_),
                         static_cast<Dwarf_Unsigned>(arange_count_), address, &arange,
                         &error) != DW_DLV_OK) {
        return std::nullopt;
    }
    Dwarf_Off unit_offset = 0;
    if (dwarf_get_cu_die_offset(arange, &unit_offset, &error) != DW_DLV_OK) {
        return std::nullopt;
    }
    Dwarf_Die unit = nullptr;
    if (dwarf_offdie_b(dbg, unit_offset, true, &unit, &error) != DW_DLV_OK) {
        return std::nullopt;
    }
    Dwarf_Unsigned version = 0;
    Dwarf_Small tables = 0;
    Dwarf_Line_Context context = nullptr;
    std::optional<std::string> result;
    if (dwarf_srclines_b(unit, &version, &tables, &context, &error) == DW_DLV_OK) {
        Dwarf_Line* lines = nullptr;
        Dwarf_Signed count = 0;
        if (dwarf_srclines_from_linecontext(context, &lines, &count, &error) == DW_DLV_OK) {
            // The row with the highest address at or below `address`, in a
            // sequence that has not ended before it.
            Dwarf_Addr best = 0;
            Dwarf_Signed best_row = -1;
            for (Dwarf_Signed i = 0; i < count; ++i) {
                Dwarf_Addr a = 0;
                Dwarf_Bool end = 0;
                if (dwarf_lineaddr(lines[i], &a, &error) != DW_DLV_OK ||
                    dwarf_lineendsequence(lines[i], &end, &error) != DW_DLV_OK || end) {
                    continue;
                }
                if (a <= address && (best_row < 0 || a >= best)) {
                    // The next row must lie beyond the address.
                    Dwarf_Addr next = 0;
                    if (i + 1 < count && dwarf_lineaddr(lines[i + 1], &next, &error) == DW_DLV_OK &&
                        next <= address) {
                        continue;
                    }
                    best = a;
                    best_row = i;
                }
            }
            if (best_row >= 0) {
                char* file = nullptr;
                Dwarf_Unsigned line = 0;
                if (dwarf_linesrc(lines[best_row], &file, &error) == DW_DLV_OK &&
                    dwarf_lineno(lines[best_row], &line, &error) == DW_DLV_OK) {
                    result = std::string(file) + ":" + std::to_string(line);
                }
                if (file) {
                    dwarf_dealloc(dbg, file, DW_DLA_STRING);
                }
            }
        }
        dwarf_srclines_dealloc_b(context);
    }
    dwarf_dealloc_die(unit);
    return result;
}

} // namespace krr::tui
