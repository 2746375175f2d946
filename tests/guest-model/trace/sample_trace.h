// A small, fully known trace for tests: every value written is one the test
// can name, so what a reader returns is checked against these, not against
// another run of the code.
#pragma once

#include "guest-model/cpuid_table.h"
#include "guest-model/trace/trace_writer.h"

#include <cstring>
#include <string>
#include <vector>

namespace krr::test {

inline trace::TraceMetadata sample_metadata(uint32_t vcpus = 1) {
    trace::TraceMetadata m;
    m.krr_version = "0.1.0-test";
    m.kernel = {"/boot/vmlinuz-test", "Linux version 6.1.0-test (\"quoted\")",
                "00112233445566778899aabbccddeeff"};
    m.kernel_command_line = "console=ttyS0 nokaslr tsc=unstable";
    m.guest_command = {"/bin/sh", "-c", "echo 'hi there'; exit 3"};
    m.cpuid = default_cpuid_table(vcpus);
    m.memory_size = 64 * 4096;
    m.vcpu_count = vcpus;
    m.accelerator = "tcg";
    m.creation_time = 1764059787;
    return m;
}

// Every byte of every field distinct-ish, so a field swapped or dropped by
// the codec shows.
inline VcpuState sample_vcpu(uint32_t id) {
    VcpuState v;
    v.id = id;
    v.instructions_retired = 0x1122334455667788ULL + id;
    uint64_t k = 0x0101010101010101ULL * (id + 1);
    auto next = [&] { return k += 0x0102030405060709ULL; };
    CpuState& c = v.cpu;
    for (auto& g : c.gpr) {
        g = next();
    }
    c.rip = next();
    c.rflags = next();
    auto seg = [&](Segment& s) {
        s.base = next();
        s.limit = static_cast<uint32_t>(next());
        s.selector = static_cast<uint16_t>(next());
        s.type = 0xb;
        s.s = 1;
        s.dpl = 3;
        s.present = 1;
        s.avl = 1;
        s.l = 1;
        s.db = 0;
        s.g = 1;
        s.unusable = 0;
    };
    for (auto& s : c.seg) {
        seg(s);
    }
    seg(c.ldtr);
    seg(c.tr);
    c.gdtr = {next(), 0x7f};
    c.idtr = {next(), 0xfff};
    c.cr0 = next();
    c.cr2 = next();
    c.cr3 = next();
    c.cr4 = next();
    c.cr8 = next();
    for (auto& d : c.dr) {
        d = next();
    }
    c.dr6 = next();
    c.dr7 = next();
    auto& m = c.msr;
    for (uint64_t* x :
         {&m.efer, &m.star, &m.lstar, &m.cstar, &m.sfmask, &m.kernel_gs_base, &m.sysenter_cs,
          &m.sysenter_esp, &m.sysenter_eip, &m.pat, &m.apic_base, &m.misc_enable, &m.tsc_offset}) {
        *x = next();
    }
    c.fpu.fcw = 0x27f;
    c.fpu.fsw = 0x3800;
    c.fpu.ftw = 0x81;
    c.fpu.fop = 0x1d9;
    c.fpu.fip = next();
    c.fpu.fdp = next();
    c.fpu.mxcsr = 0x1fa0;
    for (auto& st : c.fpu.st) {
        for (auto& b : st) {
            b = static_cast<uint8_t>(next());
        }
    }
    for (auto& x : c.fpu.xmm) {
        for (auto& b : x) {
            b = static_cast<uint8_t>(next() >> 8);
        }
    }
    c.events = {1, 1, 1, 1};
    return v;
}

// Guest RAM for sample_metadata(): pages 1-3 and 10 filled, the rest zero.
inline std::vector<uint8_t> sample_ram() {
    std::vector<uint8_t> ram(64 * 4096, 0);
    for (size_t page : {1, 2, 3, 10}) {
        for (size_t i = 0; i < 4096; ++i) {
            ram[page * 4096 + i] = static_cast<uint8_t>(page * 31 + i * 13 + (i >> 8));
        }
    }
    ram[63 * 4096 + 4095] = 0xee; // the very last byte counts too
    return ram;
}

inline std::vector<trace::LogRecord> sample_records(size_t n) {
    std::vector<trace::LogRecord> out;
    for (size_t i = 0; i < n; ++i) {
        switch (i % 3) {
        case 0:
            out.emplace_back(trace::InputRecord{static_cast<uint8_t>(1 + i % 6),
                                                0,
                                                100 * i,
                                                0xffffffff81000000ULL + i,
                                                0x3f8 + i % 8,
                                                1,
                                                i * 0x1234567ULL,
                                                {}});
            break;
        case 1:
            out.emplace_back(trace::ConsoleRecord{0, 100 * i, {'l', 'i', 'n', 'e', '\n'}});
            break;
        default:
            out.emplace_back(trace::StateHashRecord{
                0, 100 * i, 0xabcdef00ULL + i, 0x12345600ULL + i, {}, {}, {}});
            break;
        }
    }
    return out;
}

inline const trace::RecordEnd kSampleEnd{"guest exited", 3, 123456, {}};

// A complete sample trace. `flush_every` records go into each log chunk, so
// chunk boundaries are known to the test.
inline void write_sample_trace(const std::string& path, size_t records, size_t flush_every,
                               std::vector<uint64_t>* chunk_ends = nullptr,
                               std::vector<size_t>* records_at_end = nullptr) {
    trace::TraceWriter w(path, sample_metadata());
    auto ram = sample_ram();
    w.write_memory(ram);
    w.write_vcpu(sample_vcpu(0));
    w.write_device({"uart", {1, 2, 3}});
    w.write_device({"pit", {}});
    w.finish_snapshot();
    auto recs = sample_records(records);
    for (size_t i = 0; i < recs.size(); ++i) {
        w.append(recs[i]);
        if ((i + 1) % flush_every == 0 || i + 1 == recs.size()) {
            w.flush();
            if (chunk_ends) {
                chunk_ends->push_back(w.log_bytes_written());
                records_at_end->push_back(i + 1);
            }
        }
    }
    w.finish(kSampleEnd);
    if (chunk_ends) {
        chunk_ends->push_back(w.log_bytes_written());
        records_at_end->push_back(recs.size() + 1); // the end record counts as one
    }
}

} // namespace krr::test
