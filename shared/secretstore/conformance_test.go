package secretstore_test

import (
	"path/filepath"
	"testing"

	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/secretstore/secretstoretest"
)

func TestFileConformance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tickets.json")
	secretstoretest.Conformance(t, func() secretstore.Store { return &secretstore.File{Path: path} })
}
