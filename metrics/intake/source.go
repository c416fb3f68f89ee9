package intake

import "strings"

// SourcePrefix begins the CloudEvents source of every event an intake
// maps. Events are identified by source and id together, so an event
// posted to the events API, which may not claim a source under this
// prefix, can never take the identity of an intake's event: it is
// another event, whatever id it claims.
const SourcePrefix = "urn:estate:intake:"

// Source is the source of the events that the intake named name maps from
// a payload of origin (an Alertmanager's external URL, a GitHub
// repository's URL): "urn:estate:intake:github:https://github.com/o/r";
// without an origin, "urn:estate:intake:alertmanager".
func Source(name, origin string) string {
	if origin == "" {
		return SourcePrefix + name
	}
	return SourcePrefix + name + ":" + origin
}

// Reserved reports whether source belongs to an intake. URN schemes and
// namespaces are case-insensitive, so the prefix is too.
func Reserved(source string) bool {
	return len(source) >= len(SourcePrefix) && strings.EqualFold(source[:len(SourcePrefix)], SourcePrefix)
}
