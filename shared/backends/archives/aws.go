//go:build !cardocr_scf

package archives

import _ "github.com/cardocr/cardocr/shared/archive/s3archive" // s3://
