package domain

import "time"

// StatsRange narrows statistics to UTC days, both inclusive; nil is unbounded.
type StatsRange struct {
	From, To *time.Time
}

// Stats are a URL's or a user's click figures, read from the rollups. URLID or UserID
// says whose they are.
type Stats struct {
	URLID            *int64      `json:"url_id,omitempty"`
	UserID           *int64      `json:"user_id,omitempty"`
	Clicks           int64       `json:"clicks"`
	HumanClicks      int64       `json:"human_clicks"`
	BotClicks        int64       `json:"bot_clicks"`
	FirstClickAt     *time.Time  `json:"first_click_at"`
	LastClickAt      *time.Time  `json:"last_click_at"`
	Daily            []DayClicks `json:"daily"`
	Referrers        []HostCount `json:"referrers"`
	Browsers         []NameCount `json:"browsers"`
	OperatingSystems []NameCount `json:"operating_systems"`
	Devices          []TypeCount `json:"devices"`
}

// DayClicks is one UTC day with clicks.
type DayClicks struct {
	Date      string `json:"date"`
	Clicks    int64  `json:"clicks"`
	BotClicks int64  `json:"bot_clicks"`
}

// HostCount is a referrer host and its clicks.
type HostCount struct {
	Host   string `json:"host"`
	Clicks int64  `json:"clicks"`
}

// NameCount is a browser or operating system and its clicks.
type NameCount struct {
	Name   string `json:"name"`
	Clicks int64  `json:"clicks"`
}

// TypeCount is a device type and its clicks.
type TypeCount struct {
	Type   string `json:"type"`
	Clicks int64  `json:"clicks"`
}

// StatsTop is how many entries each top list of the statistics holds.
const StatsTop = 10

// StatsDayLayout is how statistics name a day, in queries and answers.
const StatsDayLayout = "2006-01-02"
