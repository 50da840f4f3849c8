package domain

import "strconv"

// The seed files' CSV headers, which the export writes and the imports read.
var (
	UsersCSVHeader  = []string{"id", "username", "email", "created_at"}
	URLsCSVHeader   = []string{"id", "user_id", "short_code", "original_url", "title", "is_active", "created_at", "updated_at"}
	EventsCSVHeader = []string{"id", "url_id", "user_id", "event_type", "timestamp", "details"}
)

// CSVTimeLayout writes a timestamp in the seed format, 2025-07-18 23:45:12, followed by its
// microseconds when it has any (2025-07-18 23:45:12.5): what the API stores survives an
// export and a re-import exactly, and parsing with SeedTimeLayout reads both.
const CSVTimeLayout = "2006-01-02 15:04:05.999999"

// UserRecord is a user as a row of users.csv.
func UserRecord(u User) []string {
	return []string{strconv.FormatInt(u.ID, 10), u.Username, u.Email, u.CreatedAt.UTC().Format(CSVTimeLayout)}
}

// URLRecord is a URL as a row of urls.csv: a NULL title is empty, is_active True or False.
func URLRecord(u URL) []string {
	title := ""
	if u.Title != nil {
		title = *u.Title
	}
	active := "False"
	if u.IsActive {
		active = "True"
	}
	return []string{strconv.FormatInt(u.ID, 10), strconv.FormatInt(u.UserID, 10), u.ShortCode, u.OriginalURL, title,
		active, u.CreatedAt.UTC().Format(CSVTimeLayout), u.UpdatedAt.UTC().Format(CSVTimeLayout)}
}

// EventRecord is an event as a row of events.csv: a null id is empty, details its JSON.
func EventRecord(e Event) []string {
	opt := func(n *int64) string {
		if n == nil {
			return ""
		}
		return strconv.FormatInt(*n, 10)
	}
	details := string(e.Details)
	if details == "" {
		details = "{}"
	}
	return []string{strconv.FormatInt(e.ID, 10), opt(e.URLID), opt(e.UserID), e.EventType,
		e.Timestamp.UTC().Format(CSVTimeLayout), details}
}
