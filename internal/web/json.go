package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// maxBody bounds a JSON request body.
const maxBody = 1 << 20

// decode reads a JSON request body into v. It refuses a body that is not JSON, has
// unknown fields (a typo or a field the caller may not set must not pass silently),
// carries trailing data or exceeds maxBody: all as 400 with a stable code.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return apiErr(http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apiErr(http.StatusBadRequest, "bad_json", "one JSON value expected, found more")
	}
	return nil
}

func decodeError(err error) *apiError {
	var mbe *http.MaxBytesError
	var ute *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return apiErr(http.StatusRequestEntityTooLarge, "too_large", "the body exceeds %d bytes", maxBody)
	case errors.Is(err, io.EOF):
		return apiErr(http.StatusBadRequest, "bad_json", "a JSON body is required")
	case errors.As(err, &ute):
		return apiErr(http.StatusBadRequest, "invalid", "field %q: wrong type %s", ute.Field, ute.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return apiErr(http.StatusBadRequest, "unknown_field", "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return apiErr(http.StatusBadRequest, "bad_json", "%v", err)
}

// pathID parses the {name} path value as a positive integer id; anything else is not
// found (an id that cannot exist).
func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, errNotFound()
	}
	return id, nil
}
