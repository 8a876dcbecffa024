package pages

// KeysAdminProps is the keys page: the keys backfill.
type KeysAdminProps struct {
	CSRF    string
	Enabled bool
	// WithoutKey counts the provisioned companies with no key.
	WithoutKey string
	// Sample names a few of them.
	Sample []KeysSampleRow
	// Rotation and Grace describe the schedule.
	Rotation string
	Grace    string
}

// KeysSampleRow is a company without a key.
type KeysSampleRow struct {
	Name string
	URL  string
}

// WebhooksProps is the deliveries page.
type WebhooksProps struct {
	CSRF    string
	Enabled bool
	URL     string // the endpoint, shown without its query
	Rows    []WebhookRow
}

// WebhookRow is one event and its delivery state.
type WebhookRow struct {
	ID         string
	EventID    string
	Type       string
	CompanyURL string
	Created    string
	Attempts   string
	LastStatus string
	LastError  string
	Delivered  string // "" while not delivered
}
