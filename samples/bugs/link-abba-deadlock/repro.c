// ABBA deadlock between KRR_LINK (table_lock, map_lock) and KRR_UNLINK
// (map_lock, table_lock) on two threads (written the way syzkaller writes C
// reproducers)

#define _GNU_SOURCE

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

uint64_t r[1] = {0xffffffffffffffff};

static void* thr(void* arg) {
    unsigned long cmd = (unsigned long)arg;
    for (int i = 0; i < 100000; i++)
        syscall(__NR_ioctl, r[0], cmd, 0ul);
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
    pthread_t th[2];
    // KRR_LINK and KRR_UNLINK
    pthread_create(&th[0], 0, thr, (void*)0x4b50ul);
    pthread_create(&th[1], 0, thr, (void*)0x4b51ul);
    pthread_join(th[0], 0);
    pthread_join(th[1], 0);
    return 0;
}
