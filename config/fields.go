package config

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/gatehouse-proxy/gatehouse/providers"
)

// envPrefix starts the name of every environment variable Gatehouse reads.
const envPrefix = "GATEHOUSE_"

// option describes one field of Options, as read from its tags.
type option struct {
	index      int    // field index in Options
	name       string // flag name without dashes; "" for YAML-only options
	env        string // environment variable; "" if not settable from the environment
	yamlKey    string // YAML key; "" if not settable in the file
	def        string // default as typed on the command line
	hasDefault bool
	help       string
	group      string
	typ        reflect.Type
	// aliases are older spellings still accepted, each as a flag, an
	// environment variable and a YAML key (the alias tag, comma-separated
	// flag names).
	aliases []spelling
}

// spelling is one way to write an option: its flag name, environment
// variable and YAML key.
type spelling struct {
	name, env, yamlKey string
}

// spellings returns the option's own spelling first, then its aliases.
func (o option) spellings() []spelling {
	return append([]spelling{{o.name, o.env, o.yamlKey}}, o.aliases...)
}

// spellingOf derives the environment variable and YAML key of a flag name.
func spellingOf(flagName string) spelling {
	return spelling{
		name:    flagName,
		env:     envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_")),
		yamlKey: strings.ReplaceAll(flagName, "-", "_"),
	}
}

// key is how errors name the option: its flag name, or its YAML key for
// YAML-only options.
func (o option) key() string {
	if o.name != "" {
		return o.name
	}
	return o.yamlKey
}

var durationType = reflect.TypeFor[time.Duration]()

// optionList returns the options of Options in struct order. It is computed
// once; the result is never modified.
var optionList = sync.OnceValue(func() []option {
	t := reflect.TypeFor[Options]()
	var opts []option
	group := ""
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		flagName, hasFlag := f.Tag.Lookup("flag")
		if !hasFlag {
			continue
		}
		if g, ok := f.Tag.Lookup("group"); ok {
			group = g
		}
		o := option{index: i, help: f.Tag.Get("help"), group: group, typ: f.Type}
		o.def, o.hasDefault = f.Tag.Lookup("default")
		if flagName != "-" {
			sp := spellingOf(flagName)
			o.name, o.env, o.yamlKey = sp.name, sp.env, sp.yamlKey
			if f.Tag.Get("env") == "-" {
				o.env = ""
			}
			for a := range strings.SplitSeq(f.Tag.Get("alias"), ",") {
				if a = strings.TrimSpace(a); a != "" {
					o.aliases = append(o.aliases, spellingOf(a))
				}
			}
		}
		if y, ok := f.Tag.Lookup("yaml"); ok {
			o.yamlKey = y
			if y == "-" {
				o.yamlKey = ""
			}
		}
		opts = append(opts, o)
	}
	return opts
})

// lookupOption finds an option by flag name or YAML key.
func lookupOption(key string) (option, bool) {
	for _, o := range optionList() {
		if key != "" && (o.name == key || o.yamlKey == key) {
			return o, true
		}
	}
	return option{}, false
}

// parseProblem says why a raw value could not be parsed.
type parseProblem struct {
	problem string // e.g. `"abc" is not a duration`
	fix     string
}

// parseScalar converts raw into a value of type t (not a slice). Only
// non-string types can fail, so a secret is never echoed in the problem.
func parseScalar(t reflect.Type, raw string) (reflect.Value, *parseProblem) {
	v := reflect.New(t).Elem()
	switch {
	case t == durationType:
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			return v, &parseProblem{strconv.Quote(raw) + " is not a duration", "write a number with a unit, e.g. 30s, 5m or 168h"}
		}
		v.SetInt(int64(d))
	case t.Kind() == reflect.String:
		v.SetString(raw)
	case t.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return v, &parseProblem{strconv.Quote(raw) + " is not a boolean", "write true or false"}
		}
		v.SetBool(b)
	case t.Kind() == reflect.Int:
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil {
			return v, &parseProblem{strconv.Quote(raw) + " is not a whole number", ""}
		}
		v.SetInt(int64(n))
	default:
		return v, &parseProblem{"has the unsupported type " + t.String(), ""}
	}
	return v, nil
}

// splitList splits a comma-separated list as given in the environment or a
// YAML string, dropping empty items and the spaces around items.
func splitList(raw string) []string {
	var out []string
	for item := range strings.SplitSeq(raw, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// setOption sets field o of opts from raw values: a slice is replaced by
// vals, any other type takes the last one.
func setOption(opts *Options, o option, vals []string) *parseProblem {
	f := reflect.ValueOf(opts).Elem().Field(o.index)
	if o.typ.Kind() == reflect.Slice {
		f.Set(reflect.ValueOf(slices.Clone(vals)))
		return nil
	}
	if len(vals) == 0 {
		return nil
	}
	v, problem := parseScalar(o.typ, vals[len(vals)-1])
	if problem != nil {
		return problem
	}
	f.Set(v)
	return nil
}

// Defaults returns the Options given by the fields' default tags, as if
// Gatehouse were started with no flags, variables or file.
func Defaults() *Options {
	opts := &Options{}
	for _, o := range optionList() {
		if !o.hasDefault || o.def == "" {
			continue
		}
		vals := []string{o.def}
		if o.typ.Kind() == reflect.Slice {
			vals = splitList(o.def)
		}
		if problem := setOption(opts, o, vals); problem != nil {
			// The tags are constants of this package; TestDefaults covers them.
			panic("config: default of --" + o.name + ": " + problem.problem)
		}
	}
	return opts
}

// importedFieldHelp is the help of the fields of structs that config takes
// from other packages (which carry no yaml or help tags), by type and Go
// field name. Their YAML keys are the field names in snake_case.
var importedFieldHelp = map[reflect.Type]map[string]string{
	reflect.TypeFor[providers.ClaimMapping](): {
		"Subject":       "default sub (falls back to id)",
		"Email":         "default email",
		"EmailVerified": "default email_verified",
		"Name":          "default name",
		"Username":      "default preferred_username (falls back to username, login)",
		"Picture":       "default picture",
		"Groups":        "default groups",
	},
}

// fieldKey is the YAML key of a struct field: its yaml tag, or, for the
// untagged fields of imported structs, its name in snake_case; "" when the
// field is not read from YAML.
func fieldKey(t reflect.Type, f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	if tag, ok := f.Tag.Lookup("yaml"); ok {
		key, _, _ := strings.Cut(tag, ",")
		if key == "-" {
			return ""
		}
		return key
	}
	if _, imported := importedFieldHelp[t]; imported {
		return snakeCase(f.Name)
	}
	return ""
}

// fieldHelp is the help text of a struct field: its help tag, or the
// entry in importedFieldHelp.
func fieldHelp(t reflect.Type, f reflect.StructField) string {
	if h, ok := f.Tag.Lookup("help"); ok {
		return h
	}
	return importedFieldHelp[t][f.Name]
}

// snakeCase turns a Go name into a YAML key: EmailVerified → email_verified.
func snakeCase(name string) string {
	var b strings.Builder
	for i, r := range name {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
