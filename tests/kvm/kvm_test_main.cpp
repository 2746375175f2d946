// The KVM tests need a usable /dev/kvm. Where there is none the whole
// executable is skipped, visibly: the reason is printed and the exit status
// is 77, which meson reports as SKIP (never as a pass).
#define DOCTEST_CONFIG_IMPLEMENT
#include "recorder/accel/kvm_vm.h"

#include <cstdio>
#include <doctest/doctest.h>

int main(int argc, char** argv) {
    if (auto reason = krr::KvmVm::unavailable_reason()) {
        std::fprintf(stderr, "SKIPPED: the KVM tests need /dev/kvm: %s\n", reason->c_str());
        return 77;
    }
    doctest::Context context(argc, argv);
    return context.run();
}
