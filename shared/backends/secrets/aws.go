//go:build !cardocr_scf

package secrets

import _ "github.com/cardocr/cardocr/shared/secretstore/awssm" // awssm://
