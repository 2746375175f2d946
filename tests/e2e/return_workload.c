/* A static program whose exceptions the timeline test can predict, with
 * the kernel's own count beside them: it touches kPages fresh pages of an
 * anonymous mapping (one user write fault each, which the kernel resolves
 * and returns to the faulting instruction), executes ud2 kTraps times with a
 * SIGILL handler (each invalid-opcode exception returns to the handler,
 * which skips the ud2), and spins in user mode long enough for timer
 * interrupts to come. Then one read() of kZeroBytes from /dev/zero into a
 * fresh mapping keeps the kernel busy for several timer periods, so
 * interrupts (and the kernel's own page faults on the buffer) nest inside
 * the system call. It prints the addresses the test needs and the kernel's
 * minor-fault count across the touching loop. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <ucontext.h>
#include <unistd.h>

enum { kPages = 64, kTraps = 8, kSpin = 3000000, kZeroBytes = 4 << 20 };

extern char ud2_site[];
static volatile int traps;

static void on_sigill(int sig, siginfo_t* info, void* context) {
    (void)sig;
    (void)info;
    ucontext_t* uc = context;
    uc->uc_mcontext.gregs[REG_RIP] += 2; /* past the ud2 */
    ++traps;
}

/* One ud2 site, however the compiler arranges the loop around it. */
__attribute__((noinline)) static void trap_once(void) {
    __asm__ volatile(".globl ud2_site\nud2_site: ud2" ::: "memory");
}

static long minor_faults(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_minflt;
}

int main(void) {
    volatile char* pages =
        mmap(0, kPages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pages == MAP_FAILED) {
        return 1;
    }
    struct sigaction action = {0};
    action.sa_sigaction = on_sigill;
    action.sa_flags = SA_SIGINFO;
    sigaction(SIGILL, &action, 0);

    long before = minor_faults();
    for (int i = 0; i < kPages; ++i) {
        pages[i * 4096] = 1;
    }
    long after = minor_faults();

    for (int i = 0; i < kTraps; ++i) {
        trap_once();
    }

    volatile uint64_t spin = 0;
    for (long i = 0; i < kSpin; ++i) {
        spin += (uint64_t)i;
    }
    char* zeros = mmap(0, kZeroBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int fd = open("/dev/zero", O_RDONLY);
    long before_read = minor_faults();
    if (zeros == MAP_FAILED || fd < 0 || read(fd, zeros, kZeroBytes) != kZeroBytes) {
        perror("reading /dev/zero");
        return 1;
    }
    long after_read = minor_faults();
    printf("pages %#lx touched %d minflt %ld traps %d at %#lx handler %#lx\n",
           (unsigned long)(uintptr_t)pages, kPages, after - before, traps,
           (unsigned long)(uintptr_t)ud2_site, (unsigned long)(uintptr_t)on_sigill);
    printf("zeros %#lx read %d minflt %ld\n", (unsigned long)(uintptr_t)zeros, kZeroBytes,
           after_read - before_read);
    return 0;
}
