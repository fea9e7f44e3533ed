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

	// Secret store backends for CREDENTIALS_URL and TICKET_STORE_URL
	// (file:// is built in): awssm:// on AWS, tencentssm:// on SCF.
	_ "github.com/cardocr/cardocr/shared/secretstore/awssm"
	_ "github.com/cardocr/cardocr/shared/secretstore/tencentssm"
)

func main() { setup.Main("resultfetch", setup.ResultFetchFunction) }
