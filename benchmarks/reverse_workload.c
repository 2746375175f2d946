/* The reverse-execution benchmark's guest workload: getpid, then about a
 * hundred million instructions of user-mode arithmetic, eleven times; so a
 * breakpoint on getpid is hit every hundred million instructions and the
 * recording passes a billion. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { kRounds = 11, kSpins = 11000000 }; /* about 9 instructions per spin at -O0 */

int main(void) {
    volatile uint64_t x = 1;
    for (int round = 0; round < kRounds; ++round) {
        syscall(SYS_getpid);
        for (int i = 0; i < kSpins; ++i) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        }
    }
    printf("reverse workload: %llu\n", (unsigned long long)(x & 0xffff));
    return 0;
}
