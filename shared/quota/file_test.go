package quota_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cardocr/cardocr/shared/quota"
	"github.com/cardocr/cardocr/shared/quota/quotatest"
)

func TestMain(m *testing.M) {
	quotatest.RunHelper()
	os.Exit(m.Run())
}

func TestFileConformance(t *testing.T) {
	quotatest.Conformance(t, &quota.FileStore{Path: filepath.Join(t.TempDir(), "q.json")})
}

func TestFileAcrossProcesses(t *testing.T) {
	quotatest.AcrossProcesses(t, "file://"+filepath.Join(t.TempDir(), "q.json"), 50)
}
