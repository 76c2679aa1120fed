"""blackhole.py - a DNS "server" that reads every query and never answers.

Emulates an authoritative server that times out (lost packets), which a
closed port cannot: on loopback a closed UDP port answers with an ICMP
port-unreachable at once.  Listens on ADDR:PORT for UDP and TCP; TCP
connections are accepted and held open, silently, until the client gives
up (at most MAX_HELD at a time; older ones are closed).  Counts what it
swallowed in <dir>/blackhole.log, one line per query:

    TIME udp|tcp PEER LENGTH QNAME QTYPE

(QNAME "-" and QTYPE 0 when the question cannot be parsed), so a test can
prove that some name was, or was never, looked up.

usage: blackhole.py ADDR [--port 53] --pidfile FILE [--log FILE]
Runs until SIGTERM.
"""

import argparse
import asyncio
import os
import signal
import sys
import time

MAX_HELD = 64


class Udp(asyncio.DatagramProtocol):
    def __init__(self, log):
        self.log = log

    def datagram_received(self, data, addr):
        self.log("udp", addr, len(data), *question(data))


def question(msg):
    """(qname, qtype) of a DNS query message; ("-", 0) when unparsable."""
    labels, i = [], 12
    try:
        while msg[i]:
            n = msg[i]
            if n & 0xc0:
                return "-", 0
            labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace"))
            i += 1 + n
        qtype = int.from_bytes(msg[i + 1:i + 3], "big")
    except IndexError:
        return "-", 0
    name = (".".join(labels) + ".").lower()
    return "".join(c if 32 < ord(c) < 127 else "?" for c in name), qtype


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("addr")
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--pidfile", required=True)
    ap.add_argument("--log")
    a = ap.parse_args()

    logf = open(a.log, "a", buffering=1) if a.log else None

    def log(proto, peer, n, qname="-", qtype=0):
        if logf:
            logf.write("%.3f %s %s %d %s %d\n" % (time.time(), proto, peer[0], n,
                                                 qname, qtype))

    held = []

    async def on_tcp(reader, writer):
        held.append(writer)
        while len(held) > MAX_HELD:
            held.pop(0).close()
        peer = writer.get_extra_info("peername")
        try:
            first = True
            while True:
                if first:
                    # the first query: 2-byte length, then the message
                    hdr = await reader.readexactly(2)
                    msg = await reader.readexactly(int.from_bytes(hdr, "big"))
                    log("tcp", peer, len(msg), *question(msg))
                    first = False
                elif not await reader.read(4096):
                    break
        except asyncio.IncompleteReadError:
            if first:
                log("tcp", peer, 0)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if writer in held:
                held.remove(writer)
            writer.close()

    async def run():
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(1))
        transport, _ = await loop.create_datagram_endpoint(
            lambda: Udp(log), local_addr=(a.addr, a.port))
        server = await asyncio.start_server(on_tcp, a.addr, a.port)
        tmp = a.pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.replace(tmp, a.pidfile)
        print("blackhole ready %s:%d" % (a.addr, a.port), flush=True)
        await stop
        transport.close()
        server.close()
        for w in held:
            w.close()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
