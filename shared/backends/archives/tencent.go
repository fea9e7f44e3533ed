//go:build !cardocr_aws

package archives

import _ "github.com/cardocr/cardocr/shared/archive/cosarchive" // cos://
