#include "replay-engine/system/segment_load.h"

namespace krr {

namespace {

uint32_t selector_error(uint16_t selector) {
    return selector & ~3u;
}

Segment null_segment(uint16_t selector) {
    Segment s{};
    s.selector = selector;
    s.unusable = 1;
    return s;
}

} // namespace

void load_data_segment(CpuState& cpu, LinearMemory& memory, SegmentIndex which, uint16_t selector) {
    const unsigned cpl = current_privilege(cpu);
    const unsigned rpl = selector & 3;
    if ((selector & ~3u) == 0) {
        if (which == SS && (cpl == 3 || rpl != cpl)) {
            throw GuestFault::gp(0);
        }
        Segment s = null_segment(selector);
        if (which == SS) {
            s.dpl = static_cast<uint8_t>(cpl);
            s.db = 1;
        }
        // FS and GS: Intel clears the base with a null selector (AMD keeps
        // it; Linux calls that X86_BUG_NULL_SEG and counts on the clearing
        // on Intel when it switches to a task whose base is 0). Measured
        // here: WRGSBASE, MOV GS of 0, RDGSBASE reads 0.
        cpu.seg[which] = s;
        return;
    }
    auto d = read_descriptor(memory, cpu, selector);
    if (!d) {
        throw GuestFault::gp(selector_error(selector));
    }
    Segment s = d->segment;
    if (which == SS) {
        if (rpl != cpl || !d->writable_data() || s.dpl != cpl) {
            throw GuestFault::gp(selector_error(selector));
        }
        if (!s.present) {
            throw GuestFault::ss(selector_error(selector));
        }
    } else {
        if (!d->readable()) {
            throw GuestFault::gp(selector_error(selector));
        }
        // Data and non-conforming code: DPL must be >= both CPL and RPL.
        if (!d->conforming() && (s.dpl < cpl || s.dpl < rpl)) {
            throw GuestFault::gp(selector_error(selector));
        }
        if (!s.present) {
            throw GuestFault{kSegmentNotPresent, true, selector_error(selector), 0};
        }
    }
    mark_descriptor_accessed(memory, cpu, selector);
    s.type |= 1;
    s.selector = selector;
    cpu.seg[which] = s;
}

void load_task_register(CpuState& cpu, LinearMemory& memory, uint16_t selector) {
    if ((selector & ~3u) == 0 || (selector & 4)) {
        throw GuestFault::gp(selector_error(selector));
    }
    auto d = read_descriptor(memory, cpu, selector);
    // An available 64-bit TSS (type 9).
    if (!d || d->segment.s || d->segment.type != 9) {
        throw GuestFault::gp(selector_error(selector));
    }
    if (!d->segment.present) {
        throw GuestFault{kSegmentNotPresent, true, selector_error(selector), 0};
    }
    // Mark it busy (type 11) in the GDT.
    uint64_t address = cpu.gdtr.base + (selector & ~7u) + 5;
    uint8_t access = memory.read<uint8_t>(address, false);
    memory.write<uint8_t>(address, access | 2, false);
    cpu.tr = d->segment;
    cpu.tr.type = 11;
    cpu.tr.selector = selector;
}

void load_ldt_register(CpuState& cpu, LinearMemory& memory, uint16_t selector) {
    if ((selector & ~3u) == 0) {
        cpu.ldtr = null_segment(selector);
        return;
    }
    if (selector & 4) {
        throw GuestFault::gp(selector_error(selector));
    }
    auto d = read_descriptor(memory, cpu, selector);
    if (!d || d->segment.s || d->segment.type != 2) {
        throw GuestFault::gp(selector_error(selector));
    }
    if (!d->segment.present) {
        throw GuestFault{kSegmentNotPresent, true, selector_error(selector), 0};
    }
    cpu.ldtr = d->segment;
    cpu.ldtr.selector = selector;
}

Segment code_segment_for_return(CpuState& cpu, LinearMemory& memory, uint16_t selector) {
    const unsigned cpl = current_privilege(cpu);
    const unsigned rpl = selector & 3;
    if ((selector & ~3u) == 0 || rpl < cpl) {
        throw GuestFault::gp(selector_error(selector));
    }
    auto d = read_descriptor(memory, cpu, selector);
    if (!d || !d->is_code()) {
        throw GuestFault::gp(selector_error(selector));
    }
    if (d->conforming() ? d->segment.dpl > rpl : d->segment.dpl != rpl) {
        throw GuestFault::gp(selector_error(selector));
    }
    if (!d->segment.present) {
        throw GuestFault{kSegmentNotPresent, true, selector_error(selector), 0};
    }
    mark_descriptor_accessed(memory, cpu, selector);
    Segment s = d->segment;
    s.type |= 1;
    s.selector = selector;
    return s;
}

void null_inaccessible_data_segments(CpuState& cpu, unsigned new_cpl) {
    for (SegmentIndex i : {ES, DS, FS, GS}) {
        Segment& s = cpu.seg[i];
        bool conforming_code = s.s && (s.type & 8) && (s.type & 4);
        if (!s.unusable && !conforming_code && s.dpl < new_cpl) {
            uint64_t base = s.base;
            s = null_segment(0);
            if (i == FS || i == GS) {
                s.base = base;
            }
        }
    }
}

} // namespace krr
