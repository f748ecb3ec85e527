package main

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/udtgo/udt"
)

// reportFirewall writes what the firewall in front of UDT did in this
// process (docs/security.md): one JSON document {"firewall": ...} with
// asJSON, else a line naming every rule that acted.
func reportFirewall(w io.Writer, who string, asJSON bool) {
	st := udt.ReadFirewallStats()
	if asJSON {
		b, _ := json.Marshal(map[string]any{"firewall": st, "poller": udt.ReadPollerStats()})
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	var acted []string
	v, t := reflect.ValueOf(st), reflect.TypeOf(st)
	for i := range t.NumField() {
		if name := t.Field(i).Tag.Get("json"); name != "checked" && v.Field(i).Uint() > 0 {
			acted = append(acted, fmt.Sprintf("%s %d", name, v.Field(i).Uint()))
		}
	}
	line := fmt.Sprintf("%s: firewall: %d packets checked, %d dropped", who, st.Checked, st.Dropped())
	if len(acted) > 0 {
		line += " (" + strings.Join(acted, ", ") + ")"
	}
	fmt.Fprintln(w, line)
}
