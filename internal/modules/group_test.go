package modules

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

type part struct {
	name     string
	startErr error
	log      *[]string
}

func (p *part) Start(context.Context) error {
	*p.log = append(*p.log, "start "+p.name)
	return p.startErr
}

func (p *part) Shutdown(context.Context) error {
	*p.log = append(*p.log, "stop "+p.name)
	return nil
}

func TestGroupStartsInOrderAndStopsInReverse(t *testing.T) {
	var log []string
	g := &Group{
		Parts: []Service{&part{name: "relay", log: &log}, &part{name: "server", log: &log}, &part{name: "purger", log: &log}},
		Closers: []func(context.Context) error{
			func(context.Context) error { log = append(log, "close store"); return nil },
			func(context.Context) error { log = append(log, "close telemetry"); return errors.New("flush failed") },
		},
	}
	require.NoError(t, g.Start(context.Background()))
	err := g.Shutdown(context.Background())
	require.EqualError(t, err, "flush failed", "every error is reported")
	require.Equal(t, []string{
		"start relay", "start server", "start purger",
		"stop purger", "stop server", "stop relay", "close telemetry", "close store",
	}, log)
}

func TestGroupStopsWhatStartedWhenAPartFails(t *testing.T) {
	var log []string
	g := &Group{Parts: []Service{
		&part{name: "relay", log: &log},
		&part{name: "server", log: &log, startErr: errors.New("port in use")},
		&part{name: "purger", log: &log},
	}}
	require.EqualError(t, g.Start(context.Background()), "port in use")
	require.Equal(t, []string{"start relay", "start server", "stop relay"}, log)
	log = nil
	require.NoError(t, g.Shutdown(context.Background()))
	require.Empty(t, log, "nothing is stopped twice")
}
