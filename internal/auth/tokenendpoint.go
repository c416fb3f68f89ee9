package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// TokenPath is where an issuer answers the client-credentials grant, as
// Cognito does.
const TokenPath = "/oauth2/token"

// Client is a machine client of the development issuer, as its clients file
// keeps it: the secret only as a SHA-256 hash.
type Client struct {
	ID           string   `yaml:"id"`
	SecretSHA256 string   `yaml:"secret_sha256"`
	Scopes       []string `yaml:"scopes"`
}

type clientsFile struct {
	Clients []Client `yaml:"clients"`
}

func (d *DevIssuer) clientsPath() string { return filepath.Join(d.dir, "clients.yaml") }

// Clients reads the registered machine clients.
func (d *DevIssuer) Clients() ([]Client, error) {
	b, err := os.ReadFile(d.clientsPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading dev issuer clients: %w", err)
	}
	var f clientsFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decoding dev issuer clients %s: %w", d.clientsPath(), err)
	}
	return f.Clients, nil
}

// RegisterClient registers the client with the scopes it may ask for and a
// new random secret, which it returns; only the secret's hash is kept. A
// client registered again gets a new secret and the old one stops working.
func (d *DevIssuer) RegisterClient(id string, scopes []string) (string, error) {
	if id == "" {
		return "", errors.New("a client needs an id")
	}
	clients, err := d.Clients()
	if err != nil {
		return "", err
	}
	secret := rand.Text()
	c := Client{ID: id, SecretSHA256: hashHex(secret), Scopes: scopes}
	clients = slices.DeleteFunc(clients, func(o Client) bool { return o.ID == id })
	clients = append(clients, c)
	b, err := yaml.Marshal(clientsFile{Clients: clients})
	if err != nil {
		return "", fmt.Errorf("encoding dev issuer clients: %w", err)
	}
	// Written beside and renamed, so a reader never sees half a file.
	tmp, err := os.CreateTemp(d.dir, "clients-*.yaml")
	if err != nil {
		return "", fmt.Errorf("writing dev issuer clients: %w", err)
	}
	_, werr := tmp.Write(b)
	if err := errors.Join(werr, tmp.Close()); err != nil {
		_ = os.Remove(tmp.Name())
		return "", fmt.Errorf("writing dev issuer clients: %w", err)
	}
	if err := os.Rename(tmp.Name(), d.clientsPath()); err != nil {
		return "", fmt.Errorf("writing dev issuer clients: %w", err)
	}
	return secret, nil
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// secretMatches compares by hash in constant time.
func secretMatches(secret, wantHex string) bool {
	want, err := hex.DecodeString(wantHex)
	got := sha256.Sum256([]byte(secret))
	return err == nil && subtle.ConstantTimeCompare(got[:], want) == 1
}

// machineTokenTTL is the lifetime of a client-credentials token.
const machineTokenTTL = time.Hour

// TokenHandler answers the OAuth 2.0 client-credentials grant (RFC 6749
// §4.4) at TokenPath: the client authenticates with HTTP Basic or the form's
// client_id and client_secret, may ask for a subset of its scopes (all of
// them when it asks for none), and gets a signed access token whose subject
// and client_id are its id. Errors are RFC 6749 §5.2 JSON.
func (d *DevIssuer) TokenHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			tokenError(w, http.StatusMethodNotAllowed, "invalid_request", "the token endpoint takes POST")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			tokenError(w, http.StatusBadRequest, "invalid_request", "the body is not a form")
			return
		}
		form := r.PostForm
		if gt := form.Get("grant_type"); gt != "client_credentials" {
			tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "only client_credentials is supported")
			return
		}
		id, secret, basic, ok := clientAuth(r)
		if !ok {
			tokenError(w, http.StatusBadRequest, "invalid_request", "client authentication is required, once")
			return
		}
		clients, err := d.Clients()
		if err != nil {
			tokenError(w, http.StatusInternalServerError, "server_error", "the clients cannot be read")
			return
		}
		i := slices.IndexFunc(clients, func(c Client) bool { return c.ID == id })
		if i < 0 || !secretMatches(secret, clients[i].SecretSHA256) {
			if basic {
				w.Header().Set("WWW-Authenticate", `Basic realm="estate"`)
			}
			tokenError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
			return
		}
		c := clients[i]
		scopes := strings.Fields(form.Get("scope"))
		if len(scopes) == 0 {
			scopes = c.Scopes
		}
		for _, s := range scopes {
			if !slices.Contains(c.Scopes, s) {
				tokenError(w, http.StatusBadRequest, "invalid_scope", fmt.Sprintf("scope %q is not allowed for this client", s))
				return
			}
		}
		tok, err := d.Sign(TokenRequest{Subject: c.ID, ClientID: c.ID, Scopes: scopes, TTL: machineTokenTTL})
		if err != nil {
			tokenError(w, http.StatusInternalServerError, "server_error", "the token cannot be signed")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"access_token": tok, "token_type": "Bearer",
			"expires_in": int(machineTokenTTL / time.Second), "scope": strings.Join(scopes, " "),
		})
	})
}

// clientAuth reads the client's credentials from HTTP Basic (whose parts
// are form-encoded, RFC 6749 §2.3.1) or the form; using both is refused.
func clientAuth(r *http.Request) (id, secret string, basic, ok bool) {
	u, p, hasBasic := r.BasicAuth()
	formID := r.PostForm.Get("client_id")
	switch {
	case hasBasic && r.PostForm.Has("client_secret"):
		return "", "", false, false
	case hasBasic:
		id, err1 := url.QueryUnescape(u)
		secret, err2 := url.QueryUnescape(p)
		return id, secret, true, err1 == nil && err2 == nil && id != "" && (formID == "" || formID == id)
	case formID != "":
		return formID, r.PostForm.Get("client_secret"), false, true
	}
	return "", "", false, false
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
