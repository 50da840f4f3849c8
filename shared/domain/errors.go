package domain

import (
	"errors"
	"fmt"
)

// Kind classifies an error by what the caller can do about it; the HTTP edge maps kinds to
// statuses in one table.
type Kind int

// The error kinds. Internal is the zero value so an unclassified error is never mistaken
// for the caller's fault.
const (
	Internal     Kind = iota
	BadRequest        // the request is not shaped as the route wants (400)
	Invalid           // a JSON object whose fields are wrong (422)
	NotFound          // an id, code or reference that does not exist (404)
	Conflict          // a uniqueness clash (409)
	TooLarge          // a body over the limit (413)
	Unavailable       // a dependency needed for the request is down (503)
	NotAllowed        // the path exists but not for this method (405)
	Unauthorized      // no API key, or one unknown, revoked or expired (401)
	Forbidden         // the key lacks the scope, or the body names another user (403)
	RateLimited       // over a configured request limit (429)
)

// Error is an error with a kind, a one-line message for clients and, for Invalid, a
// message per field.
type Error struct {
	Kind    Kind
	Message string
	Fields  map[string]string
	Err     error // the cause, for logs; never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf makes an error of kind k with a formatted message.
func Errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Unavailablef wraps a dependency failure as Unavailable.
func Unavailablef(err error, format string, args ...any) *Error {
	return &Error{Kind: Unavailable, Message: fmt.Sprintf(format, args...), Err: err}
}

// KindOf returns the kind of err, Internal for an unclassified error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// FieldErrors collects what is wrong with each field of a request, so a 422 can name every
// invalid field at once.
type FieldErrors map[string]string

// Add records msg for field unless the field already has a message.
func (f FieldErrors) Add(field, msg string) {
	if _, ok := f[field]; !ok {
		f[field] = msg
	}
}

// Err returns an Invalid error naming every field, or nil when there are none.
func (f FieldErrors) Err() error {
	if len(f) == 0 {
		return nil
	}
	return &Error{Kind: Invalid, Message: "validation failed", Fields: f}
}
