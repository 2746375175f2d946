#include "recorder/devices/apic_bus.h"

namespace krr {

namespace {

constexpr uint8_t kBroadcast = 0xff;

} // namespace

bool ApicBus::addressed(const LocalApic& apic, const ApicMessage& message) {
    if (message.destination == kBroadcast)
        return true;
    if (!message.logical_destination)
        return apic.id() == message.destination;
    uint8_t logical = apic.logical_id();
    if (apic.flat_model())
        return (logical & message.destination) != 0;
    // Cluster model: high nibble names the cluster, low nibble the members.
    return (logical >> 4) == (message.destination >> 4) &&
           (logical & message.destination & 0xf) != 0;
}

void ApicBus::deliver(const ApicMessage& message, const LocalApic* source) {
    std::vector<LocalApic*> targets;
    for (LocalApic* apic : local_apics_) {
        bool chosen = false;
        switch (message.shorthand) {
        case ApicShorthand::None:
            chosen = addressed(*apic, message);
            break;
        case ApicShorthand::Self:
            chosen = apic == source;
            break;
        case ApicShorthand::AllIncludingSelf:
            chosen = true;
            break;
        case ApicShorthand::AllExcludingSelf:
            chosen = apic != source;
            break;
        }
        if (chosen)
            targets.push_back(apic);
    }
    if (message.mode == ApicDeliveryMode::LowestPriority && targets.size() > 1) {
        LocalApic* lowest = targets.front();
        for (LocalApic* apic : targets) {
            if (apic->processor_priority() < lowest->processor_priority() ||
                (apic->processor_priority() == lowest->processor_priority() &&
                 apic->id() < lowest->id()))
                lowest = apic;
        }
        targets = {lowest};
    }
    for (LocalApic* apic : targets)
        apic->accept(message);
}

void ApicBus::end_of_interrupt(uint8_t vector) {
    if (io_apic_)
        io_apic_->end_of_interrupt(vector);
}

} // namespace krr
