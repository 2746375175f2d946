// Decoded instructions cached by guest-physical address, one table per 4 KiB
// page, so each instruction is decoded once however often it runs. A page
// with cached code is write-protected in the TLB (LinearMemory), and the
// first write to it drops the page's decoded code: the kernel patches its
// own text (alternatives, static calls, jump labels, text_poke), loads
// modules and reuses pages for new code.
//
// Pointers returned by find()/insert() are valid until the next insert() or
// drop of that page: the interpreter uses one for one instruction only.
#pragma once

#include "replay-engine/cpu/decoded_instruction.h"
#include "replay-engine/mmu/page_walk.h"

#include <array>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

namespace krr {

class Interpreter;

// A decoded instruction with its execution handler resolved once, when it is
// cached, so running it needs no table lookup.
struct CachedInstruction {
    void (*handler)(Interpreter&, const cpu::DecodedInstruction&) = nullptr;
    cpu::DecodedInstruction insn;
    // How its memory reads are checked: Write for a read-modify-write
    // destination (Interpreter::read_access).
    Access read_access = Access::Read;
    // The instruction that follows in the same page, once known (-1: not
    // yet): sequential code runs without looking its address up.
    mutable int16_t next = -1;
};

class DecodedCodeCache {
public:
    const CachedInstruction* find(uint64_t physical) {
        const uint64_t number = physical >> 12;
        if (number != last_number_) {
            auto it = pages_.find(number);
            if (it == pages_.end()) {
                return nullptr;
            }
            last_number_ = number;
            last_page_ = it->second.get();
        }
        int16_t slot = last_page_->slot[physical & 0xfff];
        return slot < 0 ? nullptr : &last_page_->instructions[static_cast<size_t>(slot)];
    }

    // Returns the cached copy; `new_page` tells the caller to write-protect
    // the page.
    const CachedInstruction* insert(uint64_t physical, const CachedInstruction& entry,
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

    // Grows whenever decoded code is dropped: a remembered instruction is
    // only followed while the generation is unchanged.
    uint64_t generation() const { return generation_; }

    // The instruction at `physical`, known to follow `current` (the last
    // instruction find() or insert() returned) in the same page; nullptr
    // when it is not decoded yet.
    const CachedInstruction* follow(const CachedInstruction* current, uint64_t physical) {
        if (current->next >= 0) {
            return &last_page_->instructions[static_cast<size_t>(current->next)];
        }
        int16_t slot = last_page_->slot[physical & 0xfff];
        if (slot < 0) {
            return nullptr;
        }
        current->next = slot;
        return &last_page_->instructions[static_cast<size_t>(slot)];
    }

private:
    struct Page {
        Page() { slot.fill(-1); }
        // Index into `instructions` per byte offset, -1 when none starts there.
        std::array<int16_t, 4096> slot;
        std::vector<CachedInstruction> instructions;
    };
    static constexpr uint64_t kNoPage = ~0ULL;
    std::unordered_map<uint64_t, std::unique_ptr<Page>> pages_;
    std::vector<std::unique_ptr<Page>> dropped_;
    // The page of the last lookup: consecutive instructions share a page.
    uint64_t last_number_ = kNoPage;
    Page* last_page_ = nullptr;
    uint64_t generation_ = 0;
};

} // namespace krr
