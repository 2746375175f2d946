#include "guest-model/trace/snapshot_codec.h"

#include "guest-model/error.h"

namespace krr::trace {

// Serialization below names every field of CpuState. When the struct grows,
// this fails to compile until the codec (and the format version) follow.
static_assert(sizeof(CpuState) == 984, "CpuState changed: update snapshot_codec.cpp");

namespace {

void put_segment(ByteWriter& w, const Segment& s) {
    w.u64(s.base);
    w.u32(s.limit);
    w.u16(s.selector);
    w.u8(s.type);
    w.u8(s.s);
    w.u8(s.dpl);
    w.u8(s.present);
    w.u8(s.avl);
    w.u8(s.l);
    w.u8(s.db);
    w.u8(s.g);
    w.u8(s.unusable);
}

Segment get_segment(ByteReader& r) {
    Segment s;
    s.base = r.u64();
    s.limit = r.u32();
    s.selector = r.u16();
    s.type = r.u8();
    s.s = r.u8();
    s.dpl = r.u8();
    s.present = r.u8();
    s.avl = r.u8();
    s.l = r.u8();
    s.db = r.u8();
    s.g = r.u8();
    s.unusable = r.u8();
    return s;
}

void put_table(ByteWriter& w, const DescriptorTable& t) {
    w.u64(t.base);
    w.u16(t.limit);
}

DescriptorTable get_table(ByteReader& r) {
    DescriptorTable t;
    t.base = r.u64();
    t.limit = r.u16();
    return t;
}

template <size_t N>
void get_array(ByteReader& r, std::array<uint8_t, N>& out) {
    auto s = r.bytes(N);
    std::copy(s.begin(), s.end(), out.begin());
}

} // namespace

void encode_memory_run(ByteWriter& w, uint64_t first_page, std::span<const uint8_t> pages) {
    w.varint(first_page);
    w.varint(pages.size() / kSnapshotPageSize);
    w.bytes(pages);
}

std::vector<MemoryRun> decode_memory_chunk(std::span<const uint8_t> payload, uint64_t memory_size,
                                           uint64_t& next_page) {
    ByteReader r(payload, "memory chunk");
    const uint64_t total_pages = memory_size / kSnapshotPageSize;
    std::vector<MemoryRun> runs;
    while (!r.at_end()) {
        uint64_t first = r.varint();
        uint64_t count = r.count(kSnapshotPageSize);
        if (count == 0) {
            r.fail("empty memory run");
        }
        if (first < next_page) {
            r.fail("memory run at page " + std::to_string(first) +
                   " overlaps or precedes the previous run");
        }
        if (first > total_pages || count > total_pages - first) {
            r.fail("memory run of " + std::to_string(count) + " pages at page " +
                   std::to_string(first) + " lies beyond guest memory (" +
                   std::to_string(total_pages) + " pages)");
        }
        auto bytes = r.bytes(static_cast<size_t>(count * kSnapshotPageSize));
        runs.push_back({first, std::vector<uint8_t>(bytes.begin(), bytes.end())});
        next_page = first + count;
    }
    return runs;
}

std::vector<uint8_t> encode_vcpu_state(const VcpuState& v) {
    ByteWriter w;
    w.u32(v.id);
    w.u64(v.instructions_retired);
    const CpuState& c = v.cpu;
    for (uint64_t g : c.gpr) {
        w.u64(g);
    }
    w.u64(c.rip);
    w.u64(c.rflags);
    for (const auto& s : c.seg) {
        put_segment(w, s);
    }
    put_segment(w, c.ldtr);
    put_segment(w, c.tr);
    put_table(w, c.gdtr);
    put_table(w, c.idtr);
    w.u64(c.cr0);
    w.u64(c.cr2);
    w.u64(c.cr3);
    w.u64(c.cr4);
    w.u64(c.cr8);
    for (uint64_t d : c.dr) {
        w.u64(d);
    }
    w.u64(c.dr6);
    w.u64(c.dr7);
    const auto& m = c.msr;
    for (uint64_t x :
         {m.efer, m.star, m.lstar, m.cstar, m.sfmask, m.kernel_gs_base, m.sysenter_cs,
          m.sysenter_esp, m.sysenter_eip, m.pat, m.apic_base, m.misc_enable, m.tsc_offset}) {
        w.u64(x);
    }
    const auto& f = c.fpu;
    w.u16(f.fcw);
    w.u16(f.fsw);
    w.u8(f.ftw);
    w.u16(f.fop);
    w.u64(f.fip);
    w.u64(f.fdp);
    w.u32(f.mxcsr);
    for (const auto& st : f.st) {
        w.bytes(st);
    }
    for (const auto& x : f.xmm) {
        w.bytes(x);
    }
    w.u8(c.events.interrupt_shadow);
    w.u8(c.events.halted);
    w.u8(c.events.nmi_pending);
    w.u8(c.events.nmi_masked);
    return w.take();
}

VcpuState decode_vcpu_state(std::span<const uint8_t> payload) {
    ByteReader r(payload, "vCPU state");
    VcpuState v;
    v.id = r.u32();
    v.instructions_retired = r.u64();
    CpuState& c = v.cpu;
    for (uint64_t& g : c.gpr) {
        g = r.u64();
    }
    c.rip = r.u64();
    c.rflags = r.u64();
    for (auto& s : c.seg) {
        s = get_segment(r);
    }
    c.ldtr = get_segment(r);
    c.tr = get_segment(r);
    c.gdtr = get_table(r);
    c.idtr = get_table(r);
    c.cr0 = r.u64();
    c.cr2 = r.u64();
    c.cr3 = r.u64();
    c.cr4 = r.u64();
    c.cr8 = r.u64();
    for (uint64_t& d : c.dr) {
        d = r.u64();
    }
    c.dr6 = r.u64();
    c.dr7 = r.u64();
    auto& m = c.msr;
    for (uint64_t* x :
         {&m.efer, &m.star, &m.lstar, &m.cstar, &m.sfmask, &m.kernel_gs_base, &m.sysenter_cs,
          &m.sysenter_esp, &m.sysenter_eip, &m.pat, &m.apic_base, &m.misc_enable, &m.tsc_offset}) {
        *x = r.u64();
    }
    auto& f = c.fpu;
    f.fcw = r.u16();
    f.fsw = r.u16();
    f.ftw = r.u8();
    f.fop = r.u16();
    f.fip = r.u64();
    f.fdp = r.u64();
    f.mxcsr = r.u32();
    for (auto& st : f.st) {
        get_array(r, st);
    }
    for (auto& x : f.xmm) {
        get_array(r, x);
    }
    c.events.interrupt_shadow = r.u8();
    c.events.halted = r.u8();
    c.events.nmi_pending = r.u8();
    c.events.nmi_masked = r.u8();
    r.expect_end();
    return v;
}

std::vector<uint8_t> encode_device_state(const DeviceState& d) {
    ByteWriter w;
    w.string(d.name);
    w.blob(d.data);
    return w.take();
}

DeviceState decode_device_state(std::span<const uint8_t> payload) {
    ByteReader r(payload, "device state");
    DeviceState d;
    d.name = r.string(256);
    d.data = r.blob(kMaxDeviceStateBytes);
    r.expect_end();
    return d;
}

std::vector<uint8_t> encode_snapshot_end(const SnapshotEnd& e) {
    ByteWriter w;
    w.varint(e.pages);
    w.varint(e.vcpus);
    w.varint(e.devices);
    return w.take();
}

SnapshotEnd decode_snapshot_end(std::span<const uint8_t> payload) {
    ByteReader r(payload, "snapshot end");
    SnapshotEnd e;
    e.pages = r.varint();
    uint64_t vcpus = r.varint();
    uint64_t devices = r.varint();
    if (vcpus > UINT32_MAX || devices > UINT32_MAX) {
        r.fail("count out of range");
    }
    e.vcpus = static_cast<uint32_t>(vcpus);
    e.devices = static_cast<uint32_t>(devices);
    r.expect_end();
    return e;
}

} // namespace krr::trace
