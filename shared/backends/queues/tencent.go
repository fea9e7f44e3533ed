//go:build !cardocr_aws

package queues

import _ "github.com/cardocr/cardocr/shared/queue/cmqqueue" // cmq://
