package config

import (
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
)

// usageIntro is the text before the options in --help.
const usageIntro = `Usage: gatehouse [serve] [flags]

Commands:
  serve      run the gateway (the default command)
  dev        run a self-contained demo on loopback (built-in provider and upstream)
  config     config check: validate the configuration and print it, secrets redacted
  secret     print a new random 32-byte cookie secret (base64)
  sessions   list or revoke a user's sessions (Redis session store)
  version    print the version, commit, build date and Go version (also --version)
  help       describe a command: gatehouse help [COMMAND]

Gatehouse is an authenticating reverse proxy. Every option can be given as a
flag, as a GATEHOUSE_* environment variable, or in the YAML file named by
--config (or GATEHOUSE_CONFIG). Flags override the environment, which
overrides the file, which overrides the defaults. Repeatable options take
the flag several times, a comma-separated variable, or a YAML list.
Boolean flags take their value with '=': --cookie-secure=false.
`

// Usage writes the reference of every option to w, grouped as in Options:
// its flag, environment variable, YAML key, default and help.
// gatehouse --help prints it.
func Usage(w io.Writer) {
	var b strings.Builder
	b.WriteString(usageIntro)
	group := ""
	for _, o := range optionList() {
		if o.group != group {
			group = o.group
			fmt.Fprintf(&b, "\n%s:\n", group)
		}
		if o.name == "" {
			fmt.Fprintf(&b, "  %s (YAML only)\n", o.yamlKey)
			writeWrapped(&b, o.help, "        ")
			b.WriteString("        Keys of each entry:\n")
			writeYAMLKeys(&b, o.typ.Elem(), "          ")
			continue
		}
		head := "  --" + o.name
		if v := valueName(o.typ); v != "" {
			head += " " + v
		}
		if d := defaultText(o); d != "" {
			head += "  (default " + d + ")"
		}
		b.WriteString(head + "\n")
		writeWrapped(&b, o.help, "        ")
		var where []string
		if o.env != "" {
			where = append(where, "env "+o.env)
		}
		if o.yamlKey != "" {
			where = append(where, "yaml "+o.yamlKey)
		}
		if len(where) > 0 {
			b.WriteString("        [" + strings.Join(where, ", ") + "]\n")
		}
		for _, a := range o.aliases {
			fmt.Fprintf(&b, "        also accepted, an older spelling: --%s [env %s, yaml %s]\n", a.name, a.env, a.yamlKey)
		}
	}
	io.WriteString(w, b.String())
}

// writeYAMLKeys lists the keys of a YAML-only struct, nested structs
// indented further.
func writeYAMLKeys(b *strings.Builder, t reflect.Type, indent string) {
	for i := range t.NumField() {
		f := t.Field(i)
		key := fieldKey(t, f)
		if key == "" {
			continue
		}
		fmt.Fprintf(b, "%s%s (%s): %s\n", indent, key, yamlTypeName(f.Type), fieldHelp(t, f))
		if f.Type.Kind() == reflect.Struct {
			writeYAMLKeys(b, f.Type, indent+"  ")
		}
	}
}

// writeWrapped writes text wrapped at about 80 columns after indent.
func writeWrapped(b *strings.Builder, text, indent string) {
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > 80 {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	if len(line) > len(indent) {
		b.WriteString(line + "\n")
	}
}

// valueName is the placeholder of a flag's value in --help.
func valueName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t.Kind() == reflect.Bool:
		return ""
	case t.Kind() == reflect.Int:
		return "int"
	case t.Kind() == reflect.Slice:
		return "value"
	}
	return "string"
}

// yamlTypeName names a field's YAML type in the reference.
func yamlTypeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t.Kind() == reflect.Pointer:
		return yamlTypeName(t.Elem())
	case t.Kind() == reflect.Slice:
		return "list"
	case t.Kind() == reflect.Map:
		return "mapping"
	case t.Kind() == reflect.Struct:
		return "mapping"
	}
	return t.Kind().String()
}

// defaultText renders an option's default for --help, "" when it has none.
func defaultText(o option) string {
	if !o.hasDefault || o.def == "" {
		return ""
	}
	if o.typ.Kind() == reflect.String {
		return strconv.Quote(o.def)
	}
	return o.def
}
