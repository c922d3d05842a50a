// Package sdknames checks that a bridged provider produces the property names the @pulumi/<pkg> npm SDK
// sends and reads: top-level names from <resource>.js (resourceInputs[...]) and nested block names from
// types/input.d.ts and types/output.d.ts. The docker and random plugins' TestNames use it.
package sdknames

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shim "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim"
)

var (
	reInput = regexp.MustCompile(`resourceInputs\["(\w+)"\]`)
	reIface = regexp.MustCompile(`(?m)^\s*export interface (\w+) \{`)
	reProp  = regexp.MustCompile(`(?m)^\s{4,}(\w+)\??: `)
)

// sdkTypes parses interface name -> property names from the SDK's type files.
func sdkTypes(sdkDir string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, f := range []string{"input.d.ts", "output.d.ts"} {
		b, err := os.ReadFile(filepath.Join(sdkDir, "types", f))
		if err != nil {
			continue
		}
		s := string(b)
		locs := reIface.FindAllStringSubmatchIndex(s, -1)
		for i, l := range locs {
			name := s[l[2]:l[3]]
			end := len(s)
			if i+1 < len(locs) {
				end = locs[i+1][0]
			}
			body := s[l[1]:end]
			// The interface ends at the first "}" at its own indentation.
			kw := l[0] + strings.Index(s[l[0]:l[1]], "export")
			indent := s[strings.LastIndex(s[:kw], "\n")+1 : kw]
			if e := strings.Index(body, "\n"+indent+"}"); e >= 0 {
				body = body[:e]
			}
			if out[name] == nil {
				out[name] = map[string]bool{}
			}
			for _, m := range reProp.FindAllStringSubmatch(body, -1) {
				out[name][m[1]] = true
			}
		}
	}
	return out
}

func title(s string) string { r := []rune(s); r[0] = unicode.ToUpper(r[0]); return string(r) }

func diff(a, b map[string]bool) (onlyA []string) {
	for k := range a {
		if !b[k] {
			onlyA = append(onlyA, k)
		}
	}
	sort.Strings(onlyA)
	return onlyA
}

func checkBlock(t *testing.T, types map[string]map[string]bool, removedUpstream map[string]bool, typeName string,
	sch shim.SchemaMap, fields map[string]*tfbridge.SchemaInfo, sdk map[string]bool) {
	bridge := map[string]bool{}
	sch.Range(func(k string, s shim.Schema) bool {
		name := tfbridge.TerraformToPulumiNameV2(k, sch, fields)
		bridge[name] = true
		if r, ok := s.Elem().(shim.Resource); ok {
			var sub map[string]*tfbridge.SchemaInfo
			if fi := fields[k]; fi != nil {
				if fi.Elem != nil {
					sub = fi.Elem.Fields
				} else {
					sub = fi.Fields
				}
			}
			var found string
			for _, cand := range []string{typeName + title(name), typeName + title(strings.TrimSuffix(name, "s")), typeName + title(k)} {
				if types[cand] != nil {
					found = cand
					break
				}
			}
			if found == "" {
				t.Logf("%s.%s: no SDK type found for nested block (tried %s...)", typeName, name, typeName+title(name))
			} else {
				checkBlock(t, types, removedUpstream, found, r.Schema(), sub, types[found])
			}
		}
		return true
	})
	if sdk == nil {
		return
	}
	delete(bridge, "id")
	delete(sdk, "id")
	// Newer upstream attributes the SDK does not know are harmless: it never
	// sends them, and it ignores them in outputs.
	if d := diff(bridge, sdk); len(d) > 0 {
		t.Logf("%s: upstream attributes the SDK lacks (ok): %v", typeName, d)
	}
	// A name the SDK uses that the bridge does not produce is a mismatch,
	// unless upstream dropped that attribute (listed in removedUpstream).
	for _, n := range diff(sdk, bridge) {
		if removedUpstream[typeName+"."+n] {
			t.Logf("%s.%s: attribute dropped upstream (ok unless set)", typeName, n)
			continue
		}
		t.Errorf("%s.%s: used by the SDK, not produced by the bridge", typeName, n)
	}
}

// Check compares every resource of info, and the provider configuration, with the npm SDK in sdkDir
// (node_modules/@pulumi/<pkg>). removedUpstream lists "<Type>.<property>" names the SDK still has but
// the upstream provider dropped.
func Check(t *testing.T, sdkDir string, info tfbridge.ProviderInfo, removedUpstream map[string]bool) {
	t.Helper()
	types := sdkTypes(sdkDir)
	n := 0
	info.P.ResourcesMap().Range(func(tf string, r shim.Resource) bool {
		ri := info.Resources[tf]
		if ri == nil {
			t.Errorf("%s: not mapped", tf)
			return true
		}
		tok := string(ri.Tok)
		typeName := tok[strings.LastIndex(tok, ":")+1:]
		js, err := os.ReadFile(filepath.Join(sdkDir, strings.ToLower(typeName[:1])+typeName[1:]+".js"))
		if err != nil {
			t.Errorf("%s: %v", tok, err)
			return true
		}
		sdk := map[string]bool{}
		for _, m := range reInput.FindAllStringSubmatch(string(js), -1) {
			sdk[m[1]] = true
		}
		checkBlock(t, types, removedUpstream, typeName, r.Schema(), ri.Fields, sdk)
		n++
		return true
	})
	t.Logf("checked %d resources", n)

	// Provider configuration (explicit providers and stack config).
	js, err := os.ReadFile(filepath.Join(sdkDir, "provider.js"))
	if err != nil {
		t.Fatal(err)
	}
	sdk := map[string]bool{}
	for _, m := range reInput.FindAllStringSubmatch(string(js), -1) {
		sdk[m[1]] = true
	}
	checkBlock(t, types, removedUpstream, "Provider", info.P.Schema(), info.Config, sdk)
}
