package main

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// dashboardSQL is the file sqlc generates the list queries into. The bench
// reads the statements from it, so that it explains exactly what the app
// runs (the constants are unexported).
const dashboardSQL = "internal/db/dbgen/dashboard.sql.go"

// sqlConstants returns the string constants of a Go file by name.
func sqlConstants(path string) (map[string]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				if s, err := strconv.Unquote(lit.Value); err == nil {
					out[name.Name] = s
				}
			}
		}
	}
	return out, nil
}

// plan is one EXPLAIN (ANALYZE, BUFFERS) of a list statement.
type plan struct {
	What string
	Text string
}

var seqScanRe = regexp.MustCompile(`Seq Scan on companies\b`)

// seqScan reports whether the plan reads the whole companies table.
func (p plan) seqScan() bool { return seqScanRe.MatchString(p.Text) }

var costRe = regexp.MustCompile(` \(cost=[^)]*\)`)

// excerpt is the plan's nodes (without their cost estimates), the rows
// they read in vain and the execution time, on one line.
func (p plan) excerpt() string {
	var parts []string
	for i, line := range strings.Split(p.Text, "\n") {
		l := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(l, "Execution Time:"), strings.HasPrefix(l, "Rows Removed by Filter:"):
			parts = append(parts, l)
		case i == 0 || strings.HasPrefix(l, "->"):
			parts = append(parts, costRe.ReplaceAllString(strings.TrimSpace(strings.TrimPrefix(l, "->")), ""))
		}
	}
	return strings.Join(parts, " → ")
}

// explain runs EXPLAIN (ANALYZE, BUFFERS) with the parameters given and
// custom plans, as company.List does (dbgen.UseCustomPlans).
func explain(ctx context.Context, pool *pgxpool.Pool, what, sql string, args ...any) (plan, error) {
	var lines []string
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('plan_cache_mode', 'force_custom_plan', true)"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+sql, args...)
		if err != nil {
			return err
		}
		lines, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return plan{}, fmt.Errorf("explain %s: %w", what, err)
	}
	return plan{What: what, Text: strings.Join(lines, "\n")}, nil
}
