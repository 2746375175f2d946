/* A static program whose system calls the timeline test can count: it calls
 * getpid exactly GETPID_CALLS times, passing 0x6b7272 << 8 | i in RDI (the
 * kernel ignores getpid's registers, the activity index records them), so
 * the test can check each call appears once and in order. */
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { kCalls = 17 };

int main(void) {
    long pid = 0;
    for (long i = 0; i < kCalls; ++i) {
        pid = syscall(SYS_getpid, 0x6b727200L | i);
    }
    printf("getpid called %d times (pid %ld)\n", kCalls, pid);
    return 0;
}
