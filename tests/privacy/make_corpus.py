#!/usr/bin/env python3
"""Writes tests/privacy/corpus.txt: the labeled corpus `baton privacy eval` measures the detector on.

One example per line. Sensitive spans are marked inline as {{kind:value}}; everything else is
text that must not be flagged. Half the lines are hard negatives: order and invoice numbers,
dates and times, version strings, hashes, UUIDs, ISBNs, prices, coordinates, code. Values are
generated (seeded, so the file is reproducible): cards pass Luhn with real issuer prefixes, IBANs
carry correct mod-97 check digits, SSNs respect the SSA's rules, and the near misses do not
(a card with one digit changed, an IBAN with wrong check digits, SSN area 000/666/9xx).
hand.txt, written by hand, is appended as is.

Usage: python3 tests/privacy/make_corpus.py > tests/privacy/corpus.txt
"""
import os
import random

R = random.Random(20240501)


def luhn_digit(body):
    s = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        s += d
    return str((10 - s % 10) % 10)


def card():
    pre, length = R.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15),
                            ("37", 15), ("6011", 16), ("4", 13), ("35", 16)])
    body = pre + "".join(R.choice("0123456789") for _ in range(length - len(pre) - 1))
    num = body + luhn_digit(body)
    style = R.choice(["plain", "space", "dash"])
    if style == "plain" or length != 16:
        return num
    sep = " " if style == "space" else "-"
    return sep.join(num[i:i + 4] for i in range(0, 16, 4))


def bad_card():
    c = card().replace(" ", "").replace("-", "")
    i = R.randrange(len(c))
    d = str((int(c[i]) + R.randint(1, 9)) % 10)
    return c[:i] + d + c[i + 1:]


IBAN_FMT = {"DE": "8n10n", "FR": "5n5n11c2n", "GB": "4a6n8n", "NL": "4a10n", "ES": "4n4n1n1n10n",
            "IT": "1a5n5n12c", "CH": "5n12c", "BE": "3n7n2n"}


def bban(fmt):
    out, num = "", ""
    for ch in fmt:
        if ch.isdigit():
            num += ch
            continue
        n = int(num)
        num = ""
        pool = {"n": "0123456789", "a": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                "c": "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"}[ch]
        out += "".join(R.choice(pool) for _ in range(n))
    return out


def iban_check(cc, b):
    s = b + cc + "00"
    v = int("".join(str(int(c, 36)) for c in s))
    return "%02d" % (98 - v % 97)


def iban(valid=True):
    cc = R.choice(sorted(IBAN_FMT))
    b = bban(IBAN_FMT[cc])
    chk = iban_check(cc, b)
    if not valid:
        chk = "%02d" % ((int(chk) + R.randint(1, 50)) % 97 + 2)
        if chk == iban_check(cc, b):
            chk = "%02d" % ((int(chk) + 1) % 97 + 2)
    s = cc + chk + b
    if R.random() < 0.4:
        s = " ".join(s[i:i + 4] for i in range(0, len(s), 4))
    return s


def ssn(valid=True):
    if valid:
        area = R.choice([R.randint(1, 665), R.randint(667, 899)])
        return "%03d-%02d-%04d" % (area, R.randint(1, 99), R.randint(1, 9999))
    area = R.choice([0, 666, R.randint(900, 999)])
    return "%03d-%02d-%04d" % (area, R.randint(1, 99), R.randint(1, 9999))


def phone():
    a, b, c = R.randint(201, 989), R.randint(200, 999), R.randint(0, 9999)
    return R.choice([
        "(%d) %d-%04d" % (a, b, c), "%d-%d-%04d" % (a, b, c), "%d.%d.%04d" % (a, b, c),
        "+1 %d %d %04d" % (a, b, c), "+44 20 %d %04d" % (R.randint(1000, 9999), c),
        "+49 30 %d%d" % (R.randint(1000, 9999), R.randint(1000, 9999)),
        "+33 1 %02d %02d %02d %02d" % tuple(R.randint(10, 99) for _ in range(4)),
        "1-%d-%d-%04d" % (a, b, c), "+14155552671",
    ])


FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
         "mallory", "oscar", "peggy", "trent", "victor", "walter", "sybil", "zoe"]
DOMAINS = ["example.com", "corp.example.org", "mail.co.uk", "uni-heidelberg.de", "acme.io",
           "bigcorp.com", "subdomain.example.net"]


def email():
    n = R.choice(FIRST)
    local = R.choice([n, n + "." + R.choice(FIRST), n + str(R.randint(1, 99)), n + "+news",
                      n[0] + "_" + R.choice(FIRST)])
    return local + "@" + R.choice(DOMAINS)


def ipv4():
    return ".".join(str(R.choice([R.randint(0, 255), R.randint(1, 99), 10, 192, 172])) for _ in range(4))


def ipv6():
    groups = ["%x" % R.randint(0, 0xffff) for _ in range(8)]
    style = R.random()
    if style < 0.4:
        return ":".join(groups)
    if style < 0.8:
        return "2001:db8:" + ":".join(groups[2:4]) + "::" + groups[7]
    return "fe80::" + ":".join(groups[4:8])


def rnd(pool, n):
    return "".join(R.choice(pool) for _ in range(n))


AL = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def secret():
    return R.choice([
        lambda: "sk-" + rnd(AL, 48),
        lambda: "sk-proj-" + rnd(AL + "_-", 40) + "7",
        lambda: "AKIA" + rnd("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
        lambda: "ghp_" + rnd(AL, 36),
        lambda: "xoxb-" + "%d-%d-" % (R.randint(10**10, 10**11), R.randint(10**10, 10**11)) + rnd(AL, 24),
        lambda: "AIza" + rnd(AL + "_-", 34) + "Q",
        lambda: "glpat-" + rnd(AL, 20),
        lambda: "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiI" + rnd(AL, 20) + "." + rnd(AL + "_-", 43),
    ])()


def cred():
    # (prefix text, value, suffix)
    v = rnd(AL + "!#%", R.randint(10, 20))
    return R.choice([("password=", v, ""), ("api_key: ", v, ""), ('"password": "', v, '"'),
                     ("DB_PASSWORD=", v, ""), ("client_secret = ", v, ""),
                     ("Authorization: Bearer ", rnd(AL, 40), ""), ("token: ", v, "")])


def mark(kind, value):
    return "{{%s:%s}}" % (kind, value)


POS = [
    lambda: "Please email %s about the invoice." % mark("email", email()),
    lambda: "Contact: %s, cc %s" % (mark("email", email()), mark("email", email())),
    lambda: "My card is %s, exp 04/27, please charge it." % mark("card", card()),
    lambda: "Charge %s for the order 1184-2291." % mark("card", card()),
    lambda: "Wire it to IBAN %s today." % mark("iban", iban()),
    lambda: "Account: %s (BIC DEUTDEFF)" % mark("iban", iban()),
    lambda: "SSN %s, DOB 1985-03-14." % mark("ssn", ssn()),
    lambda: "Her social security number is %s." % mark("ssn", ssn()),
    lambda: "Call me at %s after 5pm." % mark("phone", phone()),
    lambda: "Phone: %s / fax none" % mark("phone", phone()),
    lambda: "The server at %s refused the connection on port 8443." % mark("ipv4", ipv4()),
    lambda: "ssh admin@%s failed" % mark("ipv4", ipv4()),
    lambda: "Client address %s was rate limited." % mark("ipv6", ipv6()),
    lambda: "Ping %s from the jump host." % mark("ipv6", ipv6()),
    lambda: "Use the key %s for the staging account." % mark("secret", secret()),
    lambda: "export OPENAI_API_KEY=%s" % mark("secret", secret()),
    lambda: (lambda p: "%s%s%s in the config" % (p[0], mark("secret", p[1]), p[2]))(cred()),
    lambda: "connect to postgres://app:%s@db.internal:5432/prod" % mark("secret", rnd(AL, 14)),
    lambda: "Ticket from %s (%s): card %s declined, IBAN %s instead" % (
        mark("email", email()), mark("phone", phone()), mark("card", card()), mark("iban", iban())),
]

HEX = "0123456789abcdef"
NEG = [
    lambda: "Order #%d shipped on 2024-%02d-%02d." % (R.randint(10**9, 10**12), R.randint(1, 12), R.randint(1, 28)),
    lambda: "Invoice INV-%d-%04d is due %02d/%02d/2025." % (R.randint(2019, 2025), R.randint(1, 9999), R.randint(1, 12), R.randint(1, 28)),
    lambda: "Tracking number 1Z%s%d" % (rnd("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 6), R.randint(10**9, 10**10)),
    lambda: "Upgrade from v%d.%d.%d to %d.%d.%d.%d" % tuple(R.randint(0, 30) for _ in range(7)),
    lambda: "Windows build 10.0.%d.%d is installed." % (R.randint(10000, 22631), R.randint(1, 4000)),
    lambda: "commit %s fixed it; sha256 %s" % (rnd(HEX, 40), rnd(HEX, 64)),
    lambda: "Object id %s-%s-%s-%s-%s" % (rnd(HEX, 8), rnd(HEX, 4), rnd(HEX, 4), rnd(HEX, 4), rnd(HEX, 12)),
    lambda: "ISBN 978-%d-%d-%d-%d" % (R.randint(0, 9), R.randint(100, 999), R.randint(10000, 99999), R.randint(0, 9)),
    lambda: "The meeting is at %02d:%02d:%02d UTC on %d-%02d-%02d." % (R.randint(0, 23), R.randint(0, 59), R.randint(0, 59), R.randint(2000, 2030), R.randint(1, 12), R.randint(1, 28)),
    lambda: "Total: $%d,%03d.%02d for %d units" % (R.randint(1, 999), R.randint(0, 999), R.randint(0, 99), R.randint(1, 500)),
    lambda: "Coordinates %d.%06d, -%d.%06d" % (R.randint(0, 89), R.randint(0, 999999), R.randint(0, 179), R.randint(0, 999999)),
    lambda: "std::vector<int> v; for (auto& x : v) x = a::b::c(x);",
    lambda: "The password field is required and the token: string type is documented.",
    lambda: "Card ending in %04d was updated." % R.randint(0, 9999),
    lambda: "Reference number %s (not a card: fails the checksum)." % bad_card(),
    lambda: "Bad account %s rejected by the bank." % iban(valid=False).replace(" ", ""),
    lambda: "Employee id %s is a test value." % ssn(valid=False),
    lambda: "Part number %d-%d-%d in stock." % (R.randint(100, 999), R.randint(10, 99), R.randint(100, 999)),
    lambda: "Population grew from %d to %d between 1990 and 2020." % (R.randint(10**6, 10**9), R.randint(10**6, 10**9)),
    lambda: "MAC %s on the switch" % ":".join("%02x" % R.randint(0, 255) for _ in range(6)),
    lambda: "Write to the team list at the usual place; the alias is support at example dot com.",
    lambda: "Use @%s in the chat to mention them." % R.choice(FIRST),
    lambda: "Version 2.4.1 of libfoo requires Python 3.11.4.",
    lambda: "The matrix is 1024x768 and the ratio 16:9, timestamp 1700000000123.",
    lambda: "git sha %s, short %s, docker image sha256:%s" % (rnd(HEX, 40), rnd(HEX, 7), rnd(HEX, 64)),
    lambda: "Lot %s expires 2026-01-31; batch %d." % (rnd("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 2) + str(R.randint(10**10, 10**13)), R.randint(100, 999)),
]


def main():
    lines = []
    for _ in range(420):
        lines.append(R.choice(POS)())
    for _ in range(520):
        lines.append(R.choice(NEG)())
    R.shuffle(lines)
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "hand.txt")) as f:
        lines += [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]
    print("# generated by tests/privacy/make_corpus.py (seeded) + tests/privacy/hand.txt; do not edit")
    for l in lines:
        print(l)


main()
