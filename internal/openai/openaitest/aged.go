package openaitest

import "time"

// AddProjectCreatedAt seeds an active project created at at: an old
// project of the organization, for instance, that a company signing up
// under its name must not be handed.
func (s *Server) AddProjectCreatedAt(name string, at time.Time) Project {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.create(name, "", "")
	p.CreatedAt = at.UTC().Truncate(time.Second)
	return p.snapshot()
}

// ArchiveProject archives a project, as an admin would on OpenAI's
// platform; it reports whether the project exists.
func (s *Server) ArchiveProject(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.byID[id]
	if ok {
		s.archive(p)
	}
	return ok
}
