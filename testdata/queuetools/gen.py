#!/usr/bin/env python3
"""Regenerates the merge/requeue fixtures in this directory (run from it).

The zstd fixture is made with the zstd(1) tool: `zstd -q -19 feed.peer -o old-feed.compressed`.
"""
def tok(i): return "@0201%08X%024X@" % (0x5F3A1B2C, i)
def mid(i): return "<%d.fixture@example.org>" % i
def w(name, lines, final_nl=True):
    data = "\n".join(lines) + ("\n" if final_nl else "")
    open(name, "wb").write(data.encode("latin-1"))

# innd's Tf,Wnm feed file
w("feed.peer", [f"{tok(i)} {mid(i)}" for i in range(1, 6)])
# innxmit batch: token alone, token + mid, relative and absolute article paths
w("innxmit.batch", [
    tok(6),
    f"{tok(7)} {mid(7)}",
    "news/test/8",
    "/var/spool/news/articles/news/test/9 <9.fixture@example.org>",
    f"{tok(1)} {mid(1)}",              # duplicate of feed.peer line 1
])
# nntpsend's files
w("peer=n", [f"{tok(i)} {mid(i)}" for i in (10, 11)])
w("peer.work", [f"{tok(i)} {mid(i)}" for i in (12, 10)])   # 10 again: a duplicate
# innduct backlog with blanked (done) lines
lines = [f"{tok(i)} {mid(i)}" for i in (13, 14, 15, 16)]
lines[0] = " " * len(lines[0])
lines[2] = " " * len(lines[2])
w("peer_backlog_1700000000.1234", lines)
# innfeed tape file: the first line is innfeed's checkpoint, the byte offset of the
# third line written over spaces; lines 17 and 18 are done.
body = [f"{tok(i)} {mid(i)}" for i in (17, 18, 19, 20)]
first = " " * 30
off = len(first) + 1 + len(body[0]) + 1 + len(body[1]) + 1
first = str(off) + first[len(str(off)):]
open("peer.input", "w").write(first + "\n" + "\n".join(body) + "\n")
# another site's backlog
w("other.B.5db93971", [f"{tok(i)} {mid(i)}" for i in (21, 22)])
# malformed lines of every kind, with good ones around them
w("malformed.batch", [
    f"{tok(23)} {mid(23)}",
    f"{tok(24)} {mid(24)}\r",               # CRLF
    f"{tok(25)} <25\x00@example.org>",       # NUL
    f"{tok(26)} <26.\xe9@example.org>",      # not UTF-8 (a latin-1 byte)
    f"{tok(27)} ",                           # empty Message-ID
    f" {mid(28)}",                           # empty article field
    f"{tok(29)[:-2]}@ {mid(29)}",            # token cut short
    f"{tok(30)} {mid(30)}",
    "x" * 33000,                             # overlong (> 32 KiB)
    f"{tok(31)} {mid(31)}",
])
# a final line without its newline (a writer died mid-line)
w("partial.batch", [f"{tok(32)} {mid(32)}", f"{tok(33)} <33.fixture@exam"], final_nl=False)
