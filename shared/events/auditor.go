package events

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/urlshort/shortener/shared/domain"
)

// Event ids draw on a buffered pool of randomness: one read from the OS per few hundred
// ids instead of one per click. They must be unique, not secret.
func init() { uuid.EnableRandPool() }

// Auditor builds the audit events of one process. Each gets a fresh UUIDv7 as its id,
// which becomes the CloudEvent id that makes storing idempotent, and the process's
// CloudEvents source. The store writes what it builds to the outbox with each mutation.
type Auditor struct{ source string }

// NewAuditor returns the auditor of a function ("all" for the all-in-one server).
func NewAuditor(function string) Auditor { return Auditor{source: Source(function)} }

// Audit builds one audit event. Details is one of the domain's detail types, or a
// json.RawMessage encoded already (clicks, in bulk).
func (a Auditor) Audit(eventType string, urlID, userID *int64, at time.Time, details any) (domain.Audit, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return domain.Audit{}, err
	}
	raw, ok := details.(json.RawMessage)
	if !ok {
		if raw, err = json.Marshal(details); err != nil {
			return domain.Audit{}, err
		}
	}
	return domain.Audit{
		EventID: id.String(), Source: a.source, URLID: urlID, UserID: userID,
		EventType: eventType, Timestamp: at.UTC(), Details: raw,
	}, nil
}
