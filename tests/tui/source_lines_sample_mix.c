/* The second compilation unit of the source_lines test's program. */
#include "source_lines_sample.h"

int sample_mix(int a, int b) {
    int c = a ^ b;
    if (c & 1) {
        c = c * 5;
    } else {
        c = c + 11;
    }
    return c;
}
