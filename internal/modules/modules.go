// Package modules runs Estate's targets, alone or together, in the manner of
// Loki and Mimir's -target: each target is a module with declared
// dependencies; the manager initialises and starts the modules a command asks
// for, dependencies first, and stops them in reverse order within a deadline.
package modules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Service is a started part of the estate.
type Service interface {
	// Start brings the service up and returns once it serves; it does not
	// block for the service's lifetime.
	Start(ctx context.Context) error
	// Shutdown stops the service, waiting for in-flight work until ctx ends.
	Shutdown(ctx context.Context) error
}

// Endpoint is a service that others reach at a URL, printed by `up`.
type Endpoint interface {
	URL() string
}

// Failer is a service that can stop on its own; the manager stops everything
// when one does.
type Failer interface {
	Done() <-chan error
}

// Module is a named part of the estate.
type Module struct {
	Name string
	// Deps are started before this module and stopped after it.
	Deps []string
	// Init builds the module's service. It runs after every dependency has
	// started. A nil service means the module has nothing to run.
	Init func(ctx context.Context) (Service, error)
	// Public modules can be asked for by name; the others only come in as
	// dependencies.
	Public bool
}

// Manager runs modules.
type Manager struct {
	modules map[string]Module
	order   []string
	logger  *slog.Logger
	started []started
}

type started struct {
	name string
	svc  Service
}

// New returns a manager of mods.
func New(logger *slog.Logger, mods ...Module) (*Manager, error) {
	m := &Manager{modules: make(map[string]Module, len(mods)), logger: logger}
	for _, mod := range mods {
		if _, dup := m.modules[mod.Name]; dup {
			return nil, fmt.Errorf("module %q declared twice", mod.Name)
		}
		m.modules[mod.Name] = mod
		m.order = append(m.order, mod.Name)
	}
	for _, mod := range mods {
		for _, d := range mod.Deps {
			if _, ok := m.modules[d]; !ok {
				return nil, fmt.Errorf("module %q depends on unknown module %q", mod.Name, d)
			}
		}
	}
	return m, nil
}

// Order returns targets and every module they depend on, dependencies first;
// ties keep the order the modules were declared in.
func (m *Manager) Order(targets ...string) ([]string, error) {
	var out []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		mod, ok := m.modules[name]
		if !ok {
			return fmt.Errorf("unknown module %q", name)
		}
		switch state[name] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("dependency cycle: %v", append(path, name))
		}
		state[name] = 1
		for _, d := range mod.Deps {
			if err := visit(d, append(path, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		out = append(out, name)
		return nil
	}
	// Visit in declaration order so the result does not depend on how the
	// targets were listed.
	for _, name := range m.order {
		if slices.Contains(targets, name) {
			if err := visit(name, nil); err != nil {
				return nil, err
			}
		}
	}
	for _, t := range targets {
		if _, ok := m.modules[t]; !ok {
			return nil, fmt.Errorf("unknown module %q", t)
		}
	}
	return out, nil
}

// Public lists the modules that can be asked for by name.
func (m *Manager) Public() []string {
	var out []string
	for _, n := range m.order {
		if m.modules[n].Public {
			out = append(out, n)
		}
	}
	return out
}

// Start initialises and starts targets and their dependencies in order. If
// one fails, those already started are stopped and the error returned.
func (m *Manager) Start(ctx context.Context, targets ...string) error {
	order, err := m.Order(targets...)
	if err != nil {
		return err
	}
	for _, name := range order {
		svc, err := m.modules[name].Init(ctx)
		if err == nil && svc != nil {
			err = svc.Start(ctx)
		}
		if err != nil {
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			return errors.Join(fmt.Errorf("starting %s: %w", name, err), m.Shutdown(stopCtx))
		}
		if svc != nil {
			m.started = append(m.started, started{name: name, svc: svc})
			m.logger.Debug("module started", "module", name)
		}
	}
	return nil
}

// Services lists the started services by module name, in start order.
func (m *Manager) Services() []struct {
	Name    string
	Service Service
} {
	out := make([]struct {
		Name    string
		Service Service
	}, len(m.started))
	for i, s := range m.started {
		out[i].Name, out[i].Service = s.name, s.svc
	}
	return out
}

// Wait blocks until ctx ends or a started service stops on its own, and
// returns that service's error.
func (m *Manager) Wait(ctx context.Context) error {
	failed := make(chan error, len(m.started))
	stop := make(chan struct{})
	defer close(stop)
	for _, s := range m.started {
		f, ok := s.svc.(Failer)
		if !ok {
			continue
		}
		go func(name string, done <-chan error) {
			select {
			case err := <-done:
				if err == nil {
					err = errors.New("stopped unexpectedly")
				}
				failed <- fmt.Errorf("%s: %w", name, err)
			case <-stop:
			}
		}(s.name, f.Done())
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-failed:
		return err
	}
}

// Shutdown stops the started services in reverse order; ctx bounds the whole.
func (m *Manager) Shutdown(ctx context.Context) error {
	var errs []error
	for i := len(m.started) - 1; i >= 0; i-- {
		s := m.started[i]
		if err := s.svc.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping %s: %w", s.name, err))
		}
		m.logger.Debug("module stopped", "module", s.name)
	}
	m.started = nil
	return errors.Join(errs...)
}
