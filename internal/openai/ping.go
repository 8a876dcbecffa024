package openai

import (
	"context"
	"net/http"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// Ping makes the cheapest read call of the Admin API, a list of one
// project, to tell whether OpenAI answers and accepts the key. It changes
// nothing.
func (c *Client) Ping(ctx context.Context) error {
	var resp *http.Response
	_, err := c.projects.List(ctx, sdk.AdminOrganizationProjectListParams{Limit: sdk.Int(1)}, option.WithResponseInto(&resp))
	if err != nil {
		return c.wrap(EndpointList, resp, err)
	}
	return nil
}
