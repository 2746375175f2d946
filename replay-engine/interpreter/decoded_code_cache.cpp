#include "replay-engine/interpreter/decoded_code_cache.h"

namespace krr {

const CachedInstruction* DecodedCodeCache::insert(uint64_t physical, const CachedInstruction& entry,
                                                  bool* new_page) {
    auto& page = pages_[physical >> 12];
    *new_page = !page;
    if (!page) {
        page = std::make_unique<Page>();
        page->instructions.reserve(64);
    }
    page->instructions.push_back(entry);
    page->slot[physical & 0xfff] = static_cast<int16_t>(page->instructions.size() - 1);
    last_number_ = physical >> 12;
    last_page_ = page.get();
    return &page->instructions.back();
}

void DecodedCodeCache::drop_page(uint64_t physical_page) {
    ++generation_;
    auto it = pages_.find(physical_page >> 12);
    if (it != pages_.end()) {
        dropped_.push_back(std::move(it->second));
        pages_.erase(it);
    }
    if (last_number_ == physical_page >> 12) {
        last_number_ = kNoPage;
        last_page_ = nullptr;
    }
}

void DecodedCodeCache::clear() {
    ++generation_;
    for (auto& [key, page] : pages_) {
        dropped_.push_back(std::move(page));
    }
    pages_.clear();
    last_number_ = kNoPage;
    last_page_ = nullptr;
}

} // namespace krr
