// Package migrations embeds the goose migrations so that the binary, the
// migrate subcommand and the test databases all apply the same schema.
package migrations

import "embed"

// FS holds every goose migration file of the application schema.
//
//go:embed *.sql
var FS embed.FS
