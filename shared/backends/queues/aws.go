//go:build !cardocr_scf

package queues

import _ "github.com/cardocr/cardocr/shared/queue/sqsqueue" // sqs://
