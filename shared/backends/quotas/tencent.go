//go:build !cardocr_aws

package quotas

import _ "github.com/cardocr/cardocr/shared/quota/redisquota" // redis://
