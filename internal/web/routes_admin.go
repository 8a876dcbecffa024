package web

import "github.com/labstack/echo/v4"

// adminRoutes registers the staff dashboard under /admin. Each area
// registers its own routes, in its own file.
func (s *Server) adminRoutes(pages *echo.Group) {
	admin := pages.Group("/admin", noStore, s.requireSetupDone)
	s.loginRoutes(admin) // staff.go: /admin/login, /admin/logout (no session needed)
	staff := admin.Group("", s.requireStaff)
	s.homeRoutes(staff)      // home.go: /admin, /admin/openai/test
	s.staffRoutes(staff)     // staff.go: /admin/staff
	s.companyRoutes(staff)   // companies.go: /admin/companies…
	s.auditRoutes(staff)     // audit.go: /admin/audit
	s.backfillRoutes(staff)  // backfill.go: /admin/backfill…
	s.policyRoutes(staff)    // policy.go: /admin/policy…, company guard rails, offboarding
	s.staffRoutes(staff)     // staff.go: /admin/staff
	s.companyRoutes(staff)   // companies.go: /admin/companies…
	s.auditRoutes(staff)     // audit.go: /admin/audit
	s.backfillRoutes(staff)  // backfill.go: /admin/backfill…
	s.keysAdminRoutes(staff) // keys_admin.go: /admin/keys, /admin/webhooks
	s.costRoutes(staff)      // costs.go: /admin/costs…, company markups
}
