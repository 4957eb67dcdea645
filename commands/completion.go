package commands

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"
)

// CompletionCmd prints a shell completion script generated from the command line model.
type CompletionCmd struct {
	Shell string `arg:"" optional:"" enum:"bash,zsh,fish," default:"" help:"Shell: bash, zsh or fish."`
	Sites bool   `hidden:"" help:"Print the configured site names (used by the scripts)."`
}

// Help is shown under the subcommand's usage.
func (c *CompletionCmd) Help() string {
	return `Prints a completion script for the shell on stdout. Install it where the shell
looks for completions, for example:

    nxmit completion bash > /etc/bash_completion.d/nxmit
    nxmit completion zsh  > /usr/local/share/zsh/site-functions/_nxmit
    nxmit completion fish > /etc/fish/completions/nxmit.fish

The scripts complete subcommands, flags, flag values (enumerations, files) and site
names (from nxmit.conf). The same scripts are in the source tree's completions/.`
}

// Run prints the script.
func (c *CompletionCmd) Run(g *Globals) error {
	if c.Sites {
		conf, err := g.SiteConfig()
		if err != nil {
			return nil // completion must stay quiet
		}
		for _, s := range conf.SiteNames() {
			fmt.Println(s)
		}
		return nil
	}
	if c.Shell == "" {
		return usagef("completion: name a shell: bash, zsh or fish")
	}
	return GenerateCompletion(os.Stdout, c.Shell)
}

// GenerateCompletion writes the completion script for shell ("bash", "zsh" or "fish"),
// generated from nxmit's kong model, to w.
func GenerateCompletion(w io.Writer, shell string) error {
	m, err := completionModel()
	if err != nil {
		return err
	}
	var s string
	switch shell {
	case "bash":
		s = m.bash()
	case "zsh":
		s = m.zsh()
	case "fish":
		s = m.fish()
	default:
		return usagef("completion: unknown shell %q (bash, zsh or fish)", shell)
	}
	_, err = io.WriteString(w, s)
	return err
}

// compModel is the part of the kong model the scripts need.
type compModel struct {
	globals  []compFlag
	commands []compCommand
}

type compCommand struct {
	name, help  string
	flags       []compFlag
	args        []compArg // the positionals in order
	passthrough bool      // raw arguments (innxmit)
}

// compArg is a positional: a site name, a file or one of enum; many when it takes the
// rest of the words.
type compArg struct {
	kind string // "site", "file" or "enum"
	enum []string
	many bool
}

// at returns the positional the n-th (from 0) positional word fills, if any.
func (c compCommand) at(n int) (compArg, bool) {
	for i, a := range c.args {
		if i == n || a.many && i <= n {
			return a, true
		}
	}
	return compArg{}, false
}

// valueFlags returns the names of the flags of c (and the globals) that take a value:
// the words after them are not positionals.
func (m *compModel) valueFlags(c compCommand) []string {
	var out []string
	for _, f := range append(append([]compFlag{}, m.globals...), c.flags...) {
		if f.value {
			out = append(out, f.names()...)
		}
	}
	return out
}

// siteSources are the flags that tell where the site names are: the scripts pass them
// on to "nxmit completion --sites".
var siteSources = []string{"--config", "--innconf"}

type compFlag struct {
	long  string
	short rune
	help  string
	value bool     // takes a value
	enum  []string // its values, when enumerated
	path  bool     // a file name
}

func completionModel() (*compModel, error) {
	var cli CLI
	parser, err := kong.New(&cli, KongOptions()...)
	if err != nil {
		return nil, err
	}
	app := parser.Model.Node
	m := &compModel{globals: compFlags(app.Flags)}
	m.globals = append([]compFlag{{long: "help", short: 'h', help: "Show context-sensitive help."}}, m.globals...)
	for _, n := range app.Children {
		if n.Hidden || n.Type != kong.CommandNode {
			continue
		}
		c := compCommand{name: n.Name, help: n.Help, flags: compFlags(n.Flags), passthrough: n.Passthrough}
		for _, p := range n.Positional {
			if p.PassthroughMode != kong.PassThroughModeNone || p.Passthrough {
				c.passthrough = true
			}
			a := compArg{kind: "file", many: p.IsSlice()}
			switch enum := nonEmpty(p.EnumSlice()); {
			case p.Name == "site":
				a.kind = "site"
			case len(enum) > 0:
				a.kind, a.enum = "enum", enum
			}
			c.args = append(c.args, a)
		}
		m.commands = append(m.commands, c)
	}
	return m, nil
}

func compFlags(flags []*kong.Flag) []compFlag {
	var out []compFlag
	for _, f := range flags {
		if f.Hidden || f.Name == "help" {
			continue
		}
		cf := compFlag{long: f.Name, short: f.Short, help: firstSentence(f.Help), value: !f.IsBool() && !f.IsCounter()}
		cf.enum = nonEmpty(f.EnumSlice())
		if f.Tag != nil && (f.Tag.Type == "path" || f.Tag.Type == "existingfile") {
			cf.path = true
		}
		out = append(out, cf)
		if f.Tag != nil && f.Tag.Negatable != "" {
			// kong's negatable booleans: --no-NAME, or the name the tag gives.
			neg := "no-" + f.Name
			if f.Tag.Negatable != "_" {
				neg = f.Tag.Negatable
			}
			out = append(out, compFlag{long: neg, help: "Turn off --" + f.Name})
		}
	}
	return out
}

func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// firstSentence keeps flag help short enough for a completion menu: the first
// sentence, without parenthesized remarks.
func firstSentence(s string) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteByte(c)
		}
	}
	s = strings.Join(strings.Fields(b.String()), " ")
	s = strings.ReplaceAll(s, " ,", ",")
	s = strings.ReplaceAll(s, " .", ".")
	if i := strings.Index(s, ". "); i > 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, ".")
}

func (f compFlag) names() []string {
	n := []string{"--" + f.long}
	if f.short != 0 {
		n = append(n, "-"+string(f.short))
	}
	return n
}

const generatedNote = "Generated by \"nxmit completion %s\" from nxmit's command line; do not edit."

// bash writes a script for bash (with or without the bash-completion package).
func (m *compModel) bash() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# bash completion for nxmit\n# "+generatedNote+"\n\n", "bash")
	var cmds, globalWords, globalValues []string
	for _, c := range m.commands {
		cmds = append(cmds, c.name)
	}
	for _, f := range m.globals {
		globalWords = append(globalWords, f.names()...)
		if f.value {
			globalValues = append(globalValues, f.names()...)
		}
	}
	p("_nxmit_values() {\n")
	p("    # Completes the value of flag $1 into COMPREPLY; returns 1 when $1 takes none.\n")
	p("    case $1 in\n")
	seen := map[string]bool{}
	valueCase := func(f compFlag) {
		key := strings.Join(f.names(), "|")
		if seen[key] || !f.value {
			return
		}
		seen[key] = true
		switch {
		case len(f.enum) > 0:
			p("        %s) COMPREPLY=($(compgen -W %s -- \"$cur\")) ;;\n", key, shellQuote(strings.Join(f.enum, " ")))
		case f.path:
			p("        %s) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n", key)
		default:
			p("        %s) COMPREPLY=() ;;\n", key)
		}
	}
	for _, f := range m.globals {
		valueCase(f)
	}
	for _, c := range m.commands {
		for _, f := range c.flags {
			valueCase(f)
		}
	}
	p("        *) return 1 ;;\n    esac\n    return 0\n}\n\n")
	p("_nxmit_sites() {\n")
	p("    # The configured sites, from the nxmit.conf the command line names.\n")
	p("    local -a opts=()\n    local i\n")
	p("    for ((i = 1; i < COMP_CWORD; i++)); do\n")
	p("        case ${COMP_WORDS[i]} in\n")
	p("            %s)\n", strings.Join(siteSources, "|"))
	p("                if [[ ${COMP_WORDS[i+1]} == = ]]; then opts+=(\"${COMP_WORDS[i]}=${COMP_WORDS[i+2]}\")\n")
	p("                else opts+=(\"${COMP_WORDS[i]}=${COMP_WORDS[i+1]}\"); fi ;;\n")
	p("        esac\n    done\n")
	p("    COMPREPLY=($(compgen -W \"$(nxmit \"${opts[@]}\" completion --sites 2>/dev/null)\" -- \"$cur\"))\n}\n\n")
	p("_nxmit() {\n")
	p("    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n")
	p("    local cmd= i w n=0\n")
	p("    for ((i = 1; i < COMP_CWORD; i++)); do\n")
	p("        w=${COMP_WORDS[i]}\n")
	p("        case $w in\n")
	if len(globalValues) > 0 {
		p("            %s) [[ ${COMP_WORDS[i+1]} == = ]] && ((i++)); ((i++)) ;;\n", strings.Join(globalValues, "|"))
	}
	p("            -*) ;;\n")
	p("            *) cmd=$w; break ;;\n")
	p("        esac\n    done\n")
	p("    # n counts the positionals after the command, the flags' values left out.\n")
	p("    for ((i++; i < COMP_CWORD; i++)); do\n")
	p("        w=${COMP_WORDS[i]}\n")
	p("        case $cmd:$w in\n")
	for _, c := range m.commands {
		if vf := m.valueFlags(c); len(vf) > 0 && !c.passthrough {
			var pats []string
			for _, f := range vf {
				pats = append(pats, c.name+":"+f)
			}
			p("            %s) [[ ${COMP_WORDS[i+1]} == = ]] && ((i++)); ((i++)) ;;\n", strings.Join(pats, "|"))
		}
	}
	p("            *:-*) ;;\n")
	p("            *) ((n++)) ;;\n")
	p("        esac\n    done\n")
	p("    if [[ $cur == -* ]]; then\n")
	p("        local flags=%s\n", shellQuote(strings.Join(globalWords, " ")))
	p("        case $cmd in\n")
	for _, c := range m.commands {
		var words []string
		for _, f := range c.flags {
			words = append(words, f.names()...)
		}
		if len(words) > 0 && !c.passthrough {
			p("            %s) flags+=%s ;;\n", c.name, shellQuote(" "+strings.Join(words, " ")))
		}
	}
	p("        esac\n")
	p("        [[ $cmd == innxmit ]] && flags=\"-a -c -d -l -p -r -s -v -P -T -t\"\n")
	p("        COMPREPLY=($(compgen -W \"$flags\" -- \"$cur\"))\n        return\n    fi\n")
	p("    [[ $cmd != innxmit ]] && _nxmit_values \"$prev\" && return\n")
	p("    case $cmd in\n")
	p("        \"\") COMPREPLY=($(compgen -W %s -- \"$cur\")) ;;\n", shellQuote(strings.Join(cmds, " ")))
	for _, c := range m.commands {
		if c.passthrough {
			p("        %s) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n", c.name)
			continue
		}
		if len(c.args) == 0 {
			continue
		}
		p("        %s)\n            case $n in\n", c.name)
		for i, a := range c.args {
			pat := strconv.Itoa(i)
			if a.many {
				pat = "*"
			}
			switch a.kind {
			case "site":
				p("                %s) _nxmit_sites ;;\n", pat)
			case "enum":
				p("                %s) COMPREPLY=($(compgen -W %s -- \"$cur\")) ;;\n", pat, shellQuote(strings.Join(a.enum, " ")))
			default:
				p("                %s) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n", pat)
			}
			if a.many {
				break
			}
		}
		p("            esac ;;\n")
	}
	p("    esac\n}\n\ncomplete -F _nxmit nxmit\n")
	return b.String()
}

// zsh writes a #compdef script.
func (m *compModel) zsh() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("#compdef nxmit\n# "+generatedNote+"\n\n", "zsh")
	p("_nxmit_sites() {\n")
	p("    # The configured sites, from the nxmit.conf the command line names.\n")
	p("    local -a sites opts all=(${(Q)${(z)BUFFER}})\n    local i\n")
	p("    for ((i = 1; i < $#all; i++)); do\n")
	p("        case $all[i] in\n")
	p("        %s) opts+=(\"$all[i]=$all[i+1]\") ;;\n", strings.Join(siteSources, "|"))
	p("        %s) opts+=(\"$all[i]\") ;;\n", strings.Join(siteSources, "=*|")+"=*")
	p("        esac\n    done\n")
	p("    sites=(${(f)\"$(nxmit $opts completion --sites 2>/dev/null)\"})\n    _describe -t sites site sites\n}\n\n")
	p("_nxmit() {\n    local curcontext=$curcontext state line ret=1\n    typeset -A opt_args\n")
	p("    local -a globals=(\n")
	for _, f := range m.globals {
		for _, s := range zshSpecs(f) {
			p("        %s\n", s)
		}
	}
	p("    )\n")
	p("    _arguments -C $globals ': :->command' '*:: :->args' && ret=0\n")
	p("    case $state in\n    command)\n        local -a commands=(\n")
	for _, c := range m.commands {
		p("            %s\n", zshQuote(c.name+":"+strings.ReplaceAll(c.help, ":", `\:`)))
	}
	p("        )\n        _describe -t commands command commands && ret=0\n        ;;\n")
	p("    args)\n        case $line[1] in\n")
	for _, c := range m.commands {
		p("        %s)\n            _arguments $globals \\\n", c.name)
		if c.passthrough {
			p("                '*::innxmit argument:_files' && ret=0\n            ;;\n")
			continue
		}
		for _, f := range c.flags {
			for _, s := range zshSpecs(f) {
				p("                %s \\\n", s)
			}
		}
		for _, a := range c.args {
			spec := ":"
			if a.many {
				spec = "*:"
			}
			switch a.kind {
			case "site":
				spec += "site:_nxmit_sites"
			case "enum":
				spec += "argument:(" + strings.Join(a.enum, " ") + ")"
			default:
				spec += "file:_files"
			}
			p("                %s \\\n", zshQuote(spec))
		}
		p("                && ret=0\n            ;;\n")
	}
	p("        esac\n        ;;\n    esac\n    return ret\n}\n\n_nxmit \"$@\"\n")
	return b.String()
}

// zshSpecs returns the _arguments specs of a flag, one per name.
func zshSpecs(f compFlag) []string {
	help := zshEscape(f.help)
	action := ""
	if f.value {
		switch {
		case len(f.enum) > 0:
			action = ":" + f.long + ":(" + strings.Join(f.enum, " ") + ")"
		case f.path:
			action = ":" + f.long + ":_files"
		default:
			action = ":" + f.long + ": "
		}
	}
	var out []string
	long := "--" + f.long
	if f.value {
		long += "="
	}
	out = append(out, zshQuote(long+"["+help+"]"+action))
	if f.short != 0 {
		short := "-" + string(f.short)
		if f.value {
			short += "+"
		}
		out = append(out, zshQuote(short+"["+help+"]"+action))
	}
	return out
}

func zshEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`, `:`, `\:`)
	return r.Replace(s)
}

func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// fish writes complete commands for fish.
func (m *compModel) fish() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# fish completion for nxmit\n# "+generatedNote+"\n\n", "fish")
	p("function __nxmit_sites\n")
	p("    # The configured sites, from the nxmit.conf the command line names.\n")
	p("    set -l opts\n    set -l toks (commandline -opc)\n")
	p("    for i in (seq (count $toks))\n")
	p("        switch $toks[$i]\n")
	p("            case %s\n", strings.Join(siteSources, " "))
	p("                set -q toks[(math $i + 1)]; and set -a opts $toks[$i]=$toks[(math $i + 1)]\n")
	p("            case %s\n", "'"+strings.Join(siteSources, "=*' '")+"=*'")
	p("                set -a opts $toks[$i]\n")
	p("        end\n    end\n")
	p("    nxmit $opts completion --sites 2>/dev/null\nend\n\n")
	p("function __nxmit_arg\n")
	p("    # Whether the word being completed is positional $argv[1] of the command (from\n")
	p("    # 0; N+ is N or later). The values of the flags named after it are not\n")
	p("    # positionals; n starts at -1 to count the command's own word.\n")
	p("    set -l toks (commandline -opc)\n    set -l n -1\n    set -l skip 0\n")
	p("    for t in $toks[2..-1]\n")
	p("        if test $skip = 1\n            set skip 0\n        else if contains -- $t $argv[2..-1]\n            set skip 1\n")
	p("        else if not string match -q -- '-*' $t\n            set n (math $n + 1)\n        end\n    end\n")
	p("    test $n -ge 0; or return 1\n")
	p("    if string match -q -- '*+' $argv[1]\n        test $n -ge (string trim -r -c + -- $argv[1])\n    else\n        test $n = $argv[1]\n    end\nend\n\n")
	p("complete -c nxmit -f\n")
	for _, f := range m.globals {
		p("complete -c nxmit%s\n", fishFlag(f))
	}
	for _, c := range m.commands {
		p("complete -c nxmit -n __fish_use_subcommand -a %s -d %s\n", c.name, fishQuote(c.help))
	}
	for _, c := range m.commands {
		cond := fmt.Sprintf(" -n '__fish_seen_subcommand_from %s'", c.name)
		for _, f := range c.flags {
			p("complete -c nxmit%s%s\n", cond, fishFlag(f))
		}
		if c.passthrough {
			p("complete -c nxmit%s -F\n", cond)
			continue
		}
		vf := strings.Join(m.valueFlags(c), " ")
		for i, a := range c.args {
			pos := strconv.Itoa(i)
			if a.many {
				pos += "+"
			}
			acond := fmt.Sprintf(" -n '__fish_seen_subcommand_from %s; and __nxmit_arg %s %s'", c.name, pos, vf)
			switch a.kind {
			case "site":
				p("complete -c nxmit%s -a '(__nxmit_sites)'\n", acond)
			case "enum":
				p("complete -c nxmit%s -a %s\n", acond, fishQuote(strings.Join(a.enum, " ")))
			default:
				p("complete -c nxmit%s -F\n", acond)
			}
			if a.many {
				break
			}
		}
	}
	return b.String()
}

func fishFlag(f compFlag) string {
	s := " -l " + f.long
	if f.short != 0 {
		s += " -s " + string(f.short)
	}
	switch {
	case len(f.enum) > 0:
		s += " -x -a " + fishQuote(strings.Join(f.enum, " "))
	case f.path:
		s += " -r -F"
	case f.value:
		s += " -x"
	}
	return s + " -d " + fishQuote(f.help)
}

func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
