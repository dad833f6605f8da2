//! The floor plan of src/: no module imports another that (directly or through others) imports
//! it back, and no source file grows past 800 lines. A module is a file; a directory's `mod.rs`
//! is the directory's own module. Paths are read from the source text (`crate::`, `super::`,
//! `self::` and, in `use`, a child module's name), so the test needs no compiler plugin.
//! A re-export (`pub use child::Item`, `pub use child::*`) is followed to the module that
//! defines the item, so a facade `mod.rs` is not a cycle by itself.

// A failed assumption in a test is a failed test: unwrap, expect and panic say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 800;

/// One source file: its module path (`["ui", "app"]`), its text without comments and strings.
struct File {
    rel: String,
    module: Vec<String>,
    code: String,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module a file is: src/ui/app.rs -> ui::app, src/ui/mod.rs -> ui, src/lib.rs -> crate root.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

/// Comments, string and char literals blanked out (newlines kept, for line numbers).
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |c: u8, out: &mut String| out.push(if c == b'\n' { '\n' } else { ' ' });
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                out.push(' ');
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(b[i], &mut out);
                    i += 1;
                }
            }
        } else if b[i] == b'r' && matches!(b.get(i + 1), Some(b'"') | Some(b'#')) && {
            // raw string r"..." / r#"..."#, not an identifier ending in r
            let prev_ident = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
            let mut j = i + 1;
            while b.get(j) == Some(&b'#') {
                j += 1;
            }
            !prev_ident && b.get(j) == Some(&b'"')
        } {
            let mut hashes = 0;
            i += 1;
            out.push(' ');
            while b[i] == b'#' {
                hashes += 1;
                i += 1;
                out.push(' ');
            }
            i += 1; // opening quote
            out.push(' ');
            while i < b.len() {
                if b[i] == b'"' && (0..hashes).all(|k| b.get(i + 1 + k) == Some(&b'#')) {
                    for _ in 0..=hashes {
                        out.push(' ');
                    }
                    i += 1 + hashes;
                    break;
                }
                blank(b[i], &mut out);
                i += 1;
            }
        } else if b[i] == b'"' {
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    blank(b[i], &mut out);
                    i += 1;
                }
                if i < b.len() {
                    blank(b[i], &mut out);
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if b[i] == b'\'' && (b.get(i + 2) == Some(&b'\'') || (b.get(i + 1) == Some(&b'\\')))
        {
            // a char literal ('x', '\n', '\u{1b}'); a lifetime ('a) has no closing quote
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                if b[i] == b'\\' {
                    out.push(' ');
                    i += 1;
                }
                out.push(' ');
                i += 1;
            }
            out.push(' ');
            i += 1;
        } else {
            // keep multi-byte UTF-8 intact
            let ch = src[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A tiny tokenizer: identifiers, `::` and single punctuation characters, with byte offsets.
fn tokens(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut it = code.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c.is_whitespace() {
            continue;
        }
        if is_ident(c) {
            let mut s = String::from(c);
            while let Some(&(_, d)) = it.peek() {
                if !is_ident(d) {
                    break;
                }
                s.push(d);
                it.next();
            }
            out.push((i, s));
        } else if c == ':' && it.peek().map(|p| p.1) == Some(':') {
            it.next();
            out.push((i, "::".into()));
        } else {
            out.push((i, c.to_string()));
        }
    }
    out
}

/// Leaf paths of a use tree starting at `toks[*i]` (`a::b::{c, d::e as f, *}`).
fn use_tree(
    toks: &[(usize, String)],
    i: &mut usize,
    prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) {
    let mut path = prefix;
    while let Some((_, t)) = toks.get(*i) {
        if t == "{" {
            *i += 1;
            loop {
                match toks.get(*i).map(|t| t.1.as_str()) {
                    Some("}") => {
                        *i += 1;
                        break;
                    }
                    Some(",") => *i += 1,
                    None => return,
                    _ => use_tree(toks, i, path.clone(), out),
                }
            }
            return;
        }
        if t == "*" {
            *i += 1;
            path.push("*".into());
            break;
        }
        if !t.chars().all(is_ident) {
            break;
        }
        path.push(t.clone());
        *i += 1;
        if toks.get(*i).map(|t| t.1.as_str()) == Some("as") {
            *i += 2;
            break;
        }
        if toks.get(*i).map(|t| t.1.as_str()) == Some("::") {
            *i += 1;
            continue;
        }
        break;
    }
    out.push(path);
}

/// What one file refers to: (line, absolute path from the crate root, is a `pub use`).
fn references(file: &File, children: &BTreeSet<String>) -> Vec<(usize, Vec<String>, bool)> {
    let toks = tokens(&file.code);
    let line_of = |off: usize| file.code[..off].matches('\n').count() + 1;
    let mut out = Vec::new();
    // Inline `mod name { ... }` blocks: `super` inside them means the file's module first.
    let mut depth = 0usize;
    let mut inline_mods: Vec<usize> = Vec::new();
    let mut pending_mod = false;
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i].1.as_str();
        match t {
            "{" => {
                depth += 1;
                if pending_mod {
                    inline_mods.push(depth);
                    pending_mod = false;
                }
                i += 1;
                continue;
            }
            "}" => {
                if inline_mods.last() == Some(&depth) {
                    inline_mods.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
                continue;
            }
            "mod" if toks.get(i + 2).map(|t| t.1.as_str()) == Some("{") => {
                pending_mod = true;
                i += 1;
                continue;
            }
            _ => {}
        }
        let base = |first: &str| -> Option<Vec<String>> {
            match first {
                "crate" => Some(Vec::new()),
                "self" if inline_mods.is_empty() => Some(file.module.clone()),
                "super" => {
                    if inline_mods.is_empty() {
                        let mut m = file.module.clone();
                        m.pop();
                        Some(m)
                    } else {
                        // `super` from an inline module (tests) is this file's module
                        Some(file.module.clone())
                    }
                }
                _ => None,
            }
        };
        let line = line_of(toks[i].0);
        if t == "use" {
            let is_pub = i > 0 && toks[i - 1].1 == "pub"
                || (i > 3 && toks[i - 1].1 == ")" && toks[i - 4].1 == "pub");
            let mut j = i + 1;
            let mut leaves = Vec::new();
            use_tree(&toks, &mut j, Vec::new(), &mut leaves);
            for leaf in leaves {
                let Some(first) = leaf.first() else { continue };
                let mut abs = if let Some(b) = base(first) {
                    b
                } else if inline_mods.is_empty() && children.contains(first) {
                    // 2018-style `use child::Item` from the parent
                    let mut b = file.module.clone();
                    b.push(first.clone());
                    b.extend(leaf[1..].iter().cloned());
                    out.push((line, b, is_pub));
                    continue;
                } else {
                    continue;
                };
                let mut rest = &leaf[1..];
                // `super::super::x`
                while rest.first().map(String::as_str) == Some("super") {
                    abs.pop();
                    rest = &rest[1..];
                }
                abs.extend(rest.iter().cloned());
                out.push((line, abs, is_pub));
            }
            i = j;
            continue;
        }
        let child = inline_mods.is_empty() && children.contains(t);
        if (t == "crate" || t == "super" || t == "self" || child)
            && toks.get(i + 1).map(|t| t.1.as_str()) == Some("::")
            && !(i > 0 && (toks[i - 1].1 == "::" || toks[i - 1].1 == "."))
        {
            // `child::f()` in a parent's code is a path from the parent
            let mut abs = if child {
                let mut b = file.module.clone();
                b.push(t.to_string());
                b
            } else {
                base(t).unwrap_or_default()
            };
            if t == "self" && !inline_mods.is_empty() {
                i += 1;
                continue;
            }
            let mut j = i + 2;
            while let Some((_, s)) = toks.get(j) {
                if s == "super" {
                    abs.pop();
                } else if s.chars().all(is_ident) {
                    abs.push(s.clone());
                } else {
                    break;
                }
                if toks.get(j + 1).map(|t| t.1.as_str()) != Some("::") {
                    break;
                }
                j += 2;
            }
            out.push((line, abs, false));
            i = j;
            continue;
        }
        i += 1;
    }
    out
}

type Refs = Vec<(usize, Vec<String>, bool)>;

struct Tree {
    files: Vec<File>,
    by_module: BTreeMap<Vec<String>, usize>,
    refs: Vec<Refs>,
}

impl Tree {
    fn load() -> Tree {
        let src = src_dir();
        let mut paths = Vec::new();
        rs_files(&src, &mut paths);
        let mut files = Vec::new();
        for p in paths {
            let rel = p.strip_prefix(&src).unwrap();
            // main.rs is the binary's own crate root: its `crate::` is not the library's.
            if rel == Path::new("main.rs") || rel.starts_with("bin") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            files.push(File {
                rel: format!("src/{}", rel.display()),
                module: module_of(rel),
                code: strip(&text),
            });
        }
        Tree::new(files)
    }

    fn new(files: Vec<File>) -> Tree {
        let by_module = files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.module.clone(), i))
            .collect();
        let mut tree = Tree {
            files,
            by_module,
            refs: Vec::new(),
        };
        tree.refs = tree
            .files
            .iter()
            .map(|f| references(f, &tree.children(&f.module)))
            .collect();
        tree
    }

    fn children(&self, module: &[String]) -> BTreeSet<String> {
        self.by_module
            .keys()
            .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
            .map(|m| m[module.len()].clone())
            .collect()
    }

    /// The file that defines what `path` names: the longest module prefix, then through that
    /// module's re-exports of the next segment (depth-limited against re-export loops).
    fn resolve(&self, path: &[String], hops: usize) -> Option<usize> {
        let (len, file) = (0..=path.len())
            .rev()
            .find_map(|n| self.by_module.get(&path[..n]).map(|&f| (n, f)))?;
        let Some(item) = path.get(len) else {
            return Some(file);
        };
        if hops > 8 || item == "*" {
            return Some(file);
        }
        let mut globs = Vec::new();
        for (_, target, is_pub) in &self.refs[file] {
            if !is_pub {
                continue;
            }
            if target.last() == Some(item) {
                let mut p = target.clone();
                p.extend(path[len + 1..].iter().cloned());
                return self.resolve(&p, hops + 1);
            }
            if target.last().map(String::as_str) == Some("*") {
                globs.push(target[..target.len() - 1].to_vec());
            }
        }
        if !defines(&self.files[file].code, item) {
            for g in globs {
                if let Some(f) = self.resolve(&g, hops + 1)
                    && defines(&self.files[f].code, item)
                {
                    return Some(f);
                }
            }
        }
        Some(file)
    }

    /// Module graph: file -> (file -> first line that makes the edge).
    fn graph(&self) -> Vec<BTreeMap<usize, usize>> {
        let mut edges = vec![BTreeMap::new(); self.files.len()];
        for (from, f) in self.files.iter().enumerate() {
            for &(line, ref path, is_pub) in &self.refs[from] {
                if path.last().map(String::as_str) == Some("*") && is_pub {
                    // a facade's glob re-export is followed by `resolve`, it is no use of its own
                    continue;
                }
                let Some(to) = self.resolve(path, 0) else {
                    continue;
                };
                // a facade's `pub use child::Item` is not a use either
                if to != from && !(is_pub && self.files[to].module.starts_with(&f.module)) {
                    edges[from].entry(to).or_insert(line);
                }
            }
        }
        edges
    }
}

fn defines(code: &str, item: &str) -> bool {
    let toks = tokens(code);
    toks.windows(2).any(|w| {
        w[1].1 == item
            && matches!(
                w[0].1.as_str(),
                "fn" | "struct" | "enum" | "type" | "trait" | "const" | "static" | "mod" | "union"
            )
    })
}

/// Strongly connected components of more than one module (Tarjan).
fn cycles(edges: &[BTreeMap<usize, usize>]) -> Vec<Vec<usize>> {
    struct St<'a> {
        edges: &'a [BTreeMap<usize, usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut St, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on[v] = true;
        for &w in s.edges[v].keys() {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on[w] => s.low[v] = s.low[v].min(iw),
                _ => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let n = edges.len();
    let mut s = St {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.out
}

/// One concrete cycle inside a component, as a list of modules (breadth-first back to start).
fn one_cycle(edges: &[BTreeMap<usize, usize>], comp: &[usize]) -> Vec<usize> {
    let start = comp[0];
    let inside: BTreeSet<usize> = comp.iter().copied().collect();
    let mut prev: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in edges[v].keys() {
            if !inside.contains(&w) {
                continue;
            }
            if w == start {
                let mut path = vec![v];
                let mut c = v;
                while c != start {
                    c = prev[&c];
                    path.push(c);
                }
                path.reverse();
                return path;
            }
            if let std::collections::btree_map::Entry::Vacant(e) = prev.entry(w) {
                e.insert(v);
                queue.push_back(w);
            }
        }
    }
    comp.to_vec()
}

fn name(f: &File) -> String {
    if f.module.is_empty() {
        "crate".into()
    } else {
        f.module.join("::")
    }
}

#[test]
fn no_module_import_cycles() {
    let tree = Tree::load();
    let edges = tree.graph();
    let comps = cycles(&edges);
    let mut report = String::new();
    for comp in &comps {
        let cycle = one_cycle(&edges, comp);
        let names: Vec<String> = comp.iter().map(|&m| name(&tree.files[m])).collect();
        report.push_str(&format!("cycle among {{{}}}:\n", names.join(", ")));
        for (k, &m) in cycle.iter().enumerate() {
            let next = cycle[(k + 1) % cycle.len()];
            report.push_str(&format!(
                "  {} -> {}   ({}:{})\n",
                name(&tree.files[m]),
                name(&tree.files[next]),
                tree.files[m].rel,
                edges[m][&next]
            ));
        }
        report.push_str("  all imports inside it:\n");
        for &m in comp {
            for (&to, &line) in &edges[m] {
                if comp.contains(&to) {
                    report.push_str(&format!(
                        "    {} -> {}   ({}:{line})\n",
                        name(&tree.files[m]),
                        name(&tree.files[to]),
                        tree.files[m].rel
                    ));
                }
            }
        }
    }
    assert!(comps.is_empty(), "module import cycles in src/:\n{report}");
}

/// Collection (src/collect/: the dashboard's tasks, status, tag history, the GitHub pipeline)
/// stands apart from the dashboard: nothing in it imports `ui`, so the CLI and the dashboard
/// share it and a change of drawing never reaches it.
#[test]
fn collection_imports_nothing_from_the_dashboard() {
    let tree = Tree::load();
    let edges = tree.graph();
    let mut offenders = Vec::new();
    for (from, f) in tree.files.iter().enumerate() {
        if f.module.first().map(String::as_str) != Some("collect") {
            continue;
        }
        for (&to, &line) in &edges[from] {
            let target = &tree.files[to];
            if target.module.first().map(String::as_str) == Some("ui") {
                offenders.push(format!("  {}:{line} -> {}", f.rel, name(target)));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "collection imports the dashboard:\n{}",
        offenders.join("\n")
    );
}

/// The files under `dir` longer than `max` lines, one line each.
fn longer_than(dir: &Path, max: usize) -> Vec<String> {
    let mut paths = Vec::new();
    rs_files(dir, &mut paths);
    paths
        .iter()
        .filter_map(|p| {
            let n = std::fs::read_to_string(p).unwrap().lines().count();
            (n > max).then(|| format!("  {} ({n} lines)", p.display()))
        })
        .collect()
}

#[test]
fn no_source_file_over_800_lines() {
    let long = longer_than(&src_dir(), MAX_LINES);
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines:\n{}",
        long.join("\n")
    );
}

/// The engine is split by concern (issue 11): no file of deploy/ over 600 lines.
#[test]
fn no_engine_file_over_600_lines() {
    let long = longer_than(&src_dir().join("deploy"), 600);
    assert!(
        long.is_empty(),
        "deploy/ files over 600 lines:\n{}",
        long.join("\n")
    );
}

/// The parser itself: a cycle written in a scratch tree is found, and a facade is not one.
#[test]
fn the_parser_sees_paths_and_cycles() {
    let f = |module: &[&str], code: &str| File {
        rel: format!("src/{}.rs", module.join("/")),
        module: module.iter().map(|s| s.to_string()).collect(),
        code: strip(code),
    };
    let files = vec![
        f(
            &["a"],
            "use crate::b::{x, y::Z};\nfn f() { super::c::g(); }",
        ),
        f(&["b"], "pub fn x() {}"),
        f(&["b", "y"], "pub struct Z; fn q() { crate::a::f() }"),
        f(
            &["c"],
            "// crate::a::f\nconst S: &str = \"crate::a::f\"; pub fn g() {}",
        ),
        f(&["d"], "mod inner;\npub use inner::*;"),
        f(
            &["d", "inner"],
            "pub fn h() { crate::d::h2() }\npub fn h2() {}",
        ),
        f(&["e"], "fn k() { crate::d::h() }"),
        f(&["f"], "mod g;\nfn k() { tokio::spawn(g::run()); }"),
        f(&["f", "g"], "pub fn run() { super::k() }"),
    ];
    let tree = Tree::new(files);
    let edges = tree.graph();
    assert!(edges[0].contains_key(&1) && edges[0].contains_key(&2) && edges[0].contains_key(&3));
    assert!(edges[2].contains_key(&0), "inline crate:: path");
    assert!(
        edges[3].is_empty(),
        "comments and strings are not paths: {:?}",
        edges[3]
    );
    assert_eq!(
        edges[6].keys().copied().collect::<Vec<_>>(),
        vec![5],
        "through the glob"
    );
    let comps = cycles(&edges);
    assert_eq!(
        comps,
        vec![vec![0, 2], vec![7, 8]],
        "a <-> c, f <-> f::g (inline child path)"
    );
}
