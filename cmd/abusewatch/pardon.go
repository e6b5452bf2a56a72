package main

import "io"

// pardonCommand is `abusewatch pardon ADDR|CIDR`: exclude, and also forget the network's
// incidents and reject its reports not sent yet (a mistake, a partner's scanner).
type pardonCommand struct {
	excludeCommand
}

func newPardonCommand(stdout, stderr io.Writer) *pardonCommand {
	return &pardonCommand{excludeCommand{stdout: stdout, stderr: stderr, pardon: true}}
}

func (c *pardonCommand) Synopsis() string {
	return "forget an address's or network's incidents, reject its unsent reports, never report it"
}
