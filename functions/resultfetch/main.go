// Command resultfetch archives OCR evidence: queue messages (SQS, CMQ/TDMQ)
// fetch a result with its photos; object-created events (S3, COS) under
// uploads/ submit the uploaded image, streamed, and archive the result
// (see DESIGN.md, "Functions").
package main

import (
	"github.com/cardocr/cardocr/shared/setup"

	// Archive backends for ARCHIVE_URL (file:// is built in).
	_ "github.com/cardocr/cardocr/shared/archive/cosarchive"
	_ "github.com/cardocr/cardocr/shared/archive/s3archive"
)

func main() { setup.Main("resultfetch", setup.ResultFetchFunction) }
