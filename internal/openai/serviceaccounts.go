package openai

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// Service-account and project-API-key endpoints. A project's keys cannot be
// created on their own: creating a service account returns its API key's
// value, once. Deleting the service account deletes its key.

// Endpoint names of the service-account and key calls, used for metrics and
// in errors.
const (
	EndpointCreateServiceAccount = "create_service_account"
	EndpointListServiceAccounts  = "list_service_accounts"
	EndpointGetServiceAccount    = "get_service_account"
	EndpointDeleteServiceAccount = "delete_service_account"
	EndpointListAPIKeys          = "list_api_keys"
	EndpointGetAPIKey            = "get_api_key"
	EndpointDeleteAPIKey         = "delete_api_key"
)

// createOps are the calls that create something: only their failures can be
// uncertain (the thing may exist although the call failed).
var createOps = map[string]bool{EndpointCreate: true, EndpointCreateServiceAccount: true}

// Secret is an API key's value. Its String, GoString, MarshalJSON and
// LogValue all give "[redacted]", so that a Secret printed, logged or
// encoded by mistake shows nothing; Reveal is the one way to the value.
type Secret struct{ v string }

// NewSecret wraps a value.
func NewSecret(v string) Secret { return Secret{v: v} }

// Reveal returns the value. Call it only where the value must go: the
// encryption of the stored key, and the API answer that hands it over.
func (s Secret) Reveal() string { return s.v }

// Empty reports whether there is no value.
func (s Secret) Empty() bool { return s.v == "" }

func (s Secret) String() string               { return "[redacted]" }
func (s Secret) GoString() string             { return `openai.Secret{"[redacted]"}` }
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }
func (s Secret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }

// ServiceAccount is a project's service account.
type ServiceAccount struct {
	ID        string
	Name      string
	Role      string // "owner", "member" or "none"
	CreatedAt time.Time
}

// CreatedServiceAccount is a service account just created, with the one
// sight of its API key's value.
type CreatedServiceAccount struct {
	ServiceAccount
	KeyID        string
	KeyName      string
	KeyValue     Secret
	KeyCreatedAt time.Time
	// RequestID is OpenAI's x-request-id of the create.
	RequestID string
}

// APIKey is a project API key as listed (never with its value).
type APIKey struct {
	ID            string
	Name          string
	RedactedValue string // e.g. "sk-abc...def"
	CreatedAt     time.Time
	LastUsedAt    *time.Time // nil when never used
	// OwnerType is "service_account" or "user"; ServiceAccountID is set for
	// the former.
	OwnerType        string
	ServiceAccountID string
}

// ServiceAccounts is the part of the Admin API that issues project keys.
type ServiceAccounts interface {
	// CreateServiceAccount creates a service account named name in the
	// project and returns its API key's value. It never retries on its own:
	// a retried create makes a second service account, whose key would be
	// lost. Its failures may be Uncertain.
	CreateServiceAccount(ctx context.Context, projectID, name string) (CreatedServiceAccount, error)
	// ListServiceAccounts calls fn for every service account of the
	// project, page after page, stopping early if fn returns an error.
	ListServiceAccounts(ctx context.Context, projectID string, fn func(ServiceAccount) error) error
	// DeleteServiceAccount deletes a service account and so its key. A
	// service account that does not exist is an *Error with NotFound().
	DeleteServiceAccount(ctx context.Context, projectID, serviceAccountID string) error
	// ListAPIKeys calls fn for every API key of the project, with its
	// redacted value and when it was last used.
	ListAPIKeys(ctx context.Context, projectID string, fn func(APIKey) error) error
}

var _ ServiceAccounts = (*Client)(nil)

// CreateServiceAccount implements ServiceAccounts. It never sends
// expires_in_seconds: the published spec does not have it, and Provisioner
// enforces expiry itself by rotating.
func (c *Client) CreateServiceAccount(ctx context.Context, projectID, name string) (CreatedServiceAccount, error) {
	if strings.TrimSpace(projectID) == "" || strings.TrimSpace(name) == "" {
		return CreatedServiceAccount{}, &Error{Op: EndpointCreateServiceAccount, Kind: Permanent, Message: "project ID or service account name is empty"}
	}
	var resp *http.Response
	sa, err := c.projects.ServiceAccounts.New(ctx, projectID,
		sdk.AdminOrganizationProjectServiceAccountNewParams{Name: name},
		option.WithMaxRetries(0), option.WithResponseInto(&resp))
	if err != nil {
		return CreatedServiceAccount{}, c.wrap(EndpointCreateServiceAccount, resp, err)
	}
	if sa == nil || sa.ID == "" || sa.APIKey.ID == "" || sa.APIKey.Value == "" {
		// A 2xx without an account or its key: it may exist all the same,
		// and its key is lost either way.
		return CreatedServiceAccount{}, c.wrap(EndpointCreateServiceAccount, resp, errMalformedServiceAccount)
	}
	out := CreatedServiceAccount{
		ServiceAccount: ServiceAccount{ID: sa.ID, Name: sa.Name, Role: string(sa.Role), CreatedAt: unix(sa.CreatedAt)},
		KeyID:          sa.APIKey.ID,
		KeyName:        sa.APIKey.Name,
		KeyValue:       NewSecret(sa.APIKey.Value),
		KeyCreatedAt:   unix(sa.APIKey.CreatedAt),
	}
	if resp != nil {
		out.RequestID = resp.Header.Get(requestIDHeader)
	}
	return out, nil
}

// ListServiceAccounts implements ServiceAccounts.
func (c *Client) ListServiceAccounts(ctx context.Context, projectID string, fn func(ServiceAccount) error) error {
	pager := c.projects.ServiceAccounts.ListAutoPaging(ctx, projectID,
		sdk.AdminOrganizationProjectServiceAccountListParams{Limit: sdk.Int(100)})
	for pager.Next() {
		sa := pager.Current()
		if err := fn(ServiceAccount{ID: sa.ID, Name: sa.Name, Role: string(sa.Role), CreatedAt: unix(sa.CreatedAt)}); err != nil {
			return err
		}
	}
	if err := pager.Err(); err != nil {
		return c.wrap(EndpointListServiceAccounts, nil, err)
	}
	return nil
}

// DeleteServiceAccount implements ServiceAccounts. A delete is safe to
// repeat (a second one answers 404), so the SDK's retries stay on.
func (c *Client) DeleteServiceAccount(ctx context.Context, projectID, serviceAccountID string) error {
	var resp *http.Response
	_, err := c.projects.ServiceAccounts.Delete(ctx, projectID, serviceAccountID, option.WithResponseInto(&resp))
	if err != nil {
		return c.wrap(EndpointDeleteServiceAccount, resp, err)
	}
	return nil
}

// ListAPIKeys implements ServiceAccounts.
func (c *Client) ListAPIKeys(ctx context.Context, projectID string, fn func(APIKey) error) error {
	pager := c.projects.APIKeys.ListAutoPaging(ctx, projectID,
		sdk.AdminOrganizationProjectAPIKeyListParams{Limit: sdk.Int(100)})
	for pager.Next() {
		k := pager.Current()
		out := APIKey{
			ID: k.ID, Name: k.Name, RedactedValue: k.RedactedValue, CreatedAt: unix(k.CreatedAt),
			OwnerType: k.Owner.Type,
		}
		if k.LastUsedAt != 0 {
			t := unix(k.LastUsedAt)
			out.LastUsedAt = &t
		}
		if k.Owner.Type == "service_account" {
			out.ServiceAccountID = k.Owner.ServiceAccount.ID
		}
		if err := fn(out); err != nil {
			return err
		}
	}
	if err := pager.Err(); err != nil {
		return c.wrap(EndpointListAPIKeys, nil, err)
	}
	return nil
}

func unix(s int64) time.Time { return time.Unix(s, 0).UTC() }

// serviceAccountEndpoint names a request under /organization/projects/{id}
// for metrics; parts are the path segments after the projects collection.
func serviceAccountEndpoint(method string, parts []string) string {
	if len(parts) < 2 {
		return ""
	}
	switch {
	case parts[1] == "service_accounts" && len(parts) == 2 && method == http.MethodPost:
		return EndpointCreateServiceAccount
	case parts[1] == "service_accounts" && len(parts) == 2:
		return EndpointListServiceAccounts
	case parts[1] == "service_accounts" && len(parts) == 3 && method == http.MethodDelete:
		return EndpointDeleteServiceAccount
	case parts[1] == "service_accounts" && len(parts) == 3:
		return EndpointGetServiceAccount
	case parts[1] == "api_keys" && len(parts) == 2:
		return EndpointListAPIKeys
	case parts[1] == "api_keys" && len(parts) == 3 && method == http.MethodDelete:
		return EndpointDeleteAPIKey
	case parts[1] == "api_keys" && len(parts) == 3:
		return EndpointGetAPIKey
	}
	return ""
}

var errMalformedServiceAccount = errMalformedAnswer("no service account or key in the answer")

type errMalformedAnswer string

func (e errMalformedAnswer) Error() string { return "malformed response: " + string(e) }
