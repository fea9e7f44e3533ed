// Command bankcardresult serves the HTTP API on AWS Lambda, Tencent SCF or plain HTTP
// (see DESIGN.md, "Functions").
package main

import "github.com/cardocr/cardocr/shared/setup"

func main() { setup.Main("bankcardresult", setup.APIFunction) }
