#!/usr/bin/env python3
"""Writes the seed corpus of dns_parser_fuzz into corpus/dns/ (next to this script).

The seeds are committed; run this again only to change them. Each seed is a small, valid DNS
message (queries and responses with compression, CNAME chains, EDNS), so the fuzzer starts from
inputs that get deep into the parsers.
"""

import pathlib
import struct

TYPE_A, TYPE_NS, TYPE_CNAME, TYPE_SOA, TYPE_AAAA, TYPE_OPT = 1, 2, 5, 6, 28, 41
CLASS_IN = 1
QUERY_FLAGS = 0x0100  # RD
RESPONSE_FLAGS = 0x8180  # QR, RD, RA


def header(ident, flags, qd, an=0, ns=0, ar=0):
    return struct.pack(">6H", ident, flags, qd, an, ns, ar)


def labels(dotted):
    out = b""
    for label in dotted.split(".") if dotted else []:
        out += bytes([len(label)]) + label.encode()
    return out


def name(dotted):
    return labels(dotted) + b"\0"


def pointer(offset, prefix=""):
    return labels(prefix) + struct.pack(">H", 0xC000 | offset)


def question(owner, qtype=TYPE_A):
    return owner + struct.pack(">HH", qtype, CLASS_IN)


def record(owner, rtype, ttl, rdata, klass=CLASS_IN):
    return owner + struct.pack(">HHIH", rtype, klass, ttl, len(rdata)) + rdata


def opt(options=b""):
    return record(b"\0", TYPE_OPT, 0, options, klass=1232)


def v4(text):
    return bytes(int(part) for part in text.split("."))


def v6_doc(last):
    return bytes.fromhex("20010db8" + "00" * 11) + bytes([last])


QNAME = 12  # offset of the question name


def seeds():
    yield "query_a", header(0x1001, QUERY_FLAGS, 1) + question(name("www.example.com"))
    yield "query_aaaa_edns", (header(0x1002, QUERY_FLAGS, 1, ar=1) +
                              question(name("example.org"), TYPE_AAAA) + opt())
    yield "query_edns_cookie", (header(0x1003, QUERY_FLAGS, 1, ar=1) +
                                question(name("api.github.com")) +
                                opt(struct.pack(">HH", 10, 8) + bytes(range(8))))
    yield "query_root_ns", header(0x1004, 0, 1) + question(name(""), TYPE_NS)
    yield "query_mixed_case", header(0x1005, QUERY_FLAGS, 1) + question(name("WwW.ExAmPlE.CoM"))
    long_name = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    yield "query_253_chars", header(0x1006, QUERY_FLAGS, 1) + question(name(long_name))

    yield "response_a", (header(0x2001, RESPONSE_FLAGS, 1, 2) +
                         question(name("example.com")) +
                         record(pointer(QNAME), TYPE_A, 300, v4("93.184.216.34")) +
                         record(pointer(QNAME), TYPE_A, 60, v4("93.184.216.35")))
    yield "response_aaaa_edns", (header(0x2002, RESPONSE_FLAGS, 1, 1, 0, 1) +
                                 question(name("v6.example"), TYPE_AAAA) +
                                 record(pointer(QNAME), TYPE_AAAA, 120, v6_doc(1)) + opt())

    # www.example.com CNAME cdn.example.com (compressed into the question), then its addresses.
    msg = header(0x2003, RESPONSE_FLAGS, 1, 3) + question(name("www.example.com"))
    target = len(msg) + 2 + 10
    msg += record(pointer(QNAME), TYPE_CNAME, 30, pointer(QNAME + 4, "cdn"))
    msg += record(pointer(target), TYPE_A, 60, v4("192.0.2.8"))
    msg += record(pointer(target), TYPE_AAAA, 60, v6_doc(8))
    yield "response_cname_compressed", msg

    yield "response_cname_out_of_order", (
        header(0x2004, RESPONSE_FLAGS, 1, 3) + question(name("a.example")) +
        record(name("c.example"), TYPE_A, 500, v4("198.51.100.9")) +
        record(name("b.example"), TYPE_CNAME, 40, name("c.example")) +
        record(name("a.example"), TYPE_CNAME, 400, name("b.example")))
    yield "response_cname_loop", (
        header(0x2005, RESPONSE_FLAGS, 1, 3) + question(name("a.example")) +
        record(pointer(QNAME), TYPE_CNAME, 10, name("b.example")) +
        record(name("b.example"), TYPE_CNAME, 10, pointer(QNAME)) +
        record(name("b.example"), TYPE_A, 10, v4("192.0.2.2")))
    yield "response_unrelated_owner", (
        header(0x2006, RESPONSE_FLAGS, 1, 2, 0, 1) + question(name("good.example")) +
        record(name("bank.example"), TYPE_A, 300, v4("203.0.113.66")) +
        record(pointer(QNAME), TYPE_A, 300, v4("203.0.113.1")) +
        record(pointer(QNAME), TYPE_A, 300, v4("203.0.113.99")))

    soa = (pointer(QNAME + 5, "ns") + pointer(QNAME + 5, "hostmaster") +
           struct.pack(">5I", 2024010101, 7200, 3600, 1209600, 300))
    yield "response_nxdomain_soa", (header(0x2007, RESPONSE_FLAGS | 3, 1, 0, 1) +
                                    question(name("gone.example.net")) +
                                    record(pointer(QNAME + 5), TYPE_SOA, 300, soa))

    full = (header(0x2008, RESPONSE_FLAGS | 0x0200, 1, 2) + question(name("big.example")) +
            record(pointer(QNAME), TYPE_A, 60, v4("192.0.2.10")) +
            record(pointer(QNAME), TYPE_A, 60, v4("192.0.2.11")))
    yield "response_truncated", full[:-7]

    yield "response_servfail_header_only", header(0x2009, RESPONSE_FLAGS | 2, 0)


def main():
    out = pathlib.Path(__file__).resolve().parent / "corpus" / "dns"
    out.mkdir(parents=True, exist_ok=True)
    for stem, message in seeds():
        (out / f"{stem}.bin").write_bytes(message)
        print(f"{stem}.bin: {len(message)} bytes")


if __name__ == "__main__":
    main()
