#!/usr/bin/env python3
"""Checks brasa's CFI rows against binutils' readelf, an independent CFI
interpreter.

    unwind-vs-readelf.py UNWIND_DUMP FILE...

For each FILE: `unwind-dump FILE` gives brasa's rows; `readelf
--debug-dump=frames-interp` gives readelf's table of every .eh_frame FDE
(LOC, CFA, registers, ra) and `--debug-dump=frames` the raw instructions,
from which CFA expressions are read. The expected rule of a readelf row:

  CIE augmentation with 'S'          signal
  ra 'u' (undefined)                 end
  ra other than c-8                  unsupported:ra-rule
  CFA rsp+N / rbp+N                  rsp+N / rbp+N (unsupported:cfa-offset
                                     beyond 32 bits)
  CFA of another register            unsupported:cfa-register
  CFA 'exp', the PLT expression      pltT+N
  CFA 'exp', anything else           unsupported:cfa-expression
  rbp 'u', 's' or absent             rbp=u
  rbp c+N                            rbp=c+N (unsupported:rbp-offset
                                     beyond 16 bits)
  rbp anything else                  unsupported:rbp-rule

Compared: brasa's rule at every readelf row start (FDEs without
instructions use their CIE's initial row), readelf's rule at every brasa
row start, and "nocfi" right after every FDE that no other FDE follows. Prints
counts and exits 1 on any mismatch or if nothing was compared.
"""
import bisect
import re
import subprocess
import sys
from collections import Counter

HDR = re.compile(r'^([0-9a-f]+) ([0-9a-f]+) ([0-9a-f]+) (CIE|FDE)(.*)$')
ROW = re.compile(r'^([0-9a-f]{16}) (.*)$')
TOKEN = re.compile(r'r\d+ \([a-z0-9]+\)|\S+')
PLT = re.compile(r'^DW_OP_breg7 \(rsp\): (-?\d+); DW_OP_breg16 \(rip\): 0; '
                 r'DW_OP_lit15; DW_OP_and; DW_OP_lit(\d+); DW_OP_ge; '
                 r'DW_OP_lit3; DW_OP_shl; DW_OP_plus$')


def run(cmd):
    # readelf exits 1 on some Debian libraries (libc.so.6) after printing
    # everything, without a word on stderr: judge by the output
    p = subprocess.run(cmd, capture_output=True, text=True)
    if not p.stdout:
        raise SystemExit(f'{" ".join(cmd)} failed ({p.returncode}): {p.stderr}')
    return p.stdout


def eh_frame_part(text):
    """Only the .eh_frame section (brasa prefers it; fixtures and Debian
    binaries have no .debug_frame next to it)."""
    out, keep = [], False
    for line in text.splitlines():
        if line.startswith('Contents of the '):
            keep = line.startswith('Contents of the .eh_frame section')
            continue
        if keep:
            out.append(line)
    return out


def parse_interp(lines):
    """-> cies {off: (aug, initial row)}, fdes [(lo, hi, cie, rows)]"""
    cies, fdes = {}, []
    cur, cols = None, None
    for line in lines:
        m = HDR.match(line)
        if m:
            off, kind, rest = int(m.group(1), 16), m.group(4), m.group(5)
            if kind == 'CIE':
                aug = re.search(r'"([^"]*)"', rest)
                cur = {'kind': 'CIE', 'off': off, 'aug': aug.group(1) if aug else '',
                       'rows': []}
                cies[off] = cur
            else:
                cie = int(re.search(r'cie=([0-9a-f]+)', rest).group(1), 16)
                lo, hi = re.search(r'pc=([0-9a-f]+)\.\.([0-9a-f]+)', rest).groups()
                cur = {'kind': 'FDE', 'off': off, 'cie': cie, 'lo': int(lo, 16),
                       'hi': int(hi, 16), 'rows': []}
                fdes.append(cur)
            cols = None
            continue
        if cur is None:
            continue
        if line.strip().startswith('LOC'):
            cols = line.split()
            continue
        m = ROW.match(line)
        if m and cols:
            toks = TOKEN.findall(m.group(2))
            if len(toks) != len(cols) - 1:
                raise SystemExit(f'cannot parse readelf row: {line!r}')
            cur['rows'].append((int(m.group(1), 16), dict(zip(cols[1:], toks))))
    return cies, fdes


def parse_raw_expressions(lines):
    """FDE offset -> [(loc, expression text)] of DW_CFA_def_cfa_expression."""
    exprs, cur, loc = {}, None, 0
    for line in lines:
        m = HDR.match(line)
        if m:
            cur = None
            if m.group(4) == 'FDE':
                cur = int(m.group(1), 16)
                loc = int(re.search(r'pc=([0-9a-f]+)', m.group(5)).group(1), 16)
                exprs[cur] = []
            continue
        if cur is None:
            continue
        s = line.strip()
        m = re.match(r'DW_CFA_(?:advance_loc\d?: \d+ to|set_loc:) ([0-9a-f]+)$', s)
        if m:
            loc = int(m.group(1), 16)
            continue
        m = re.match(r'DW_CFA_def_cfa_expression \((.*)\)$', s)
        if m:
            exprs[cur].append((loc, m.group(1)))
    return exprs


def offset_of(text, base):
    m = re.fullmatch(base + r'([+-]\d+)', text)
    return int(m.group(1)) if m else None


def expected_rule(cols, aug, exprs, loc):
    if 'S' in aug:
        return 'signal'
    ra = cols.get('ra')
    if ra is None or ra == 'u':
        return 'end'
    if ra != 'c-8':
        return 'unsupported:ra-rule'
    cfa = cols['CFA']
    m = re.fullmatch(r'(rsp|rbp)([+-]\d+)', cfa)
    if m:
        off = int(m.group(2))
        if not -2**31 <= off < 2**31:
            return 'unsupported:cfa-offset'
        cfa_text = f'{m.group(1)}{off:+d}'
    elif cfa == 'exp':
        prior = [e for (l, e) in exprs if l <= loc]
        pm = PLT.match(prior[-1]) if prior else None
        if not pm or not -2**15 <= int(pm.group(1)) < 2**15:
            return 'unsupported:cfa-expression'
        cfa_text = f'plt{int(pm.group(2))}{int(pm.group(1)):+d}'
    elif re.fullmatch(r'r\d+\+?-?\d*|[a-z0-9]+[+-]\d+', cfa):
        return 'unsupported:cfa-register'
    else:
        return 'unsupported:cfa-expression'
    rbp = cols.get('rbp', 'u')
    if rbp in ('u', 's'):
        rbp_text = 'u'
    else:
        off = offset_of(rbp, 'c')
        if off is None:
            return 'unsupported:rbp-rule'
        if not -2**15 <= off < 2**15:
            return 'unsupported:rbp-offset'
        rbp_text = f'c{off:+d}'
    return f'{cfa_text} rbp={rbp_text}'


def compare(dump, path):
    ours = []
    for line in run([dump, path]).splitlines():
        if line.startswith('#'):
            continue
        pc, rule = line.split(' ', 1)
        ours.append((int(pc, 16), rule))
    our_pcs = [pc for pc, _ in ours]

    def our_rule(pc):
        i = bisect.bisect_right(our_pcs, pc)
        return ours[i - 1][1] if i else 'nocfi'

    cies, fdes = parse_interp(eh_frame_part(run(
        ['readelf', '--debug-dump=frames-interp', path])))
    exprs = parse_raw_expressions(eh_frame_part(run(
        ['readelf', '--debug-dump=frames', path])))

    # readelf's rows: (loc, expected rule), and FDE ranges for gaps
    theirs, ranges = [], []
    for f in fdes:
        if f['hi'] <= f['lo']:
            continue
        cie = cies.get(f['cie'])
        aug = cie['aug'] if cie else ''
        rows = f['rows'] or ([(f['lo'], cie['rows'][0][1])] if cie and cie['rows'] else [])
        ranges.append((f['lo'], f['hi']))
        for loc, cols in rows:
            if f['lo'] <= loc < f['hi']:
                theirs.append((loc, f['hi'],
                               expected_rule(cols, aug, exprs.get(f['off'], []), loc)))
    theirs.sort()
    their_locs = [t[0] for t in theirs]
    ranges.sort()

    def their_rule(pc):
        i = bisect.bisect_right(their_locs, pc)
        if i and pc < theirs[i - 1][1]:
            return theirs[i - 1][2]
        return 'nocfi'

    compared, mismatches, unsupported = 0, [], Counter()
    for loc, _, want in theirs:
        compared += 1
        got = our_rule(loc)
        if got != want:
            mismatches.append((loc, 'readelf row', want, got))
        if want.startswith('unsupported'):
            unsupported[want] += 1
    for pc, got in ours:
        compared += 1
        want = their_rule(pc)
        if got != want:
            mismatches.append((pc, 'brasa row', want, got))
    # the first address after each FDE: a gap unless another FDE follows
    gaps = 0
    for _, hi in ranges:
        if their_rule(hi) == 'nocfi':
            gaps += 1
            got = our_rule(hi)
            if got != 'nocfi':
                mismatches.append((hi, 'gap', 'nocfi', got))
    print(f'{path}: {len(fdes)} FDEs, {len(theirs)} readelf rows, {len(ours)} brasa rows, '
          f'{compared} rows compared, {gaps} gaps checked, {len(mismatches)} mismatches; unsupported '
          f'(readelf agrees): {dict(unsupported) or "none"}')
    for pc, where, want, got in mismatches[:10]:
        print(f'  0x{pc:x} ({where}): readelf {want!r}, brasa {got!r}')
    return compared, len(mismatches)


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    dump, total, bad = sys.argv[1], 0, 0
    for path in sys.argv[2:]:
        compared, mismatches = compare(dump, path)
        total += compared
        bad += mismatches
        if compared == 0:
            print(f'{path}: nothing compared')
            bad += 1
    print(f'total: {total} rows compared, {bad} mismatches')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
