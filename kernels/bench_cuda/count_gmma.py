#!/usr/bin/env python3
"""Counts the Hopper tensor-core (GMMA) instructions per kernel in CUDA objects, without cuobjdump.

Reads a cubin, or an object / executable with sm_90 cubins embedded uncompressed in its fatbin (nvcc's
default), finds every CUDA ELF image (e_machine 190) and decodes the opcode of each 128-bit SASS
instruction in the .text.<kernel> sections. The opcode numbers come from public reverse-engineering
of the sm_90 encoding (13 bits: bits 0-11 and bit 91): QGMMA (FP8 wgmma) 0x19f3 / 0x15f3 / 0x1df3.
Prefer `cuobjdump -sass <file> | grep -c QGMMA` where cuobjdump exists; this is the fallback used
when the toolkit at hand lacks it. Also prints the N of each QGMMA (its size field holds N/8 - 1).

usage: count_gmma.py FILE...
"""
import collections
import struct
import sys

QGMMA_OPCODES = {0x19F3: "QGMMA (A, B from shared memory)", 0x15F3: "QGMMA (A from registers)",
                 0x1DF3: "QGMMA (A from registers, variant)"}
EM_CUDA = 190


def cuda_elf_images(data):
    """(offset, size) of each little-endian 64-bit CUDA ELF image inside data."""
    start = 0
    while True:
        at = data.find(b"\x7fELF", start)
        if at < 0:
            return
        start = at + 4
        if at + 64 > len(data) or data[at + 4] != 2 or data[at + 5] != 1:
            continue
        machine, = struct.unpack_from("<H", data, at + 18)
        if machine != EM_CUDA:
            continue
        shoff, = struct.unpack_from("<Q", data, at + 0x28)
        shentsize, shnum = struct.unpack_from("<HH", data, at + 0x3A)
        yield at, shoff + shentsize * shnum


def text_sections(data, base):
    shoff, = struct.unpack_from("<Q", data, base + 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, base + 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", data, base + shoff + i * shentsize) for i in range(shnum)]
    strings = base + headers[shstrndx][4]
    for name_off, _type, _flags, _addr, off, size in headers:
        end = data.index(b"\0", strings + name_off)
        name = data[strings + name_off:end].decode(errors="replace")
        if name.startswith(".text."):
            yield name[len(".text."):], base + off, size


def main(paths):
    total = 0
    for path in paths:
        data = open(path, "rb").read()
        for base, _size in cuda_elf_images(data):
            for kernel, off, size in text_sections(data, base):
                found = collections.Counter()
                for i in range(off, off + size - 15, 16):
                    lo, hi = struct.unpack_from("<QQ", data, i)
                    opcode = (lo & 0xFFF) | (((hi >> 27) & 1) << 12)
                    if opcode in QGMMA_OPCODES:
                        n = (((lo >> 53) & 0x7F) + 1) * 8
                        found[f"{QGMMA_OPCODES[opcode]} 64x{n}x32"] += 1
                count = sum(found.values())
                total += count
                print(f"{path}: {kernel[:110]}: {size // 16} instructions, {count} QGMMA {dict(found)}")
    print(f"total QGMMA: {total}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1:]))
