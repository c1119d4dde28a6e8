"""Stream one S3 object, in bounded memory, from segments written side by side.

A zip entry must be contiguous, yet both files of a table come from one Query,
so two entries grow at once. S3 joins a multipart upload's parts in part-number
order and the numbers need not be consecutive. So a segment opened while the one
before it is still being written keeps its first part's worth of bytes back and
uploads the rest as parts numbered in a band far above. When the segment before
it ends, that segment's tail and the held-back head go up together as the part
just below the band (S3 wants every part but the last to be 5 MiB or more), and
the object reads as the segments in order. Memory stays at a few parts whatever
the object's size, and a part is sent from the chunks it was written in, never
copied into one piece.

An object smaller than one part is sent with a single PutObject. Nothing is
visible under the key until ``finish`` succeeds: a multipart upload that is never
completed is never listed, and ``abort`` drops its parts.

Why this long: segments, bands and promotion are one state machine over one
multipart upload; split across modules, each half would be unreadable alone.
"""

from __future__ import annotations

import bisect
import io
from dataclasses import dataclass, field
from itertools import accumulate
from typing import IO, TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from mypy_boto3_s3 import S3Client

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_SIZE = 5 * 1024 * 1024 * 1024
MAX_PART_NUMBER = 10_000
#: Part numbers kept free below a band for the segment before it: 1,000 parts
#: of 8 MiB are 8 GiB, more than a zip entry without ZIP64 may hold.
BAND = 1_000


class TooLarge(Exception):
    """The object would need more parts than S3 allows."""


@dataclass
class Chunks:
    """Bytes kept as the chunks they were written in."""

    items: list[bytes] = field(default_factory=list)
    size: int = 0

    def add(self, data: bytes) -> None:
        """Append one chunk."""
        if data:
            self.items.append(data)
            self.size += len(data)

    def extend(self, other: Chunks) -> None:
        """Append every chunk of ``other``."""
        self.items += other.items
        self.size += other.size

    def take(self) -> Chunks:
        """Return the chunks and start empty."""
        taken = Chunks(self.items, self.size)
        self.items, self.size = [], 0
        return taken


class SeekableReader(io.RawIOBase):
    """A read-only file of ``_size`` bytes that seeks anywhere; subclasses read at ``_position``."""

    _size = 0
    _position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position


class ChunkReader(SeekableReader):
    """A seekable file over chunks end to end, so botocore can hash, send and resend them."""

    def __init__(self, chunks: Chunks) -> None:
        super().__init__()
        self._chunks = chunks.items
        self._starts = [0, *accumulate(map(len, self._chunks))]
        self._size = chunks.size
        self._position = 0

    def readinto(self, buffer: WriteableBuffer) -> int:
        target = memoryview(buffer).cast("B")
        done = 0
        while done < len(target) and self._position < self._size:
            index = bisect.bisect_right(self._starts, self._position) - 1
            start = self._position - self._starts[index]
            piece = memoryview(self._chunks[index])[start : start + len(target) - done]
            target[done : done + len(piece)] = piece
            done += len(piece)
            self._position += len(piece)
        return done


def _body(chunks: Chunks) -> IO[bytes]:
    # botocore takes any seekable file object; the stubs only know typing.IO.
    return cast(IO[bytes], ChunkReader(chunks))


@dataclass(eq=False)
class Segment:
    """A run of bytes at a fixed place in the object; write it, then close it."""

    upload: Upload
    index: int
    #: First part number of this segment's band (0: written in order, no band).
    band: int
    #: Where the segment starts in the object, known once all before it are done.
    offset: int | None = None
    size: int = 0
    closed: bool = False
    head: Chunks = field(default_factory=Chunks)
    tail: Chunks = field(default_factory=Chunks)
    next_band_part: int = 0

    def write(self, data: bytes) -> None:
        """Append bytes to the segment."""
        self.upload._write(self, data)

    def close(self) -> None:
        """End the segment; later segments follow it in the object."""
        self.upload._close(self)


class Upload:
    """One S3 object built from ordered segments; ``finish`` or ``abort`` it.

    ``band`` is how many part numbers a segment written in order may use
    while a later one is open. Not thread-safe: one thread at a time writes,
    finishes or aborts.
    """

    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        key: str,
        *,
        part_size: int,
        content_type: str = "application/octet-stream",
        band: int = BAND,
    ) -> None:
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError(f"part_size must be between {MIN_PART_SIZE} and {MAX_PART_SIZE}")
        self.s3 = s3
        self.bucket = bucket
        self.key = key
        self.part_size = part_size
        self.content_type = content_type
        self.band = band
        self.upload_id: str | None = None
        self._segments: list[Segment] = []
        self._front = 0  # index of the segment being written in order
        self._buffer = Chunks()  # in-order bytes not yet uploaded
        self._next_part = 1
        self._position = 0  # bytes placed in order so far
        self._parts: dict[int, dict[str, Any]] = {}
        self._done = False

    def open(self) -> Segment:
        """Start the next segment; it follows every segment opened before it."""
        if self._done:
            raise RuntimeError("the upload is finished")
        index = len(self._segments)
        if index == self._front:
            segment = Segment(self, index, band=0, offset=self._position)
        else:
            before = self._segments[-1]
            base = self._next_part if before.band == 0 else before.next_band_part
            segment = Segment(self, index, band=base + self.band, next_band_part=base + self.band)
        self._segments.append(segment)
        return segment

    def finish(self) -> int:
        """Make the object appear under its key; return its size in bytes."""
        if self._front != len(self._segments):
            raise RuntimeError("every segment must be closed first")
        self._done = True
        rest = self._buffer.take()
        if self.upload_id is None:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=self.key,
                Body=_body(rest),
                ContentLength=rest.size,
                ContentType=self.content_type,
            )
            return rest.size
        if rest.size:
            self._upload_part(self._next_part, rest, limit=MAX_PART_NUMBER + 1)
        self.s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": [self._parts[n] for n in sorted(self._parts)]},  # type: ignore[misc]
        )
        return self._position

    def abort(self) -> None:
        """Drop every uploaded part; the key is left as it was."""
        self._done = True
        self._buffer.take()
        for segment in self._segments:
            segment.head.take()
            segment.tail.take()
        if self.upload_id is not None:
            upload_id, self.upload_id = self.upload_id, None
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=upload_id)

    def _write(self, segment: Segment, data: bytes) -> None:
        if segment.closed or self._done:
            raise RuntimeError("the segment is closed")
        segment.size += len(data)
        if segment.index == self._front:
            self._append(data)
        elif segment.head.size < self.part_size:
            segment.head.add(data)
        else:
            segment.tail.add(data)
            if segment.tail.size >= self.part_size:
                number = segment.next_band_part
                segment.next_band_part += 1
                self._upload_part(number, segment.tail.take(), limit=self._limit(segment.index))

    def _close(self, segment: Segment) -> None:
        if segment.closed:
            return
        segment.closed = True
        while self._front < len(self._segments) and self._segments[self._front].closed:
            self._front += 1
            if self._front < len(self._segments):
                self._promote(self._segments[self._front])

    def _promote(self, segment: Segment) -> None:
        """Make ``segment`` the one written in order: all before it are done."""
        segment.offset = self._position
        head, tail = segment.head.take(), segment.tail.take()
        if segment.next_band_part == segment.band:  # no band part went up
            for data in (*head.items, *tail.items):
                self._append(data)
        else:
            # The tail of what came before, then the head: at least one part's
            # worth, so it may sit just before the band's parts.
            body = self._buffer.take()
            body.extend(head)
            self._upload_part(self._next_part, body, limit=segment.band)
            self._next_part = segment.next_band_part
            self._position += segment.size - tail.size
            for data in tail.items:
                self._append(data)
        segment.band = 0

    def _append(self, data: bytes) -> None:
        """Add bytes in order, sending a part whenever a part's worth is waiting."""
        self._position += len(data)
        self._buffer.add(data)
        if self._buffer.size >= self.part_size:
            number = self._next_part
            self._next_part += 1
            self._upload_part(number, self._buffer.take(), limit=self._limit(self._front))

    def _limit(self, index: int) -> int:
        """Return the first part number the segment at ``index`` may not use."""
        if index + 1 < len(self._segments) and self._segments[index + 1].band:
            return self._segments[index + 1].band
        return MAX_PART_NUMBER + 1

    def _upload_part(self, number: int, body: Chunks, *, limit: int) -> None:
        if number >= limit or number > MAX_PART_NUMBER:
            raise TooLarge(f"part {number} is beyond what this upload may use")
        if self.upload_id is None:
            self.upload_id = self.s3.create_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                ContentType=self.content_type,
                ChecksumAlgorithm="CRC32",
            )["UploadId"]
        answer = self.s3.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=_body(body),
            ContentLength=body.size,
            ChecksumAlgorithm="CRC32",
        )
        # CompleteMultipartUpload wants each part's checksum back when the
        # upload was created with a checksum algorithm.
        part: dict[str, Any] = {"PartNumber": number, "ETag": answer["ETag"]}
        if "ChecksumCRC32" in answer:
            part["ChecksumCRC32"] = answer["ChecksumCRC32"]
        self._parts[number] = part
