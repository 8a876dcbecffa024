// Package demo prepares what `make demo` shows: a database of believable
// companies in every provisioning state, staff accounts to sign in with, and
// the sandbox OpenAI loaded with the projects that database links.
//
// The fixtures are written with plain SQL in one transaction: they describe
// a past (signups, failed attempts, retries) that the services would only
// produce over weeks, and nothing outside the demo writes rows this way.
package demo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/namekey"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

// Demo staff accounts. example.com is reserved for documentation, so these
// addresses can never reach anyone.
const (
	AdminEmail   = "demo-admin@example.com"
	SupportEmail = "demo-support@example.com"
)

// setupActor is who the audit log names for the demo's own changes.
var setupActor = audit.Actor{Email: "demo setup"}

// state is what happened to a seeded company's project.
type state int

const (
	provisioned state = iota // created at signup
	retried                  // a 429 at signup, created by the retry job
	recovered                // the signup timed out, the retry linked the project it had created
	assigned                 // linked by hand by support staff
	missing                  // signed up while no admin key was configured
	failed                   // OpenAI refused for good
)

// fixture is one seeded company.
type fixture struct {
	name, industry, contact, email, website, size, country string
	daysAgo                                                int
	state                                                  state
}

// fixtures are the seeded companies, oldest first. Names and people are
// invented; the domains use the reserved .example top-level domain.
var fixtures = []fixture{
	{"Northwind Traders", "Retail", "Nancy Davolio", "nancy@northwind.example", "https://northwind.example", "201-1000", "United States", 58, missing},
	{"Brightline Analytics", "Software", "Priya Raman", "priya@brightline.example", "https://brightline.example", "51-200", "India", 57, missing},
	{"Harbor & Pine Legal", "Consulting", "Thomas Reid", "treid@harborpine.example", "https://harborpine.example", "11-50", "United Kingdom", 55, missing},
	{"Cobalt Freight", "Logistics", "Mateus Costa", "mateus@cobaltfreight.example", "https://cobaltfreight.example", "201-1000", "Brazil", 54, missing},
	{"Lumen Health Partners", "Healthcare", "Aisha Bello", "aisha.bello@lumenhealth.example", "https://lumenhealth.example", "1000+", "Nigeria", 52, missing},
	{"Quarry Lane Studios", "Media", "Jonas Berg", "jonas@quarrylane.example", "", "1-10", "Sweden", 51, missing},
	{"Fernwood Academy", "Education", "Claire Dubois", "c.dubois@fernwood.example", "https://fernwood.example", "51-200", "France", 50, missing},
	{"Sable Robotics", "Manufacturing", "Kenji Watanabe", "kenji@sablerobotics.example", "https://sablerobotics.example", "51-200", "Japan", 49, missing},
	{"Acme Tooling", "Manufacturing", "Walter Brandt", "walter@acmetooling.example", "https://acmetooling.example", "1000+", "Germany", 47, provisioned},
	{"Juniper Payments", "Finance", "Olivia Chen", "olivia@juniperpay.example", "https://juniperpay.example", "201-1000", "Singapore", 45, provisioned},
	{"Redwood Software", "Software", "Daniel Okafor", "daniel@redwoodsoftware.example", "https://redwoodsoftware.example", "51-200", "Canada", 44, assigned},
	{"Greenleaf Grocers", "Retail", "Maria Santos", "maria@greenleafgrocers.example", "https://greenleafgrocers.example", "1000+", "Portugal", 42, provisioned},
	{"Vector Mobility", "Manufacturing", "Lukas Novak", "lukas@vectormobility.example", "https://vectormobility.example", "1000+", "Czechia", 40, retried},
	{"Open Hands Foundation", "Non-profit", "Grace Mwangi", "grace@openhands.example", "https://openhands.example", "11-50", "Kenya", 38, provisioned},
	{"Helix Diagnostics", "Healthcare", "Sarah Goldberg", "sarah@helixdx.example", "https://helixdx.example", "51-200", "Israel", 36, provisioned},
	{"Copper Kettle Bakery", "Retail", "Emma Walsh", "emma@copperkettle.example", "", "1-10", "Ireland", 35, provisioned},
	{"Atlas Cloudworks", "Software", "Ravi Kapoor", "ravi@atlascloud.example", "https://atlascloud.example", "201-1000", "India", 33, recovered},
	{"Meridian Air Cargo", "Logistics", "Liam O'Brien", "liam@meridiancargo.example", "https://meridiancargo.example", "1000+", "Australia", 31, provisioned},
	{"Monarch Learning", "Education", "Sofia Marin", "sofia@monarchlearning.example", "https://monarchlearning.example", "11-50", "Spain", 30, provisioned},
	{"Tidewater Imports", "Other", "Marcus Hale", "marcus@tidewater.example", "", "1-10", "United States", 28, failed},
	{"Blue Heron Media", "Media", "Chloe Tan", "chloe@blueheron.example", "https://blueheron.example", "51-200", "Singapore", 26, provisioned},
	{"Granite Capital", "Finance", "Henry Whitfield", "henry@granitecapital.example", "https://granitecapital.example", "201-1000", "United Kingdom", 24, provisioned},
	{"Pinecone Labs", "Software", "Ana Ribeiro", "ana@pineconelabs.example", "https://pineconelabs.example", "11-50", "Brazil", 22, retried},
	{"Clearwater Clinics", "Healthcare", "Samuel Adeyemi", "samuel@clearwaterclinics.example", "https://clearwaterclinics.example", "201-1000", "Nigeria", 21, provisioned},
	{"Paperline Supplies", "Retail", "Julia Novak", "julia@paperline.example", "https://paperline.example", "51-200", "Poland", 19, provisioned},
	{"Sweetwater Confections", "Manufacturing", "Charlotte Evans", "charlotte@sweetwater.example", "https://sweetwater.example", "201-1000", "United Kingdom", 17, provisioned},
	{"Keystone Advisory", "Consulting", "Nina Petrova", "nina@keystoneadvisory.example", "https://keystoneadvisory.example", "51-200", "Bulgaria", 15, provisioned},
	{"Swift Parcel", "Logistics", "Diego Alvarez", "diego@swiftparcel.example", "", "11-50", "Mexico", 13, provisioned},
	{"Lattice AI", "Software", "Yuki Tanaka", "yuki@lattice-ai.example", "https://lattice-ai.example", "11-50", "Japan", 12, provisioned},
	{"Harborview Bank", "Finance", "Robert Lindqvist", "robert@harborview.example", "https://harborview.example", "1000+", "Sweden", 10, provisioned},
	{"Oakridge Homes", "Other", "Megan Price", "megan@oakridgehomes.example", "https://oakridgehomes.example", "51-200", "United States", 8, assigned},
	{"Northstar Podcasts", "Media", "Felix Wagner", "felix@northstarpods.example", "", "1-10", "Austria", 6, provisioned},
	{"Casa Verde Foods", "Retail", "Lucia Romero", "lucia@casaverde.example", "https://casaverde.example", "201-1000", "Mexico", 4, provisioned},
	{"Brightpath Consulting", "Consulting", "Omar Haddad", "omar@brightpath.example", "https://brightpath.example", "11-50", "Jordan", 3, provisioned},
	{"Ironclad Components", "Manufacturing", "Pieter de Vries", "pieter@ironclad.example", "https://ironclad.example", "201-1000", "Netherlands", 2, provisioned},
	{"Kessler Clinics", "Healthcare", "Hanna Kessler", "hanna@kesslerclinics.example", "https://kesslerclinics.example", "11-50", "Germany", 1, provisioned},
}

// projectLimitError is what OpenAI's refusal looked like for the failed
// company, as the provisioner records it.
const projectLimitError = "openai create project: 400 Bad Request (invalid_request_error): " +
	"You have reached the maximum number of projects for this organization (2000)."

// Seed fills an empty database with the demo companies, their provisioning
// history and a few audit entries, and returns how many companies it added.
// A database that already has companies is left alone (0 is returned), so
// that a restarted demo keeps what was done in it.
func Seed(ctx context.Context, pool *pgxpool.Pool, now time.Time) (int, error) {
	seeded := 0
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Two demos starting at once must not both seed.
		if _, err := tx.Exec(ctx, "LOCK TABLE companies IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM companies").Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		// Signups happen during office hours, a few days apart.
		day := now.UTC().Truncate(24 * time.Hour)
		for i, f := range fixtures {
			at := day.AddDate(0, 0, -f.daysAgo).Add(time.Duration(8*60+(i*97)%540) * time.Minute)
			if err := seedCompany(ctx, tx, f, at); err != nil {
				return fmt.Errorf("seed %s: %w", f.name, err)
			}
		}
		seeded = len(fixtures)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("seed demo companies: %w", err)
	}
	return seeded, nil
}

// seedCompany inserts one company signed up at at, with the attempts and
// audit entries its state implies.
func seedCompany(ctx context.Context, tx pgx.Tx, f fixture, at time.Time) error {
	var projectID *string
	status, lastError := string(company.StatusProvisioned), ""
	switch f.state {
	case missing:
		status, lastError = string(company.StatusSkipped), "no OpenAI admin key is configured"
	case failed:
		status, lastError = string(company.StatusFailed), "the OpenAI organization has reached its project limit"
	default:
		id := ProjectID()
		projectID = &id
	}
	var id int64
	err := tx.QueryRow(ctx, `
		INSERT INTO companies (name, industry, contact_name, contact_email, website, company_size, country,
			created_at, updated_at, openai_project_id, project_description, provisioning_status, provisioning_error, name_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10, $11, $12, $13)
		RETURNING id`,
		f.name, f.industry, f.contact, f.email, f.website, f.size, f.country,
		at, projectID, company.ProjectDescription(f.name, f.industry), status, lastError, namekey.Key(f.name),
	).Scan(&id)
	if err != nil {
		return err
	}

	// attempt records one finished try, started after after.
	attempt := func(after, duration time.Duration, trigger, outcome string, project *string, httpStatus *int, errText string, resolved bool) error {
		start := at.Add(after)
		_, err := tx.Exec(ctx, `
			INSERT INTO provision_attempts (company_id, trigger, started_at, finished_at, outcome, project_id,
				error, http_status, openai_request_id, resolved)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			id, trigger, start, start.Add(duration), outcome, project, errText, httpStatus, requestID(), resolved)
		return err
	}
	status429, status400 := 429, 400
	switch f.state {
	case provisioned:
		return attempt(150*time.Millisecond, took(f.name), "signup", "created", projectID, nil, "", false)
	case retried:
		if err := attempt(150*time.Millisecond, 240*time.Millisecond, "signup", "retryable", nil, &status429,
			"openai create project: 429 Too Many Requests (rate_limit_exceeded): Rate limit reached for requests. Please try again later.", false); err != nil {
			return err
		}
		return attempt(4*time.Second, took(f.name), "retry", "created", projectID, nil, "", false)
	case recovered:
		if err := attempt(150*time.Millisecond, 5*time.Second, "signup", "uncertain", nil, nil,
			"openai create project: no answer within 5s: context deadline exceeded", true); err != nil {
			return err
		}
		return attempt(40*time.Second, took(f.name), "retry", "linked", projectID, nil, "", false)
	case assigned:
		if err := attempt(150*time.Millisecond, 0, "signup", "skipped", nil, nil, "no OpenAI admin key is configured", false); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO audit_log (at, actor_email, action, company_id, company_name, before, after, detail)
			VALUES ($1, $2, $3, $4, $5, '', $6, $7)`,
			at.Add(26*time.Hour), SupportEmail, audit.ActionAssignProjectID, id, f.name, *projectID,
			fmt.Sprintf("verified on OpenAI: project %q", f.name))
		return err
	case missing:
		return attempt(150*time.Millisecond, 0, "signup", "skipped", nil, nil, "no OpenAI admin key is configured", false)
	case failed:
		return attempt(150*time.Millisecond, 410*time.Millisecond, "signup", "failed", nil, &status400, projectLimitError, false)
	}
	return nil
}

// took is a believable, stable duration for a successful create call.
func took(name string) time.Duration {
	n := 0
	for _, r := range name {
		n += int(r)
	}
	return time.Duration(350+n%600) * time.Millisecond
}

// ProjectID returns a new, random ID shaped like OpenAI's ("proj_" and 24
// letters and digits).
func ProjectID() string { return "proj_" + alnum(24) }

func requestID() string { return "req_" + rand.Text()[:24] }

// alnum returns n random letters and digits.
func alnum(n int) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		_, _ = rand.Read(buf) // never fails (crypto/rand)
		for _, c := range buf {
			// 248 = 4*62: dropping larger bytes keeps the draw uniform.
			if c < 248 && len(out) < n {
				out = append(out, letters[int(c)%len(letters)])
			}
		}
	}
	return string(out)
}

// Credential is a demo staff account and its new password.
type Credential struct {
	Email    string
	Role     auth.Role
	Password string
}

// ResetStaff creates the demo admin and the demo support user, or gives
// them a new random password (enabling them again, ending their sessions)
// if they exist. The passwords are returned to be shown once; they are
// stored only as hashes.
func ResetStaff(ctx context.Context, pool *pgxpool.Pool, svc *auth.Service) ([]Credential, error) {
	creds := []Credential{
		{Email: AdminEmail, Role: auth.RoleAdmin, Password: password()},
		{Email: SupportEmail, Role: auth.RoleSupport, Password: password()},
	}
	for _, c := range creds {
		_, err := svc.CreateUser(ctx, setupActor, auth.NewAccount{Email: c.Email, Role: c.Role, Password: c.Password})
		if errors.Is(err, auth.ErrEmailTaken) {
			err = resetPassword(ctx, pool, c)
		}
		if err != nil {
			return nil, fmt.Errorf("demo staff %s: %w", c.Email, err)
		}
	}
	return creds, nil
}

// resetPassword sets an existing account's role and password, enables it
// and ends its sessions and login throttling.
func resetPassword(ctx context.Context, pool *pgxpool.Pool, c Credential) error {
	hash, err := auth.HashPassword(c.Password, auth.DefaultHashParams)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `
			UPDATE staff_users SET password_hash = $2, role = $3, disabled = false
			WHERE lower(email) = lower($1) RETURNING id`, c.Email, hash, string(c.Role)).Scan(&id)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM staff_sessions WHERE user_id = $1", id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM login_failures WHERE email = lower($1)", c.Email)
		return err
	})
}

// password is a random password that is easy to copy: 4 groups of 5
// letters and digits (about 119 bits).
func password() string {
	p := alnum(20)
	return p[:5] + "-" + p[5:10] + "-" + p[10:15] + "-" + p[15:]
}

// LoadSandbox adds to the sandbox every project the database links, under
// the company's name: the in-process fake starts empty each time, and
// without them assigning or verifying a linked ID would find nothing.
// Returns how many projects it added.
func LoadSandbox(ctx context.Context, pool *pgxpool.Pool, fake *openaitest.Server) (int, error) {
	rows, err := pool.Query(ctx, "SELECT openai_project_id, name FROM companies WHERE openai_project_id IS NOT NULL ORDER BY created_at, id")
	if err != nil {
		return 0, fmt.Errorf("load sandbox projects: %w", err)
	}
	var id, name string
	n := 0
	_, err = pgx.ForEachRow(rows, []any{&id, &name}, func() error {
		fake.AddProjectWithID(id, name)
		n++
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("load sandbox projects: %w", err)
	}
	return n, nil
}
