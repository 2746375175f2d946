// The APIC bus: routes messages from the I/O APIC and from local APICs'
// ICRs to the local APICs they address (physical ID, logical flat or
// cluster mask, or a shorthand), and EOIs of level-triggered vectors back to
// the I/O APIC. Lowest-priority delivery picks the addressed APIC with the
// lowest processor priority, the lowest APIC ID on a tie, so the choice is
// a function of the state alone.
#pragma once

#include "recorder/devices/apic_message.h"
#include "recorder/devices/io_apic.h"
#include "recorder/devices/local_apic.h"

#include <vector>

namespace krr {

class ApicBus {
public:
    void attach(LocalApic& apic) { local_apics_.push_back(&apic); }
    void attach(IoApic& apic) { io_apic_ = &apic; }

    // `source` is the sending local APIC, or nullptr for the I/O APIC.
    void deliver(const ApicMessage& message, const LocalApic* source);
    void end_of_interrupt(uint8_t vector);

    // Whether `apic` is among the message's destinations (shorthand aside).
    static bool addressed(const LocalApic& apic, const ApicMessage& message);

private:
    std::vector<LocalApic*> local_apics_;
    IoApic* io_apic_ = nullptr;
};

} // namespace krr
