package namekey_test

import (
	"errors"
	"testing"

	"github.com/provisioner/provisioner/internal/namekey"
)

// Every look-alike of "Acme Corp" that the attack of issue 12 got
// accepted as a second company must have the same key as the original.
func TestKey_LookAlikes(t *testing.T) {
	t.Parallel()
	const original = "Acme Corp"
	want := namekey.Key(original)
	for _, tt := range []struct{ name, variant string }{
		{"ZeroWidthSpace", "Ac\u200bme Corp"},
		{"ZeroWidthSpaceAtEnds", "\u200bAcme Corp\u200b"},
		{"ZeroWidthNonJoiner", "Acm\u200ce Corp"},
		{"ZeroWidthJoiner", "A\u200dcme Corp"},
		{"WordJoiner", "Acme\u2060 Corp"},
		{"SoftHyphen", "Ac\u00adme Corp"},
		{"SoftHyphens", "A\u00adc\u00adm\u00ade Corp"},
		{"ByteOrderMark", "\ufeffAcme Corp"},
		{"ByteOrderMarkInside", "Acme\ufeff Corp"},
		{"VariationSelector", "Acme\ufe0f Corp"},
		{"HangulFiller", "Acme\u3164 Corp"},
		{"MongolianVowelSeparator", "Acme\u180e Corp"},
		{"CyrillicA", "\u0410cme Corp"},
		{"CyrillicES", "A\u0441me Corp"},
		{"CyrillicIE", "Acm\u0435 Corp"},
		{"CyrillicO", "Acme C\u043erp"},
		{"CyrillicER", "Acme Cor\u0440"},
		{"CyrillicMany", "\u0410\u0441m\u0435 C\u043er\u0440"},
		{"GreekOmicron", "Acme C\u03bfrp"},
		{"FullWidth", "\uff21\uff43\uff4d\uff45 \uff23\uff4f\uff52\uff50"},
		{"FullWidthPart", "Acme \uff23orp"},
		{"MathematicalBold", "\U0001d400\U0001d41c\U0001d426\U0001d41e Corp"},
		{"UpperCase", "ACME CORP"},
		{"LowerCase", "acme corp"},
		{"NoBreakSpace", "Acme\u00a0Corp"},
		{"IdeographicSpace", "Acme\u3000Corp"},
		{"DoubleSpace", "Acme  Corp"},
		{"RNForM", "Acrne Corp"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := namekey.Key(tt.variant); got != want {
				t.Errorf("Key(%q) = %q, want %q (the key of %q)", tt.variant, got, want, original)
			}
		})
	}
}

// NFC and NFD spellings of an accented name are one name, and Display
// stores the NFC one.
func TestKey_NFCvsNFD(t *testing.T) {
	t.Parallel()
	nfc, nfd := "Caf\u00e9 M\u00fcller", "Cafe\u0301 Mu\u0308ller"
	if namekey.Key(nfc) != namekey.Key(nfd) {
		t.Errorf("Key(NFC) = %q, Key(NFD) = %q; want equal", namekey.Key(nfc), namekey.Key(nfd))
	}
	if got := namekey.Display(nfd); got != nfc {
		t.Errorf("Display(NFD) = %q, want the NFC %q", got, nfc)
	}
	// Display keeps what was typed otherwise: letter case, Cyrillic.
	if got := namekey.Display("\u0410cme"); got != "\u0410cme" {
		t.Errorf("Display changed the name: %q", got)
	}
}

// Names people can tell apart keep distinct keys.
func TestKey_DistinctNames(t *testing.T) {
	t.Parallel()
	for _, pair := range [][2]string{
		{"Acme Corp", "Acme Corporation"},
		{"Acme", "Acne"},
		{"Café", "Cafe"},
		{"Müller GmbH", "Muller GmbH"},
		{"Zürich Re", "Zurich Re"},
		{"Nordic AB", "Nordic AS"},
		{"Team 1", "Team 2"},
		{"Apple", "Apples"},
		{"ABC", "ACB"},
		{"東京", "京都"},
		{"Москва", "Moskva"},
		{"Αθήνα", "Athina"},
		{"Acme West", "Acme East"},
		{"İstanbul Tekstil", "Istanbul Tekstil"},
	} {
		if a, b := namekey.Key(pair[0]), namekey.Key(pair[1]); a == b {
			t.Errorf("Key(%q) = Key(%q) = %q; want distinct keys", pair[0], pair[1], a)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		input string
		want  error
	}{
		{"Plain", "Acme Corp", nil},
		{"Accented", "Café", nil},
		{"CJK", "東京", nil},
		{"Symbol", "&", nil},
		{"SoftHyphenInside", "Ac\u00adme", nil}, // ignorable, refused by the key as a duplicate only
		{"OnlyZeroWidthSpaces", "\u200b\u200b\u200b", namekey.ErrInvisible},
		{"OnlySoftHyphen", "\u00ad", namekey.ErrInvisible},
		{"OnlyBOM", "\ufeff", namekey.ErrInvisible},
		{"OnlyHangulFiller", "\u3164\u3164", namekey.ErrInvisible},
		{"OnlySpaces", "   ", namekey.ErrInvisible},
		{"OnlyCombiningMarks", "\u0301\u0308", namekey.ErrInvisible},
		{"RightToLeftOverride", "Acme\u202e Corp", namekey.ErrBidiControl},
		{"Isolates", "\u2066Acme\u2069", namekey.ErrBidiControl},
		{"RightToLeftMark", "Acme\u200f", namekey.ErrBidiControl},
		{"ArabicLetterMark", "\u061cAcme", namekey.ErrBidiControl},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := namekey.Check(tt.input); !errors.Is(got, tt.want) {
				t.Errorf("Check(%q) = %v, want %v", tt.input, got, tt.want)
			}
		})
	}
}
