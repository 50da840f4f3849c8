// Package events is the only package that talks to the event bus: it turns audit events
// into CloudEvents and back, sends them to the sink, re-sends what the sink did not
// acknowledge, and batches clicks off the redirect response path.
package events

import (
	"encoding/json"
	"fmt"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/urlshort/shortener/shared/domain"
)

// Prefix starts every CloudEvent type of ours; the Trigger filters on it.
const Prefix = "dev.urlshort."

// The CloudEvent types, one per audit event_type.
const (
	TypeURLCreated  = Prefix + "url.created"
	TypeURLUpdated  = Prefix + "url.updated"
	TypeURLDeleted  = Prefix + "url.deleted"
	TypeURLClicked  = Prefix + "url.clicked"
	TypeUserCreated = Prefix + "user.created"
	TypeUserUpdated = Prefix + "user.updated"
	TypeUserDeleted = Prefix + "user.deleted"
	TypeKeyCreated  = Prefix + "apikey.created"
	TypeKeyRevoked  = Prefix + "apikey.revoked"
)

// TypePing is what a Knative PingSource sends; the events-writer drains the outbox on it.
const TypePing = "dev.knative.sources.ping"

// typeOf maps the log's event_type to the CloudEvent type, and back through eventTypeOf.
var typeOf = map[string]string{
	domain.EventCreated:       TypeURLCreated,
	domain.EventUpdated:       TypeURLUpdated,
	domain.EventDeleted:       TypeURLDeleted,
	domain.EventClick:         TypeURLClicked,
	domain.EventUserCreated:   TypeUserCreated,
	domain.EventUserUpdated:   TypeUserUpdated,
	domain.EventUserDeleted:   TypeUserDeleted,
	domain.EventAPIKeyCreated: TypeKeyCreated,
	domain.EventAPIKeyRevoked: TypeKeyRevoked,
}

var eventTypeOf = func() map[string]string {
	m := make(map[string]string, len(typeOf))
	for k, v := range typeOf {
		m[v] = k
	}
	return m
}()

// Types lists every CloudEvent type we emit.
func Types() []string {
	out := make([]string, 0, len(typeOf))
	for _, t := range typeOf {
		out = append(out, t)
	}
	return out
}

// TypeOf returns the CloudEvent type of an audit event_type ("" when it has none).
func TypeOf(eventType string) string { return typeOf[eventType] }

// Source returns the CloudEvents source of a function.
func Source(function string) string { return "/shortener/" + function }

// Data is the JSON payload of every audit CloudEvent: the log row without its id.
type Data struct {
	URLID     *int64          `json:"url_id"`
	UserID    *int64          `json:"user_id"`
	EventType string          `json:"event_type"`
	Timestamp time.Time       `json:"timestamp"`
	Details   json.RawMessage `json:"details"`
}

// ToCloudEvent turns an audit event into the CloudEvent that carries it.
func ToCloudEvent(a domain.Audit) (cloudevents.Event, error) {
	ev := cloudevents.NewEvent()
	ev.SetID(a.EventID)
	ev.SetSource(a.Source)
	ev.SetType(TypeOf(a.EventType))
	ev.SetTime(a.Timestamp)
	if a.URLID != nil {
		ev.SetSubject(fmt.Sprintf("urls/%d", *a.URLID))
	} else if a.UserID != nil {
		ev.SetSubject(fmt.Sprintf("users/%d", *a.UserID))
	}
	err := ev.SetData(cloudevents.ApplicationJSON, Data{a.URLID, a.UserID, a.EventType, a.Timestamp, a.Details})
	return ev, err
}

// FromCloudEvent turns a received CloudEvent back into an audit event. Every error is the
// sender's fault (BadRequest): retrying cannot help.
func FromCloudEvent(ev cloudevents.Event) (domain.Audit, error) {
	bad := func(format string, args ...any) (domain.Audit, error) {
		return domain.Audit{}, domain.Errorf(domain.BadRequest, format, args...)
	}
	if err := ev.Validate(); err != nil {
		return bad("invalid CloudEvent: %v", err)
	}
	want, known := eventTypeOf[ev.Type()]
	if !known {
		return bad("unknown event type %q", ev.Type())
	}
	var d Data
	if err := json.Unmarshal(ev.Data(), &d); err != nil {
		return bad("data is not a JSON object of the audit schema: %v", err)
	}
	switch {
	case d.EventType != want:
		return bad("data.event_type %q does not match type %q", d.EventType, ev.Type())
	case d.Timestamp.IsZero():
		return bad("data.timestamp is required")
	case len(d.Details) == 0 || d.Details[0] != '{':
		return bad("data.details must be a JSON object")
	case d.UserID == nil && !keyEvent(want):
		return bad("data.user_id is required")
	case d.URLID == nil && !userEvent(want) && !keyEvent(want):
		return bad("data.url_id is required for %s", ev.Type())
	}
	return domain.Audit{
		EventID: ev.ID(), Source: ev.Source(), URLID: d.URLID, UserID: d.UserID,
		EventType: d.EventType, Timestamp: d.Timestamp.UTC(), Details: d.Details,
	}, nil
}

// userEvent reports whether an event type is about a user, with no URL.
func userEvent(t string) bool {
	return t == domain.EventUserCreated || t == domain.EventUserUpdated || t == domain.EventUserDeleted
}

// keyEvent reports whether an event type is about an API key, which has no URL and may
// have no user.
func keyEvent(t string) bool { return t == domain.EventAPIKeyCreated || t == domain.EventAPIKeyRevoked }
