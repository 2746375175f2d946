/* Threads pinned to different CPUs racing on shared memory and on kernel
 * objects (issue 11): an unprotected counter next to a futex-based lock, a
 * pipe between two CPUs, and a non-blocking descriptor that one thread
 * closes while another keeps reading it. The outcome line depends on the
 * interleaving; a replay must print the same one. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

enum { kMaxThreads = 8, kIncrements = 20000, kPipeBytes = 65536, kChunk = 100 };

static int cpus;
static volatile long racy;
static long locked;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int ran_on[kMaxThreads];
static int pipe_fds[2];
static long pipe_bytes, pipe_reads;
static int victim_fds[2];
static long victim_reads, victim_empty;
static volatile int reader_started;

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu % cpus, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void* count(void* arg) {
    int index = (int)(long)arg;
    pin(index);
    for (int i = 0; i < kIncrements; ++i) {
        long v = racy;
        racy = v + 1;
        pthread_mutex_lock(&lock);
        ++locked;
        pthread_mutex_unlock(&lock);
    }
    ran_on[index] = sched_getcpu();
    return NULL;
}

static void* pipe_writer(void* arg) {
    (void)arg;
    pin(1);
    char chunk[kChunk];
    memset(chunk, 'x', sizeof chunk);
    for (int sent = 0; sent < kPipeBytes; sent += kChunk) {
        if (write(pipe_fds[1], chunk, kChunk) != kChunk) {
            break;
        }
    }
    close(pipe_fds[1]);
    return NULL;
}

static void* pipe_reader(void* arg) {
    (void)arg;
    pin(0);
    char buf[4096];
    ssize_t n;
    while ((n = read(pipe_fds[0], buf, sizeof buf)) > 0) {
        pipe_bytes += n;
        ++pipe_reads;
    }
    return NULL;
}

/* Reads the non-blocking descriptor until it is closed under it. */
static void* victim_reader(void* arg) {
    (void)arg;
    pin(0);
    reader_started = 1;
    char c;
    for (;;) {
        ssize_t n = read(victim_fds[0], &c, 1);
        if (n == 1) {
            ++victim_reads;
        } else if (n < 0 && errno == EAGAIN) {
            ++victim_empty;
        } else {
            break; /* EBADF: the other CPU closed it */
        }
    }
    return NULL;
}

static void* victim_closer(void* arg) {
    (void)arg;
    pin(1);
    while (!reader_started) {
    }
    for (int i = 0; i < 200; ++i) {
        if (write(victim_fds[1], "y", 1) != 1) {
            break;
        }
    }
    close(victim_fds[0]);
    return NULL;
}

int main(void) {
    cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1 || cpus > kMaxThreads) {
        fprintf(stderr, "unexpected CPU count %d\n", cpus);
        return 1;
    }
    pthread_t threads[kMaxThreads + 4];
    for (long i = 0; i < cpus; ++i) {
        pthread_create(&threads[i], NULL, count, (void*)i);
    }
    if (pipe(pipe_fds) != 0 || pipe2(victim_fds, O_NONBLOCK) != 0) {
        perror("pipe");
        return 1;
    }
    pthread_create(&threads[cpus], NULL, pipe_writer, NULL);
    pthread_create(&threads[cpus + 1], NULL, pipe_reader, NULL);
    pthread_create(&threads[cpus + 2], NULL, victim_reader, NULL);
    pthread_create(&threads[cpus + 3], NULL, victim_closer, NULL);
    for (int i = 0; i < cpus + 4; ++i) {
        pthread_join(threads[i], NULL);
    }
    printf("counters ran on cpus:");
    for (int i = 0; i < cpus; ++i) {
        printf(" %d", ran_on[i]);
    }
    printf("\noutcome: racy=%ld locked=%ld pipe=%ld bytes in %ld reads victim=%ld reads, %ld "
           "empty, then closed\n",
           racy, locked, pipe_bytes, pipe_reads, victim_reads, victim_empty);
    /* This program leads the console's session, so its exit hangs the console
     * up, which discards output the serial driver has not sent yet (with
     * several CPUs its interrupts may run behind): wait until it is sent. */
    fflush(stdout);
    tcdrain(STDOUT_FILENO);
    return 0;
}
