/* Threads racing on an unprotected counter: natively the total differs from
 * run to run; a recording must replay to exactly the recorded total. Also
 * exercises getrandom and a futex-based lock. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <sys/random.h>

enum { kThreads = 4, kIncrements = 200000 };
static volatile long racy_counter;
static long locked_counter;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void* work(void* arg) {
    (void)arg;
    for (int i = 0; i < kIncrements; ++i) {
        long v = racy_counter;
        if ((i & 1023) == 0) {
            sched_yield();
        }
        racy_counter = v + 1;
        pthread_mutex_lock(&lock);
        ++locked_counter;
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

int main(void) {
    unsigned char random_bytes[16];
    ssize_t got = getrandom(random_bytes, sizeof random_bytes, 0);
    pthread_t threads[kThreads];
    for (int i = 0; i < kThreads; ++i) {
        pthread_create(&threads[i], NULL, work, NULL);
    }
    for (int i = 0; i < kThreads; ++i) {
        pthread_join(threads[i], NULL);
    }
    printf("getrandom: %zd bytes, first %02x%02x\n", got, random_bytes[0], random_bytes[1]);
    printf("locked counter: %ld (expected %d)\n", locked_counter, kThreads * kIncrements);
    printf("racy counter: %ld\n", racy_counter);
    return locked_counter == kThreads * kIncrements ? 0 : 1;
}
