#!/usr/bin/env python3
"""Writes an assembly file that embeds a binary into krr at build time, so
the krr executable carries its guest init and needs nothing beside it.

usage: embed_binary.py INPUT OUTPUT.S SYMBOL
defines SYMBOL_start and SYMBOL_end around INPUT's bytes in .rodata."""
import os
import sys


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: embed_binary.py INPUT OUTPUT.S SYMBOL")
    source, output, symbol = sys.argv[1:]
    path = os.path.abspath(source)
    if '"' in path or "\\" in path:
        sys.exit(f"embed_binary.py: {path}: quote or backslash in the path")
    text = (
        '\t.section .rodata\n'
        '\t.balign 16\n'
        f'\t.globl {symbol}_start\n'
        f'{symbol}_start:\n'
        f'\t.incbin "{path}"\n'
        f'\t.globl {symbol}_end\n'
        f'{symbol}_end:\n'
        '\t.section .note.GNU-stack,"",@progbits\n'
    )
    with open(output, "w") as f:
        f.write(text)


main()
