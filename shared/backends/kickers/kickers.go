// Package kickers links the refresher-invoke backends for this build (see
// package backends): import it for its side effects.
package kickers
