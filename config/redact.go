package config

import (
	"bytes"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"time"

	"gopkg.in/yaml.v3"
)

// RedactedValue replaces every secret in Redacted's output.
const RedactedValue = "<redacted>"

// secretYAMLKey matches the YAML keys whose values are secrets themselves
// (not the names of files holding them).
var secretYAMLKey = regexp.MustCompile(`(^|_)(secret|password|secrets)$`)

// Redacted renders o, the effective configuration (defaults, file,
// environment and flags merged), as YAML in the configuration file's own
// keys, with every secret replaced by RedactedValue: cookie and client
// secrets, previous cookie secrets, and the password of --redis-url.
// Options only settable on the command line (--config, --version) are
// left out. 'gatehouse config check' prints it.
func (o *Options) Redacted() ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	rv := reflect.ValueOf(o).Elem()
	for _, opt := range optionList() {
		if opt.yamlKey == "" {
			continue
		}
		f := rv.Field(opt.index)
		var val yaml.Node
		if err := val.Encode(plainValue(f)); err != nil {
			return nil, fmt.Errorf("config: render %s: %w", opt.yamlKey, err)
		}
		redactNode(opt.yamlKey, &val)
		if opt.yamlKey == "redis_url" && f.String() != "" {
			val.Value = redactURLPassword(f.String())
		}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: opt.yamlKey}, &val)
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("config: render: %w", err)
	}
	return b.Bytes(), enc.Close()
}

// plainValue is f as YAML should show it: durations as "15s".
func plainValue(f reflect.Value) any {
	if f.Type() == durationType {
		return time.Duration(f.Int()).String()
	}
	return f.Interface()
}

// redactNode replaces, under n (the value of key), the values of every
// secret key.
func redactNode(key string, n *yaml.Node) {
	switch n.Kind {
	case yaml.ScalarNode:
		if secretYAMLKey.MatchString(key) && n.Value != "" {
			*n = yaml.Node{Kind: yaml.ScalarNode, Value: RedactedValue}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			redactNode(key, c)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			redactNode(n.Content[i].Value, n.Content[i+1])
		}
	}
}

// redactURLPassword replaces the password of a URL; an unparsable URL is
// replaced whole (its password cannot be found reliably).
func redactURLPassword(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return RedactedValue
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
		return regexp.MustCompile(`:REDACTED@`).ReplaceAllString(u.String(), ":"+RedactedValue+"@")
	}
	return raw
}
