// Package spoolfmt reads INN's on-disk formats natively: storage API tokens,
// the articles that the timehash, tradspool, CNFS and timecaf storage methods
// keep, and the configuration files that locate them (inn.conf,
// cycbuff.conf, tradspool.map).
//
// It replaces INN's C storage library for a sender: a [Store] returns each
// article in wire format (CRLF line endings, dot-stuffed, ending in ".\r\n"),
// exactly the bytes `sm -R TOKEN` prints, so they can go to an NNTP peer
// unchanged. An article that is gone (expired, cancelled, overwritten in a
// cyclic buffer) is reported as an error wrapping [ErrMissing]; anything else
// that prevents reading it is a [*ReadError] naming the file and the reason.
//
// Only the LP64 little-endian layouts (amd64, arm64) are supported: INN's
// tradspool tokens, CNFS article headers and timecaf headers are native C
// structures whose layout depends on the ABI of the innd that wrote them.
package spoolfmt
