package embeddedpg

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	embeddedpostgres "github.com/fergusstrange/embedded-postgres"
)

// binaries is the PostgreSQL installation the server runs from.
type binaries struct {
	// dir holds bin/pg_ctl (the library's BinariesPath); "" when the
	// library downloads PostgreSQL, which it extracts into run.
	dir   string
	major string
	run   string
}

func (b binaries) pgCtl() string {
	d := b.dir
	if d == "" {
		d = b.run
	}
	return filepath.Join(d, "bin", "pg_ctl")
}

// versions maps a major version to the release the library downloads.
var versions = map[string]embeddedpostgres.PostgresVersion{
	"18": embeddedpostgres.V18, "17": embeddedpostgres.V17, "16": embeddedpostgres.V16,
	"15": embeddedpostgres.V15, "14": embeddedpostgres.V14, "13": embeddedpostgres.V13,
}

// downloadMajor is the version downloaded when nothing is installed.
const downloadMajor = "17"

// libraryVersion is the version to tell the library: it must start with the
// major version found in PG_VERSION, or the library wipes the data folder
// to initialise it afresh.
func libraryVersion(major string) embeddedpostgres.PostgresVersion {
	if v, ok := versions[major]; ok {
		return v
	}
	return embeddedpostgres.PostgresVersion(major + ".0.0")
}

// candidates lists the folders that may hold a PostgreSQL installation
// (bin/pg_ctl), in order of preference: what pg_config names, Debian's
// /usr/lib/postgresql/N (newest first), the source install's default
// /usr/local/pgsql, and whatever pg_ctl is on PATH (Homebrew, Fedora).
func candidates(ctx context.Context) []string {
	var dirs []string
	if out, err := exec.CommandContext(ctx, "pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, filepath.Dir(strings.TrimSpace(string(out))))
	}
	debian, _ := filepath.Glob("/usr/lib/postgresql/*")
	slices.SortFunc(debian, func(a, b string) int { return versionNumber(b) - versionNumber(a) })
	dirs = append(dirs, debian...)
	dirs = append(dirs, "/usr/local/pgsql")
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		dirs = append(dirs, filepath.Dir(filepath.Dir(p)))
	}
	var out []string
	for _, d := range dirs {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

func versionNumber(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(dir))
	return n
}

// findBinaries picks the installation to run: the first candidate whose
// major version is want (the data folder's), or the first of all when
// there is no data yet. Without one it falls back to the library's
// download of that version.
func findBinaries(ctx context.Context, dirs []string, want, run string) (binaries, error) {
	var found []string
	for _, d := range dirs {
		major, ok := installedVersion(ctx, d)
		if !ok {
			continue
		}
		if want == "" || major == want {
			return binaries{dir: d, major: major, run: run}, nil
		}
		found = append(found, fmt.Sprintf("%s in %s", major, d))
	}
	major := want
	if major == "" {
		major = downloadMajor
	}
	if _, ok := versions[major]; !ok {
		return binaries{}, fmt.Errorf("the private database was made with PostgreSQL %s, which is not installed here (found: %s): install PostgreSQL %s, or set DATABASE_URL",
			want, strings.Join(found, ", "), want)
	}
	return binaries{major: major, run: run}, nil
}

var versionLine = regexp.MustCompile(`\(PostgreSQL\) (\d+)(\.\d+)?`)

// installedVersion returns the major version of the installation in dir,
// and false when dir holds no complete one.
func installedVersion(ctx context.Context, dir string) (string, bool) {
	for _, tool := range []string{"pg_ctl", "initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, "bin", tool))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", false
		}
	}
	// --version is answered before pg_ctl's check that refuses root.
	out, err := exec.CommandContext(ctx, filepath.Join(dir, "bin", "pg_ctl"), "--version").Output()
	if err != nil {
		return "", false
	}
	m := versionLine.FindStringSubmatch(string(out))
	if m == nil {
		return "", false
	}
	if n, _ := strconv.Atoi(m[1]); n < 10 {
		return m[1] + m[2], true // 9.6: PG_VERSION says "9.6"
	}
	return m[1], true
}

// noPostgres is the one message shown when there is nothing to run.
func noPostgres(looked []string, want, reason string) error {
	what := "PostgreSQL"
	if want != "" {
		what = "PostgreSQL " + want + " (the version the private database was made with)"
	}
	return fmt.Errorf("DATABASE_URL is not set and no %s was found to run a private database with (looked in %s) nor could one be downloaded (%s). Install PostgreSQL (for example: apt-get install postgresql, or brew install postgresql) or set DATABASE_URL",
		what, strings.Join(looked, ", "), reason)
}
