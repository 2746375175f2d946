// krr image -o FILE [--file HOST[:GUEST]]... [--module NAME|PATH]... [-- CMD [ARGS]]:
// writes the initramfs krr would boot, for use with another VMM (QEMU etc.).
#include "cli/commands.h"
#include "guest-model/error.h"
#include "recorder/guest-image/guest_image_request.h"

namespace krr::cli {

CommandSpec image_command() {
    CommandSpec spec;
    spec.name = "image";
    spec.usage = "-o FILE [--file HOST[:GUEST]]... [--module NAME|PATH]... [-- CMD [ARGS]]";
    spec.summary = "write the initramfs krr would boot, for use with other VMMs";
    spec.description =
        "Writes a newc cpio initramfs holding krr's guest init, busybox, CMD (default: an\n"
        "interactive /bin/sh), the --file files and the --module modules. Boot it with the\n"
        "kernel's 'console=ttyS0'; init runs CMD on the console and powers off.\n"
        "The same inputs always give the same bytes.";
    spec.options.push_back({"output", 'o', "FILE", "where to write the initramfs"});
    for (const auto& option : machine_options()) {
        if (option.name == "file" || option.name == "module" || option.name == "kernel") {
            spec.options.push_back(option);
        }
    }
    spec.takes_command = true;
    spec.run = [](const ParsedArgs& args) {
        auto output = args.get("output");
        if (!output) {
            throw Error("image", "-o FILE is required");
        }
        GuestImageRequest request;
        request.command = args.command;
        request.file_specs = args.all("file");
        request.modules = args.all("module");
        request.kernel = args.get("kernel");
        make_guest_image_builder(request).write(*output);
        return 0;
    };
    return spec;
}

} // namespace krr::cli
