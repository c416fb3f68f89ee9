package elasticsearch

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/estatehq/estate/internal/delivery"
)

// Index modes.
const (
	// ModeDataStream writes to data streams logs-estate.<service>-<namespace>.
	ModeDataStream = "data_stream"
	// ModeDailyIndex writes to indices estate-logs-<service>-YYYY.MM.DD (UTC).
	ModeDailyIndex = "daily_index"
)

// Config is the Elasticsearch exporter's configuration. The exporter is on
// when URLs is not empty.
type Config struct {
	// URLs are the cluster's HTTP endpoints, http(s)://host:port.
	URLs []string `yaml:"urls"`
	// Username and Password select basic authentication.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// APIKey is the base64 "id:api_key" sent as "Authorization: ApiKey ...".
	APIKey string `yaml:"api_key"`
	// CAFile is a PEM bundle trusted in addition to the system roots.
	CAFile string `yaml:"ca_file"`
	// AWS signs every request with SigV4 for AWS-managed domains.
	AWS AWSConfig `yaml:"aws"`

	// Mode is data_stream or daily_index.
	Mode string `yaml:"mode"`
	// Namespace is the data stream namespace (ModeDataStream).
	Namespace string `yaml:"namespace"`
	// TemplateName names the index template and the ILM policy.
	TemplateName string `yaml:"template_name"`
	// ILMDeleteAfter is the age at which the ILM policy deletes an index;
	// 0 installs no policy. Ignored on OpenSearch, which has no ILM.
	ILMDeleteAfter time.Duration `yaml:"ilm_delete_after"`

	// DeadLetterDir receives the JSONL files of records the cluster refused
	// for good; normally <data-dir>/collector/deadletter.
	DeadLetterDir string `yaml:"dead_letter_dir"`

	// MaxBulkBytes bounds the body of one _bulk request.
	MaxBulkBytes int `yaml:"max_bulk_bytes"`
	// MaxAttempts bounds how many times an item that the cluster answers
	// with 429 or 5xx is sent within one ExportLogs call.
	MaxAttempts int `yaml:"max_attempts"`
	// InitialBackoff is the wait before the first retry; it doubles up to
	// MaxBackoff.
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
	// RequestTimeout bounds one HTTP request.
	RequestTimeout time.Duration `yaml:"request_timeout"`
}

// AWSConfig is SigV4 signing for Amazon OpenSearch Service. Credentials come
// from the AWS SDK's default chain (environment, shared files, web identity,
// ECS/EC2 roles).
type AWSConfig struct {
	SigV4   bool   `yaml:"sigv4"`
	Region  string `yaml:"region"`
	Service string `yaml:"service"`
}

// tls is the TLS of https URLs: the system roots and CAFile's CAs.
// Enabled reports whether logs go to Elasticsearch.
func (c *Config) Enabled() bool { return len(c.URLs) > 0 }

// RegisterFlags sets the defaults and binds the flags, named prefix +
// "elasticsearch-url" and so on (prefix is empty or ends with a separator,
// for example "collector.").
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	p := prefix + "elasticsearch-"
	fs.Func(p+"url", "Elasticsearch or OpenSearch URL; comma-separated for several nodes; logs go there when set", func(s string) error {
		c.URLs = nil
		for _, u := range strings.Split(s, ",") {
			if u = strings.TrimSpace(u); u != "" {
				c.URLs = append(c.URLs, u)
			}
		}
		return nil
	})
	fs.StringVar(&c.Username, p+"username", "", "Elasticsearch basic-auth user")
	fs.StringVar(&c.Password, p+"password", "", "Elasticsearch basic-auth password")
	fs.StringVar(&c.APIKey, p+"api-key", "", "Elasticsearch API key (base64 id:key)")
	fs.StringVar(&c.CAFile, p+"ca-file", "", "PEM file of CAs trusted for the Elasticsearch endpoint")
	fs.BoolVar(&c.AWS.SigV4, p+"aws-sigv4", false, "sign requests with AWS SigV4 (Amazon OpenSearch Service); credentials from the AWS default chain")
	fs.StringVar(&c.AWS.Region, p+"aws-region", "", "AWS region for SigV4; defaults to the SDK's (AWS_REGION)")
	fs.StringVar(&c.AWS.Service, p+"aws-service", "es", "AWS service name for SigV4: es for managed domains, aoss for Serverless")
	fs.StringVar(&c.Mode, p+"mode", ModeDataStream, "where logs go: data_stream (logs-estate.<service>-<namespace>) or daily_index (estate-logs-<service>-YYYY.MM.DD)")
	fs.StringVar(&c.Namespace, p+"namespace", "default", "data stream namespace")
	fs.StringVar(&c.TemplateName, p+"template-name", "estate-logs", "name of the index template and ILM policy installed at start")
	fs.DurationVar(&c.ILMDeleteAfter, p+"ilm-delete-after", 30*24*time.Hour, "age at which the ILM policy deletes log indices; 0 installs no policy (Elasticsearch only)")
	fs.StringVar(&c.DeadLetterDir, p+"dead-letter-dir", "", "folder of dead-letter JSONL files; defaults to <data-dir>/collector/deadletter")
	fs.IntVar(&c.MaxBulkBytes, p+"max-bulk-bytes", 5<<20, "largest _bulk request body in bytes")
	fs.IntVar(&c.MaxAttempts, p+"max-attempts", 5, "attempts per throttled item within one export before the batch is handed back")
	fs.DurationVar(&c.InitialBackoff, p+"initial-backoff", 100*time.Millisecond, "first wait before retrying throttled items; doubles each time")
	fs.DurationVar(&c.MaxBackoff, p+"max-backoff", 5*time.Second, "longest wait between retries of throttled items")
	fs.DurationVar(&c.RequestTimeout, p+"request-timeout", 30*time.Second, "timeout of one request to Elasticsearch")
}

// Validate names every field at fault. It checks nothing when the exporter
// is off.
func (c *Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs []error
	for _, raw := range c.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("elasticsearch.urls: %q must be an http or https URL with a host", raw))
		}
	}
	auths := 0
	if c.Username != "" || c.Password != "" {
		auths++
		if c.Username == "" {
			errs = append(errs, errors.New("elasticsearch.username: must be set with elasticsearch.password"))
		}
	}
	if c.APIKey != "" {
		auths++
	}
	if c.AWS.SigV4 {
		auths++
		if c.AWS.Service == "" {
			errs = append(errs, errors.New("elasticsearch.aws.service: must be set for SigV4 (es or aoss)"))
		}
	}
	if auths > 1 {
		errs = append(errs, errors.New("elasticsearch: choose one of username/password, api_key and aws.sigv4"))
	}
	if err := c.tls().Validate("elasticsearch."); err != nil {
		errs = append(errs, err)
	}
	switch c.Mode {
	case ModeDataStream:
		if c.Namespace == "" || sanitizeName(c.Namespace, "") != c.Namespace {
			errs = append(errs, fmt.Errorf("elasticsearch.namespace: %q may hold only lowercase letters, digits, dots and underscores", c.Namespace))
		}
	case ModeDailyIndex:
	default:
		errs = append(errs, fmt.Errorf("elasticsearch.mode: must be %s or %s, not %q", ModeDataStream, ModeDailyIndex, c.Mode))
	}
	if c.TemplateName == "" || strings.ToLower(c.TemplateName) != c.TemplateName {
		errs = append(errs, fmt.Errorf("elasticsearch.template_name: %q must be non-empty and lowercase", c.TemplateName))
	}
	if c.ILMDeleteAfter < 0 {
		errs = append(errs, errors.New("elasticsearch.ilm_delete_after: must not be negative"))
	}
	if c.DeadLetterDir == "" {
		errs = append(errs, errors.New("elasticsearch.dead_letter_dir: must be set"))
	}
	if c.MaxBulkBytes < 1024 {
		errs = append(errs, fmt.Errorf("elasticsearch.max_bulk_bytes: must be at least 1024, not %d", c.MaxBulkBytes))
	}
	if err := c.retry().Validate("elasticsearch."); err != nil {
		errs = append(errs, err)
	}
	if c.RequestTimeout <= 0 {
		errs = append(errs, errors.New("elasticsearch.request_timeout: must be positive"))
	}
	return errors.Join(errs...)
}

// retry is the retry policy the configuration sets.
func (c *Config) retry() delivery.Retry {
	return delivery.Retry{Backoff: delivery.Backoff{Initial: c.InitialBackoff, Max: c.MaxBackoff}, MaxAttempts: c.MaxAttempts}
}

// tls is the TLS the configuration sets.
func (c *Config) tls() delivery.TLS { return delivery.TLS{Enabled: true, CAFile: c.CAFile} }
