package web

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"
)

//go:embed api_v1_openapi.json
var apiV1OpenAPI []byte

// APIV1OpenAPI is the OpenAPI 3.1 document of /api/v1 (for tests).
func APIV1OpenAPI() []byte { return apiV1OpenAPI }

// handleAPIOpenAPI handles "GET /api/v1/openapi.json".
func (s *Server) handleAPIOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/json", apiV1OpenAPI)
}

func newStrictDecoder(r io.Reader) *json.Decoder {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	return dec
}

// jsonProblem words a decoding error for the client, naming the field.
func jsonProblem(err error) string {
	var typ *json.UnmarshalTypeError
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be a %s", typ.Field, typ.Type.Kind())
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.Is(err, io.EOF):
		return "the body is empty"
	}
	return err.Error()
}
