/* The source_lines test's program: two compilation units. */
#pragma once

int sample_fill(int n);
int sample_mix(int a, int b);
