package domain

// The details of each kind of audit event, as the log stores them. The store writes them,
// the seed generates them and the tests read them back through these types, so the shape
// of the log is defined once. No personal data goes into any of them.
type (
	// URLCreatedDetails are the details of a created event.
	URLCreatedDetails struct {
		ShortCode   string `json:"short_code"`
		OriginalURL string `json:"original_url"`
	}
	// URLUpdatedDetails are the details of an updated event: one changed field, its new
	// value as a string ("true", "false", the title, the URL).
	URLUpdatedDetails struct {
		Field    string `json:"field"`
		NewValue string `json:"new_value"`
	}
	// URLDeletedDetails are the details of a deleted event.
	URLDeletedDetails struct {
		Reason string `json:"reason"`
	}
	// ClickDetails are the details of a click event.
	ClickDetails struct {
		ShortCode string `json:"short_code"`
		Referrer  string `json:"referrer,omitempty"`
		UserAgent string `json:"user_agent,omitempty"`
		// Bot is set when the user agent is a crawler, link-preview fetcher or monitor.
		Bot bool `json:"bot,omitempty"`
	}
	// UserCreatedDetails are the details of a user_created event; Source is set when the
	// user came from a bulk import.
	UserCreatedDetails struct {
		Source string `json:"source,omitempty"`
	}
	// UserUpdatedDetails are the details of a user_updated event: the names of the fields
	// that changed, never their values.
	UserUpdatedDetails struct {
		Fields []string `json:"fields"`
	}
	// UserDeletedDetails are the details of a user_deleted event: none.
	UserDeletedDetails struct{}
)

// Why a URL was deleted (URLDeletedDetails.Reason).
const (
	ReasonUserRequested = "user_requested"
	ReasonUserDeleted   = "user_deleted"
)

// SourceBulkImport marks the users a bulk import created (UserCreatedDetails.Source).
const SourceBulkImport = "bulk_import"
