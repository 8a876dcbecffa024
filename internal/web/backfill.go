package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/provision"
	"github.com/provisioner/provisioner/views/pages"
)

// backfillRoutes registers the backfill screens, for admins only: a dry run
// first, then the run started on the job system, whose page polls its
// progress.
func (s *Server) backfillRoutes(g *echo.Group) {
	b := g.Group("/backfill", s.requireAdmin)
	b.GET("", s.handleBackfill)
	b.GET("/dry-run", s.handleBackfillDryRun)
	b.POST("", s.handleBackfillSubmit)
	b.GET("/:id", s.handleBackfillRun)
	b.GET("/:id/progress", s.handleBackfillProgress)
	b.POST("/:id/retry-failed", s.handleBackfillRetryFailed)
	b.POST("/possible-matches/link", s.handleBackfillLinkMatch) // safeguards.go
}

// recentRuns is how many runs the backfill page lists.
const recentRuns = 10

// handleBackfill handles "GET /admin/backfill".
func (s *Server) handleBackfill(c echo.Context) error {
	ctx := c.Request().Context()
	p := pages.BackfillProps{Configured: s.cfg.OpenAIConfigured()}
	cur, err := s.backfill.Current(ctx)
	switch {
	case err == nil:
		props := runProps(c, cur)
		p.Current = &props
	case !errors.Is(err, provision.ErrRunNotFound):
		return err
	}
	recent, err := s.backfill.Recent(ctx, recentRuns)
	if err != nil {
		return err
	}
	for _, r := range recent {
		p.Recent = append(p.Recent, pages.BackfillRunRow{
			ID: strconv.FormatInt(r.ID, 10), URL: runURL(r.ID), Status: string(r.Status), StartedBy: r.StartedBy,
			Started: stamp(r.StartedAt), StartedISO: isoTime(r.StartedAt), Summary: runSummary(r),
		})
	}
	return render(c, http.StatusOK, pages.BackfillPage(s.adminMeta(c, "Backfill", "backfill"), p))
}

// handleBackfillDryRun handles "GET /admin/backfill/dry-run": what a run
// would do, and the form that starts it. It changes nothing.
func (s *Server) handleBackfillDryRun(c echo.Context) error {
	ctx := c.Request().Context()
	dry, err := s.backfill.DryRun(ctx)
	if err != nil {
		return err
	}
	p := pages.BackfillDryRunProps{
		CSRF: csrfToken(c), Configured: dry.Configured, Count: thousands(dry.Count), None: dry.Count == 0,
		Names: dry.Names,
	}
	if more := dry.Count - len(dry.Names); more > 0 {
		p.More = "and " + thousands(more) + " more"
	}
	p.AutoLinks, p.MatchesError = thousands(dry.AutoLinks), dry.MatchesError
	for _, m := range dry.PossibleMatches {
		p.Possible = append(p.Possible, pages.PossibleMatchRow{
			CompanyID: strconv.FormatInt(m.CompanyID, 10), CompanyName: m.CompanyName, CompanyURL: companyURL(m.CompanyID),
			ProjectID: m.ProjectID, ProjectURL: openAIProjectURL(m.ProjectID),
			Created: stamp(m.ProjectCreatedAt), CreatedISO: isoTime(m.ProjectCreatedAt), Why: m.Why, Released: m.Released,
		})
	}
	if cur, err := s.backfill.Current(ctx); err == nil && cur.Running() {
		p.RunningURL, p.RunningID = runURL(cur.ID), strconv.FormatInt(cur.ID, 10)
	} else if err != nil && !errors.Is(err, provision.ErrRunNotFound) {
		return err
	}
	return render(c, http.StatusOK, pages.BackfillDryRunPage(s.adminMeta(c, "Backfill dry run", "backfill"), p))
}

// handleBackfillSubmit handles "POST /admin/backfill": starts a run, or
// shows the one running.
func (s *Server) handleBackfillSubmit(c echo.Context) error {
	run, running, err := s.backfill.Start(c.Request().Context(), actor(c), provision.StartOptions{})
	return s.afterStart(c, run, running, err, "/admin/backfill")
}

// handleBackfillRetryFailed handles "POST /admin/backfill/:id/retry-failed":
// a new run limited to that run's failures.
func (s *Server) handleBackfillRetryFailed(c echo.Context) error {
	id, err := runID(c)
	if err != nil {
		return err
	}
	run, running, err := s.backfill.Start(c.Request().Context(), actor(c), provision.StartOptions{RetryFailedOf: id})
	return s.afterStart(c, run, running, err, runURL(id))
}

// afterStart flashes what Start did and shows the run, or goes back.
func (s *Server) afterStart(c echo.Context, run provision.Run, running bool, err error, back string) error {
	switch {
	case errors.Is(err, provision.ErrNotConfigured):
		s.flash(c, "error", "No OpenAI admin key is configured: set OPENAI_ADMIN_KEY, then run the backfill.")
		return redirect(c, back)
	case errors.Is(err, provision.ErrNothingToBackfill):
		s.flash(c, "info", "Every company concerned has a project: there is nothing to backfill.")
		return redirect(c, back)
	case err != nil:
		return err
	case running:
		s.flash(c, "info", "A backfill is already running")
	case run.RetryOf != 0:
		s.flash(c, "success", fmt.Sprintf("Backfill started for the %s companies that failed in run #%d.", thousands(run.Total), run.RetryOf))
	default:
		s.flash(c, "success", fmt.Sprintf("Backfill started for %s companies.", thousands(run.Total)))
	}
	return redirect(c, runURL(run.ID))
}

// handleBackfillRun handles "GET /admin/backfill/:id".
func (s *Server) handleBackfillRun(c echo.Context) error {
	run, err := s.getRun(c)
	if err != nil {
		return err
	}
	title := fmt.Sprintf("Backfill run #%d", run.ID)
	return render(c, http.StatusOK, pages.BackfillRunPage(s.adminMeta(c, title, "backfill"), runProps(c, run)))
}

// handleBackfillProgress handles "GET /admin/backfill/:id/progress", the
// fragment the run page polls.
func (s *Server) handleBackfillProgress(c echo.Context) error {
	run, err := s.getRun(c)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(c, http.StatusOK, pages.BackfillProgress(runProps(c, run)))
}

func (s *Server) getRun(c echo.Context) (provision.Run, error) {
	id, err := runID(c)
	if err != nil {
		return provision.Run{}, err
	}
	return s.backfill.Get(c.Request().Context(), id)
}

// runID reads the :id path parameter; a malformed one is no run.
func runID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, provision.ErrRunNotFound
	}
	return id, nil
}

func runURL(id int64) string { return fmt.Sprintf("/admin/backfill/%d", id) }

func runSummary(r provision.Run) string {
	return fmt.Sprintf("%s created, %s linked existing, %s failed, %s skipped",
		thousands(r.Created), thousands(r.Linked), thousands(r.Failed), thousands(r.Skipped))
}

func runProps(c echo.Context, r provision.Run) pages.BackfillRunProps {
	id := strconv.FormatInt(r.ID, 10)
	p := pages.BackfillRunProps{
		CSRF: csrfToken(c), ID: id, URL: runURL(r.ID), ProgressURL: runURL(r.ID) + "/progress",
		RetryURL: runURL(r.ID) + "/retry-failed", Running: r.Running(), Status: string(r.Status),
		StartedBy: r.StartedBy, Started: stamp(r.StartedAt), StartedISO: isoTime(r.StartedAt),
		Concurrency: strconv.Itoa(r.Concurrency), Percent: strconv.Itoa(r.Percent()),
		Total: thousands(r.Total), Done: thousands(r.Done), Remaining: thousands(r.Remaining),
		Created: thousands(r.Created), Linked: thousands(r.Linked), Failed: thousands(r.Failed), Skipped: thousands(r.Skipped),
		Rate: strconv.FormatFloat(r.Rate, 'f', 1, 64) + "/s", ETA: eta(r.ETA), LastError: r.LastError,
		CanRetry: !r.Running() && r.Failed > 0,
	}
	if r.FinishedAt != nil {
		p.Finished, p.FinishedISO = stamp(*r.FinishedAt), isoTime(*r.FinishedAt)
	}
	if r.RetryOf != 0 {
		p.RetryOf, p.RetryOfURL = strconv.FormatInt(r.RetryOf, 10), runURL(r.RetryOf)
	}
	for _, f := range r.Failures {
		p.Failures = append(p.Failures, pages.BackfillFailureRow{
			CompanyName: f.CompanyName, CompanyURL: fmt.Sprintf("/admin/companies/%d", f.CompanyID), Error: f.Error,
		})
	}
	if more := r.Failed - len(r.Failures); more > 0 {
		p.MoreFailures = "and " + thousands(more) + " more"
	}
	return p
}

// The JSON API of the backfill (routes_api.go), for an admin session or
// the ADMIN_API_TOKEN.

// backfillRequest is the body of "POST /api/admin/openai/projects/backfill".
type backfillRequest struct {
	// DryRun is required: a body without it (empty, {}) must not start a
	// real run that creates projects, which can never be deleted.
	DryRun *bool `json:"dry_run"`
}

// dryRunJSON answers a dry run.
type dryRunJSON struct {
	DryRun     bool     `json:"dry_run"`
	Count      int      `json:"count"`
	Names      []string `json:"names"`
	Configured bool     `json:"configured"`
	// AutoLinks and PossibleMatches: see provision.DryRun.
	AutoLinks       int                 `json:"auto_links"`
	PossibleMatches []possibleMatchJSON `json:"possible_matches"`
	MatchesError    string              `json:"matches_error,omitempty"`
}

// possibleMatchJSON is a same-name project only an admin links.
type possibleMatchJSON struct {
	CompanyID        int64     `json:"company_id"`
	CompanyName      string    `json:"company_name"`
	ProjectID        string    `json:"project_id"`
	ProjectCreatedAt time.Time `json:"project_created_at"`
	Released         bool      `json:"released"`
	Why              string    `json:"why"`
}

// runJSON is a run as the API shows it.
type runJSON struct {
	ID            int64         `json:"id"`
	Status        string        `json:"status"`
	StartedBy     string        `json:"started_by"`
	RetryOf       *int64        `json:"retry_of"`
	Concurrency   int           `json:"concurrency"`
	StartedAt     time.Time     `json:"started_at"`
	FinishedAt    *time.Time    `json:"finished_at"`
	Total         int           `json:"total"`
	Done          int           `json:"done"`
	Remaining     int           `json:"remaining"`
	Created       int           `json:"created"`
	Linked        int           `json:"linked_existing"`
	Failed        int           `json:"failed"`
	Skipped       int           `json:"skipped"`
	Percent       int           `json:"percent"`
	RatePerSecond float64       `json:"rate_per_second"`
	ETASeconds    *float64      `json:"eta_seconds"`
	LastError     string        `json:"last_error,omitempty"`
	Failures      []failureJSON `json:"failures"`
	URL           string        `json:"url"`
}

type failureJSON struct {
	CompanyID   int64  `json:"company_id"`
	CompanyName string `json:"company_name"`
	Error       string `json:"error"`
}

func apiRunURL(id int64) string { return fmt.Sprintf("/api/admin/openai/projects/backfill/%d", id) }

func toRunJSON(r provision.Run) runJSON {
	out := runJSON{
		ID: r.ID, Status: string(r.Status), StartedBy: r.StartedBy, Concurrency: r.Concurrency,
		StartedAt: r.StartedAt.UTC(), Total: r.Total, Done: r.Done, Remaining: r.Remaining,
		Created: r.Created, Linked: r.Linked, Failed: r.Failed, Skipped: r.Skipped, Percent: r.Percent(),
		RatePerSecond: math.Round(r.Rate*10) / 10, LastError: r.LastError, Failures: []failureJSON{}, URL: apiRunURL(r.ID),
	}
	if r.RetryOf != 0 {
		out.RetryOf = &r.RetryOf
	}
	if r.FinishedAt != nil {
		t := r.FinishedAt.UTC()
		out.FinishedAt = &t
	}
	if r.ETA > 0 {
		secs := math.Ceil(r.ETA.Seconds())
		out.ETASeconds = &secs
	}
	for _, f := range r.Failures {
		out.Failures = append(out.Failures, failureJSON{CompanyID: f.CompanyID, CompanyName: f.CompanyName, Error: f.Error})
	}
	return out
}

// handleAPIBackfillStart handles "POST /api/admin/openai/projects/backfill"
// with {"dry_run": bool}: 200 with the dry run, 202 with the started run,
// 409 with the running run (or an error when no run can start).
func (s *Server) handleAPIBackfillStart(c echo.Context) error {
	ctx := c.Request().Context()
	var req backfillRequest
	dec := json.NewDecoder(c.Request().Body)
	// A misspelt "dry_run" must not start a real run.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		return echo.NewHTTPError(http.StatusBadRequest, "The body must be a JSON object such as {\"dry_run\": true}.").SetInternal(err)
	}
	if dec.More() {
		return echo.NewHTTPError(http.StatusBadRequest, "The body must hold one JSON object.")
	}
	if req.DryRun == nil {
		return echo.NewHTTPError(http.StatusBadRequest, `Field "dry_run" is required: send {"dry_run": true} to preview, or {"dry_run": false} to start a run.`)
	}
	if *req.DryRun {
		dry, err := s.backfill.DryRun(ctx)
		if err != nil {
			return err
		}
		out := dryRunJSON{DryRun: true, Count: dry.Count, Names: dry.Names, Configured: dry.Configured,
			AutoLinks: dry.AutoLinks, PossibleMatches: []possibleMatchJSON{}, MatchesError: dry.MatchesError}
		for _, m := range dry.PossibleMatches {
			out.PossibleMatches = append(out.PossibleMatches, possibleMatchJSON{
				CompanyID: m.CompanyID, CompanyName: m.CompanyName, ProjectID: m.ProjectID,
				ProjectCreatedAt: m.ProjectCreatedAt, Released: m.Released, Why: m.Why,
			})
		}
		return c.JSON(http.StatusOK, out)
	}
	run, running, err := s.backfill.Start(ctx, apiActor(c), provision.StartOptions{})
	switch {
	case errors.Is(err, provision.ErrNotConfigured):
		return echo.NewHTTPError(http.StatusConflict, "No OpenAI admin key is configured; set OPENAI_ADMIN_KEY to run a backfill.")
	case errors.Is(err, provision.ErrNothingToBackfill):
		return echo.NewHTTPError(http.StatusConflict, "Every company has a project; there is nothing to backfill.")
	case err != nil:
		return err
	case running:
		return c.JSON(http.StatusConflict, toRunJSON(run))
	}
	c.Response().Header().Set(echo.HeaderLocation, apiRunURL(run.ID))
	return c.JSON(http.StatusAccepted, toRunJSON(run))
}

// handleAPIBackfillGet handles "GET /api/admin/openai/projects/backfill/:id".
func (s *Server) handleAPIBackfillGet(c echo.Context) error {
	run, err := s.getRun(c)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, toRunJSON(run))
}
