// Command ocrresult serves the HTTP API on AWS Lambda, Tencent SCF or plain HTTP
// (see docs/architecture.md, "Functions").
package main

import (
	"github.com/cardocr/cardocr/shared/setup"

	// Cloud backends by build tag (see shared/backends): s3:// and/or
	// cos:// for ARCHIVE_URL (order records, erasure), awssm:// and/or
	// tencentssm:// for CREDENTIALS_URL and TICKET_STORE_URL, lambda:// and/or
	// scf:// for REFRESHER_URL, dynamodb:// and/or redis:// for QUOTA_STORE_URL,
	// sqs:// and/or cmq:// for CALLBACK_QUEUE_URL.
	_ "github.com/cardocr/cardocr/shared/backends/archives"
	_ "github.com/cardocr/cardocr/shared/backends/kickers"
	_ "github.com/cardocr/cardocr/shared/backends/queues"
	_ "github.com/cardocr/cardocr/shared/backends/quotas"
	_ "github.com/cardocr/cardocr/shared/backends/secrets"
)

// Results only: WeBank, which keeps results, comes with setup; the orders of
// the providers that keep none are answered from the archive, so this
// function links none of them (shared/providers).
func main() { setup.Main("ocrresult", setup.APIFunctionWith(setup.ResultsOnly())) }
