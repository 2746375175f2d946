// Decoded instructions cached by guest-physical address, one table per 4 KiB
// page, so each instruction is decoded once however often it runs. A page
// with cached code is write-protected in the TLB (LinearMemory), and the
// first write to it drops the page's decoded code: the kernel patches its
// own text (alternatives, static calls, jump labels, text_poke), loads
// modules and reuses pages for new code.
#pragma once

#include "replay-engine/cpu/decoded_instruction.h"

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

namespace krr {

class DecodedCodeCache {
public:
    const cpu::DecodedInstruction* find(uint64_t physical) const {
        auto it = pages_.find(physical >> 12);
        if (it == pages_.end()) {
            return nullptr;
        }
        int32_t slot = it->second->slot[physical & 0xfff];
        return slot < 0 ? nullptr : &it->second->instructions[static_cast<size_t>(slot)];
    }

    // Returns the cached copy; `new_page` tells the caller to write-protect
    // the page.
    const cpu::DecodedInstruction* insert(uint64_t physical, const cpu::DecodedInstruction& insn,
                                          bool* new_page);

    // Drop a page's decoded code. The storage is kept until release_dropped()
    // because the instruction being executed may be the one that wrote to
    // its own page.
    void drop_page(uint64_t physical_page);
    void release_dropped() {
        if (!dropped_.empty()) {
            dropped_.clear();
        }
    }
    void clear();

    size_t page_count() const { return pages_.size(); }

private:
    struct Page {
        Page() { slot.fill(-1); }
        std::array<int32_t, 4096> slot;
        std::deque<cpu::DecodedInstruction> instructions; // stable addresses
    };
    std::unordered_map<uint64_t, std::unique_ptr<Page>> pages_;
    std::vector<std::unique_ptr<Page>> dropped_;
};

} // namespace krr
