#!/usr/bin/env python3
"""Generates src/engine/unicode_data.c: the code point tables behind src/engine/unicode.c.

    python3 scripts/gen_unicode_data.py [--ucd DIR] > src/engine/unicode_data.c

Source of truth, in order of preference:
  1. the Unicode Character Database text files in DIR (default /usr/share/unicode, which the
     Debian package `unicode-data` installs): UnicodeData.txt for general categories and simple
     lowercase mappings, PropList.txt for White_Space;
  2. otherwise Python's own `unicodedata` module (whatever Unicode version this Python carries),
     with White_Space derived as categories Zs/Zl/Zp plus U+0009..U+000D and U+0085 (which is
     exactly the PropList definition).

What is generated (see unicode.h for the flag bits):
  - a two-stage table of 16-bit flags per code point (stage 1 indexed by cp >> 8 gives a block
    number, stage 2 holds 256 flags per distinct block): one general-category class bit
    (letter, number, mark, punctuation, symbol, separator, control, undefined) plus WHITESPACE;
  - the simple lowercase mapping as sorted (cp, lower) pairs.

llama.cpp maps general categories to the same eight classes (Cn -> undefined, Cc/Cf/Co/Cs ->
control, L* -> letter, M* -> mark, N* -> number, P* -> punctuation, S* -> symbol, Z* ->
separator), so our tables agree with its tables wherever the two Unicode versions agree.
"""
import argparse
import os
import sys

MAX_CP = 0x110000

FLAG_UNDEFINED = 0x0001
FLAG_NUMBER = 0x0002
FLAG_LETTER = 0x0004
FLAG_SEPARATOR = 0x0008
FLAG_MARK = 0x0010
FLAG_PUNCT = 0x0020
FLAG_SYMBOL = 0x0040
FLAG_CONTROL = 0x0080
FLAG_WHITESPACE = 0x0100

CLASS_OF_FIRST_LETTER = {
    "C": FLAG_CONTROL, "L": FLAG_LETTER, "M": FLAG_MARK, "N": FLAG_NUMBER,
    "P": FLAG_PUNCT, "S": FLAG_SYMBOL, "Z": FLAG_SEPARATOR,
}


def category_flag(cat):
    if cat == "Cn":
        return FLAG_UNDEFINED
    return CLASS_OF_FIRST_LETTER[cat[0]]


def from_ucd(ucd):
    """Returns (version, flags, lower) from UnicodeData.txt and PropList.txt in ucd."""
    flags = [FLAG_UNDEFINED] * MAX_CP
    lower = []
    first = None
    with open(os.path.join(ucd, "UnicodeData.txt"), encoding="utf-8") as f:
        for line in f:
            field = line.rstrip("\n").split(";")
            cp = int(field[0], 16)
            name, cat = field[1], field[2]
            if name.endswith(", First>"):
                first = cp
                continue
            lo = cp
            if name.endswith(", Last>"):
                lo = first
            for c in range(lo, cp + 1):
                flags[c] = category_flag(cat)
            if field[13]:
                lower.append((cp, int(field[13], 16)))
    with open(os.path.join(ucd, "PropList.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.split("#")[0].strip()
            if not line:
                continue
            rng, prop = [x.strip() for x in line.split(";")]
            if prop != "White_Space":
                continue
            a, _, b = rng.partition("..")
            for c in range(int(a, 16), int(b or a, 16) + 1):
                flags[c] |= FLAG_WHITESPACE
    version = "unknown"
    readme = os.path.join(ucd, "ReadMe.txt")
    derived_age = os.path.join(ucd, "DerivedAge.txt")
    for p in (derived_age, readme):
        if os.path.exists(p):
            with open(p, encoding="utf-8") as f:
                head = f.readline()
            # DerivedAge.txt starts with "# DerivedAge-15.0.0.txt"
            if "DerivedAge-" in head:
                version = head.split("DerivedAge-")[1].split(".txt")[0]
                break
    return version, flags, lower


def from_python():
    import unicodedata
    flags = [FLAG_UNDEFINED] * MAX_CP
    lower = []
    for cp in range(MAX_CP):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        flags[cp] = category_flag(cat)
        if cat in ("Zs", "Zl", "Zp") or 0x09 <= cp <= 0x0D or cp == 0x85:
            flags[cp] |= FLAG_WHITESPACE
        lo = ch.lower()
        # simple mappings only: a one-character result that differs
        if len(lo) == 1 and lo != ch:
            lower.append((cp, ord(lo)))
    return unicodedata.unidata_version, flags, lower


# Unicode 15.1 (September 2023) added 627 characters and changed no existing general category:
# CJK Unified Ideographs Extension I (U+2EBF0..U+2EE5D, Lo), four ideographic description
# characters (U+2FFC..U+2FFF, So) and one CJK stroke (U+31EF, So). Debian's unicode-data package
# is still 15.0, llama.cpp's tables are 15.1, so the 15.1 additions are applied on top of a 15.0
# database to reach 15.1 exactly.
UNICODE_15_1_ADDITIONS = [
    (0x2EBF0, 0x2EE5D, FLAG_LETTER),
    (0x2FFC, 0x2FFF, FLAG_SYMBOL),
    (0x31EF, 0x31EF, FLAG_SYMBOL),
]


def apply_15_1(version, flags):
    if version != "15.0.0":
        return version
    for lo, hi, fl in UNICODE_15_1_ADDITIONS:
        for c in range(lo, hi + 1):
            assert flags[c] == FLAG_UNDEFINED
            flags[c] = fl
    return "15.1.0 (15.0.0 database + the 627 code points 15.1 added)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ucd", default="/usr/share/unicode")
    args = ap.parse_args()
    if os.path.exists(os.path.join(args.ucd, "UnicodeData.txt")):
        version, flags, lower = from_ucd(args.ucd)
        version = apply_15_1(version, flags)
        source = "UnicodeData.txt + PropList.txt (Unicode Character Database)"
    else:
        version, flags, lower = from_python()
        source = "Python %s unicodedata" % sys.version.split()[0]

    blocks = []
    block_index = {}
    stage1 = []
    for hi in range(MAX_CP >> 8):
        blk = tuple(flags[hi << 8:(hi + 1) << 8])
        if blk not in block_index:
            block_index[blk] = len(blocks)
            blocks.append(blk)
        stage1.append(block_index[blk])

    out = sys.stdout.write
    out("/* unicode_data: generated by scripts/gen_unicode_data.py -- do not edit.\n")
    out(" *\n")
    out(" * Unicode version %s,\n * from %s.\n" % (version, source))
    out(" * Flags per code point (bits in unicode.h): general-category class + White_Space, as a\n")
    out(" * two-stage table (%d stage-2 blocks of 256); simple lowercase mapping (%d pairs).\n"
        % (len(blocks), len(lower)))
    out(" */\n")
    out('#include "engine/unicode.h"\n\n')
    out('const char unicode_data_version[] = "%s";\n\n' % version)
    out("const uint16_t unicode_stage1[%d] = {\n" % len(stage1))
    for i in range(0, len(stage1), 16):
        out("    " + ", ".join("%d" % v for v in stage1[i:i + 16]) + ",\n")
    out("};\n\n")
    out("const uint16_t unicode_stage2[%d][256] = {\n" % len(blocks))
    for blk in blocks:
        out("    {\n")
        for i in range(0, 256, 16):
            out("        " + ", ".join("0x%03x" % v for v in blk[i:i + 16]) + ",\n")
        out("    },\n")
    out("};\n\n")
    out("const uint32_t unicode_lower_map[%d][2] = {\n" % len(lower))
    for a, b in lower:
        out("    {0x%05x, 0x%05x},\n" % (a, b))
    out("};\n")
    out("const size_t unicode_lower_count = %d;\n" % len(lower))


if __name__ == "__main__":
    main()
