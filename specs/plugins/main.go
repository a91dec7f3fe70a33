// pluginhost lists the plugin archives found in a directory.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

func main() {
	dir := "/opt/plugins"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	found, err := filepath.Glob(filepath.Join(dir, "*.tgz"))
	if err != nil || len(found) == 0 {
		fmt.Fprintln(os.Stderr, "no plugins in", dir)
		os.Exit(1)
	}
	sort.Strings(found)
	for _, f := range found {
		fmt.Println("plugin:", filepath.Base(f))
	}
}
