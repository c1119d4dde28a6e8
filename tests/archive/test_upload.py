"""The multipart upload and the zip writer on their own, against moto's S3."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import zipfile
from datetime import UTC, datetime
from typing import Any

import pytest
from support import Spy, leftovers, require_tool

from webapp.archive.upload import MIN_PART_SIZE, ChunkReader, Chunks, TooLarge, Upload
from webapp.archive.zipstream import ZipStream
from webapp.aws import Clients
from webapp.settings import Settings

NOW = datetime(2026, 11, 25, 19, 34, 42, tzinfo=UTC)


def chunks(seed: int, total: int, size: int = 1024 * 1024) -> list[bytes]:
    """Return ``total`` pseudo-random bytes in chunks (cheaper than os.urandom twice)."""
    block = hashlib.shake_256(str(seed).encode()).digest(size)
    return [block[: min(size, total - start)] for start in range(0, total, size)]


def test_segments_written_side_by_side_read_back_in_order(
    clients: Clients, settings: Settings
) -> None:
    s3 = Spy(clients.s3)
    upload = Upload(s3, settings.export_bucket, "exports/t/side.bin", part_size=MIN_PART_SIZE)
    first, second = upload.open(), upload.open()
    one, two = chunks(1, 11 * 1024 * 1024 + 5), chunks(2, 12 * 1024 * 1024 + 7)
    for a, b in zip(one, two, strict=False):
        first.write(a)
        second.write(b)
    for b in two[len(one) :]:
        second.write(b)
    first.close()
    second.close()
    third = upload.open()
    third.write(b"tail")
    third.close()
    size = upload.finish()
    expected = b"".join(one) + b"".join(two) + b"tail"
    body = clients.s3.get_object(Bucket=settings.export_bucket, Key="exports/t/side.bin")
    assert body["Body"].read() == expected and size == len(expected)
    assert (first.offset, second.offset, third.offset) == (0, len(b"".join(one)), len(expected) - 4)
    numbers = [kwargs["PartNumber"] for name, kwargs in s3.calls if name == "upload_part"]
    assert numbers == [1, 2, 1001, 3, 1002]  # 3 joins the first's tail to the second's head
    sizes = [kwargs["ContentLength"] for name, kwargs in s3.calls if name == "upload_part"]
    ordered = [size for _, size in sorted(zip(numbers, sizes, strict=True))]
    assert all(size >= MIN_PART_SIZE for size in ordered[:-1])


def test_a_later_segment_may_close_first_and_a_small_one_is_held_whole(
    clients: Clients, settings: Settings
) -> None:
    s3 = Spy(clients.s3)
    upload = Upload(s3, settings.export_bucket, "exports/t/early.bin", part_size=MIN_PART_SIZE)
    first, second = upload.open(), upload.open()
    second.write(b"second")
    second.close()
    for chunk in chunks(3, 6 * 1024 * 1024):
        first.write(chunk)
    first.close()
    upload.finish()
    body = clients.s3.get_object(Bucket=settings.export_bucket, Key="exports/t/early.bin")
    assert body["Body"].read() == b"".join(chunks(3, 6 * 1024 * 1024)) + b"second"
    assert [kwargs["PartNumber"] for name, kwargs in s3.calls if name == "upload_part"] == [1, 2]


def test_a_small_object_is_one_put_and_nothing_shows_before_finish(
    clients: Clients, settings: Settings
) -> None:
    s3 = Spy(clients.s3)
    upload = Upload(s3, settings.export_bucket, "exports/t/small.bin", part_size=MIN_PART_SIZE)
    segment = upload.open()
    segment.write(b"hello")
    segment.close()
    assert leftovers(clients, settings) == ([], [])
    assert upload.finish() == 5
    assert s3.names() == ["put_object"]


def test_running_out_of_part_numbers_is_too_large_and_abort_cleans_up(
    clients: Clients, settings: Settings
) -> None:
    upload = Upload(
        clients.s3, settings.export_bucket, "exports/t/big.bin", part_size=MIN_PART_SIZE, band=2
    )
    first, _ = upload.open(), upload.open()
    with pytest.raises(TooLarge):
        for chunk in chunks(4, 16 * 1024 * 1024):
            first.write(chunk)
    upload.abort()
    assert leftovers(clients, settings) == ([], [])


def test_a_part_is_read_from_its_chunks_like_a_file() -> None:
    parts = Chunks()
    for data in (b"abc", b"", b"defgh", b"i"):
        parts.add(data)
    reader = ChunkReader(parts)
    assert reader.seek(0, io.SEEK_END) == 9 and reader.tell() == 9
    reader.seek(0)
    assert [reader.read(4), reader.read(4), reader.read(4), reader.read(4)] == [
        b"abcd",
        b"efgh",
        b"i",
        b"",
    ]
    reader.seek(2)
    assert reader.read() == b"cdefghi"
    reader.seek(-3, io.SEEK_END)
    assert reader.read(2) == b"gh" and reader.tell() == 8


def test_part_sizes_below_s3s_minimum_are_refused(clients: Clients, settings: Settings) -> None:
    with pytest.raises(ValueError, match="part_size"):
        Upload(clients.s3, settings.export_bucket, "k", part_size=MIN_PART_SIZE - 1)


def test_zip_entries_written_side_by_side_read_back_with_zipfile_and_unzip(
    clients: Clients, settings: Settings, tmp_path: Any
) -> None:
    upload = Upload(clients.s3, settings.export_bucket, "exports/t/a.zip", part_size=MIN_PART_SIZE)
    archive = ZipStream(upload, modified=NOW)
    text, blob = archive.open("notes.txt"), archive.open("blob.bin")
    for n in range(200):
        text.write(f"{n}: 家計簿 line\n".encode())
        blob.write(os.urandom(1000))
    text.close()
    blob.close()
    archive.add("日本語.txt", "こんにちは".encode())
    archive.close()
    upload.finish()
    body = clients.s3.get_object(Bucket=settings.export_bucket, Key="exports/t/a.zip")["Body"]
    data = body.read()
    result = zipfile.ZipFile(io.BytesIO(data))
    assert result.testzip() is None
    assert result.namelist() == ["notes.txt", "blob.bin", "日本語.txt"]
    assert result.read("notes.txt").decode().count("家計簿") == 200
    assert len(result.read("blob.bin")) == 200_000
    assert result.read("日本語.txt").decode() == "こんにちは"
    info = result.getinfo("notes.txt")
    assert info.date_time == (2026, 11, 25, 19, 34, 42) and info.flag_bits & 0x08
    assert hashlib.sha256(result.read("blob.bin")).hexdigest() == blob.sha256
    unzip = require_tool("unzip")
    path = tmp_path / "a.zip"
    path.write_bytes(data)
    answer = subprocess.run([unzip, "-t", str(path)], capture_output=True, text=True)
    assert answer.returncode == 0, answer.stdout + answer.stderr
