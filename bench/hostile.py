"""Hostile images, built in code in milliseconds: what the red-team runs sent the function.

Each is small on the wire and costly to decode naively; `make bench-load` sends them
under load, and the function's tests check each is refused (or decoded) cheaply.
"""

from __future__ import annotations

import struct
import zlib


def png(
    width: int,
    height: int,
    bit_depth: int,
    colour_type: int,
    chunks: list[tuple[bytes, bytes]] | None = None,
    *,
    rows: int | None = None,
) -> bytes:
    """An all-zero PNG of any size and type, compressed by zlib directly; `rows` cuts its
    pixel data short (the header still declares `height`)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour_type]
    row_bytes = 1 + (width * channels * bit_depth + 7) // 8
    pixels = zlib_zeros(row_bytes * (height if rows is None else rows))
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + b"".join(chunk(kind, data) for kind, data in chunks or [])
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


def zlib_zeros(count: int) -> bytes:
    """`zlib.compress(bytes(count), 9)`, without compressing `count` bytes: one compressed
    MiB of zeros repeated (each piece flushed to a byte boundary, so pieces chain)."""
    piece_bytes = 2**20
    piece = zlib.compressobj(9, wbits=-15)
    middle = piece.compress(bytes(piece_bytes)) + piece.flush(zlib.Z_FULL_FLUSH)
    last = zlib.compressobj(9, wbits=-15)
    tail = last.compress(bytes(count % piece_bytes)) + last.flush()
    adler = (count % 65521) << 16 | 1  # Adler-32 of zeros: A stays 1, B adds 1 a byte
    return b"\x78\xda" + middle * (count // piece_bytes) + tail + struct.pack(">I", adler)


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    """A JPEG marker segment: 0xFF, the marker, its length (counting itself), the payload."""
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def _entropy(bits: str) -> bytes:
    """Huffman-coded bits as a scan's data: padded with ones, every 0xFF byte stuffed."""
    bits += "1" * (-len(bits) % 8)
    data = int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""
    return data.replace(b"\xff", b"\xff\x00")


def scan_bomb_jpeg(side: int = 6300, ac_scans: int = 10_000) -> bytes:
    """A valid greyscale progressive JPEG of `side` x `side` pixels: one DC scan and
    `ac_scans` AC scans of the whole band, each nothing but end-of-band runs.

    Every scan is a few dozen bytes, yet libjpeg walks every block of the image once per
    scan (about 3 ms a scan at 6300 x 6300): the default decodes for about 30 s of CPU.
    """
    blocks = ((side + 7) // 8) ** 2
    quantisation = jpeg_segment(0xDB, b"\x00" + b"\x01" * 64)
    frame = jpeg_segment(0xC2, struct.pack(">BHHB", 8, side, side, 1) + b"\x01\x11\x00")
    # One code each, of one bit: DC difference category 0, and the AC symbol EOB14
    # (an end-of-band run of 2**14 plus 14 more bits of blocks).
    one_code = bytes([1] + [0] * 15)
    dc_table = jpeg_segment(0xC4, b"\x00" + one_code + b"\x00")
    ac_table = jpeg_segment(0xC4, b"\x10" + one_code + b"\xe0")
    dc_scan = jpeg_segment(0xDA, b"\x01\x01\x00\x00\x00\x00") + _entropy("0" * blocks)
    run = (1 << 15) - 1
    ac_bits = ("0" + "1" * 14) * -(-blocks // run)
    ac_scan = jpeg_segment(0xDA, b"\x01\x01\x00\x01\x3f\x00") + _entropy(ac_bits)
    return b"".join(
        [b"\xff\xd8", quantisation, frame, dc_table, ac_table, dc_scan]
        + [ac_scan] * ac_scans
        + [b"\xff\xd9"]
    )


def ico_holding_png(side: int = 13377) -> bytes:
    """An ICO whose one entry is an all-zero RGBA PNG of `side` x `side` pixels (Pillow's
    ICO opener decodes it whole just to open the file)."""
    embedded = png(side, side, 8, 6)
    entry = struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(embedded), 6 + 16)
    return struct.pack("<HHH", 0, 1, 1) + entry + embedded


def wide_png(width: int = 33_554_432, height: int = 1) -> bytes:
    """An all-zero RGBA PNG, 33.5 M pixels wide and one tall by default (127 KB)."""
    return png(width, height, 8, 6)


def float_tiff(width: int = 33_554_432, height: int = 1, rows_per_strip: int = 0) -> bytes:
    """An all-zero 32-bit float greyscale TIFF in deflated strips of `rows_per_strip` rows
    (0: one strip; 127 KB at 33.5M x 1)."""
    rows = rows_per_strip or height
    strip = zlib_zeros(width * rows * 4)
    strips, rest = divmod(height, rows)
    last = zlib_zeros(width * rest * 4) if rest else b""
    pixels = strip * strips + last
    count = strips + bool(rest)
    offsets = [8 + index * len(strip) for index in range(count)]
    sizes = [len(strip)] * strips + ([len(last)] if rest else [])
    arrays = 8 + len(pixels)  # the strip offsets and sizes follow the pixels
    entries = [  # tag, type (3 SHORT, 4 LONG), count, value or offset
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, 32),  # bits per sample
        (259, 3, 1, 8),  # compression: deflate
        (262, 3, 1, 1),  # photometric: black is zero
        (273, 4, count, offsets[0] if count == 1 else arrays),
        (277, 3, 1, 1),  # samples per pixel
        (278, 4, 1, rows),
        (279, 4, count, sizes[0] if count == 1 else arrays + 4 * count),
        (339, 3, 1, 3),  # sample format: IEEE float
    ]
    tables = struct.pack(f"<{count}I{count}I", *offsets, *sizes) if count > 1 else b""
    directory = (
        struct.pack("<H", len(entries))
        + b"".join(
            struct.pack("<HHI", tag, kind, number)
            + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
            for tag, kind, number, value in entries
        )
        + struct.pack("<I", 0)
    )
    return b"II*\0" + struct.pack("<I", arrays + len(tables)) + pixels + tables + directory


def rle_bmp(width: int = 8000, height: int = 5000) -> bytes:
    """A 256-colour run-length-encoded BMP of the first colour: runs of 255 pixels, a
    few dozen bytes a row."""
    full, rest = divmod(width, 255)
    row = b"\xff\x00" * full + (bytes([rest, 0]) if rest else b"") + b"\x00\x00"
    pixels = row * height + b"\x00\x01"  # each row ends with 00 00, the bitmap with 00 01
    palette = bytes(256 * 4)
    offset = 14 + 40 + len(palette)
    header = struct.pack("<2sIHHI", b"BM", offset + len(pixels), 0, 0, offset)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    return header + info + palette + pixels
