package openaitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The fake's service-account and project-API-key endpoints, in the spec's
// shapes (ProjectServiceAccount*, ProjectApiKey*):
//
//	GET    /v1/organization/projects/{project_id}/service_accounts           list (limit, after)
//	POST   /v1/organization/projects/{project_id}/service_accounts           create: returns the key's value, once
//	GET    /v1/organization/projects/{project_id}/service_accounts/{id}      get
//	DELETE /v1/organization/projects/{project_id}/service_accounts/{id}      delete (and its key)
//	GET    /v1/organization/projects/{project_id}/api_keys                   list (limit, after, owner_project_access)
//	GET    /v1/organization/projects/{project_id}/api_keys/{key_id}          get
//	DELETE /v1/organization/projects/{project_id}/api_keys/{key_id}          refused (400) for a service account's key, as the spec says
//
// The faults of [Fault] apply to them by endpoint name; CreateThenDrop on
// EndpointCreateServiceAccount creates the account and loses the answer,
// and with it the only sight of the key's value.

// Endpoint names of the service-account and key requests.
const (
	EndpointCreateServiceAccount = "create_service_account"
	EndpointListServiceAccounts  = "list_service_accounts"
	EndpointGetServiceAccount    = "get_service_account"
	EndpointDeleteServiceAccount = "delete_service_account"
	EndpointListAPIKeys          = "list_api_keys"
	EndpointGetAPIKey            = "get_api_key"
	EndpointDeleteAPIKey         = "delete_api_key"
)

var accountEndpoints = map[string]bool{
	EndpointCreateServiceAccount: true, EndpointListServiceAccounts: true, EndpointGetServiceAccount: true,
	EndpointDeleteServiceAccount: true, EndpointListAPIKeys: true, EndpointGetAPIKey: true, EndpointDeleteAPIKey: true,
}

// ServiceAccount is a service account held by the fake, with its key.
type ServiceAccount struct {
	ID        string
	ProjectID string
	Name      string
	Role      string // "member", or "none" when created without a key
	CreatedAt time.Time
	// The key; KeyID is "" for an account created without one.
	KeyID        string
	KeyName      string
	KeyValue     string
	KeyCreatedAt time.Time
	LastUsedAt   *time.Time
}

// accountStore holds the service accounts of every project; Server.mu
// guards it.
type accountStore struct {
	byProject map[string][]*ServiceAccount // in creation order
}

// accountRoute names a service-account or key request; parts are the path
// segments after /organization/projects/.
func accountRoute(method string, parts []string) string {
	if len(parts) < 2 || parts[0] == "" {
		return ""
	}
	switch {
	case len(parts) == 2 && parts[1] == "service_accounts":
		switch method {
		case http.MethodGet:
			return EndpointListServiceAccounts
		case http.MethodPost:
			return EndpointCreateServiceAccount
		}
	case len(parts) == 3 && parts[1] == "service_accounts" && parts[2] != "":
		switch method {
		case http.MethodGet:
			return EndpointGetServiceAccount
		case http.MethodDelete:
			return EndpointDeleteServiceAccount
		}
	case len(parts) == 2 && parts[1] == "api_keys" && method == http.MethodGet:
		return EndpointListAPIKeys
	case len(parts) == 3 && parts[1] == "api_keys" && parts[2] != "":
		switch method {
		case http.MethodGet:
			return EndpointGetAPIKey
		case http.MethodDelete:
			return EndpointDeleteAPIKey
		}
	}
	return ""
}

// ServiceAccounts returns a snapshot of a project's live service accounts,
// in creation order.
func (s *Server) ServiceAccounts(projectID string) []ServiceAccount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []ServiceAccount{}
	for _, sa := range s.accounts.byProject[projectID] {
		out = append(out, sa.snapshot())
	}
	return out
}

// AddServiceAccount seeds a service account with a key in a project, as if
// someone had created it before. The project need not be known.
func (s *Server) AddServiceAccount(projectID, name string) ServiceAccount {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.createAccount(projectID, name, true).snapshot()
}

// TouchAPIKey sets when a key was last used, as traffic with it would.
// Returns false if no live key has that ID.
func (s *Server) TouchAPIKey(keyID string, at time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, list := range s.accounts.byProject {
		for _, sa := range list {
			if sa.KeyID == keyID {
				t := at.UTC().Truncate(time.Second)
				sa.LastUsedAt = &t
				return true
			}
		}
	}
	return false
}

func (sa *ServiceAccount) snapshot() ServiceAccount {
	c := *sa
	if sa.LastUsedAt != nil {
		t := *sa.LastUsedAt
		c.LastUsedAt = &t
	}
	return c
}

// createAccount adds a service account; s.mu must be held.
func (s *Server) createAccount(projectID, name string, withKey bool) *ServiceAccount {
	if s.accounts.byProject == nil {
		s.accounts.byProject = map[string][]*ServiceAccount{}
	}
	now := time.Now().UTC().Truncate(time.Second)
	sa := &ServiceAccount{ID: "svc_acct_" + randomAlnum(24), ProjectID: projectID, Name: name, Role: "none", CreatedAt: now}
	if withKey {
		sa.Role = "member"
		sa.KeyID, sa.KeyName, sa.KeyCreatedAt = "key_"+randomAlnum(16), "Secret Key", now
		sa.KeyValue = "sk-svcacct-" + randomAlnum(48)
	}
	s.accounts.byProject[projectID] = append(s.accounts.byProject[projectID], sa)
	return sa
}

// liveProject checks that the project exists and is not archived, and
// writes the error otherwise; s.mu must be held.
func (s *Server) liveProject(w responseWriter, projectID string) int {
	p, ok := s.byID[projectID]
	if !ok {
		return notFound(w, projectID)
	}
	if p.ArchivedAt != nil {
		return badParam(w, "", "Archived projects have no service accounts.")
	}
	return 0
}

func (s *Server) handleAccounts(w responseWriter, r *http.Request, endpoint, projectID string, body []byte) int {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, Prefix+"/organization/projects/"), "/")
	sub := ""
	if len(parts) == 3 {
		sub = parts[2]
	}
	if endpoint == EndpointCreateServiceAccount {
		return s.handleCreateAccount(w, projectID, body)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if status := s.liveProject(w, projectID); status != 0 {
		return status
	}
	list := s.accounts.byProject[projectID]
	switch endpoint {
	case EndpointListServiceAccounts:
		page, status := paginate(w, r.URL.Query(), list)
		if status != 0 {
			return status
		}
		data := make([]accountBody, len(page.items))
		for i, sa := range page.items {
			data[i] = accountJSON(sa)
		}
		return writeJSON(w, http.StatusOK, accountListBody{Object: "list", Data: data, FirstID: page.first, LastID: page.last, HasMore: page.more})
	case EndpointGetServiceAccount:
		i := slices.IndexFunc(list, func(sa *ServiceAccount) bool { return sa.ID == sub })
		if i < 0 {
			return accountNotFound(w, sub)
		}
		return writeJSON(w, http.StatusOK, accountJSON(list[i]))
	case EndpointDeleteServiceAccount:
		i := slices.IndexFunc(list, func(sa *ServiceAccount) bool { return sa.ID == sub })
		if i < 0 {
			return accountNotFound(w, sub)
		}
		s.accounts.byProject[projectID] = slices.Delete(list, i, i+1)
		return writeJSON(w, http.StatusOK, deletedBody{Object: "organization.project.service_account.deleted", ID: sub, Deleted: true})
	case EndpointListAPIKeys:
		if v := r.URL.Query().Get("owner_project_access"); v != "" && !slices.Contains([]string{"active", "inactive", "any"}, v) {
			return badParam(w, "owner_project_access", "Invalid 'owner_project_access'.")
		}
		var keyed []*ServiceAccount
		for _, sa := range list {
			if sa.KeyID != "" {
				keyed = append(keyed, sa)
			}
		}
		page, status := paginateKeys(w, r.URL.Query(), keyed)
		if status != 0 {
			return status
		}
		data := make([]apiKeyBody, len(page.items))
		for i, sa := range page.items {
			data[i] = apiKeyJSON(sa)
		}
		out := apiKeyListBody{Object: "list", Data: data, HasMore: page.more}
		if len(data) > 0 {
			out.FirstID, out.LastID = &data[0].ID, &data[len(data)-1].ID
		}
		return writeJSON(w, http.StatusOK, out)
	case EndpointGetAPIKey, EndpointDeleteAPIKey:
		i := slices.IndexFunc(list, func(sa *ServiceAccount) bool { return sa.KeyID != "" && sa.KeyID == sub })
		if i < 0 {
			return writeError(w, http.StatusNotFound, "invalid_request_error", "not_found", "",
				fmt.Sprintf("No API key found with id '%s'.", sub))
		}
		if endpoint == EndpointDeleteAPIKey {
			// The published spec: deleting a key that belongs to a service
			// account is refused; delete the service account instead.
			return badParam(w, "api_key_id", "API keys that belong to a service account cannot be deleted; delete the service account instead.")
		}
		return writeJSON(w, http.StatusOK, apiKeyJSON(list[i]))
	}
	return writeError(w, http.StatusNotFound, "invalid_request_error", "unknown_url", "", "Invalid URL")
}

func (s *Server) handleCreateAccount(w responseWriter, projectID string, body []byte) int {
	m, status := decodeBody(w, body, "name", "create_service_account_only")
	if status != 0 {
		return status
	}
	raw, present := m["name"]
	var name string
	if !present || json.Unmarshal(raw, &name) != nil {
		return badParam(w, "name", "Missing required parameter: 'name' (a string).")
	}
	if strings.TrimSpace(name) == "" {
		return badParam(w, "name", "Invalid 'name': empty string.")
	}
	only := false
	if raw, ok := m["create_service_account_only"]; ok && string(raw) != "null" {
		if json.Unmarshal(raw, &only) != nil {
			return badParam(w, "create_service_account_only", "Invalid type for 'create_service_account_only': expected a boolean.")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if status := s.liveProject(w, projectID); status != 0 {
		return status
	}
	sa := s.createAccount(projectID, name, !only)
	out := createdAccountBody{accountBody: accountJSON(sa)}
	if sa.KeyID != "" {
		out.APIKey = &accountKeyBody{
			Object: "organization.project.service_account.api_key", Value: sa.KeyValue,
			Name: sa.KeyName, CreatedAt: sa.KeyCreatedAt.Unix(), ID: sa.KeyID,
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func accountNotFound(w responseWriter, id string) int {
	return writeError(w, http.StatusNotFound, "invalid_request_error", "not_found", "",
		fmt.Sprintf("No service account found with id '%s'.", id))
}

type page[T any] struct {
	items       []T
	first, last *string
	more        bool
}

// paginate cuts a page of service accounts by limit and after (an ID).
func paginate(w responseWriter, q url.Values, all []*ServiceAccount) (page[*ServiceAccount], int) {
	return cut(w, q, all, func(sa *ServiceAccount) string { return sa.ID })
}

// paginateKeys does the same for keys, whose cursor is the key ID.
func paginateKeys(w responseWriter, q url.Values, all []*ServiceAccount) (page[*ServiceAccount], int) {
	return cut(w, q, all, func(sa *ServiceAccount) string { return sa.KeyID })
}

func cut(w responseWriter, q url.Values, all []*ServiceAccount, id func(*ServiceAccount) string) (page[*ServiceAccount], int) {
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return page[*ServiceAccount]{}, badParam(w, "limit", "Invalid 'limit': expected an integer between 1 and 100.")
		}
		limit = n
	}
	start := 0
	if after := q.Get("after"); after != "" {
		i := slices.IndexFunc(all, func(sa *ServiceAccount) bool { return id(sa) == after })
		if i < 0 {
			return page[*ServiceAccount]{}, badParam(w, "after", fmt.Sprintf("Invalid 'after': no object with id '%s'.", after))
		}
		start = i + 1
	}
	rest := all[start:]
	p := page[*ServiceAccount]{items: rest}
	if len(rest) > limit {
		p.items, p.more = rest[:limit], true
	}
	if len(p.items) > 0 {
		f, l := id(p.items[0]), id(p.items[len(p.items)-1])
		p.first, p.last = &f, &l
	}
	return p, 0
}

// ---- JSON shapes (spec components) ----

// accountBody is the spec's ProjectServiceAccount.
type accountBody struct {
	Object    string `json:"object"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	Role      string `json:"role"`
	CreatedAt int64  `json:"created_at"`
}

// createdAccountBody is the spec's ProjectServiceAccountCreateResponse.
type createdAccountBody struct {
	accountBody
	APIKey *accountKeyBody `json:"api_key"`
}

// accountKeyBody is the spec's ProjectServiceAccountApiKey.
type accountKeyBody struct {
	Object    string `json:"object"`
	Value     string `json:"value"`
	Name      string `json:"name"`
	CreatedAt int64  `json:"created_at"`
	ID        string `json:"id"`
}

// accountListBody is the spec's ProjectServiceAccountListResponse.
type accountListBody = listOf[accountBody]

// deletedBody is the spec's ProjectServiceAccountDeleteResponse.
type deletedBody struct {
	Object  string `json:"object"`
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

// apiKeyBody is the spec's ProjectApiKey.
type apiKeyBody struct {
	Object             string      `json:"object"`
	RedactedValue      string      `json:"redacted_value"`
	Name               string      `json:"name"`
	CreatedAt          int64       `json:"created_at"`
	LastUsedAt         *int64      `json:"last_used_at"`
	ID                 string      `json:"id"`
	OwnerProjectAccess string      `json:"owner_project_access"`
	Owner              apiKeyOwner `json:"owner"`
}

type apiKeyOwner struct {
	Type           string        `json:"type"`
	ServiceAccount *ownerAccount `json:"service_account,omitempty"`
}

// ownerAccount is the spec's ProjectApiKeyOwnerServiceAccount.
type ownerAccount struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	CreatedAt int64  `json:"created_at"`
	Role      string `json:"role"`
}

// apiKeyListBody is the spec's ProjectApiKeyListResponse.
type apiKeyListBody = listOf[apiKeyBody]

func accountJSON(sa *ServiceAccount) accountBody {
	return accountBody{Object: "organization.project.service_account", ID: sa.ID, Name: sa.Name, Role: sa.Role, CreatedAt: sa.CreatedAt.Unix()}
}

func apiKeyJSON(sa *ServiceAccount) apiKeyBody {
	b := apiKeyBody{
		Object: "organization.project.api_key", RedactedValue: Redacted(sa.KeyValue), Name: sa.KeyName,
		CreatedAt: sa.KeyCreatedAt.Unix(), ID: sa.KeyID, OwnerProjectAccess: "active",
		Owner: apiKeyOwner{Type: "service_account", ServiceAccount: &ownerAccount{
			ID: sa.ID, Name: sa.Name, CreatedAt: sa.CreatedAt.Unix(), Role: sa.Role,
		}},
	}
	if sa.LastUsedAt != nil {
		t := sa.LastUsedAt.Unix()
		b.LastUsedAt = &t
	}
	return b
}

// Redacted is how the fake shows a key's value in lists: "sk-svc...wxyz".
func Redacted(value string) string {
	if len(value) < 12 {
		return "sk-..."
	}
	return value[:6] + "..." + value[len(value)-4:]
}
