package metrics

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	jsoniter "github.com/json-iterator/go"
)

// specVersion is the only CloudEvents version accepted.
const specVersion = "1.0"

// ParseEvent decodes one CloudEvent in structured JSON mode and validates it.
// The envelope is parsed by the CloudEvents SDK; the data is decoded
// strictly: unknown fields are errors, because a misspelt optional field
// (say "cause_deployment") would otherwise silently change the numbers.
// Errors wrap ErrInvalid and are *InvalidError.
func ParseEvent(b []byte) (Event, error) {
	trimmed := bytes.TrimSpace(b)
	if !json.Valid(trimmed) {
		var raw json.RawMessage
		err := json.Unmarshal(trimmed, &raw)
		return Event{}, &InvalidError{Problems: []FieldError{{Message: fmt.Sprintf("is not valid JSON: %v", err)}}}
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Event{}, &InvalidError{Problems: []FieldError{{Message: "must be a JSON object (a CloudEvent in structured mode)"}}}
	}
	ce, err := unmarshalCloudEvent(trimmed)
	if err != nil {
		return Event{}, diagnose(trimmed, err)
	}
	// The data is part of trimmed, which is valid JSON.
	return fromCloudEvent(ce, true)
}

// ParseCloudEvent decodes a CloudEvent in structured JSON mode with the
// CloudEvents SDK, without Estate's validation: for payloads that other
// specifications carry in CloudEvents (CDEvents). Errors wrap ErrInvalid.
func ParseCloudEvent(b []byte) (cloudevents.Event, error) {
	trimmed := bytes.TrimSpace(b)
	if !json.Valid(trimmed) || len(trimmed) == 0 || trimmed[0] != '{' {
		return cloudevents.Event{}, Invalid("", "is not a JSON object")
	}
	ce, err := unmarshalCloudEvent(trimmed)
	if err != nil {
		return cloudevents.Event{}, diagnose(trimmed, err)
	}
	return ce, nil
}

// unmarshalCloudEvent runs the SDK's decoder on valid JSON, turning its
// panics into errors: it slices data_base64 without checking that it is a
// string, so {"specversion":"1.0","data_base64":5} panics (kept as a fuzz
// seed). Bad input must get an error, never take the process down.
func unmarshalCloudEvent(b []byte) (ce cloudevents.Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the CloudEvents decoder failed: %v", r)
		}
	}()
	err = ce.UnmarshalJSON(b)
	return ce, err
}

// UnmarshalJSON decodes a structured CloudEvent with ParseEvent, so a JSON
// array of events decodes into []Event with full validation.
func (e *Event) UnmarshalJSON(b []byte) error {
	ev, err := ParseEvent(b)
	if err != nil {
		return err
	}
	*e = ev
	return nil
}

// FromCloudEvent converts an event decoded by the CloudEvents SDK (for
// example from an HTTP request in binary mode) and validates it.
func FromCloudEvent(ce cloudevents.Event) (Event, error) {
	return fromCloudEvent(ce, false)
}

func fromCloudEvent(ce cloudevents.Event, dataIsJSON bool) (Event, error) {
	v := &validator{}
	if ce.Context == nil {
		v.add("specversion", "is required")
		return Event{}, v.err()
	}
	if sv := ce.SpecVersion(); sv != specVersion {
		v.add("specversion", fmt.Sprintf("must be %q, not %q", specVersion, sv))
	}
	if err := ce.Validate(); err != nil {
		var verr cloudevents.ValidationError
		if errors.As(err, &verr) {
			for _, k := range sortedKeys(verr) {
				v.add(k, sdkMessage(k, verr[k]))
			}
		} else {
			v.add("", "is not a valid CloudEvent: "+err.Error())
		}
	}
	typ := Type(ce.Type())
	if ce.Type() != "" && !slices.Contains(Types(), typ) {
		v.add("type", fmt.Sprintf("%q is not an Estate event type (want one of %s)", ce.Type(), typeList()))
	}
	t := ce.Time()
	if t.IsZero() {
		v.add("time", "is required")
	}
	badType := false
	if ct := ce.DataContentType(); ct != "" && !isJSONMediaType(ct) {
		v.add("datacontenttype", fmt.Sprintf("must be application/json, not %q", ct))
		badType = true
	}
	ev := Event{ID: ce.ID(), Source: ce.Source(), Time: t.UTC()}
	raw := ce.Data()
	switch {
	case badType:
		// Data of another media type is not read at all.
	case len(bytes.TrimSpace(raw)) == 0:
		v.add("data", "is required")
	case !dataIsJSON && !json.Valid(raw):
		v.add("data", "is not valid JSON")
	case slices.Contains(Types(), typ):
		ev.Data = decodeData(v, typ, raw)
	}
	// Report what the typed checks find too, but only for fields that have
	// no problem yet: "must be a string" then "is required" for the same
	// field would say the same thing twice. Without data (unknown type or
	// undecodable data) the typed checks have nothing to add about it.
	sub := &validator{skip: append(v.fields(), "data")}
	if ev.Data != nil {
		sub.skip = sub.skip[:len(sub.skip)-1]
	}
	ev.check(sub)
	v.problems = append(v.problems, sub.problems...)
	if err := v.err(); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// CloudEvent returns e as a CloudEvents SDK event, for sending.
func (e Event) CloudEvent() (cloudevents.Event, error) {
	ce := cloudevents.New(specVersion)
	ce.SetID(e.ID)
	ce.SetSource(e.Source)
	ce.SetType(string(e.Type()))
	ce.SetTime(e.Time.UTC())
	data, err := e.DataJSON()
	if err != nil {
		return ce, err
	}
	ce.DataEncoded = data
	ce.SetDataContentType(cloudevents.ApplicationJSON)
	return ce, nil
}

// wireEvent is the structured-mode JSON of an event, in a fixed field order.
type wireEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            Type            `json:"type"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// MarshalJSON encodes e as a CloudEvent in structured JSON mode, with every
// time in UTC. The encoding is canonical: equal events encode equally.
func (e Event) MarshalJSON() ([]byte, error) {
	if e.Data == nil {
		return nil, fmt.Errorf("encoding event %q: no data", e.ID)
	}
	data, err := e.DataJSON()
	if err != nil {
		return nil, err
	}
	return json.Marshal(wireEvent{
		SpecVersion:     specVersion,
		ID:              e.ID,
		Source:          e.Source,
		Type:            e.Type(),
		Time:            e.Time.UTC().Format(time.RFC3339Nano),
		DataContentType: cloudevents.ApplicationJSON,
		Data:            data,
	})
}

// DataJSON returns the canonical JSON encoding of the event's data, with
// every time in UTC: what the stores keep.
func (e Event) DataJSON() ([]byte, error) {
	b, err := json.Marshal(normalizeData(e.Data))
	if err != nil {
		return nil, fmt.Errorf("encoding data of event %q: %w", e.ID, err)
	}
	return b, nil
}

// DecodeData decodes the canonical JSON of a data payload of type t, as
// written by DataJSON. Stores use it to read back what they wrote; it does
// not copy raw, which may be reused afterwards.
func DecodeData(t Type, raw []byte) (Data, error) {
	v := &validator{}
	if !slices.Contains(Types(), t) {
		return nil, fmt.Errorf("decoding data: unknown event type %q", t)
	}
	// No json.Valid pass: what a store holds was encoded by DataJSON, and
	// the decoder reports syntax errors anyway.
	d := decodeData(v, t, raw)
	if err := v.err(); err != nil {
		return nil, err
	}
	return d, nil
}

// normalized reports whether every time of e is in UTC already, as it is
// for every event decoded by ParseEvent or read from a store.
func (e Event) normalized() bool {
	if e.Time.Location() != time.UTC {
		return false
	}
	switch d := e.Data.(type) {
	case DeploymentStarted:
		for _, c := range d.Commits {
			if c.CommittedAt.Location() != time.UTC {
				return false
			}
		}
	case IncidentOpened:
		return d.StartedAt.IsZero() || d.StartedAt.Location() == time.UTC
	}
	return true
}

// SortEvents sorts events by time, then id (byte order): the order in
// which stores list them.
func SortEvents(events []Event) {
	slices.SortFunc(events, func(a, b Event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return strings.Compare(a.Source, b.Source)
	})
}

// Normalized returns e with every time in UTC, as it is stored and encoded.
func (e Event) Normalized() Event {
	e.Time = e.Time.UTC()
	e.Data = normalizeData(e.Data)
	return e
}

func normalizeData(d Data) Data {
	switch d := d.(type) {
	case DeploymentStarted:
		if !slices.ContainsFunc(d.Commits, func(c Commit) bool { return c.CommittedAt.Location() != time.UTC }) {
			return d
		}
		if len(d.Commits) > 0 {
			cs := make([]Commit, len(d.Commits))
			for i, c := range d.Commits {
				cs[i] = Commit{SHA: c.SHA, CommittedAt: c.CommittedAt.UTC()}
			}
			d.Commits = cs
		}
		return d
	case IncidentOpened:
		if !d.StartedAt.IsZero() {
			d.StartedAt = d.StartedAt.UTC()
		}
		return d
	}
	return d
}

func isJSONMediaType(ct string) bool {
	if ct == "application/json" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

func typeList() string {
	names := make([]string, 0, 8)
	for _, t := range Types() {
		names = append(names, string(t))
	}
	return strings.Join(names, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sdkMessage rewrites the SDK's validation messages in the words the rest
// of the API uses.
func sdkMessage(attr string, err error) string {
	switch attr {
	case "id", "source", "type", "specversion":
		return "is required"
	}
	return "is invalid: " + err.Error()
}

// diagnose names the envelope attribute that made the SDK fail to parse b.
// The SDK's errors do not say which attribute they are about, so the common
// faults are checked again here, on the error path only.
func diagnose(b []byte, sdkErr error) error {
	v := &validator{}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		v.add("", "is not a valid CloudEvent: "+err.Error())
		return v.err()
	}
	str := func(name string) (string, bool) {
		raw, ok := m[name]
		if !ok || string(raw) == "null" {
			return "", false
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			v.add(name, "must be a string")
			return "", false
		}
		return s, true
	}
	if sv, ok := str("specversion"); !ok {
		if _, present := m["specversion"]; !present {
			v.add("specversion", "is required")
		}
	} else if sv != specVersion {
		v.add("specversion", fmt.Sprintf("must be %q, not %q", specVersion, sv))
	}
	for _, name := range []string{"id", "source", "type", "subject", "datacontenttype", "dataschema"} {
		str(name)
	}
	if ts, ok := str("time"); ok {
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			v.add("time", "must be an RFC 3339 timestamp")
		}
	}
	if d64, ok := str("data_base64"); ok {
		if _, err := base64.StdEncoding.DecodeString(d64); err != nil {
			v.add("data_base64", "must be base64")
		}
	}
	if len(v.problems) == 0 {
		v.add("", "is not a valid CloudEvent: "+sdkErr.Error())
	}
	return v.err()
}

// dataReader decodes event data with a streaming JSON iterator: no maps,
// no reflection, one pass. It reports type errors and unknown fields by
// their path; absent and null fields read as zero values, and whether they
// are required is Validate's business. The input is valid JSON (checked
// before), so the iterator meets no syntax errors.
type dataReader struct {
	it *jsoniter.Iterator
	v  *validator
}

// object reads an object at path, handing each key to field, which must
// consume the value. It reports anything else than an object.
func (r dataReader) object(path string, field func(key string)) bool {
	if r.it.WhatIsNext() != jsoniter.ObjectValue {
		r.v.add(path, "must be a JSON object")
		r.it.Skip()
		return false
	}
	r.it.ReadObjectCB(func(_ *jsoniter.Iterator, key string) bool {
		field(key)
		return true
	})
	return true
}

// unknown reports and skips a field the data type does not have.
func (r dataReader) unknown(path string) {
	r.v.add(path, "is not a known field")
	r.it.Skip()
}

func (r dataReader) str(path string) string {
	switch r.it.WhatIsNext() {
	case jsoniter.NilValue:
		r.it.ReadNil()
		return ""
	case jsoniter.StringValue:
		return r.it.ReadString()
	}
	r.v.add(path, "must be a string")
	r.it.Skip()
	return ""
}

// optStr reads an optional string: absent or null is fine, empty is not.
func (r dataReader) optStr(path string) string {
	present := r.it.WhatIsNext() == jsoniter.StringValue
	s := r.str(path)
	if present && s == "" {
		r.v.add(path, "must not be empty when present")
	}
	return s
}

func (r dataReader) time(path string) time.Time {
	switch r.it.WhatIsNext() {
	case jsoniter.NilValue:
		r.it.ReadNil()
		return time.Time{}
	case jsoniter.StringValue:
	default:
		r.v.add(path, "must be an RFC 3339 timestamp string")
		r.it.Skip()
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, r.it.ReadString())
	if err != nil {
		r.v.add(path, "must be an RFC 3339 timestamp")
		return time.Time{}
	}
	return t.UTC()
}

// rawObject reads a JSON object at path and keeps it as it is written;
// null reads as absent.
func (r dataReader) rawObject(path string) json.RawMessage {
	switch r.it.WhatIsNext() {
	case jsoniter.NilValue:
		r.it.ReadNil()
		return nil
	case jsoniter.ObjectValue:
		// Kept in the form encoding/json writes it (compact, HTML
		// escaped), so that an event encodes and decodes to itself.
		b, err := json.Marshal(json.RawMessage(r.it.SkipAndReturnBytes()))
		if err != nil {
			r.v.add(path, "must be a JSON object")
			return nil
		}
		return b
	}
	r.v.add(path, "must be a JSON object")
	r.it.Skip()
	return nil
}

func (r dataReader) boolean(path string) bool {
	if r.it.WhatIsNext() != jsoniter.BoolValue {
		r.v.add(path, "must be true or false")
		r.it.Skip()
		return false
	}
	return r.it.ReadBool()
}

// integer reads a whole number that fits an int32.
func (r dataReader) integer(path string) int {
	if r.it.WhatIsNext() != jsoniter.NumberValue {
		r.v.add(path, "must be a whole number")
		r.it.Skip()
		return 0
	}
	f := r.it.ReadFloat64()
	if f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		r.v.add(path, "must be a whole number")
		return 0
	}
	return int(f)
}

// array reads an array at path, handing each index to elem, which must
// consume the element. Null reads as empty.
func (r dataReader) array(path string, elem func(i int)) {
	switch r.it.WhatIsNext() {
	case jsoniter.NilValue:
		r.it.ReadNil()
		return
	case jsoniter.ArrayValue:
	default:
		r.v.add(path, "must be an array")
		r.it.Skip()
		return
	}
	i := 0
	r.it.ReadArrayCB(func(*jsoniter.Iterator) bool {
		elem(i)
		i++
		return true
	})
}

// decodeData decodes raw, valid JSON, as the data of type t. JSON-level
// problems go to v; the returned data is then checked by Validate, which
// does not repeat a problem for a field that already has one.
func decodeData(v *validator, t Type, raw []byte) Data {
	it := jsoniter.ConfigFastest.BorrowIterator(raw)
	defer jsoniter.ConfigFastest.ReturnIterator(it)
	r := dataReader{it: it, v: v}
	var d Data
	ok := false
	switch t {
	case TypeDeploymentStarted:
		var x DeploymentStarted
		ok = r.object("data", func(k string) {
			switch k {
			case "deployment_id":
				x.DeploymentID = r.str("data.deployment_id")
			case "service":
				x.Service = r.str("data.service")
			case "environment":
				x.Environment = r.str("data.environment")
			case "version":
				x.Version = r.str("data.version")
			case "commits":
				x.Commits = nil
				r.array("data.commits", func(i int) {
					// The path is only needed for an error, but building it
					// is cheap next to decoding, and commits are few.
					path := "data.commits[" + strconv.Itoa(i) + "]"
					var c Commit
					r.object(path, func(k string) {
						switch k {
						case "sha":
							c.SHA = r.str(path + ".sha")
						case "committed_at":
							c.CommittedAt = r.time(path + ".committed_at")
						default:
							r.unknown(path + "." + k)
						}
					})
					x.Commits = append(x.Commits, c)
				})
			default:
				r.unknown("data." + k)
			}
		})
		d = x
	case TypeDeploymentSucceeded, TypeDeploymentFailed:
		var id string
		ok = r.object("data", func(k string) {
			if k != "deployment_id" {
				r.unknown("data." + k)
				return
			}
			id = r.str("data.deployment_id")
		})
		if t == TypeDeploymentSucceeded {
			d = DeploymentSucceeded{DeploymentID: id}
		} else {
			d = DeploymentFailed{DeploymentID: id}
		}
	case TypeDeploymentRolledBack:
		var x DeploymentRolledBack
		ok = r.object("data", func(k string) {
			switch k {
			case "deployment_id":
				x.DeploymentID = r.str("data.deployment_id")
			case "to_version":
				x.ToVersion = r.str("data.to_version")
			default:
				r.unknown("data." + k)
			}
		})
		d = x
	case TypeIncidentOpened:
		var x IncidentOpened
		ok = r.object("data", func(k string) {
			switch k {
			case "incident_id":
				x.IncidentID = r.str("data.incident_id")
			case "service":
				x.Service = r.str("data.service")
			case "environment":
				x.Environment = r.str("data.environment")
			case "severity":
				x.Severity = r.str("data.severity")
			case "started_at":
				x.StartedAt = r.time("data.started_at")
			case "cause_deployment_id":
				x.CauseDeploymentID = r.optStr("data.cause_deployment_id")
			case "chaos_experiment_id":
				x.ChaosExperimentID = r.optStr("data.chaos_experiment_id")
			default:
				r.unknown("data." + k)
			}
		})
		d = x
	case TypeIncidentResolved:
		var x IncidentResolved
		ok = r.object("data", func(k string) {
			if k != "incident_id" {
				r.unknown("data." + k)
				return
			}
			x.IncidentID = r.str("data.incident_id")
		})
		d = x
	case TypeChaosAction:
		var x ChaosAction
		ok = r.object("data", func(k string) {
			switch k {
			case "action":
				x.Action = r.str("data.action")
			case "actor":
				x.Actor = r.str("data.actor")
			case "status":
				x.Status = r.str("data.status")
			case "experiment_id":
				x.ExperimentID = r.optStr("data.experiment_id")
			case "remote":
				x.Remote = r.str("data.remote")
			case "forwarded_for":
				x.ForwardedFor = r.optStr("data.forwarded_for")
			default:
				r.unknown("data." + k)
			}
		})
		d = x
	case TypeChaosStarted, TypeChaosFinished:
		var x ChaosFinished
		ok = r.object("data", func(k string) {
			switch k {
			case "experiment_id":
				x.ExperimentID = r.str("data.experiment_id")
			case "kind":
				x.Kind = r.str("data.kind")
			case "target":
				x.Target = r.str("data.target")
			case "outcome":
				if t == TypeChaosStarted {
					x.Outcome = r.optStr("data.outcome")
				} else {
					x.Outcome = r.str("data.outcome")
				}
			default:
				r.unknown("data." + k)
			}
		})
		if t == TypeChaosStarted {
			d = ChaosStarted(x)
		} else {
			d = x
		}
	case TypeDeploymentAnalysed:
		var x DeploymentAnalysed
		ok = r.object("data", func(k string) {
			switch k {
			case "deployment_id":
				x.DeploymentID = r.str("data.deployment_id")
			case "verdict":
				x.Verdict = r.str("data.verdict")
			case "reason":
				x.Reason = r.str("data.reason")
			case "evidence":
				x.Evidence = r.rawObject("data.evidence")
			default:
				r.unknown("data." + k)
			}
		})
		d = x
	case TypeDeploymentRollbackRecommended:
		var x DeploymentRollbackRecommended
		ok = r.object("data", func(k string) {
			switch k {
			case "deployment_id":
				x.DeploymentID = r.str("data.deployment_id")
			case "reason":
				x.Reason = r.str("data.reason")
			case "dry_run":
				x.DryRun = r.boolean("data.dry_run")
			case "evidence":
				x.Evidence = r.rawObject("data.evidence")
			default:
				r.unknown("data." + k)
			}
		})
		d = x
	case TypeDeploymentRollbackHookCalled:
		var x DeploymentRollbackHookCalled
		ok = r.object("data", func(k string) {
			switch k {
			case "deployment_id":
				x.DeploymentID = r.str("data.deployment_id")
			case "hook":
				x.Hook = r.str("data.hook")
			case "outcome":
				x.Outcome = r.str("data.outcome")
			case "attempts":
				x.Attempts = r.integer("data.attempts")
			case "status":
				x.Status = r.integer("data.status")
			case "detail":
				x.Detail = r.str("data.detail")
			default:
				r.unknown("data." + k)
			}
		})
		d = x
	}
	if it.Error != nil && !errors.Is(it.Error, io.EOF) {
		// Only reachable with input that was not checked to be JSON.
		v.add("data", "is not valid JSON")
		return nil
	}
	if !ok {
		return nil
	}
	return d
}
