// Package static embeds the built CSS, JavaScript and images, so the binary
// serves them from wherever it runs, without npm.
package static

import "embed"

// FS holds css/, js/ and img/.
//
//go:embed css js img
var FS embed.FS
