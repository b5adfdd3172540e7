package cli

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Flag is one row of a flag table: {name, field path, usage}: the flag's name, the path of the struct field it
// sets ("LR", "Train.LR"; dots step into nested structs, promoted fields of embedded ones are found by name), and
// its usage text. The flag's default is the field's value when Bind is called, so a table bound to a copy of a
// preset shows the preset's values.
type Flag [3]string

// Bind declares each row as a flag that sets the field of *target (a pointer to a struct) that its path names.
// Fields may be of kind string, bool, int, uint64 or float64 (named types of these kinds too) or time.Duration;
// another kind or a path that names no field panics (a mistake in the table, which the help tests catch). The
// path is remembered for FlagFor.
func (c *Command) Bind(target any, rows ...Flag) {
	root := reflect.ValueOf(target).Elem()
	for _, r := range rows {
		v := root
		for _, step := range strings.Split(r[1], ".") {
			if v = v.FieldByName(step); !v.IsValid() {
				panic(fmt.Sprintf("cli: flag --%s: %s has no field %s", r[0], root.Type(), r[1]))
			}
		}
		c.bindValue(r[0], r[1], r[2], v)
		c.fields[r[1]] = r[0]
	}
}

func (c *Command) bindValue(name, field, usage string, v reflect.Value) {
	p, fs := v.Addr(), c.FS
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		fs.DurationVar(p.Interface().(*time.Duration), name, v.Interface().(time.Duration), usage)
		return
	}
	conv := func(t any) any { return p.Convert(reflect.TypeOf(t)).Interface() }
	switch v.Kind() {
	case reflect.String:
		fs.StringVar(conv((*string)(nil)).(*string), name, v.String(), usage)
	case reflect.Bool:
		fs.BoolVar(conv((*bool)(nil)).(*bool), name, v.Bool(), usage)
	case reflect.Int:
		fs.IntVar(conv((*int)(nil)).(*int), name, int(v.Int()), usage)
	case reflect.Uint64:
		fs.Uint64Var(conv((*uint64)(nil)).(*uint64), name, v.Uint(), usage)
	case reflect.Float64:
		fs.Float64Var(conv((*float64)(nil)).(*float64), name, v.Float(), usage)
	default:
		panic(fmt.Sprintf("cli: flag --%s: field %s of kind %s", name, field, v.Kind()))
	}
}

// FlagFor returns "--name" of the flag bound to a field path, or "" when none is.
func (c *Command) FlagFor(path string) string {
	if n, ok := c.fields[path]; ok {
		return "--" + n
	}
	return ""
}

// Require marks flags as required: Parse fails without them, the help says so.
func (c *Command) Require(names ...string) {
	for _, n := range names {
		c.Required[n] = true
	}
}

// OneOf makes Parse refuse a value of the flag that is not one of values ("" among them allows the empty value
// without listing it).
func (c *Command) OneOf(name string, values ...string) {
	c.choices = append(c.choices, choice{name, values})
}

type choice struct {
	name   string
	values []string
}

func (c *Command) checkChoices() error {
	for _, ch := range c.choices {
		v := c.FS.Lookup(ch.name).Value.String()
		if slices.Contains(ch.values, v) {
			continue
		}
		want := slices.DeleteFunc(slices.Clone(ch.values), func(s string) bool { return s == "" })
		list := strings.Join(want[:len(want)-1], ", ") + " or " + want[len(want)-1]
		if len(want) == 1 {
			list = want[0]
		}
		return Usagef("--%s %q: want %s", ch.name, v, list)
	}
	return nil
}

// Positive makes Parse refuse a given value of these (numeric or duration) flags that is not above 0; NonNegative one below 0. The
// library settings they set often read 0 as "the default", which a command-line user should not get by accident.
func (c *Command) Positive(names ...string) { c.addSign(names, 1) }

// NonNegative makes Parse refuse a negative value of these flags.
func (c *Command) NonNegative(names ...string) { c.addSign(names, 0) }

func (c *Command) addSign(names []string, min int) {
	for _, n := range names {
		c.signs = append(c.signs, sign{n, min})
	}
}

type sign struct {
	name string
	min  int // 1: positive; 0: not negative
}

// checkSigns applies Positive and NonNegative.
func (c *Command) checkSigns() error {
	for _, s := range c.signs {
		if !c.Set(s.name) {
			continue // the default is the command's own choice (0 often means "the model's" or "the preset's")
		}
		str := c.FS.Lookup(s.name).Value.String()
		x, err := strconv.ParseFloat(str, 64)
		if d, derr := time.ParseDuration(str); err != nil && derr == nil {
			x, err = float64(d), nil
		}
		switch {
		case err != nil:
			panic(fmt.Sprintf("cli: --%s is not numeric", s.name))
		case s.min == 1 && !(x > 0):
			return Usagef("--%s %s: must be positive", s.name, str)
		case s.min == 0 && !(x >= 0):
			return Usagef("--%s %s: must not be negative", s.name, str)
		}
	}
	return nil
}

// SetDefaults gives the flags in vals that the command line did not set these values instead of their
// declared defaults (e.g. the MS MARCO lengths under --lang en).
func (c *Command) SetDefaults(vals map[string]any) {
	for name, v := range vals {
		if !c.Set(name) {
			if err := c.FS.Set(name, fmt.Sprint(v)); err != nil {
				panic(fmt.Sprintf("cli: default %v of --%s: %v", v, name, err))
			}
		}
	}
}
