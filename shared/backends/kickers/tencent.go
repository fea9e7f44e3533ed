//go:build !cardocr_aws

package kickers

import _ "github.com/cardocr/cardocr/shared/kick/scfkick" // scf://
