// Command idcardsubmit serves the HTTP API on AWS Lambda, Tencent SCF or plain HTTP
// (see DESIGN.md, "Functions").
package main

import (
	"github.com/cardocr/cardocr/shared/setup"

	// Secret store backends for CREDENTIALS_URL and TICKET_STORE_URL
	// (file:// is built in): awssm:// on AWS, tencentssm:// on SCF.
	_ "github.com/cardocr/cardocr/shared/secretstore/awssm"
	_ "github.com/cardocr/cardocr/shared/secretstore/tencentssm"
)

func main() { setup.Main("idcardsubmit", setup.APIFunction) }
