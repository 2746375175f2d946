/* User-mode traps under KVM (tests/kvm/krr_user_traps_kvm_test.sh): INT3 and
 * INT1 in loops, each answered by a SIGTRAP handler, and the FPU image of
 * each signal frame over a stack filled with a pattern. Prints how many traps
 * arrived of how many taken, and whether the frames kept bytes 416-463 of
 * their FXSAVE image as the CPU leaves them (the pattern) or not.
 * Usage: user_traps_workload INT3_COUNT INT1_COUNT */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

static volatile long traps, frames_kept, frames_changed;

static void on_trap(int signal_number, siginfo_t* info, void* context) {
    (void)signal_number;
    (void)info;
    const unsigned char* image = (const unsigned char*)((ucontext_t*)context)->uc_mcontext.fpregs;
    int kept = 1;
    for (int i = 416; i < 464; ++i) {
        kept &= image[i] == 0x5a;
    }
    ++traps;
    if (kept) {
        ++frames_kept;
    } else {
        ++frames_changed;
    }
}

/* The stack below the caller's frame, where the signal frames go. */
__attribute__((noinline)) static void fill_stack(void) {
    volatile unsigned char pad[16384];
    for (unsigned i = 0; i < sizeof pad; ++i) {
        pad[i] = 0x5a;
    }
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: user_traps_workload INT3_COUNT INT1_COUNT\n");
        return 2;
    }
    const long int3_count = atol(argv[1]), int1_count = atol(argv[2]);
    struct sigaction action = {0};
    action.sa_sigaction = on_trap;
    action.sa_flags = SA_SIGINFO;
    if (sigaction(SIGTRAP, &action, NULL) != 0) {
        perror("sigaction");
        return 1;
    }
    fill_stack();
    for (long i = 0; i < int3_count; ++i) {
        __asm__ volatile("int3");
        for (volatile int spin = 0; spin < 2000; ++spin) {
        }
    }
    const long int3_traps = traps;
    for (long i = 0; i < int1_count; ++i) {
        __asm__ volatile(".byte 0xf1"); /* INT1 (ICEBP) */
        for (volatile int spin = 0; spin < 2000; ++spin) {
        }
    }
    printf("user traps: int3 %ld of %ld, int1 %ld of %ld; frames kept %ld, changed %ld\n",
           int3_traps, int3_count, traps - int3_traps, int1_count, frames_kept, frames_changed);
    return traps == int3_count + int1_count ? 0 : 1;
}
