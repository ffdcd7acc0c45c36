#!/usr/bin/env python3
"""Writes crafted x86-64 ELF objects whose .eh_frame is expensive to
interpret, the inputs that made one unwind table build take seconds and
hundreds of MB (issue 9). They are seeds of the fuzz-unwind corpus and
what test-cfi-rows builds; regenerate with

    tests/fuzz/make-cfi-inputs.py tests/fuzz/corpus/unwind

Each object: one executable PT_LOAD at TEXT, .eh_frame at EH_ADDR with
one CIE ("zR", absolute 8-byte addresses, CFA = rsp+8, RA at CFA-8) and
FDEs over TEXT. Only the layout the CFI readers look at is filled in.
"""
import struct
import sys

TEXT = 0x401000
EH_ADDR = 0x600000

DW_CFA_advance_loc = 0x40
DW_CFA_offset = 0x80
DW_CFA_remember_state = 0x0a
DW_CFA_restore_state = 0x0b
DW_CFA_def_cfa = 0x0c
DW_CFA_def_cfa_offset = 0x0e
DW_CFA_undefined = 0x07


def uleb(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def pad4(b):
    return b + b"\0" * (-len(b) % 4)


def cie():
    body = struct.pack("<I", 0) + b"\x01zR\0" + uleb(1) + b"\x78" + uleb(16)
    body += uleb(1) + b"\x00"  # augmentation data: FDE encoding absptr
    body += bytes([DW_CFA_def_cfa, 7, 8, DW_CFA_offset | 16, 1])
    body = pad4(body)
    return struct.pack("<I", len(body)) + body


def fde(section_off, start, size, insns):
    # CIE pointer: distance from this field back to the CIE at offset 0
    body = struct.pack("<IQQ", section_off + 4, start, size) + uleb(0) + insns
    body = pad4(body)
    return struct.pack("<I", len(body)) + body


def eh_frame(fdes):
    out = bytearray(cie())
    for start, size, insns in fdes:
        out += fde(len(out), start, size, insns)
    return bytes(out + struct.pack("<I", 0))


def elf(eh, text_size):
    shstrtab = b"\0.eh_frame\0.shstrtab\0"
    ehdr_size, phdr_size, shdr_size = 64, 56, 64
    eh_off = ehdr_size + phdr_size
    str_off = eh_off + len(eh)
    sh_off = (str_off + len(shstrtab) + 7) & ~7
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8
    out = bytearray(ident)
    out += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, TEXT, ehdr_size, sh_off, 0,
                       ehdr_size, phdr_size, 1, shdr_size, 3, 2)
    # PT_LOAD R+X over the text (no file bytes needed by the CFI readers)
    out += struct.pack("<IIQQQQQQ", 1, 5, 0, TEXT, TEXT, 0, text_size, 0x1000)
    out += eh + shstrtab
    out += b"\0" * (sh_off - len(out))
    out += b"\0" * shdr_size
    out += struct.pack("<IIQQQQIIQQ", 1, 1, 2, EH_ADDR, eh_off, len(eh), 0, 0, 8, 0)
    out += struct.pack("<IIQQQQIIQQ", 11, 3, 0, 0, str_off, len(shstrtab), 0, 0, 1, 0)
    return bytes(out)


def normal_fde(start):
    # push %rbp-like: rsp+16 after one byte, back to rsp+8 at the end
    return (start, 16, bytes([DW_CFA_advance_loc | 1, DW_CFA_def_cfa_offset, 16,
                              DW_CFA_advance_loc | 14, DW_CFA_def_cfa_offset, 8]))


def inputs():
    # A CIE and no FDE: nothing to walk (qsort of an empty list once
    # passed NULL, which UBSan reports).
    yield "cfi-cie-only", [], 16
    # One FDE with a row per byte: libdw re-runs the FDE from its start
    # for every row, so the walk is quadratic in the FDE's length.
    n = 34000
    rows = bytes([DW_CFA_advance_loc | 1]) * n
    yield "cfi-quadratic-rows", [normal_fde(TEXT), (TEXT + 16, n + 1, rows)], TEXT + 16 + n + 1 - TEXT
    # A register number of 2^22 makes every frame state 64 MiB (16 bytes a
    # register), and each DW_CFA_remember_state copies it.
    big = bytes([DW_CFA_undefined]) + uleb(1 << 22)
    big += bytes([DW_CFA_remember_state]) * 12
    big += bytes([DW_CFA_advance_loc | 1]) * 16
    yield "cfi-huge-register", [normal_fde(TEXT), (TEXT + 16, 32, big)], 64
    # 30000 nested DW_CFA_remember_state: a copy of the state each.
    deep = bytes([DW_CFA_offset | 6, 2]) + bytes([DW_CFA_remember_state]) * 30000
    deep += bytes([DW_CFA_advance_loc | 1]) * 512
    yield "cfi-deep-remember", [normal_fde(TEXT), (TEXT + 16, 1024, deep)], 1040
    # 3000 nested DW_CFA_remember_state, under CFI_REMEMBER_MAX (4096):
    # kept. The nesting was once counted twice (++depth inside MAX()),
    # which hid FDEs nested 2049 to 4096 deep.
    at_limit = bytes([DW_CFA_offset | 6, 2]) + bytes([DW_CFA_remember_state]) * 3000
    at_limit += bytes([DW_CFA_advance_loc | 1]) * 4
    yield "cfi-remember-kept", [normal_fde(TEXT), (TEXT + 16, 8, at_limit)], 24
    # One row, but each libdw call on it copies a 4 KiB state 5000 times
    # (register 255, remember/restore pairs): one call longer than
    # CFI_CALL_WORK_MAX, which would make a deadline overrun.
    pairs = bytes([DW_CFA_remember_state, DW_CFA_restore_state]) * 5000
    long_call = bytes([DW_CFA_undefined]) + uleb(255) + pairs
    yield "cfi-long-call", [normal_fde(TEXT), (TEXT + 16, 16, long_call)], 32
    # FDEs each under the per-FDE bound of cfi_rows (CFI_FDE_WORK_MAX)
    # that together pass the whole object's (CFI_WORK_MAX): 300 copies of
    # a 4 KiB frame state (register 255) for each of 1200 rows, six times.
    heavy = bytes([DW_CFA_undefined]) + uleb(255)
    heavy += bytes([DW_CFA_remember_state]) * 300
    heavy += bytes([DW_CFA_advance_loc | 1]) * 1200
    yield "cfi-over-work-budget", [(TEXT + i * 1201, 1201, heavy) for i in range(6)], 6 * 1201
    # Many FDEs of many rows: a seed with work, not over any bound, and
    # small enough to keep fuzz-unwind fast (a few ms an input under ASan).
    many = []
    per = 200
    for i in range(12):
        many.append((TEXT + i * (per + 1), per + 1,
                     bytes([DW_CFA_advance_loc | 1]) * per))
    yield "cfi-many-long-fdes", many, 12 * (per + 1)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make-cfi-inputs.py OUTDIR")
    for name, fdes, text_size in inputs():
        with open(f"{sys.argv[1]}/{name}", "wb") as f:
            f.write(elf(eh_frame(fdes), text_size))


if __name__ == "__main__":
    main()
