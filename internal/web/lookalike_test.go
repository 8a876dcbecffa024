package web_test

import (
	"net/http"
	"strings"
	"testing"
)

// Issue 12, finding 6: every look-alike of a registered name is refused as
// already registered (no second company, no second project); names with
// text-direction controls or nothing visible are refused beside the field.
func TestSignup_LookAlikeNames(t *testing.T) {
	t.Parallel()
	app := newTestApp(t, appOptions{})
	if resp, _ := app.signup(validSignup("Acme Corp")); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("first signup status = %d", resp.StatusCode)
	}
	for _, tt := range []struct {
		name, value, wantMsg string
	}{
		{"ZeroWidthSpace", "Ac\u200bme Corp", "already registered"},
		{"SoftHyphen", "Ac\u00adme Corp", "already registered"},
		{"ByteOrderMark", "\ufeffAcme Corp", "already registered"},
		{"Cyrillic", "\u0410\u0441m\u0435 C\u043er\u0440", "already registered"},
		{"FullWidth", "\uff21\uff43\uff4d\uff45 \uff23\uff4f\uff52\uff50", "already registered"},
		{"LetterCase", "ACME corp", "already registered"},
		{"BidiOverride", "Acme\u202e Corp 2", "text-direction"},
		{"OnlyZeroWidthSpaces", "\u200b\u200b\u200b", "visible"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, doc := app.signup(validSignup(tt.value))
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status = %d, want 422", resp.StatusCode)
			}
			if msg := doc.Find(`[data-testid="error-company_name"]`).Text(); !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("company_name error = %q, want it to say %q", msg, tt.wantMsg)
			}
		})
	}
	if n := app.countCompanies(); n != 1 {
		t.Errorf("companies = %d, want 1", n)
	}
	if n := app.fake.CreateCount(); n != 1 {
		t.Errorf("creates sent = %d, want 1", n)
	}

	// NFD input is stored, shown and sent to OpenAI as NFC.
	resp, _ := app.signup(validSignup("Cafe\u0301 M\u00fcller"))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("NFD signup status = %d", resp.StatusCode)
	}
	if _, ok := app.company("Caf\u00e9 M\u00fcller"); !ok {
		t.Error("the NFD name was not stored as NFC")
	}
	projects := app.fake.Projects()
	if last := projects[len(projects)-1]; last.Name != "Caf\u00e9 M\u00fcller" {
		t.Errorf("project name sent = %q, want the NFC name", last.Name)
	}
	if resp, doc := app.signup(validSignup("Caf\u00e9 Mu\u0308ller")); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("NFC/NFD twin status = %d, want 422 (%s)", resp.StatusCode, doc.Find(`[data-testid="error-company_name"]`).Text())
	}
}
