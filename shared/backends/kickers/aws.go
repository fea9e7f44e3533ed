//go:build !cardocr_scf

package kickers

import _ "github.com/cardocr/cardocr/shared/kick/lambdakick" // lambda://
