// Command ticketrefresh keeps the WeBank access token and SIGN ticket fresh
// in the ticket store: the one writer (docs/architecture.md, "Tickets").
package main

import (
	"github.com/cardocr/cardocr/shared/setup"

	// Secret store backends for CREDENTIALS_URL and TICKET_STORE_URL:
	// awssm:// and/or tencentssm://, by build tag (see shared/backends).
	_ "github.com/cardocr/cardocr/shared/backends/secrets"

	// The providers whose tokens the refresher keeps besides WeBank's:
	// each registers its keeper (shared/providers).
	_ "github.com/cardocr/cardocr/shared/wechat"
)

func main() { setup.Main("ticketrefresh", setup.RefreshFunction) }
