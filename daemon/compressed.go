package daemon

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Rotated logs come compressed by logrotate's compresscmd: gzip, unless the admin chose
// bzip2, xz or zstd. A file is told by its first bytes, not by its name (logrotate
// names a copy before it compresses it, and `scan` and `rules test` take any name).
// A format known but not readable here (lz4, compress's .Z) is an error that names it,
// never text: read as lines, its bytes were so many unparsed records, and the lines it
// holds were lost without a word.

// logFormats are the compressed formats by their first bytes; readable says which of
// them decompress.
var logFormats = []struct {
	name     string
	magic    []byte
	readable bool
}{
	{"gzip", []byte{0x1f, 0x8b}, true},
	{"bzip2", []byte("BZh"), true},
	{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}, true},
	{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}, true},
	{"lz4", []byte{0x04, 0x22, 0x4d, 0x18}, false},
	{"compress (.Z)", []byte{0x1f, 0x9d}, false},
}

// magicLen is how many first bytes logFormat needs.
const magicLen = 6

// compressionSuffixes are the names' endings of compressed copies, as rotatedSuffix
// knows them.
var compressionSuffixes = []string{".gz", ".xz", ".bz2", ".zst", ".lz4", ".Z"}

// logFormat is the compressed format of a file that starts with magic, "" for text.
func logFormat(magic []byte) string {
	for _, f := range logFormats {
		if !bytes.HasPrefix(magic, f.magic) {
			continue
		}
		if f.name == "bzip2" && (len(magic) < 4 || magic[3] < '1' || magic[3] > '9') {
			continue // "BZh" and the block size: text may start with "BZh", not this
		}
		return f.name
	}
	return ""
}

// fileFormat is logFormat of the file f (its position unchanged).
func fileFormat(f *os.File) string {
	magic := make([]byte, magicLen)
	n, _ := f.ReadAt(magic, 0)
	return logFormat(magic[:n])
}

// decompress returns a reader of the text that r holds compressed as format (not ""),
// and a function that releases the reader.
func decompress(r io.Reader, format string) (io.Reader, func(), error) {
	nothing := func() {}
	switch format {
	case "gzip":
		zr, err := gzip.NewReader(r)
		return zr, nothing, err
	case "bzip2":
		return bzip2.NewReader(r), nothing, nil
	case "xz":
		zr, err := xz.NewReader(r)
		return zr, nothing, err
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, nothing, err
		}
		return zr, zr.Close, nil
	}
	if err := unreadable(format); err != nil {
		return nil, nothing, err
	}
	return nil, nothing, fmt.Errorf("unknown compressed format %q", format)
}

// unreadable is the error of reading a file of format ("" for text), nil when it can be
// read.
func unreadable(format string) error {
	for _, f := range logFormats {
		if f.name == format && !f.readable {
			return fmt.Errorf("compressed with %s, which abusewatch cannot read: have logrotate compress with gzip, bzip2, xz or zstd, or decompress the file first", format)
		}
	}
	return nil
}

// OpenLog opens the log file name, "-" for standard input, for reading its text: a
// compressed file decompressed.
func OpenLog(name string) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(os.Stdin), nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	format := fileFormat(f)
	if format == "" {
		return f, nil
	}
	r, release, err := decompress(f, format)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return readCloser{r, func() error { release(); return f.Close() }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// withoutCompressionSuffix is name without the ending of a compressed copy (.gz, .xz…).
func withoutCompressionSuffix(name string) string {
	for _, z := range compressionSuffixes {
		if s, ok := strings.CutSuffix(name, z); ok {
			return s
		}
	}
	return name
}
