//go:build !cardocr_scf

package quotas

import _ "github.com/cardocr/cardocr/shared/quota/dynamoquota" // dynamodb://
