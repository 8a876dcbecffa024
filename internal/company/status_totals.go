package company

import (
	"context"
	"fmt"
)

// StatusTotals are the companies by provisioning state, for the home page.
type StatusTotals struct {
	Companies, Provisioned, Pending, Waiting, Skipped, Failed int64
}

// StatusTotals counts the companies by state: the maintained totals for
// all and provisioned, a grouped count of the (few) without a project for
// the rest.
func (s *Service) StatusTotals(ctx context.Context) (StatusTotals, error) {
	t, err := s.Totals(ctx)
	if err != nil {
		return StatusTotals{}, err
	}
	rows, err := s.q.CountCompaniesWithoutProjectByStatus(ctx)
	if err != nil {
		return StatusTotals{}, fmt.Errorf("count companies by status: %w", err)
	}
	out := StatusTotals{Companies: t.Companies, Provisioned: t.WithProject}
	for _, r := range rows {
		switch Status(r.ProvisioningStatus) {
		case StatusPending:
			out.Pending += r.N
		case StatusWaiting:
			out.Waiting += r.N
		case StatusSkipped:
			out.Skipped += r.N
		case StatusFailed:
			out.Failed += r.N
		default: // "provisioned" without an ID (cleared): nothing will happen by itself
			out.Pending += r.N
		}
	}
	return out, nil
}
