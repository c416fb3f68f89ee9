package modules

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// journal records what the services did, in order.
type journal struct {
	mu     sync.Mutex
	events []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events = append(j.events, s)
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.events...)
}

type fakeService struct {
	name     string
	j        *journal
	startErr error
	done     chan error
}

func (f *fakeService) Start(context.Context) error {
	if f.startErr != nil {
		return f.startErr
	}
	f.j.add("start " + f.name)
	return nil
}

func (f *fakeService) Shutdown(context.Context) error {
	f.j.add("stop " + f.name)
	return nil
}

func (f *fakeService) Done() <-chan error { return f.done }

func module(j *journal, name string, deps ...string) Module {
	return Module{Name: name, Deps: deps, Public: true, Init: func(context.Context) (Service, error) {
		return &fakeService{name: name, j: j, done: make(chan error, 1)}, nil
	}}
}

func TestOrder(t *testing.T) {
	j := &journal{}
	m, err := New(slog.New(slog.DiscardHandler),
		module(j, "store"),
		module(j, "collector", "store"),
		module(j, "invoicing", "store", "collector"),
		module(j, "credit", "invoicing"),
	)
	require.NoError(t, err)

	tests := []struct {
		name    string
		targets []string
		want    []string
	}{
		{"one with deps", []string{"credit"}, []string{"store", "collector", "invoicing", "credit"}},
		{"all", []string{"credit", "store", "invoicing", "collector"}, []string{"store", "collector", "invoicing", "credit"}},
		{"leaf", []string{"store"}, []string{"store"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.Order(tc.targets...)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestDeclarationErrors(t *testing.T) {
	j := &journal{}
	_, err := New(nil, module(j, "a", "missing"))
	require.ErrorContains(t, err, `unknown module "missing"`)

	_, err = New(nil, module(j, "a"), module(j, "a"))
	require.ErrorContains(t, err, "declared twice")

	m, err := New(nil, module(j, "a", "b"), module(j, "b", "a"))
	require.NoError(t, err)
	_, err = m.Order("a")
	require.ErrorContains(t, err, "dependency cycle")

	_, err = m.Order("zzz")
	require.ErrorContains(t, err, `unknown module "zzz"`)
}

func TestStartStopsInReverse(t *testing.T) {
	j := &journal{}
	m, err := New(slog.New(slog.DiscardHandler), module(j, "a"), module(j, "b", "a"), module(j, "c", "b"))
	require.NoError(t, err)
	require.NoError(t, m.Start(context.Background(), "c"))
	require.NoError(t, m.Shutdown(context.Background()))
	require.Equal(t, []string{"start a", "start b", "start c", "stop c", "stop b", "stop a"}, j.list())
}

func TestFailedStartStopsWhatStarted(t *testing.T) {
	j := &journal{}
	bad := Module{Name: "bad", Deps: []string{"a"}, Init: func(context.Context) (Service, error) {
		return &fakeService{name: "bad", j: j, startErr: errors.New("port in use")}, nil
	}}
	m, err := New(slog.New(slog.DiscardHandler), module(j, "a"), bad)
	require.NoError(t, err)
	err = m.Start(context.Background(), "bad")
	require.ErrorContains(t, err, "starting bad: port in use")
	require.Equal(t, []string{"start a", "stop a"}, j.list())
}

func TestWaitReturnsWhenAServiceFails(t *testing.T) {
	j := &journal{}
	svc := &fakeService{name: "a", j: j, done: make(chan error, 1)}
	m, err := New(slog.New(slog.DiscardHandler), Module{Name: "a", Init: func(context.Context) (Service, error) { return svc, nil }})
	require.NoError(t, err)
	require.NoError(t, m.Start(context.Background(), "a"))
	svc.done <- errors.New("listener closed")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.ErrorContains(t, m.Wait(ctx), "a: listener closed")
	require.NoError(t, m.Shutdown(context.Background()))
}

func TestWaitReturnsOnCancel(t *testing.T) {
	j := &journal{}
	m, err := New(slog.New(slog.DiscardHandler), module(j, "a"))
	require.NoError(t, err)
	require.NoError(t, m.Start(context.Background(), "a"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, m.Wait(ctx))
	require.NoError(t, m.Shutdown(context.Background()))
}
