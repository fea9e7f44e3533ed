//go:build !cardocr_aws

package secrets

import _ "github.com/cardocr/cardocr/shared/secretstore/tencentssm" // tencentssm://
