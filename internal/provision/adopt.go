package provision

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/openai"
)

// Which existing project a company may adopt on its own. Project names are
// chosen by whoever signs up, so a name alone proves nothing: someone who
// signs up as "Internal Billing Prod" must not be handed the organization's
// own project of that name. A company adopts a project automatically (the
// backfill's LinkExisting, the search after an uncertain create) only when
// the project
//
//   - is active and held by no company,
//   - was never released by an admin (cleared or replaced: released_projects),
//   - was created at or after the company's first provisioning attempt that
//     may have called OpenAI began, less the clock-skew tolerance, so it can
//     be the one our own create made.
//
// Every other same-name project is a possible match: the backfill's dry run
// lists it, and an admin links it by hand, one by one, audited
// (company.Service.LinkPossibleMatch).

// PossibleMatch is a same-name project a company may not adopt
// automatically.
type PossibleMatch struct {
	CompanyID        int64
	CompanyName      string
	ProjectID        string
	ProjectName      string
	ProjectCreatedAt time.Time
	// Released is true when an admin unlinked the project from a company.
	Released bool
	// Why it is not adopted automatically.
	Why string
}

// classify splits the projects named exactly like company c that no company
// holds into those c may adopt and the possible matches.
func (p *Provisioner) classify(ctx context.Context, c dbgen.Company, sameName []openai.Project) (adopt []openai.Project, possible []PossibleMatch, err error) {
	var candidates []openai.Project
	for _, pr := range sameName {
		if pr.Name == c.Name && pr.Active() {
			candidates = append(candidates, pr)
		}
	}
	if len(candidates) == 0 {
		return nil, nil, nil
	}
	free, err := p.unlinked(ctx, candidates)
	if err != nil || len(free) == 0 {
		return nil, nil, err
	}
	released, err := p.released(ctx, free)
	if err != nil {
		return nil, nil, err
	}
	first, err := p.q.FirstProvisionAttemptStart(ctx, c.ID)
	hasFirst := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, fmt.Errorf("first attempt of company %d: %w", c.ID, err)
	}
	cutoff := first.Add(-p.settings.ClockSkew)
	for _, pr := range free {
		m := PossibleMatch{
			CompanyID: c.ID, CompanyName: c.Name, ProjectID: pr.ID, ProjectName: pr.Name, ProjectCreatedAt: pr.CreatedAt,
		}
		switch r, ok := released[pr.ID]; {
		case ok:
			m.Released = true
			m.Why = "an admin released it on " + r.ReleasedAt.UTC().Format("2006-01-02 15:04 UTC")
			if r.ReleasedBy != "" {
				m.Why = fmt.Sprintf("%s released it on %s", r.ReleasedBy, r.ReleasedAt.UTC().Format("2006-01-02 15:04 UTC"))
			}
		case !hasFirst:
			m.Why = "the company has made no provisioning attempt, so the project cannot be one it created"
		case pr.CreatedAt.Before(cutoff):
			m.Why = fmt.Sprintf("created %s, before the company's first provisioning attempt (%s)",
				pr.CreatedAt.UTC().Format("2006-01-02 15:04 UTC"), first.UTC().Format("2006-01-02 15:04 UTC"))
		default:
			adopt = append(adopt, pr)
			continue
		}
		possible = append(possible, m)
	}
	return adopt, possible, nil
}

// released returns the released_projects rows among prs, by project ID.
func (p *Provisioner) released(ctx context.Context, prs []openai.Project) (map[string]dbgen.ReleasedProject, error) {
	ids := make([]string, len(prs))
	for i, pr := range prs {
		ids[i] = pr.ID
	}
	rows, err := p.q.ListReleasedProjects(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("look up released projects: %w", err)
	}
	out := make(map[string]dbgen.ReleasedProject, len(rows))
	for _, r := range rows {
		out[r.ProjectID] = r
	}
	return out, nil
}

// maxPossibleMatches bounds the possible matches a dry run lists.
const maxPossibleMatches = 200

// Matches is what a backfill would do with the organization's existing
// projects.
type Matches struct {
	// AutoLinks is how many companies would adopt a project automatically.
	AutoLinks int
	// Possible are the same-name projects an admin must link by hand (at
	// most maxPossibleMatches), companies in ID order.
	Possible []PossibleMatch
}

// PossibleMatches lists the organization's active projects (one read of
// OpenAI's list, nothing written) and pairs them with the companies without
// a project of the same name.
func (p *Provisioner) PossibleMatches(ctx context.Context) (Matches, error) {
	if p.projects == nil {
		return Matches{}, ErrNotConfigured
	}
	byName := map[string][]openai.Project{}
	err := p.projects.ListProjects(ctx, false, func(pr openai.Project) error {
		if pr.Active() {
			byName[pr.Name] = append(byName[pr.Name], pr)
		}
		return nil
	})
	if err != nil {
		return Matches{}, fmt.Errorf("list OpenAI projects: %w", err)
	}
	var out Matches
	lowered := map[string]bool{}
	names := make([]string, 0, len(byName))
	for n := range byName {
		// PostgreSQL lowers the same way for the letters names are made
		// of; the exact comparison below settles the rest.
		if l := strings.ToLower(n); !lowered[l] {
			lowered[l] = true
			names = append(names, l)
		}
	}
	// A few thousand names at most (the organization's project limit):
	// one query in pages keeps the parameter small.
	for len(names) > 0 {
		chunk := names[:min(len(names), 1000)]
		names = names[len(chunk):]
		rows, err := p.q.ListUnprovisionedByNames(ctx, chunk)
		if err != nil {
			return Matches{}, fmt.Errorf("possible matches: %w", err)
		}
		for _, r := range rows {
			prs := byName[r.Name]
			if len(prs) == 0 {
				continue
			}
			c := dbgen.Company{ID: r.ID, Name: r.Name, Approval: r.Approval}
			adopt, possible, err := p.classify(ctx, c, prs)
			if err != nil {
				return Matches{}, fmt.Errorf("possible matches: %w", err)
			}
			if len(adopt) == 1 {
				out.AutoLinks++
			}
			for _, m := range possible {
				if len(out.Possible) < maxPossibleMatches {
					out.Possible = append(out.Possible, m)
				}
			}
		}
	}
	slices.SortFunc(out.Possible, func(a, b PossibleMatch) int { return cmp.Compare(a.CompanyID, b.CompanyID) })
	slices.SortFunc(out.Possible, func(a, b PossibleMatch) int { return cmp.Compare(a.CompanyID, b.CompanyID) })
	return out, nil
}
