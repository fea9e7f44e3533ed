// Command bankcardsubmit serves the HTTP API on AWS Lambda, Tencent SCF or plain HTTP
// (see docs/architecture.md, "Functions").
package main

import (
	"github.com/cardocr/cardocr/shared/imagefit"
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

	// The OCR providers this function submits to (WeBank comes with
	// setup: the tickets are its). Each registers itself (shared/providers).
	_ "github.com/cardocr/cardocr/shared/tencentcloud"
	_ "github.com/cardocr/cardocr/shared/wechat"
)

// Only the submitting functions link the image decoders (imagefit) and
// serve the upload forms.
func main() {
	setup.Main("bankcardsubmit", setup.APIFunctionWith(setup.WithFitter(imagefit.New()), setup.WithUploadForms()))
}
