package events_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/uuid"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/events"
)

func ptr[T any](v T) *T { return &v }

// sampleAudits has one audit of every event type, shaped as the store writes them.
func sampleAudits() []domain.Audit {
	at := time.Date(2026, 11, 21, 8, 15, 0, 123456000, time.UTC)
	mk := func(eventType string, urlID *int64, details string) domain.Audit {
		return domain.Audit{
			EventID: uuid.NewString(), Source: "/shortener/test", URLID: urlID, UserID: ptr(int64(3)),
			EventType: eventType, Timestamp: at, Details: json.RawMessage(details),
		}
	}
	return []domain.Audit{
		mk(domain.EventCreated, ptr(int64(7)), `{"short_code":"abc123","original_url":"https://example.com/"}`),
		mk(domain.EventUpdated, ptr(int64(7)), `{"field":"is_active","new_value":"false"}`),
		mk(domain.EventDeleted, ptr(int64(7)), `{"reason":"user_requested"}`),
		mk(domain.EventClick, ptr(int64(7)), `{"short_code":"abc123","referrer":"https://ref.example/","user_agent":"curl/8"}`),
		mk(domain.EventUserCreated, nil, `{}`),
		mk(domain.EventUserUpdated, nil, `{"fields":["username","email"]}`),
		mk(domain.EventUserDeleted, nil, `{}`),
		mk(domain.EventAPIKeyCreated, nil, `{"key_id":4,"name":"ci","scopes":["read"]}`),
		func() domain.Audit { // a key of no user: no user_id either
			a := mk(domain.EventAPIKeyRevoked, nil, `{"key_id":4,"name":"ci","scopes":["read"]}`)
			a.UserID = nil
			return a
		}(),
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func TestCloudEventRoundTrip(t *testing.T) {
	for _, a := range sampleAudits() {
		t.Run(a.EventType, func(t *testing.T) {
			ev, err := events.ToCloudEvent(a)
			if err != nil {
				t.Fatal(err)
			}
			if err := ev.Validate(); err != nil {
				t.Fatalf("invalid CloudEvent: %v", err)
			}
			if ev.ID() != a.EventID || ev.Source() != a.Source || ev.Type() != events.TypeOf(a.EventType) ||
				!ev.Time().Equal(a.Timestamp) || ev.DataContentType() != cloudevents.ApplicationJSON {
				t.Errorf("CloudEvent attributes: %s", ev)
			}
			if !strings.HasPrefix(ev.Type(), events.Prefix) {
				t.Errorf("type %q lacks prefix %q", ev.Type(), events.Prefix)
			}
			wantSubject := "users/3"
			switch {
			case a.URLID != nil:
				wantSubject = "urls/7"
			case a.UserID == nil:
				wantSubject = "" // a key of no user
			}
			if ev.Subject() != wantSubject {
				t.Errorf("subject = %q, want %q", ev.Subject(), wantSubject)
			}
			// It must survive the wire encoding, not just live in memory.
			wire, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			var back cloudevents.Event
			if err := json.Unmarshal(wire, &back); err != nil {
				t.Fatal(err)
			}
			got, err := events.FromCloudEvent(back)
			if err != nil {
				t.Fatalf("FromCloudEvent: %v", err)
			}
			if got.EventID != a.EventID || got.Source != a.Source || got.EventType != a.EventType ||
				!got.Timestamp.Equal(a.Timestamp) || got.Timestamp.Location() != time.UTC ||
				!reflect.DeepEqual(got.URLID, a.URLID) || !reflect.DeepEqual(got.UserID, a.UserID) {
				t.Errorf("round trip: got %+v\nwant %+v", got, a)
			}
			if !jsonEqual(t, got.Details, a.Details) {
				t.Errorf("details %s, want %s", got.Details, a.Details)
			}
		})
	}
}

func TestTypes(t *testing.T) {
	types := events.Types()
	if len(types) != len(sampleAudits()) {
		t.Errorf("Types() = %v, want one per event type", types)
	}
	slices.Sort(types)
	if len(slices.Compact(slices.Clone(types))) != len(types) {
		t.Errorf("Types() repeats: %v", types)
	}
	for _, a := range sampleAudits() {
		if !slices.Contains(types, events.TypeOf(a.EventType)) {
			t.Errorf("TypeOf(%s) = %q not in Types()", a.EventType, events.TypeOf(a.EventType))
		}
	}
	if events.TypeOf("nope") != "" {
		t.Errorf("TypeOf(unknown) = %q, want empty", events.TypeOf("nope"))
	}
	if got := events.Source("users"); got != "/shortener/users" {
		t.Errorf("Source = %q", got)
	}
}

// TestFromCloudEventRejects: every malformed event is the sender's fault (BadRequest), so
// the writer answers 400 and the broker does not retry it.
func TestFromCloudEventRejects(t *testing.T) {
	valid := func() cloudevents.Event {
		ev, err := events.ToCloudEvent(sampleAudits()[0])
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	withData := func(data string) func() cloudevents.Event {
		return func() cloudevents.Event {
			ev := valid()
			if err := ev.SetData(cloudevents.ApplicationJSON, json.RawMessage(data)); err != nil {
				t.Fatal(err)
			}
			return ev
		}
	}
	const ts = `"2026-11-21T08:15:00Z"`
	cases := []struct {
		name string
		ev   func() cloudevents.Event
	}{
		{"UnknownType", func() cloudevents.Event { ev := valid(); ev.SetType("dev.urlshort.url.exploded"); return ev }},
		{"PingType", func() cloudevents.Event { ev := valid(); ev.SetType(events.TypePing); return ev }},
		{"MissingID", func() cloudevents.Event { ev := valid(); ev.SetID(""); return ev }},
		{"MissingSource", func() cloudevents.Event { ev := valid(); ev.SetSource(""); return ev }},
		{"MismatchedEventType", withData(`{"url_id":7,"user_id":3,"event_type":"deleted","timestamp":` + ts + `,"details":{}}`)},
		{"MissingEventType", withData(`{"url_id":7,"user_id":3,"timestamp":` + ts + `,"details":{}}`)},
		{"MissingTimestamp", withData(`{"url_id":7,"user_id":3,"event_type":"created","details":{}}`)},
		{"BadTimestamp", withData(`{"url_id":7,"user_id":3,"event_type":"created","timestamp":"yesterday","details":{}}`)},
		{"DetailsArray", withData(`{"url_id":7,"user_id":3,"event_type":"created","timestamp":` + ts + `,"details":[]}`)},
		{"DetailsString", withData(`{"url_id":7,"user_id":3,"event_type":"created","timestamp":` + ts + `,"details":"{}"}`)},
		{"DetailsNull", withData(`{"url_id":7,"user_id":3,"event_type":"created","timestamp":` + ts + `,"details":null}`)},
		{"DetailsMissing", withData(`{"url_id":7,"user_id":3,"event_type":"created","timestamp":` + ts + `}`)},
		{"MissingUserID", withData(`{"url_id":7,"event_type":"created","timestamp":` + ts + `,"details":{}}`)},
		{"URLEventWithoutURLID", withData(`{"user_id":3,"event_type":"created","timestamp":` + ts + `,"details":{}}`)},
		{"URLIDNotNumber", withData(`{"url_id":"7","user_id":3,"event_type":"created","timestamp":` + ts + `,"details":{}}`)},
		{"DataArray", withData(`[1,2]`)},
		{"DataString", withData(`"created"`)},
		{"NoData", func() cloudevents.Event { ev := valid(); ev.DataEncoded = nil; return ev }},
		{"DataNotJSON", func() cloudevents.Event {
			ev := valid()
			if err := ev.SetData("text/plain", []byte("not json")); err != nil {
				t.Fatal(err)
			}
			return ev
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := events.FromCloudEvent(tc.ev())
			if domain.KindOf(err) != domain.BadRequest {
				t.Errorf("err = %v, want BadRequest", err)
			}
		})
	}
	t.Run("UserEventWithoutURLIDAccepted", func(t *testing.T) {
		ev := valid()
		ev.SetType(events.TypeUserCreated)
		if err := ev.SetData(cloudevents.ApplicationJSON, json.RawMessage(`{"url_id":null,"user_id":3,"event_type":"user_created","timestamp":`+ts+`,"details":{}}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := events.FromCloudEvent(ev); err != nil {
			t.Errorf("err = %v, want none", err)
		}
	})
}
