// Command bankcardresult serves the HTTP API on AWS Lambda, Tencent SCF or plain HTTP
// (see docs/architecture.md, "Functions").
package main

import (
	"github.com/cardocr/cardocr/shared/setup"

	// Secret store backends for CREDENTIALS_URL and TICKET_STORE_URL:
	// awssm:// and/or tencentssm://, by build tag (see shared/backends).
	_ "github.com/cardocr/cardocr/shared/backends/secrets"
)

func main() { setup.Main("bankcardresult", setup.APIFunction) }
