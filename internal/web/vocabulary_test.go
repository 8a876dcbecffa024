package web_test

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/views/pages"
)

// stateWords are the staff's one vocabulary of company states.
var stateWords = []string{"Provisioned", "Pending", "Skipped", "Failed"}

// retiredWords were states under other names before.
var retiredWords = regexp.MustCompile(`\bMissing\b`)

// Every staff page names company states with the same four words, and
// the README uses them too.
func TestVocabulary_StaffPages(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, appOptions{})
	ids := map[string]int64{
		"provisioned": a.insertCompany("Alpha", "proj_vocab1", "provisioned"),
		"pending":     a.insertCompany("Beta", "", "pending"),
		"skipped":     a.insertCompany("Gamma", "", "skipped"),
		"failed":      a.insertCompany("Delta", "", "failed"),
	}
	a.loginAs(auth.RoleAdmin)
	paths := []string{"/admin", "/admin/companies", "/admin/companies?filter=missing", "/admin/backfill", "/admin/backfill/dry-run", "/admin/audit"}
	for _, id := range ids {
		paths = append(paths, detailPath(id))
	}
	seen := map[string]bool{}
	for _, path := range paths {
		_, doc := a.get(path)
		doc.Find(`[data-testid="badge"]`).Each(func(_ int, s *goquery.Selection) {
			w := text(s)
			seen[w] = true
			if !slices.Contains(stateWords, w) {
				t.Errorf("%s: badge %q is not one of %v", path, w, stateWords)
			}
		})
		if m := retiredWords.FindString(text(doc.Find("main"))); m != "" {
			t.Errorf("%s says %q, not a word of the vocabulary", path, m)
		}
	}
	for _, w := range stateWords {
		if !seen[w] {
			t.Errorf("no page showed the state %q", w)
		}
	}
	_, doc := a.get("/admin")
	for _, w := range stateWords {
		if doc.Find(`#home-totals dt:contains("`+w+`")`).Length() != 1 {
			t.Errorf("the home page's totals lack %q", w)
		}
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range stateWords {
		if !bytes.Contains(readme, []byte("| **"+w+"** |")) {
			t.Errorf("the README's states table lacks %q", w)
		}
	}
	if m := retiredWords.Find(readme); m != nil {
		t.Errorf("the README says %q", m)
	}
}

// The public confirmation speaks to the customer, never in the staff's
// state words.
func TestVocabulary_PublicConfirmation(t *testing.T) {
	t.Parallel()
	for _, status := range []string{"provisioned", "pending", "skipped", "failed"} {
		var buf bytes.Buffer
		if err := pages.SignupDoneCard(pages.SignupDoneProps{CompanyName: "Acme", Status: status}).Render(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		doc, err := goquery.NewDocumentFromReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		page := text(doc.Selection)
		for _, w := range append(stateWords, "not configured", "administrator") {
			if strings.Contains(page, w) {
				t.Errorf("confirmation for %s says %q: %s", status, w, page)
			}
		}
		if msg := text(doc.Find(`[data-testid="done-message"]`)); !strings.HasSuffix(msg, ".") {
			t.Errorf("confirmation for %s has no sentence: %q", status, msg)
		}
	}
}
