package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load builds Options from the command line args (without the program
// name), the environment read through lookupEnv (os.LookupEnv in
// production) and the YAML file named by --config or GATEHOUSE_CONFIG.
//
// Precedence is flags > GATEHOUSE_* variables > file > defaults. A list
// given at a higher level replaces, never extends, the lower one. An empty
// variable counts as unset. Variables starting with GATEHOUSE_ that name no
// option are ignored.
//
// For --help or -h, Load writes Usage to stdout and returns flag.ErrHelp.
// --version is only parsed: the caller checks Options.Version.
//
// Load does not validate the values beyond their types; call Validate.
// Errors are *Error values, joined with errors.Join when there are several.
func Load(args []string, lookupEnv func(string) (string, bool), stdout io.Writer) (*Options, error) {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	if stdout == nil {
		stdout = io.Discard
	}
	fromFlags, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		Usage(stdout)
		return nil, flag.ErrHelp
	}
	if err != nil {
		return nil, err
	}

	opts := Defaults()
	var errs []error

	configOpt, _ := lookupOption("config")
	path := ""
	if vals := fromFlags[configOpt.index]; len(vals) > 0 {
		path = vals[len(vals)-1]
	} else if v, ok := lookupEnv(configOpt.env); ok && v != "" {
		path = v
	}
	if path != "" {
		errs = append(errs, loadFile(opts, path)...)
	}

	for _, o := range optionList() {
		if o.env == "" {
			continue
		}
		var set []string // the variables spelling o that are set
		raw := ""
		for _, sp := range o.spellings() {
			if v, ok := lookupEnv(sp.env); ok && v != "" {
				set, raw = append(set, sp.env), v
			}
		}
		if len(set) == 0 {
			continue
		}
		if len(set) > 1 {
			errs = append(errs, bothSpellings(o, set))
			continue
		}
		vals := []string{raw}
		if o.typ.Kind() == reflect.Slice {
			vals = splitList(raw)
		}
		if p := setOption(opts, o, vals); p != nil {
			errs = append(errs, &Error{Key: o.key(), Problem: o.env + "=" + p.problem, Fix: p.fix})
		}
	}

	for _, o := range optionList() {
		if vals, ok := fromFlags[o.index]; ok {
			// parseFlags has already checked every value.
			setOption(opts, o, vals)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return opts, nil
}

// bothSpellings is the error for an option given under two of its
// spellings in one place (set lists them as written).
func bothSpellings(o option, set []string) *Error {
	return &Error{Key: o.key(), Problem: fmt.Sprintf("is given as both %s; they are spellings of one option", strings.Join(set, " and ")),
		Fix: "keep only " + set[0]}
}

// flagValue records the raw values of one flag; values are applied after the
// file and the environment so that flags win.
type flagValue struct {
	opt      option
	spelling string // the flag name this value was registered under
	values   map[int][]string
	used     map[int][]string // option index → flag names given
	problem  **Error
}

func (v *flagValue) String() string { return "" }

func (v *flagValue) IsBoolFlag() bool { return v.opt.typ.Kind() == reflect.Bool }

func (v *flagValue) Set(raw string) error {
	if v.opt.typ.Kind() != reflect.Slice {
		if _, p := parseScalar(v.opt.typ, raw); p != nil {
			if *v.problem == nil {
				*v.problem = &Error{Key: v.opt.key(), Problem: "--" + v.opt.name + "=" + p.problem, Fix: p.fix}
			}
			return errors.New(p.problem)
		}
	}
	v.values[v.opt.index] = append(v.values[v.opt.index], raw)
	if !slices.Contains(v.used[v.opt.index], "--"+v.spelling) {
		v.used[v.opt.index] = append(v.used[v.opt.index], "--"+v.spelling)
	}
	return nil
}

// newFlagSet returns a FlagSet over every spelling of every option that
// has a flag, recording into values and used.
func newFlagSet(values, used map[int][]string, problem **Error) *flag.FlagSet {
	fs := flag.NewFlagSet("gatehouse", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	fs.Usage = func() {}
	for _, o := range optionList() {
		if o.name == "" {
			continue
		}
		for _, sp := range o.spellings() {
			fs.Var(&flagValue{opt: o, spelling: sp.name, values: values, used: used, problem: problem}, sp.name, o.help)
		}
	}
	return fs
}

// parseFlags parses args into raw values by option index.
func parseFlags(args []string) (map[int][]string, error) {
	values, used := map[int][]string{}, map[int][]string{}
	var problem *Error
	fs := newFlagSet(values, used, &problem)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil, err
	case problem != nil:
		return nil, problem
	case err != nil:
		return nil, flagError(err)
	}
	for _, o := range optionList() {
		if len(used[o.index]) > 1 {
			return nil, bothSpellings(o, used[o.index])
		}
	}
	if rest := fs.Args(); len(rest) > 0 {
		e := &Error{Key: "command line", Problem: fmt.Sprintf("unexpected argument #%d after the flags", len(args)-len(rest)+1),
			Fix: "Gatehouse takes only flags; quote values that contain spaces"}
		if rest[0] == "true" || rest[0] == "false" {
			e.Problem = fmt.Sprintf("unexpected argument %q after the flags", rest[0])
			e.Fix = "give boolean flags their value with '=', e.g. --cookie-secure=false"
		}
		return nil, e
	}
	return values, nil
}

// flagError turns the flag package's errors into *Error where it can.
func flagError(err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		e := &Error{Key: "--" + name, Problem: "is not a flag", Fix: "see gatehouse --help", literal: true}
		var names []string
		for _, o := range optionList() {
			if o.name != "" {
				names = append(names, o.name)
			}
		}
		if s := suggest(name, names); s != "" {
			e.Fix = fmt.Sprintf("did you mean --%s?", s)
		}
		return e
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		name = strings.TrimLeft(name, "-")
		return &Error{Key: name, Problem: "needs a value", Fix: fmt.Sprintf("write --%s=VALUE", name)}
	}
	return fmt.Errorf("invalid command line: %w", err)
}

// loadFile applies the YAML file at path to opts.
func loadFile(opts *Options, path string) []error {
	data, err := os.ReadFile(path)
	if err != nil {
		return []error{&Error{Key: "config", Problem: fmt.Sprintf("cannot read %q: %s", path, fileErrText(err)),
			Fix: "check the path and the file's permissions"}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file sets nothing
		}
		return []error{&Error{Key: "config", Problem: fmt.Sprintf("%q is not valid YAML: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))}}
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return []error{&Error{Key: "config", Problem: fmt.Sprintf("%q holds more than one YAML document", path),
			Fix: "remove the '---' separators; one file configures one Gatehouse"}}
	}
	d := &yamlDecoder{file: path}
	root := resolveAlias(&doc)
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = resolveAlias(root.Content[0])
	}
	if isNull(root) {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		return []error{&Error{Key: "config", Problem: fmt.Sprintf("%q must be a mapping of option keys to values (%s)", path, d.at(root))}}
	}
	d.options(opts, root)
	return d.errs
}

// fileErrText describes a file error without repeating the path.
func fileErrText(err error) string {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// yamlDecoder applies YAML nodes to Options, collecting every problem.
type yamlDecoder struct {
	file string
	errs []error
}

func (d *yamlDecoder) at(n *yaml.Node) string {
	return fmt.Sprintf("%s line %d", d.file, n.Line)
}

func (d *yamlDecoder) fail(key, problem, fix string, n *yaml.Node) {
	d.errs = append(d.errs, &Error{Key: key, Problem: problem + " (" + d.at(n) + ")", Fix: fix})
}

// unknownKey reports key, which is none of known.
func (d *yamlDecoder) unknownKey(errKey, key string, known []string, n *yaml.Node) {
	fix := "see docs/configuration.md or gatehouse --help for the keys"
	if s := suggest(key, known); s != "" {
		fix = fmt.Sprintf("did you mean %q?", s)
	}
	d.errs = append(d.errs, &Error{Key: errKey, Problem: "is not a known key (" + d.at(n) + ")", Fix: fix, literal: true})
}

// mappingPairs returns the key/value pairs of a mapping, reporting
// duplicate and non-string keys.
func (d *yamlDecoder) mappingPairs(n *yaml.Node, prefix string) [][2]*yaml.Node {
	var pairs [][2]*yaml.Node
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolveAlias(n.Content[i]), resolveAlias(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			d.fail(prefix+"?", "a key must be a plain string", "", k)
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.fail(prefix+k.Value, fmt.Sprintf("is given twice (first on line %d)", line), "keep one", k)
			continue
		}
		seen[k.Value] = k.Line
		pairs = append(pairs, [2]*yaml.Node{k, v})
	}
	return pairs
}

// options applies the top-level mapping to opts.
func (d *yamlDecoder) options(opts *Options, root *yaml.Node) {
	var known []string
	for _, o := range optionList() {
		if o.yamlKey != "" {
			known = append(known, o.yamlKey)
		}
	}
	rv := reflect.ValueOf(opts).Elem()
	seen := map[int]string{} // option index → YAML key it was given under
	for _, kv := range d.mappingPairs(root, "") {
		k, v := kv[0], kv[1]
		o, ok := lookupYAMLOption(k.Value)
		if first, dup := seen[o.index]; ok && dup {
			e := bothSpellings(o, []string{first, k.Value})
			d.fail(e.Key, e.Problem, e.Fix, k)
			continue
		}
		seen[o.index] = k.Value
		if !ok {
			if o, ok := lookupOption(strings.ReplaceAll(k.Value, "_", "-")); ok && o.yamlKey == "" && o.name != "" {
				d.fail(k.Value, "cannot be set in the configuration file", fmt.Sprintf("use --%s", o.name), k)
				continue
			}
			d.unknownKey(k.Value, k.Value, known, k)
			continue
		}
		d.value(v, rv.Field(o.index), o.key())
	}
}

// lookupYAMLOption finds the option whose YAML key (or an alias's) is key.
func lookupYAMLOption(key string) (option, bool) {
	for _, o := range optionList() {
		if o.yamlKey == "" {
			continue
		}
		for _, sp := range o.spellings() {
			if sp.yamlKey == key {
				return o, true
			}
		}
	}
	return option{}, false
}

// value decodes n into v; errKey names v in errors. A null leaves v as is.
func (d *yamlDecoder) value(n *yaml.Node, v reflect.Value, errKey string) {
	n = resolveAlias(n)
	if isNull(n) {
		return
	}
	t := v.Type()
	switch {
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.fail(errKey, "must be a mapping of keys to values", "", n)
			return
		}
		d.structFields(n, v, errKey)

	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		if n.Kind != yaml.SequenceNode {
			d.fail(errKey, "must be a list", "start each entry with '- '", n)
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(item, s.Index(i), fmt.Sprintf("%s[%d]%s", errKey, i, routeLabel(errKey, item)))
		}
		v.Set(s)

	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		var list []string
		switch n.Kind {
		case yaml.ScalarNode:
			list = splitList(n.Value)
		case yaml.SequenceNode:
			for i, item := range n.Content {
				item = resolveAlias(item)
				if item.Kind != yaml.ScalarNode || isNull(item) {
					d.fail(fmt.Sprintf("%s[%d]", errKey, i), "must be a string", "", item)
					continue
				}
				list = append(list, item.Value)
			}
		default:
			d.fail(errKey, "must be a list of strings", "", n)
			return
		}
		v.Set(reflect.ValueOf(list))

	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && t.Elem().Kind() == reflect.String:
		if n.Kind != yaml.MappingNode {
			d.fail(errKey, "must be a mapping of strings to strings", "", n)
			return
		}
		m := reflect.MakeMap(t)
		for _, kv := range d.mappingPairs(n, errKey+".") {
			if kv[1].Kind != yaml.ScalarNode {
				d.fail(errKey+"."+kv[0].Value, "must be a string", "", kv[1])
				continue
			}
			m.SetMapIndex(reflect.ValueOf(kv[0].Value), reflect.ValueOf(kv[1].Value))
		}
		v.Set(m)

	case t.Kind() == reflect.Pointer:
		p := reflect.New(t.Elem())
		d.value(n, p.Elem(), errKey)
		v.Set(p)

	default:
		if n.Kind != yaml.ScalarNode {
			d.fail(errKey, "must be a single value, not a list or mapping", "", n)
			return
		}
		parsed, p := parseScalar(t, n.Value)
		if p != nil {
			d.fail(errKey, p.problem, p.fix, n)
			return
		}
		v.Set(parsed)
	}
}

// structFields decodes a mapping into a struct by its fields' YAML keys
// (see fieldKey).
func (d *yamlDecoder) structFields(n *yaml.Node, v reflect.Value, errKey string) {
	t := v.Type()
	index := map[string]int{}
	var known []string
	for i := range t.NumField() {
		key := fieldKey(t, t.Field(i))
		if key == "" {
			continue
		}
		index[key] = i
		known = append(known, key)
	}
	for _, kv := range d.mappingPairs(n, errKey+".") {
		k := kv[0].Value
		i, ok := index[k]
		if !ok {
			d.unknownKey(errKey+"."+k, k, known, kv[0])
			continue
		}
		d.value(kv[1], v.Field(i), errKey+"."+k)
	}
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null") || n.Kind == 0
}

// yamlKeys lists the keys of a struct decoded from YAML, in field order.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if key := fieldKey(t, t.Field(i)); key != "" {
			keys = append(keys, key)
		}
	}
	return keys
}

// routeLabel is ` ("name")` for an entry of the routes list that has a
// name, so that errors name the route as validation does; "" otherwise.
func routeLabel(listKey string, item *yaml.Node) string {
	item = resolveAlias(item)
	if listKey != "routes" || item.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(item.Content); i += 2 {
		if k, v := item.Content[i], resolveAlias(item.Content[i+1]); k.Value == "name" && v.Kind == yaml.ScalarNode && v.Value != "" {
			return fmt.Sprintf(" (%q)", v.Value)
		}
	}
	return ""
}
