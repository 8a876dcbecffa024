package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Company names are "<descriptor> <noun> <trade>", e.g. "Amber Harbor
// Analytics": each word is shared by many companies, as real names share
// words, so a search for a fragment matches anything from one company to a
// percent of them. Every combination is a distinct name (no word holds a
// space, no list repeats a word), which the unique index on lower(name)
// requires.
var (
	nameDescriptors = strings.Fields(`Amber Arctic Atlas Azure Bold Bright Brisk Cedar Clear Cobalt
		Copper Coral Crimson Crystal Dawn Deep Delta Dusk Eastern Echo
		Electric Emerald Epic Evergreen First Fleet Forest Free Frontier Golden
		Granite Grand Green Grey Happy Hidden High Honest Iron Ivory
		Jade Keen Kind Lake Level Light Little Lunar Maple Marble
		Meadow Mellow Merry Metro Midnight Mighty Misty Modern Noble North
		Northern Oak Ocean Olive Open Orange Pacific Pale Pearl Pioneer
		Polar Prime Proud Pure Quick Quiet Radiant Rapid Red Rising
		Rocky Royal Ruby Rustic Sage Scarlet Silent Silver Simple Smart
		Solar South Southern Spring Steady Steel Stellar Stone Strong Sunny
		Swift Tall Tidal True Twin Upper Urban Valley Velvet Vivid
		Warm Western Wild Willow Winter Wise Young Zen Zephyr Zinc`)
	nameNouns = strings.Fields(`Anchor Arrow Aspen Badger Beacon Bear Birch Bison Bridge Brook
		Canyon Castle Cliff Cloud Comet Compass Crane Creek Crown Dolphin
		Dragon Eagle Falcon Fern Field Flame Fox Garden Gate Glacier
		Grove Harbor Hawk Heron Hill Horizon Island Jaguar Kestrel Lantern
		Leaf Lion Lotus Lynx Maple Mesa Mill Moon Moose Mountain
		Oasis Orchid Otter Owl Panther Peak Pebble Pine Planet Pond
		Prairie Quarry Rain Raven Reef Ridge River Rock Rose Sail
		Shore Sky Sparrow Spruce Star Stream Summit Sun Thistle Thunder
		Tiger Timber Tower Trail Tree Tulip Valley Vine Wave Whale
		Wheat Willow Wind Wing Wolf Wren Yard Yew Zebra Zenith`)
	nameTrades = strings.Fields(`Accounting Advisors Aerospace Agency Analytics Apparel Architects Audio Automation Aviation
		Bakery Bank Bikes Biotech Books Brewing Builders Capital Care Cargo
		Catering Ceramics Chemicals Cinema Clinic Cloud Coffee Collective Communications Construction
		Consulting Cosmetics Creative Dairy Data Dental Design Devices Digital Distribution
		Education Electric Energy Engineering Entertainment Equipment Events Exports Fabrics Farms
		Fashion Finance Fisheries Fitness Foods Foundry Freight Furniture Games Genomics
		Glass Group Health Holdings Hotels Imaging Industries Insurance Interactive Labs
		Legal Logistics Machines Marine Media Medical Metals Mining Motors Networks
		Optics Outfitters Packaging Partners Pharma Plastics Power Press Printing Properties
		Realty Recycling Research Retail Robotics Security Software Solutions Studio Systems`)
)

// nameSpace is how many distinct names there are.
var nameSpace = len(nameDescriptors) * len(nameNouns) * len(nameTrades)

// companyName is the i-th company's name, distinct for every i < nameSpace.
// A pseudo-random permutation of i picks it, so that the companies that
// sign up around the same time share no more words than any others.
func companyName(i int) string {
	j := scatter(i)
	d := j % len(nameDescriptors)
	j /= len(nameDescriptors)
	n := j % len(nameNouns)
	t := j / len(nameNouns)
	return nameDescriptors[d] + " " + nameNouns[n] + " " + nameTrades[t]
}

// scatter permutes [0, nameSpace): a four-round Feistel network over 22
// bits is a permutation of [0, 2^22), and walking its cycle until the value
// falls below nameSpace restricts it to [0, nameSpace).
func scatter(i int) int {
	const half, mask = 11, 1<<11 - 1
	x := uint32(i)
	for {
		l, r := x>>half, x&mask
		for round := range uint32(4) {
			f := (r*0x9E3779B1 + round*0x7F4A7C15) >> 13 & mask
			l, r = r, l^f
		}
		x = l<<half | r
		if int(x) < nameSpace {
			return int(x)
		}
	}
}

// status mix of a seeded company list.
type mix int

const (
	// mixRealistic: ~70 % provisioned, ~20 % skipped (no project), ~10 %
	// failed, as a dashboard that has lived through outages sees.
	mixRealistic mix = iota
	// mixMissing: every company skipped, waiting for a backfill.
	mixMissing
)

// seedStatus is the i-th company's provisioning status under m. A fixed
// hash of i keeps the three kinds spread evenly over the list.
func seedStatus(m mix, i int) string {
	if m == mixMissing {
		return "skipped"
	}
	switch h := ((uint64(i) * 0x9E3779B97F4A7C15) >> 54) % 10; {
	case h < 7:
		return "provisioned"
	case h < 9:
		return "skipped"
	}
	return "failed"
}

var (
	seedIndustries = []string{"Software", "Retail", "Healthcare", "Finance", "Manufacturing", "Education", "Logistics", "Media", "Energy", "Hospitality"}
	seedFirstNames = []string{"Ada", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam", "Mei", "Noah", "Olga", "Priya"}
	seedLastNames  = []string{"Andersen", "Brown", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito", "Johnson", "Kowalski", "Lopez", "Müller", "Nakamura", "Okafor", "Patel"}
	seedSizes      = []string{"1-10", "11-50", "51-200", "201-1000", "1000+"}
	seedCountries  = []string{"US", "GB", "DE", "FR", "NL", "IN", "BR", "JP", "CA", "AU"}
)

// seedColumns are the companies columns seedCompanies fills.
var seedColumns = []string{
	"name", "industry", "contact_name", "contact_email", "website", "company_size", "country", "signup_token",
	"created_at", "updated_at", "openai_project_id", "project_description", "provisioning_status", "provisioning_error",
}

// seedProgress is how many rows the progress is printed after.
const seedProgress = 100_000

// seedSpan is how far back signups go.
const seedSpan = 2 * 365 * 24 * time.Hour

// seedCompanies bulk-loads companies from..to-1 with COPY. Their signup
// dates rise with i over the two years before now, with some jitter, as
// signups arrive; a later batch spans the same two years again.
func (b *bench) seedCompanies(ctx context.Context, pool *pgxpool.Pool, m mix, from, to int) error {
	now := time.Now()
	rng := rand.New(rand.NewPCG(uint64(from), uint64(to)))
	step := seedSpan / time.Duration(max(to-from, 1))
	i := from
	start := time.Now()
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= to {
			return nil, nil
		}
		if i > from && (i-from)%seedProgress == 0 {
			b.logf("seed: %d/%d companies (%.0f rows/s)", i-from, to-from, float64(i-from)/time.Since(start).Seconds())
		}
		row := seedRow(rng, m, i, now.Add(-seedSpan+time.Duration(i-from)*step+time.Duration(rng.Int64N(int64(step)+1))))
		i++
		return row, nil
	})
	n, err := pool.CopyFrom(ctx, pgx.Identifier{"companies"}, seedColumns, src)
	if err != nil {
		return fmt.Errorf("seed companies: %w", err)
	}
	b.logf("seed: %d companies copied in %v", n, time.Since(start).Round(time.Millisecond))
	return nil
}

func seedRow(rng *rand.Rand, m mix, i int, created time.Time) []any {
	name := companyName(i)
	industry := seedIndustries[rng.IntN(len(seedIndustries))]
	first, last := seedFirstNames[rng.IntN(len(seedFirstNames))], seedLastNames[rng.IntN(len(seedLastNames))]
	domain := strings.ToLower(strings.ReplaceAll(name, " ", "")) + ".example"
	status := seedStatus(m, i)
	var projectID *string
	errText := ""
	switch status {
	case "provisioned":
		id := "proj_" + randomString(rng, alnum, 24)
		projectID = &id
	case "failed":
		errText = "gave up after 10 attempts: OpenAI answered 400 invalid_request_error"
	}
	return []any{
		name, industry, first + " " + last, strings.ToLower(first) + "@" + domain, "https://" + domain,
		seedSizes[rng.IntN(len(seedSizes))], seedCountries[rng.IntN(len(seedCountries))], randomString(rng, base32, 26),
		created, created, projectID, "Project for " + name + " - " + industry, status, errText,
	}
}

// Alphabets of the random parts of seeded rows: signup tokens are
// rand.Text() (base32), project IDs "proj_" and 24 letters or digits.
const (
	base32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	alnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

func randomString(rng *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}
