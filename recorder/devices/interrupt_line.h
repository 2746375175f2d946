// A wire from a device's interrupt output to the interrupt controllers.
// `asserted` is the logical state: the controllers' polarity settings are
// about wiring the model does not need, so every line is active-high here.
#pragma once

#include <functional>

namespace krr {

using InterruptLine = std::function<void(bool asserted)>;

// One rising and falling edge: how a timer output that is low for a single
// clock (8254 modes 2 and 4) looks to an edge-triggered input.
inline void pulse(const InterruptLine& line) {
    if (!line)
        return;
    line(true);
    line(false);
}

} // namespace krr
