#include "recorder/guest-image/guest_image_request.h"

#include "recorder/guest-image/embedded_init.h"
#include "recorder/guest-image/guest_locator.h"

namespace krr {

GuestImageBuilder make_guest_image_builder(const GuestImageRequest& request) {
    GuestImageBuilder builder(embedded_guest_init());
    builder.set_busybox(locate_busybox());
    builder.set_command(request.command);
    for (const auto& spec : request.file_specs) {
        builder.add_file(parse_guest_file_spec(spec));
    }
    // The kernel is only needed to resolve module names, so an image without
    // modules can be built before any kernel is provisioned.
    std::optional<std::string> kernel;
    for (const auto& module : request.modules) {
        if (!kernel) {
            kernel = locate_kernel(request.kernel);
        }
        builder.add_module(locate_module(module, *kernel));
    }
    return builder;
}

} // namespace krr
