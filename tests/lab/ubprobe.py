"""ubprobe.py - ask libunbound (the same library sealpost links) about a name.

A validating lookup through libunbound via ctypes, configured exactly like
sealpost's resolver in the lab (root hints, trust anchor, unbound options),
so the selftest can check the lab's DNSSEC chain independently of
sealpost's own code.  The result is the verdict libunbound gives:
secure / insecure / bogus, rcode, nxdomain, and the rdata as text for the
few types the lab uses (A, AAAA, MX, TLSA, CNAME).

usage (inside the lab namespace):
    ubprobe.py -r ROOT.HINTS -a ROOT.KEY [-o "name: value"]... NAME TYPE
"""

import ctypes
import ctypes.util
import ipaddress
import json
import struct
import sys

RRTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16,
           "AAAA": 28, "DS": 43, "DNSKEY": 48, "TLSA": 52}


class _UbResult(ctypes.Structure):
    _fields_ = [("qname", ctypes.c_char_p),
                ("qtype", ctypes.c_int),
                ("qclass", ctypes.c_int),
                ("data", ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte))),
                ("len", ctypes.POINTER(ctypes.c_int)),
                ("canonname", ctypes.c_char_p),
                ("rcode", ctypes.c_int),
                ("answer_packet", ctypes.c_void_p),
                ("answer_len", ctypes.c_int),
                ("havedata", ctypes.c_int),
                ("nxdomain", ctypes.c_int),
                ("secure", ctypes.c_int),
                ("bogus", ctypes.c_int),
                ("why_bogus", ctypes.c_char_p),
                ("was_ratelimited", ctypes.c_int),
                ("ttl", ctypes.c_int)]


_lib = None


def _libunbound():
    global _lib
    if _lib is None:
        path = ctypes.util.find_library("unbound") or "libunbound.so.8"
        lib = ctypes.CDLL(path)
        lib.ub_ctx_create.restype = ctypes.c_void_p
        lib.ub_ctx_delete.argtypes = [ctypes.c_void_p]
        lib.ub_ctx_set_option.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                          ctypes.c_char_p]
        lib.ub_ctx_add_ta_file.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.ub_resolve.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                   ctypes.c_int,
                                   ctypes.POINTER(ctypes.POINTER(_UbResult))]
        lib.ub_resolve_free.argtypes = [ctypes.POINTER(_UbResult)]
        lib.ub_strerror.restype = ctypes.c_char_p
        _lib = lib
    return _lib


def _name(b, off):
    labels = []
    while off < len(b):
        n = b[off]
        off += 1
        if n == 0:
            break
        labels.append(b[off:off + n].decode("ascii", "replace"))
        off += n
    return ".".join(labels) + ".", off


def _rdata_text(rrtype, b):
    if rrtype == "A" and len(b) == 4:
        return str(ipaddress.IPv4Address(b))
    if rrtype == "AAAA" and len(b) == 16:
        return str(ipaddress.IPv6Address(b))
    if rrtype == "MX" and len(b) >= 3:
        pref = struct.unpack("!H", b[:2])[0]
        return "%d %s" % (pref, _name(b, 2)[0])
    if rrtype in ("CNAME", "NS"):
        return _name(b, 0)[0]
    if rrtype == "TLSA" and len(b) >= 3:
        return "%d %d %d %s" % (b[0], b[1], b[2], b[3:].hex())
    return b.hex()


def resolve(name, rrtype, anchor, options=()):
    """One validating lookup in a fresh libunbound context.

    anchor: trust anchor file (ub_ctx_add_ta_file).  options: every
    "name: value" string for ub_ctx_set_option (root-hints included).
    Returns a dict: status (secure|insecure|bogus), rcode, nxdomain,
    havedata, why_bogus, data (list of rdata text).  Raises RuntimeError
    when libunbound refuses the configuration or the lookup.
    """
    lib = _libunbound()
    ctx = lib.ub_ctx_create()
    if not ctx:
        raise RuntimeError("ub_ctx_create failed")
    try:
        for o in options:
            k, _, v = o.partition(":")
            rc = lib.ub_ctx_set_option(ctx, (k.strip() + ":").encode(),
                                       v.strip().encode())
            if rc != 0:
                raise RuntimeError("ub_ctx_set_option(%s): %s"
                                   % (o, lib.ub_strerror(rc).decode()))
        rc = lib.ub_ctx_add_ta_file(ctx, anchor.encode())
        if rc != 0:
            raise RuntimeError("ub_ctx_add_ta_file: %s" % lib.ub_strerror(rc).decode())
        res = ctypes.POINTER(_UbResult)()
        rc = lib.ub_resolve(ctx, name.encode(), RRTYPES[rrtype.upper()], 1,
                            ctypes.byref(res))
        if rc != 0:
            raise RuntimeError("ub_resolve: %s" % lib.ub_strerror(rc).decode())
        r = res.contents
        data = []
        if r.havedata:
            i = 0
            while r.data[i]:
                n = r.len[i]
                data.append(_rdata_text(rrtype.upper(),
                                        bytes(ctypes.cast(r.data[i], ctypes.POINTER(
                                            ctypes.c_ubyte * n)).contents)))
                i += 1
        out = {"name": name, "type": rrtype.upper(), "rcode": r.rcode,
               "nxdomain": bool(r.nxdomain), "havedata": bool(r.havedata),
               "status": "bogus" if r.bogus else ("secure" if r.secure else "insecure"),
               "why_bogus": r.why_bogus.decode() if r.why_bogus else None,
               "data": sorted(data)}
        lib.ub_resolve_free(res)
        return out
    finally:
        lib.ub_ctx_delete(ctx)


def main(argv):
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("-r", "--root-hints", required=True)
    ap.add_argument("-a", "--anchor", required=True)
    ap.add_argument("-o", "--option", action="append", default=[])
    ap.add_argument("name")
    ap.add_argument("type")
    a = ap.parse_args(argv)
    opts = ["root-hints: " + a.root_hints, "do-not-query-localhost: no"] + a.option
    print(json.dumps(resolve(a.name, a.type, a.anchor, opts)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
