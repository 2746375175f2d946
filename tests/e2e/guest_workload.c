/* A static program that exercises what a user-space reproducer leans on:
 * fork, pipes, threads with mutexes and condition variables, sleeping,
 * signals, mmap/munmap/mprotect, /proc/self/maps, and floating point through
 * printf. It prints only results that do not depend on pids or times, so its
 * output must be identical natively and inside a krr guest. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { kThreads = 4, kRounds = 2000 };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_changed = PTHREAD_COND_INITIALIZER;
static int turn;
static long shared_total;

static void* take_turns(void* arg) {
    int me = (int)(intptr_t)arg;
    for (int round = 0; round < kRounds / kThreads; ++round) {
        pthread_mutex_lock(&lock);
        while (turn % kThreads != me) {
            pthread_cond_wait(&turn_changed, &lock);
        }
        shared_total += (long)turn * (me + 1);
        ++turn;
        pthread_cond_broadcast(&turn_changed);
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static volatile sig_atomic_t got_usr1;
static void on_usr1(int sig) { got_usr1 = sig; }

static sigjmp_buf segv_return;
static void on_segv(int sig) {
    (void)sig;
    siglongjmp(segv_return, 1);
}

static unsigned checksum(const unsigned char* p, size_t n) {
    unsigned h = 2166136261u;
    for (size_t i = 0; i < n; ++i) {
        h = (h ^ p[i]) * 16777619u;
    }
    return h;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);

    /* fork + pipe: the child computes, the parent reads. */
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        return 1;
    }
    pid_t child = fork();
    if (child == 0) {
        close(fds[0]);
        unsigned long long f = 1;
        for (int i = 1; i <= 20; ++i) {
            f *= (unsigned long long)i;
        }
        char buf[64];
        int n = snprintf(buf, sizeof buf, "20! = %llu", f);
        if (write(fds[1], buf, (size_t)n) != n) {
            _exit(2);
        }
        _exit(7);
    }
    close(fds[1]);
    char buf[128] = {0};
    ssize_t got = read(fds[0], buf, sizeof buf - 1);
    int status = 0;
    waitpid(child, &status, 0);
    printf("pipe: %s (%zd bytes), child exit %d\n", buf, got, WEXITSTATUS(status));

    /* Threads taking turns under a mutex and a condition variable. */
    pthread_t threads[kThreads];
    for (int i = 0; i < kThreads; ++i) {
        pthread_create(&threads[i], NULL, take_turns, (void*)(intptr_t)i);
    }
    for (int i = 0; i < kThreads; ++i) {
        pthread_join(threads[i], NULL);
    }
    printf("threads: %d turns, total %ld\n", turn, shared_total);

    /* Sleep: at least the time asked for passes on the monotonic clock. */
    struct timespec before, after, nap = {0, 20 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &before);
    nanosleep(&nap, NULL);
    clock_gettime(CLOCK_MONOTONIC, &after);
    long elapsed_ms = (after.tv_sec - before.tv_sec) * 1000 + (after.tv_nsec - before.tv_nsec) / 1000000;
    printf("sleep: slept at least 20 ms: %s\n", elapsed_ms >= 20 ? "yes" : "no");

    /* Signals: a handler for SIGUSR1, and SIGSEGV caught and survived. */
    signal(SIGUSR1, on_usr1);
    raise(SIGUSR1);
    printf("signal: handler saw %d\n", (int)got_usr1);

    /* mmap, mprotect, a caught fault, munmap, and /proc/self/maps. */
    size_t len = 4 * 4096;
    unsigned char* area = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    for (size_t i = 0; i < len; ++i) {
        area[i] = (unsigned char)(i * 7 + 3);
    }
    printf("mmap: checksum %08x\n", checksum(area, len));
    mprotect(area, 4096, PROT_READ);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    sigaction(SIGSEGV, &sa, NULL);
    int faulted = 0;
    if (sigsetjmp(segv_return, 1) == 0) {
        area[0] = 1;
    } else {
        faulted = 1;
    }
    printf("mprotect: write to read-only page faulted: %s\n", faulted ? "yes" : "no");
    char maps[1 << 16];
    FILE* f = fopen("/proc/self/maps", "r");
    size_t maps_len = f ? fread(maps, 1, sizeof maps - 1, f) : 0;
    if (f) {
        fclose(f);
    }
    maps[maps_len] = 0;
    char needle[64];
    snprintf(needle, sizeof needle, "%lx-", (unsigned long)(uintptr_t)area);
    printf("maps: area listed: %s\n", strstr(maps, needle) ? "yes" : "no");
    munmap(area, len);
    f = fopen("/proc/self/maps", "r");
    maps_len = f ? fread(maps, 1, sizeof maps - 1, f) : 0;
    if (f) {
        fclose(f);
    }
    maps[maps_len] = 0;
    printf("maps: area gone after munmap: %s\n", strstr(maps, needle) ? "no" : "yes");

    /* Floating point through libc: SSE2 doubles and x87 long doubles. */
    double x = 0;
    for (int i = 1; i <= 1000; ++i) {
        x += sqrt((double)i) / (double)i;
    }
    long double y = 1.0L;
    for (int i = 0; i < 64; ++i) {
        y = y * 1.5L + 0.25L;
    }
    printf("float: %.12f %.6Lg %g\n", x, y, exp(1.0));
    return 0;
}
