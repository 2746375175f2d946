// What the user asked to put in the guest (machine options --file and
// --module, and the command after "--"), turned into a ready builder with the
// embedded init and the located busybox. `krr image`, `krr run` and
// `krr record` share this so they boot the same image for the same request.
#pragma once

#include "recorder/guest-image/guest_image_builder.h"

#include <optional>
#include <string>
#include <vector>

namespace krr {

struct GuestImageRequest {
    std::vector<std::string> command;    // empty: an interactive /bin/sh
    std::vector<std::string> file_specs; // "HOST[:GUEST]", as given to --file
    std::vector<std::string> modules;    // names or paths, as given to --module
    std::optional<std::string> kernel;   // --kernel; module names are looked up beside it
};

// Throws krr::Error for a missing busybox, file or module.
GuestImageBuilder make_guest_image_builder(const GuestImageRequest& request);

} // namespace krr
