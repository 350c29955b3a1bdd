//go:build ignore

// apicount counts the exported names of Go packages the way CHANGELOG.md
// counts them: each func, each method of an exported type, each exported
// type, and each name of an exported const or var, as `go doc -all` lists
// them (test files and files excluded by build constraints are not read).
// Exported struct fields and interface methods are reported apart, as they
// are not in the count.
//
//	go run .ci/apicount.go . ./bus ./handlers ./lifecycle ./metrics ./fxtest ./natsbridge ./otelfxbus
//
// With -v it also lists the names.
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/build"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
)

type count struct {
	pkg     string
	names   []string
	fields  []string
	imethod []string
}

func main() {
	verbose := flag.Bool("v", false, "list the names")
	flag.Parse()
	dirs := flag.Args()
	if len(dirs) == 0 {
		dirs = []string{"."}
	}
	total, totalFields := 0, 0
	fmt.Printf("%-14s %6s %7s %9s\n", "package", "names", "fields", "ifmethods")
	for _, dir := range dirs {
		c, err := countDir(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "apicount:", err)
			os.Exit(1)
		}
		fmt.Printf("%-14s %6d %7d %9d\n", c.pkg, len(c.names), len(c.fields), len(c.imethod))
		if *verbose {
			for _, n := range c.names {
				fmt.Println("    ", n)
			}
			for _, n := range c.fields {
				fmt.Println("     field", n)
			}
			for _, n := range c.imethod {
				fmt.Println("     interface method", n)
			}
		}
		total += len(c.names)
		totalFields += len(c.fields)
	}
	fmt.Printf("%-14s %6d %7d\n", "total", total, totalFields)
}

func countDir(dir string) (count, error) {
	bp, err := build.ImportDir(dir, 0)
	if err != nil {
		return count{}, err
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, name := range bp.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
		if err != nil {
			return count{}, err
		}
		files = append(files, f)
	}
	p, err := doc.NewFromFiles(fset, files, bp.ImportPath)
	if err != nil {
		return count{}, err
	}
	c := count{pkg: p.Name}
	if dir == "." || dir == "./" {
		c.pkg = "root (" + p.Name + ")"
	}
	addValues := func(vs []*doc.Value) {
		for _, v := range vs {
			for _, n := range v.Names {
				if ast.IsExported(n) {
					c.names = append(c.names, n)
				}
			}
		}
	}
	addFuncs := func(prefix string, fs []*doc.Func) {
		for _, f := range fs {
			if ast.IsExported(f.Name) {
				c.names = append(c.names, prefix+f.Name)
			}
		}
	}
	addValues(p.Consts)
	addValues(p.Vars)
	addFuncs("", p.Funcs)
	for _, t := range p.Types {
		c.names = append(c.names, "type "+t.Name)
		addValues(t.Consts)
		addValues(t.Vars)
		addFuncs("", t.Funcs)
		addFuncs(t.Name+".", t.Methods)
		c.addMembers(t)
	}
	sort.Strings(c.names)
	return c, nil
}

// addMembers records the exported fields of struct type t and the methods
// of interface type t.
func (c *count) addMembers(t *doc.Type) {
	for _, spec := range t.Decl.Specs {
		ts, ok := spec.(*ast.TypeSpec)
		if !ok {
			continue
		}
		switch x := ts.Type.(type) {
		case *ast.StructType:
			c.fields = append(c.fields, exported(t.Name, x.Fields)...)
		case *ast.InterfaceType:
			c.imethod = append(c.imethod, exported(t.Name, x.Methods)...)
		}
	}
}

// exported returns the exported names in fl, prefixed with typ.
func exported(typ string, fl *ast.FieldList) []string {
	var names []string
	for _, f := range fl.List {
		for _, n := range f.Names {
			if ast.IsExported(n.Name) {
				names = append(names, typ+"."+n.Name)
			}
		}
	}
	return names
}
