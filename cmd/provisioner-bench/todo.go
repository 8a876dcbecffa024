package main

import (
	"context"
	"errors"
)

func (b *bench) listScenario(ctx context.Context) error     { return errors.New("not written yet") }
func (b *bench) backfillScenario(ctx context.Context) error { return errors.New("not written yet") }
func (b *bench) memoryScenario(ctx context.Context) error   { return errors.New("not written yet") }
