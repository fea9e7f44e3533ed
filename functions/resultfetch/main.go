// Command resultfetch archives OCR evidence: queue messages (SQS, CMQ/TDMQ)
// fetch a result with its photos; object-created events (S3, COS) under
// uploads/ submit the uploaded image, streamed, and archive the result
// (see docs/architecture.md, "Functions").
package main

import (
	"github.com/cardocr/cardocr/shared/imagefit"
	"github.com/cardocr/cardocr/shared/setup"

	// Cloud backends by build tag (see shared/backends): s3:// and/or
	// cos:// for ARCHIVE_URL, awssm:// and/or tencentssm:// for the
	// secrets; file:// is built in.
	_ "github.com/cardocr/cardocr/shared/backends/archives"
	_ "github.com/cardocr/cardocr/shared/backends/queues"
	_ "github.com/cardocr/cardocr/shared/backends/quotas"
	_ "github.com/cardocr/cardocr/shared/backends/secrets"
)

// Uploads above the provider's limit are fitted (imagefit).
func main() {
	setup.Main("resultfetch", setup.ResultFetchFunctionWith(setup.WithFitter(imagefit.New())))
}
