// One guest run from the user's point of view: build the image, boot the
// kernel on the chosen accelerator, stream the console, and end when the
// command's exit status and "power off" arrive from the guest init, or for
// whatever other reason a run ends. `krr run` is a thin shell around this;
// `krr record` will add the recording at the control device's "command
// starts".
#pragma once

#include "guest-model/guest_memory.h"
#include "guest-model/machine_state.h"
#include "recorder/guest-image/guest_image_request.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace krr {

struct GuestRunOptions {
    GuestImageRequest image;              // command, --file, --module, --kernel
    std::optional<std::string> initrd;    // --initrd: use this instead of building one
    std::string append;                   // extra kernel command-line arguments
    uint64_t memory_bytes = 256ULL << 20; // --mem
    unsigned vcpus = 1;                   // --smp
    std::string accel = "tcg";            // --accel
    // --boot flat: image.kernel is a flat x86-64 image entered in long mode
    // at kFlatImageAddress (load_flat_image), not a Linux kernel; no
    // initramfs. For small freestanding guests such as tests/kvm's
    // micro-guest.
    bool flat_boot = false;
    uint64_t max_instructions = 0; // 0: no limit
    double timeout_seconds = 0;    // wall clock; 0: none
    bool debug_log = false;        // device and loader debug messages
    bool profile = false;          // sample where the guest spends its instructions
    // Record from the moment the guest's command starts into this trace
    // directory (krr record).
    std::optional<std::string> record_path;
    // Called about every half second from another thread with vCPU 0's
    // instruction count and whether recording has started.
    std::function<void(uint64_t instructions, bool recording)> progress;
    // Once the command starts, hold interrupts back by pseudorandom delays
    // drawn from this seed (recorder/accel/interrupt_jitter.h): krr repro's
    // per-attempt variation for racy reproducers. Replay needs no seed.
    std::optional<uint64_t> interrupt_jitter_seed;
    // A file descriptor whose bytes are typed on the guest's console (the
    // UART's receiver), e.g. 0 for stdin; -1 for none.
    int console_input_fd = -1;
};

// The kernel command line every krr guest gets (ARCHITECTURE.md: no TSC
// clocksource for the vDSO, no KASLR so addresses are stable across runs).
std::string default_kernel_command_line();

struct GuestRunResult {
    enum class Ending {
        CommandExited,    // init reported the command's exit status, then powered off
        PoweredOff,       // powered off without reporting a status
        InitFailed,       // the guest init could not start the command
        KernelPanic,      // "Kernel panic" on the console, then a reset
        GuestReset,       // triple fault (reboot) without a panic message
        Halted,           // halted with nothing left to wake it
        InstructionLimit, // --max-instructions
        Timeout,          // --timeout
        Interrupted,      // Ctrl-C
        EmulatorLimit,    // an instruction or device the emulator cannot execute
    };
    Ending ending = Ending::PoweredOff;
    int exit_status = 0;              // CommandExited: the status (128 + signal if killed)
    std::string message;              // what happened, for endings other than CommandExited
    uint64_t instructions = 0;        // retired by vCPU 0
    double seconds = 0;               // wall clock
    uint64_t halted_instructions = 0; // virtual time skipped while halted, in instructions
    // With options.profile: guest functions (System.map names, or hex
    // addresses) and the instructions spent in them, most first.
    std::vector<std::pair<std::string, uint64_t>> profile;
    // With --accel kvm: how often the vCPU left KVM, by kind, and the
    // interrupts injected (docs/kvm.md explains each).
    std::vector<std::pair<std::string, uint64_t>> kvm_exits;
    // With options.record_path: whether the command started (and so a trace
    // was written), and what it holds.
    bool recorded = false;
    uint64_t recorded_instructions = 0;
    uint64_t recorded_inputs = 0;
    uint64_t trace_log_bytes = 0;
};

const char* ending_name(GuestRunResult::Ending ending);

// Where --boot flat puts its image: 1 MiB, above the boot tables.
inline constexpr uint64_t kFlatImageAddress = 0x100000;

// Copies `image` to guest-physical `address` with identity-mapped page
// tables for the first 4 GiB (2 MiB pages) and a flat GDT (code selector
// 0x10, data 0x18) at the boot locations of guest_layout.h, and returns the
// CPU state that enters it: long mode, CPL 0, interrupts off. Throws
// krr::Error when it does not fit in `memory`.
CpuState load_flat_image(GuestMemory& memory, std::span<const uint8_t> image, uint64_t address);

// Runs the guest, sending console bytes to `console` as they come.
// Throws krr::Error for problems before the guest starts (missing kernel,
// bad options). `stop` (may be null) ends the run when it becomes true.
GuestRunResult run_guest(const GuestRunOptions& options,
                         const std::function<void(uint8_t)>& console,
                         const std::atomic<bool>* stop);

} // namespace krr
