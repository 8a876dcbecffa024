// Package layouts holds the page shells (Base, Public, Admin) that every page renders into.
package layouts

import "encoding/json"

// Meta is what every layout needs to render the document around a page.
type Meta struct {
	// Title is the page title; the layout appends " · Provisioner".
	Title string
	// CSRF is the request's CSRF token. Base puts it in <meta name="csrf-token">
	// and in the body's hx-headers so every htmx request sends X-CSRF-Token.
	CSRF string
	// Sandbox shows the "Sandbox mode" banner (OpenAI projects are simulated).
	Sandbox bool
	// User is the signed-in staff member, or nil when nobody is signed in.
	User *User
	// Flashes are one-shot messages shown above the page content.
	Flashes []Flash
	// Nav is the active admin nav item: "home", "companies", "backfill", "audit", "staff" or "jobs".
	Nav string
}

// User is the signed-in staff member shown in the admin navigation bar.
type User struct {
	Email   string
	Role    string
	IsAdmin bool
}

// Flash is a one-shot message. Kind is "success", "error" or "info".
type Flash struct {
	Kind string
	Text string
}

// htmxConfig makes htmx 2 swap 422 and 429 responses (re-rendered forms with errors)
// and keeps it from injecting an inline <style> that the CSP would block.
//
// attributesToSettle leaves out "style": htmx's settle step copies the
// old element's attributes onto the new one, and an inline style (which
// password managers and other extensions put on inputs) is then blocked
// by the CSP, with a console error. Every 4xx is an answer we mean
// (a refused form, or an error toast that the server retargets to
// #toasts), so it is swapped and not reported as an error; 5xx are not
// swapped unless retargeted (static/js/app.js).
const htmxConfig = `{"includeIndicatorStyles":false,"attributesToSettle":["class","width","height"],"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"4..","swap":true,"error":false},{"code":"5..","swap":false,"error":true}]}`

// hxHeaders returns the JSON object for the body's hx-headers attribute.
// It is built with encoding/json so a token can never break out of the
// JSON string; templ then HTML-escapes the whole attribute value.
func hxHeaders(csrf string) string {
	b, err := json.Marshal(map[string]string{"X-CSRF-Token": csrf})
	if err != nil { // cannot happen for a map[string]string
		return "{}"
	}
	return string(b)
}

// pageTitle returns the document title for a page title.
func pageTitle(title string) string {
	if title == "" {
		return "Provisioner"
	}
	return title + " · Provisioner"
}

// roleLabel returns the display text for a staff role ("admin" → "Admin").
func roleLabel(role string) string {
	switch role {
	case "":
		return "Staff"
	case "admin":
		return "Admin"
	case "support":
		return "Support"
	case "staff":
		return "Staff"
	}
	return role
}

// navItem is one link in the admin navigation bar.
type navItem struct {
	Key       string
	Href      string
	Label     string
	AdminOnly bool
}

// navItems lists the admin navigation links in display order.
var navItems = []navItem{
	{Key: "home", Href: "/admin", Label: "Home"},
	{Key: "companies", Href: "/admin/companies", Label: "Companies"},
	{Key: "policy", Href: "/admin/policy", Label: "Policy"},
	{Key: "backfill", Href: "/admin/backfill", Label: "Backfill", AdminOnly: true},
	{Key: "costs", Href: "/admin/costs", Label: "Costs"},
	{Key: "keys", Href: "/admin/keys", Label: "Keys", AdminOnly: true},
	{Key: "webhooks", Href: "/admin/webhooks", Label: "Webhooks", AdminOnly: true},
	{Key: "audit", Href: "/admin/audit", Label: "Audit log"},
	{Key: "staff", Href: "/admin/staff", Label: "Staff", AdminOnly: true},
	{Key: "jobs", Href: "/admin/jobs", Label: "Jobs", AdminOnly: true},
}

// visibleNav returns the nav items u may see.
func visibleNav(u *User) []navItem {
	out := make([]navItem, 0, len(navItems))
	for _, it := range navItems {
		if it.AdminOnly && (u == nil || !u.IsAdmin) {
			continue
		}
		out = append(out, it)
	}
	return out
}
