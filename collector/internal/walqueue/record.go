package walqueue

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// On-disk format, little endian throughout.
//
// A segment file starts with a 16-byte header:
//
//	magic "EWAL" | version u32 (1) | first record sequence u64
//
// followed by records, each framed as
//
//	payload length u32 | CRC32C u32 of (time|payload) | time i64 (Unix ns) | payload
//
// The length comes first so a reader knows how much to read; the CRC covers
// the time as well, so a flipped bit anywhere but the length is caught, and a
// flipped length is caught by the bound or by the CRC of what it frames.
const (
	segmentHeaderSize = 16
	frameHeaderSize   = 16
	segmentVersion    = 1
	// maxFrameLen is the hard bound of the format; Options.MaxRecordBytes
	// is the configured one.
	maxFrameLen = 1 << 30
)

var segmentMagic = [4]byte{'E', 'W', 'A', 'L'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	// errShort means the buffer ends inside the frame: more bytes are
	// needed, or, at the end of a file, the frame is torn.
	errShort = errors.New("short frame")
	// errBadLength means the length field is zero or above the bound: the
	// frame cannot be delimited.
	errBadLength = errors.New("frame length out of bounds")
	// errChecksum means the frame is delimited but its content is corrupt.
	errChecksum = errors.New("frame checksum mismatch")
)

// frame is one decoded record.
type frame struct {
	time    int64
	payload []byte
}

// frameSize is the bytes a payload of n bytes takes on disk.
func frameSize(n int) int64 { return int64(frameHeaderSize + n) }

// appendFrame encodes a record onto dst.
func appendFrame(dst []byte, unixNano int64, payload []byte) []byte {
	var h [frameHeaderSize]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint64(h[8:16], uint64(unixNano))
	crc := crc32.Update(0, castagnoli, h[8:16])
	crc = crc32.Update(crc, castagnoli, payload)
	binary.LittleEndian.PutUint32(h[4:8], crc)
	dst = append(dst, h[:]...)
	return append(dst, payload...)
}

// decodeFrame decodes the frame at the start of b. n is the frame's size on
// disk whenever the length field is usable (also with errChecksum, so the
// caller can step over it). The payload aliases b.
func decodeFrame(b []byte, maxLen int) (f frame, n int, err error) {
	if len(b) < frameHeaderSize {
		return frame{}, 0, errShort
	}
	l := binary.LittleEndian.Uint32(b[0:4])
	if l == 0 || uint64(l) > uint64(maxLen) {
		return frame{}, 0, errBadLength
	}
	n = frameHeaderSize + int(l)
	if len(b) < n {
		return frame{}, n, errShort
	}
	want := binary.LittleEndian.Uint32(b[4:8])
	got := crc32.Update(0, castagnoli, b[8:n])
	if got != want {
		return frame{}, n, errChecksum
	}
	return frame{time: int64(binary.LittleEndian.Uint64(b[8:16])), payload: b[frameHeaderSize:n]}, n, nil
}

func encodeSegmentHeader(firstSeq uint64) []byte {
	b := make([]byte, segmentHeaderSize)
	copy(b[0:4], segmentMagic[:])
	binary.LittleEndian.PutUint32(b[4:8], segmentVersion)
	binary.LittleEndian.PutUint64(b[8:16], firstSeq)
	return b
}

var errBadSegmentHeader = errors.New("bad segment header")

func decodeSegmentHeader(b []byte) (firstSeq uint64, err error) {
	if len(b) < segmentHeaderSize {
		return 0, errShort
	}
	if [4]byte(b[0:4]) != segmentMagic || binary.LittleEndian.Uint32(b[4:8]) != segmentVersion {
		return 0, errBadSegmentHeader
	}
	return binary.LittleEndian.Uint64(b[8:16]), nil
}

// cursor file: segment u64 | offset u64 | seq u64 | CRC32C u32 of the rest.
const cursorSize = 28

func encodeCursor(p Position, seq uint64) []byte {
	b := make([]byte, cursorSize)
	binary.LittleEndian.PutUint64(b[0:8], p.Segment)
	binary.LittleEndian.PutUint64(b[8:16], uint64(p.Offset))
	binary.LittleEndian.PutUint64(b[16:24], seq)
	binary.LittleEndian.PutUint32(b[24:28], crc32.Checksum(b[:24], castagnoli))
	return b
}

var errBadCursor = errors.New("bad cursor file")

func decodeCursor(b []byte) (Position, uint64, error) {
	if len(b) != cursorSize || crc32.Checksum(b[:24], castagnoli) != binary.LittleEndian.Uint32(b[24:28]) {
		return Position{}, 0, errBadCursor
	}
	p := Position{Segment: binary.LittleEndian.Uint64(b[0:8]), Offset: int64(binary.LittleEndian.Uint64(b[8:16]))}
	return p, binary.LittleEndian.Uint64(b[16:24]), nil
}
