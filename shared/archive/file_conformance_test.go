package archive_test

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/cardocr/cardocr/shared/archive"
	"github.com/cardocr/cardocr/shared/archive/archivetest"
)

func TestFileBucketConformance(t *testing.T) {
	archivetest.Conformance(t, &archive.FileBucket{Dir: t.TempDir()})
}

// Eight simultaneous deliveries of one upload submit it once (the pending
// marker is created with O_EXCL semantics: link(2) to a taken name fails).
func TestFileConcurrentDeliveriesSubmitOnce(t *testing.T) {
	archivetest.ConcurrentDeliveriesSubmitOnce(t, &archive.FileBucket{Dir: t.TempDir()}, "local", "uploads/bankcard/808.jpg",
		func(key string, size int64, etag string) string {
			return fmt.Sprintf(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"local"},"object":{"key":%q,"size":%d,"eTag":%q}}}]}`,
				url.QueryEscape(key), size, etag)
		})
}

func TestFileErasure(t *testing.T) {
	archivetest.Erasure(t, &archive.FileBucket{Dir: t.TempDir()})
}
