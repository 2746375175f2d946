/* The workload the gdb tests record: a known number of getpid calls and
 * forks (the kernel's total_forks counter goes up once per fork), and an
 * open of a file, so breakpoints on kernel functions and a watchpoint on a
 * kernel global have known hits. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { kRounds = 5 };

int main(void) {
    for (int i = 0; i < kRounds; ++i) {
        syscall(SYS_getpid);
        pid_t child = fork();
        if (child == 0) {
            _exit(0);
        }
        waitpid(child, NULL, 0);
    }
    int fd = open("/proc/version", O_RDONLY);
    if (fd >= 0) {
        close(fd);
    }
    printf("gdb workload: %d rounds\n", kRounds);
    return 0;
}
