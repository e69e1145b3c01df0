package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"mailgrid/internal/admin"
	"mailgrid/internal/directory"
	"mailgrid/internal/mail"
)

// apiError is an error with its HTTP status and a stable code: the JSON body
// {"error":{"code":..., "message":...}} every API error has. Codes are part of the API
// (api/openapi.yaml lists them); messages are for people and may change.
type apiError struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, when set, is sent as Retry-After (RFC 9110 10.2.3) in seconds.
	RetryAfter int
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func apiErr(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Errors that several handlers return.
func errUnauthenticated() *apiError {
	return apiErr(http.StatusUnauthorized, "unauthenticated", "sign in or send a bearer token")
}

func errNotFound() *apiError {
	// One message whatever the reason: an id of another tenant and an unknown id must
	// not be told apart.
	return apiErr(http.StatusNotFound, "not_found", "no such resource")
}

// toAPIError maps a service or directory error to its API form. Unknown errors are
// internal: their text stays in the log.
func toAPIError(err error) (*apiError, bool) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae, true
	case errors.Is(err, admin.ErrWrongPassword):
		return apiErr(http.StatusForbidden, "wrong_password", "the current password is wrong"), true
	case errors.Is(err, admin.ErrForbidden):
		return apiErr(http.StatusForbidden, "forbidden", "%v", err), true
	case errors.Is(err, directory.ErrNotFound):
		return errNotFound(), true
	case errors.Is(err, directory.ErrExists):
		return apiErr(http.StatusConflict, "exists", "%v", err), true
	case errors.Is(err, directory.ErrDomainDeleted):
		return apiErr(http.StatusConflict, "domain_deleted", "%v (restore it first)", err), true
	case errors.Is(err, directory.ErrGraceOver):
		return apiErr(http.StatusConflict, "grace_over", "%v", err), true
	case errors.Is(err, directory.ErrDomainNotEmpty):
		return apiErr(http.StatusConflict, "domain_not_empty", "the domain still has accounts or aliases (delete with force=true)"), true
	case errors.Is(err, directory.ErrLimit):
		return apiErr(http.StatusUnprocessableEntity, "limit_exceeded", "%v", err), true
	case errors.Is(err, directory.ErrDisabled):
		return apiErr(http.StatusConflict, "disabled", "%v", err), true
	case errors.Is(err, directory.ErrInvalid), isAddressError(err):
		return apiErr(http.StatusBadRequest, "invalid", "%v", err), true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return apiErr(http.StatusServiceUnavailable, "unavailable", "the request was cancelled or timed out"), false
	}
	return apiErr(http.StatusInternalServerError, "internal", "internal error"), false
}

func isAddressError(err error) bool {
	for _, e := range []error{mail.ErrEmpty, mail.ErrSyntax, mail.ErrSourceRoute, mail.ErrRouting, mail.ErrTooLong, mail.ErrDomain} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError answers with err in its JSON form, logging what the client is not told.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae, known := toAPIError(err)
	if !known {
		s.log.Error("web: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(ae.RetryAfter))
	}
	s.writeJSON(w, ae.Status, errorBody{Error: errorDetail{Code: ae.Code, Message: ae.Message}})
}

// writeJSON answers with v as JSON.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	if err := enc.Encode(v); err != nil {
		s.log.Debug("web: write response", "err", err)
	}
}
