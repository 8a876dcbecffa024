package openaitest_test

import (
	"testing"

	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

func TestAddProjectWithID(t *testing.T) {
	t.Parallel()
	s := openaitest.New(openaitest.Options{AdminKey: testKey})
	defer s.Close()

	const id = "proj_SeededBeforeThisProcess1"
	p := s.AddProjectWithID(id, "Acme")
	if p.ID != id || p.Name != "Acme" || p.Status != "active" {
		t.Fatalf("AddProjectWithID = %+v", p)
	}
	status, _, got, raw := call(t, nil, "GET", s.URL+"/organization/projects/"+id, testKey, nil)
	if status != 200 || got["id"] != id || got["name"] != "Acme" {
		t.Fatalf("get %s: %d %s", id, status, raw)
	}
	// The ID is held: a second call keeps the first project.
	if again := s.AddProjectWithID(id, "Other"); again.Name != "Acme" {
		t.Errorf("second AddProjectWithID replaced the project: %+v", again)
	}
	if all := s.Projects(); len(all) != 1 || all[0].ID != id {
		t.Errorf("projects = %+v, want the one seeded", all)
	}
	status, _, list, raw := call(t, nil, "GET", s.URL+"/organization/projects", testKey, nil)
	data, _ := list["data"].([]any)
	if status != 200 || len(data) != 1 || data[0].(map[string]any)["id"] != id {
		t.Errorf("list: %d %s", status, raw)
	}
}
