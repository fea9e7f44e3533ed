package setup

// The tests build every provider, as the submitting functions do.
import (
	_ "github.com/cardocr/cardocr/shared/tencentcloud"
	_ "github.com/cardocr/cardocr/shared/wechat"
)
