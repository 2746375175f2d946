/* A small program for the source_lines test: built with -g, its DWARF line
 * table is read by tui/source_lines and checked against addr2line. The
 * functions are in two files (two compilation units), with a loop and an
 * inlined helper, so the line table has several rows per line. */
#include "source_lines_sample.h"

static int table[16];

static inline int scaled(int v) {
    return v * 3 + 1;
}

int sample_fill(int n) {
    int sum = 0;
    for (int i = 0; i < 16; ++i) {
        table[i] = scaled(i + n);
        sum += table[i];
    }
    return sum;
}

int main(int argc, char** argv) {
    (void)argv;
    return sample_fill(argc) + sample_mix(argc, 7) > 0 ? 0 : 1;
}
