// Package namekey decides when two company names are the same name.
//
// Two names are the same when people reading them could not tell them
// apart. Key maps a name to a comparison key in this order:
//
//  1. remove default-ignorable code points (zero-width spaces and joiners,
//     soft hyphens, the byte order mark, variation selectors…), which
//     render as nothing;
//  2. Unicode NFKC, so that full-width letters, ligatures and composed
//     versus decomposed accents (NFC versus NFD) become one form;
//  3. Unicode case folding;
//  4. the UTS #39 confusable skeleton, so that Cyrillic "о" and Latin "o",
//     or "rn" and "m", compare equal;
//  5. white space collapsed to single spaces.
//
// The key is for comparison only: it is stored beside the name with a
// unique index, and never shown or sent anywhere. The name people typed is
// what is shown (see Display).
//
// Check refuses what no key can make safe: bidirectional controls, which
// can reorder what a reader sees, and names with no visible character.
package namekey

import (
	"errors"
	"strings"
	"unicode"

	"github.com/mtibben/confusables"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Errors returned by Check.
var (
	// ErrBidiControl means the name holds a bidirectional control
	// (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C).
	ErrBidiControl = errors.New("namekey: name contains a bidirectional control character")
	// ErrInvisible means the name has no visible character at all.
	ErrInvisible = errors.New("namekey: name has no visible character")
)

// Display is the form of a name that is stored, shown and sent on: the
// name as typed, in Unicode NFC.
func Display(name string) string { return norm.NFC.String(name) }

// Check returns ErrBidiControl or ErrInvisible for a name that must be
// refused, else nil.
func Check(name string) error {
	visible := false
	for _, r := range name {
		if IsBidiControl(r) {
			return ErrBidiControl
		}
		if isVisible(r) {
			visible = true
		}
	}
	if !visible {
		return ErrInvisible
	}
	return nil
}

// Key returns the comparison key of name: equal keys mean look-alike
// names. See the package comment for the steps.
func Key(name string) string {
	s := strings.Map(func(r rune) rune {
		if IsDefaultIgnorable(r) {
			return -1
		}
		return r
	}, name)
	s = norm.NFKC.String(s)
	s = cases.Fold().String(s)
	s = confusables.Skeleton(s)
	// The skeleton may map to characters that fold or compose further
	// (upper-case prototypes, decomposed marks): finish in one form.
	s = cases.Fold().String(norm.NFKC.String(s))
	return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
}

// IsDefaultIgnorable reports whether r has the Unicode property
// Default_Ignorable_Code_Point, derived as DerivedCoreProperties.txt does:
// Other_Default_Ignorable_Code_Point + Cf + Variation_Selector, minus
// White_Space, U+FFF9..U+FFFB, U+13430..U+1343F and the prepended
// concatenation marks (which are visible).
func IsDefaultIgnorable(r rune) bool {
	switch {
	case unicode.Is(unicode.White_Space, r),
		r >= 0xFFF9 && r <= 0xFFFB,
		r >= 0x13430 && r <= 0x1343F,
		unicode.Is(unicode.Prepended_Concatenation_Mark, r):
		return false
	}
	return unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) ||
		unicode.Is(unicode.Cf, r) ||
		unicode.Is(unicode.Variation_Selector, r)
}

// IsBidiControl reports whether r is one of Unicode's bidirectional
// formatting characters (the Bidi_Control property).
func IsBidiControl(r rune) bool { return unicode.Is(unicode.Bidi_Control, r) }

// isVisible reports whether r draws something by itself: a letter,
// number, punctuation or symbol that is not ignorable. Marks draw only on
// a base character, so a name of marks alone is invisible too.
func isVisible(r rune) bool {
	if IsDefaultIgnorable(r) {
		return false
	}
	return unicode.In(r, unicode.L, unicode.N, unicode.P, unicode.S)
}
