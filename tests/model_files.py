"""Forging model files byte by byte: raw .npy headers, zip members stored or deflated, deflate bombs.

Used by the loader tests to build files that the library's own writer would never produce.
"""
import io
import os
import pathlib
import subprocess
import sys
import struct
import textwrap
import zipfile
import zlib

import numpy as np


def npy_header(shape, descr="<f8", fortran=False, version=(1, 0), raw_dict=None):
    """The bytes of a .npy header declaring ``shape`` and ``descr`` (or the literal ``raw_dict``)."""
    text = raw_dict if raw_dict is not None else repr({"descr": descr, "fortran_order": fortran,
                                                        "shape": tuple(shape)})
    body = text.encode("latin1")
    length_size = 2 if version == (1, 0) else 4
    pad = (-(6 + 2 + length_size + len(body) + 1)) % 64
    body = body + b" " * pad + b"\n"
    length = len(body).to_bytes(length_size, "little")
    return b"\x93NUMPY" + bytes(version) + length + body


def npy_bytes(a):
    """The .npy bytes of array ``a`` as numpy writes them (pickle allowed, to plant payloads)."""
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


def zip_bytes(members):
    """A zip archive from ``[(name, data, compress_type), ...]`` (compress_type defaults to stored)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for m in members:
            name, data = m[0], m[1]
            kind = m[2] if len(m) > 2 else zipfile.ZIP_STORED
            info = zipfile.ZipInfo(name)
            info.compress_type = kind
            z.writestr(info, data)
    return buf.getvalue()


def members_of(path):
    """{member name: raw bytes} of a zip file."""
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def deflate_stream(head, n_fill, fill=b"\0", with_crc=True):
    """(compressed bytes, crc32, size) of ``head`` followed by ``n_fill`` bytes of ``fill``, as a raw
    deflate stream built from one compressed MiB repeated (a full flush between blocks makes them
    independent), so a large bomb costs milliseconds and never exists inflated."""
    mib = 1 << 20
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)]
    crc = zlib.crc32(head)
    block = c.compress(fill * mib) + c.flush(zlib.Z_FULL_FLUSH)
    whole, rest = divmod(n_fill, mib)
    parts.append(block * whole)
    crc_block = fill * mib
    for _ in range(whole if with_crc else 0):     # without: a wrong crc (the loader must refuse earlier)
        crc = zlib.crc32(crc_block, crc)
    tail = fill * rest
    parts.append(c.compress(tail) + c.flush())
    crc = zlib.crc32(tail, crc)
    return b"".join(parts), crc, len(head) + n_fill


def raw_zip(entries):
    """A zip archive written field by field from ``[(name, payload, method, crc, size), ...]``: the
    payload goes in as given (already deflated for method 8), and the declared crc and size may lie."""
    out, central = io.BytesIO(), []
    for name, payload, method, crc, size in entries:
        fname = name.encode()
        offset = out.tell()
        out.write(struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(payload), size,
                              len(fname), 0) + fname + payload)
        central.append(struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc, len(payload),
                                   size, len(fname), 0, 0, 0, 0, 0, offset) + fname)
    start = out.tell()
    cd = b"".join(central)
    out.write(cd)
    out.write(struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(cd), start, 0))
    return out.getvalue()


def deflated_member(name, header, n_zeros, fill=b"\0", with_crc=True):
    """A zip with one deflated member: ``header`` then ``n_zeros`` bytes of ``fill``."""
    data, crc, size = deflate_stream(header, n_zeros, fill, with_crc)
    return raw_zip([(name, data, 8, crc, size)])


def bomb(n_bytes):
    """``n_bytes`` of zeros, deflated: about n_bytes / 1000 bytes long."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    parts, left = [], n_bytes
    while left > 0:
        parts.append(c.compress(chunk[:left]))
        left -= len(chunk)
    parts.append(c.flush())
    return b"".join(parts)


def peak_rss_delta_mb(code, *files):
    """Run ``code`` (which sees ``files`` as FILES) in a fresh interpreter after importing backprop and
    return how many MB its peak resident set grew beyond the peak right after the imports
    (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, a high-water mark, so it catches any transient)."""
    src = pathlib.Path(__file__).resolve().parents[1] / "src"
    prog = textwrap.dedent(f"""
        import resource, sys
        import numpy as np, backprop as bp
        from backprop.engine import serialize
        from backprop import data
        FILES = {[str(f) for f in files]!r}
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    """) + textwrap.dedent(code) + textwrap.dedent("""
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) / 1024)
    """)
    env = {**os.environ, "PYTHONPATH": str(src), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return float(out.stdout.strip().splitlines()[-1])


