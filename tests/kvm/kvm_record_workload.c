/* A short static program recorded under KVM (tests/kvm/krr_record_kvm_test.sh):
 * a handful of system calls, a pipe between two processes, a sleep, and a
 * loop over memory, so that the recording has timer interrupts in user and
 * kernel mode, page faults and a context switch. Prints what it saw; the
 * test checks the replay prints the same. */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    struct utsname name;
    if (uname(&name) != 0) {
        perror("uname");
        return 1;
    }
    printf("workload: pid %d on %s\n", getpid() > 0 ? 1 : 0, name.sysname);

    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        return 1;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    if (child == 0) {
        const char message[] = "through a pipe";
        close(fds[0]);
        if (write(fds[1], message, sizeof message) != (ssize_t)sizeof message) {
            _exit(2);
        }
        _exit(0);
    }
    close(fds[1]);
    char buffer[64] = {0};
    ssize_t got = read(fds[0], buffer, sizeof buffer - 1);
    int status = 0;
    waitpid(child, &status, 0);
    printf("workload: read %zd bytes '%s', child status %d\n", got, buffer, status);

    struct timespec before, after, pause = {0, 50 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &before);
    nanosleep(&pause, NULL);
    clock_gettime(CLOCK_MONOTONIC, &after);
    long slept_ms =
        (after.tv_sec - before.tv_sec) * 1000 + (after.tv_nsec - before.tv_nsec) / 1000000;
    printf("workload: slept %s\n", slept_ms >= 50 ? "at least 50 ms" : "too little");

    /* Memory that moves while the registers of the loop repeat. */
    static volatile unsigned long counter;
    for (unsigned long i = 0; i < 20 * 1000 * 1000; ++i) {
        counter = counter + 1;
    }
    printf("workload: counted %lu\n", (unsigned long)counter);
    return 0;
}
