// Command ticketrefresh keeps the WeBank access token and SIGN ticket fresh
// in the ticket store: the one writer (DESIGN.md, "Tickets").
package main

import (
	"github.com/cardocr/cardocr/shared/setup"

	// Secret store backends for CREDENTIALS_URL and TICKET_STORE_URL
	// (file:// is built in): awssm:// on AWS, tencentssm:// on SCF.
	_ "github.com/cardocr/cardocr/shared/secretstore/awssm"
	_ "github.com/cardocr/cardocr/shared/secretstore/tencentssm"
)

func main() { setup.Main("ticketrefresh", setup.RefreshFunction) }
