// Package validation holds the error the domain packages return for bad
// input: what is wrong with each field, keyed by the field's form name, so
// that a form can show each message beside its field.
package validation

import (
	"maps"
	"slices"
	"strings"
)

// Errors maps a field to what is wrong with it.
type Errors map[string]string

func (v Errors) Error() string {
	keys := slices.Sorted(maps.Keys(v))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + v[k]
	}
	return "invalid input: " + strings.Join(parts, "; ")
}
