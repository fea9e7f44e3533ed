// Command ticketrefresh keeps the WeBank access token and SIGN ticket fresh
// in the ticket store: the one writer (DESIGN.md, "Tickets").
package main

import "github.com/cardocr/cardocr/shared/setup"

func main() { setup.Main("ticketrefresh", setup.RefreshFunction) }
