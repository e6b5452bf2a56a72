package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
)

// completionCommand is `abusewatch completion SHELL`: completions for bash, zsh and fish,
// generated from the commands' flags.
type completionCommand struct {
	stdout, stderr io.Writer
}

func (c *completionCommand) Name() string { return "completion" }
func (c *completionCommand) Synopsis() string {
	return "print shell completions: bash, zsh or fish (e.g. abusewatch completion bash > /etc/bash_completion.d/abusewatch)"
}

func (c *completionCommand) Run(ctx context.Context, args []string) error {
	fs := newFlagSet(c.Name(), "bash|zsh|fish", c.stdout, c.stderr)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return &usageError{"name a shell: bash, zsh or fish"}
	}
	docs := commandDocs(ctx)
	var names []string
	for _, d := range docs {
		names = append(names, d.name)
	}
	wordsOf := func(d commandDoc) string {
		words := slices.Clone(d.subcommands)
		for _, f := range d.flags {
			words = append(words, "--"+f.Name)
		}
		return strings.Join(words, " ")
	}
	w := c.stdout
	switch rest[0] {
	case "bash", "zsh":
		if rest[0] == "zsh" {
			fmt.Fprintln(w, "autoload -U +X bashcompinit && bashcompinit")
		}
		fmt.Fprintf(w, "_abusewatch() {\n  local cur=\"${COMP_WORDS[COMP_CWORD]}\"\n  if [ \"$COMP_CWORD\" -eq 1 ]; then\n")
		fmt.Fprintf(w, "    COMPREPLY=($(compgen -W %q -- \"$cur\"))\n    return\n  fi\n  case \"${COMP_WORDS[1]}\" in\n", strings.Join(names, " "))
		for _, d := range docs {
			fmt.Fprintf(w, "    %s) COMPREPLY=($(compgen -W %q -- \"$cur\") $(compgen -f -- \"$cur\")) ;;\n", d.name, wordsOf(d))
		}
		fmt.Fprintf(w, "  esac\n}\ncomplete -F _abusewatch abusewatch\n")
	case "fish":
		fmt.Fprintln(w, "complete -c abusewatch -f")
		for _, d := range docs {
			fmt.Fprintf(w, "complete -c abusewatch -n __fish_use_subcommand -a %s -d %q\n", d.name, d.synopsis)
			if len(d.subcommands) > 0 {
				fmt.Fprintf(w, "complete -c abusewatch -n '__fish_seen_subcommand_from %s' -a %q\n", d.name, strings.Join(d.subcommands, " "))
			}
			for _, f := range d.flags {
				_, text := flagUsage(f)
				fmt.Fprintf(w, "complete -c abusewatch -n '__fish_seen_subcommand_from %s' -l %s -d %q\n", d.name, f.Name, text)
			}
		}
	default:
		return &usageError{fmt.Sprintf("no completions for %q: use bash, zsh or fish", rest[0])}
	}
	return nil
}
