package provision

// Backfiller runs backfills: one durable run at a time across processes that
// gives every company without a project its project.
// PLACEHOLDER: being implemented.
type Backfiller struct{}
