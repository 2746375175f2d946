#include "tui/event_detail.h"

#include "guest-model/error.h"

#include <capstone/capstone.h>
#include <cstdio>
#include <cstdlib>

namespace krr::tui {

namespace {

constexpr size_t kCodeBytes = 160;
// How far back from RIP the listing may start, when RIP's function starts
// there: x86 cannot be decoded backwards, a symbol is a known boundary.
constexpr uint64_t kBackWindow = 48;

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

} // namespace

DetailSource::DetailSource(const std::string& trace_path, SymbolTable symbols,
                           const std::string& vmlinux)
    : session_(trace_path,
               [] {
                   ReplaySessionOptions o;
                   // Seeks are then a checkpoint restore plus at most this much.
                   o.checkpoint_interval = 2'000'000;
                   o.checkpoint_memory = 512ULL << 20;
                   return o;
               }()),
      symbols_(std::move(symbols)) {
    csh handle = 0;
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &handle) != CS_ERR_OK) {
        throw Error("krr-tui", "capstone cannot disassemble x86-64");
    }
    capstone_ = handle;
    try {
        source_lines_ = std::make_unique<SourceLines>(vmlinux);
    } catch (const Error&) {
        source_lines_.reset(); // no DWARF: no source lines
    }
}

DetailSource::~DetailSource() {
    csh handle = capstone_;
    cs_close(&handle);
}

std::vector<std::string> DetailSource::disassemble(uint64_t rip) {
    uint64_t begin = rip;
    if (auto m = symbols_.lookup(rip); m && m->offset <= kBackWindow) {
        begin = m->symbol->address;
    }
    return disassemble_from(begin, rip);
}

std::vector<std::string> DetailSource::disassemble_from(uint64_t begin, uint64_t rip) {
    std::vector<uint8_t> code(kCodeBytes + (rip - begin));
    size_t got = session_.read_virtual(begin, code);
    code.resize(got);
    std::vector<std::string> lines;
    if (code.empty()) {
        lines.push_back("(code at " + hex(rip) + " is not mapped)");
        return lines;
    }
    cs_insn* insns = nullptr;
    size_t n = cs_disasm(capstone_, code.data(), code.size(), begin, 0, &insns);
    // Listings that start before RIP must decode onto it; otherwise start at RIP.
    bool on_rip = false;
    for (size_t i = 0; i < n; ++i) {
        on_rip = on_rip || insns[i].address == rip;
    }
    if (!on_rip && begin != rip) {
        cs_free(insns, n);
        return disassemble_from(rip, rip);
    }
    for (size_t i = 0; i < n; ++i) {
        const cs_insn& in = insns[i];
        std::string operands = in.op_str;
        // Branch targets and RIP-relative addresses read better as names.
        if (operands.rfind("0x", 0) == 0 && operands.find_first_of(" ,[") == std::string::npos) {
            uint64_t target = std::strtoull(operands.c_str(), nullptr, 16);
            if (symbols_.lookup(target)) {
                operands = symbols_.describe(target);
            }
        }
        std::string where = symbols_.describe(in.address);
        lines.push_back(std::string(in.address == rip ? "=> " : "   ") + where + "  " +
                        in.mnemonic + (operands.empty() ? "" : " " + operands));
    }
    cs_free(insns, n);
    if (lines.empty()) {
        lines.push_back("(no instruction decodes at " + hex(rip) + ")");
    }
    return lines;
}

EventDetail DetailSource::at(const activity::ActivityEvent& event) {
    EventDetail d;
    if (!session_.seek(event.position)) {
        d.error = "the replay cannot reach this point: " + session_.divergence();
        return d;
    }
    d.vcpu = session_.vcpu();
    const uint64_t rip = d.vcpu.cpu.rip;
    d.where = symbols_.describe(rip) + " (" + hex(rip) + ")";
    if (source_lines_) {
        d.source = source_lines_->lookup(rip).value_or("");
    }
    d.disassembly = disassemble(rip);
    d.console = session_.console_so_far();
    return d;
}

} // namespace krr::tui
