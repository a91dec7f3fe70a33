//! Instructions → spec text. Each stage becomes a `builder`, `test` or
//! `runtime` (inferred: the last stage is the runtime; a stage named or
//! doing tests that nothing builds on or copies from is a test; the rest
//! are builders), each instruction a node, with a comment where a
//! decision was made. Pure: the Dockerfile and its .dockerignore in, the
//! KDL and what was inferred out.

use std::collections::{BTreeMap, BTreeSet};

use super::dockerfile::{Args, Dockerfile, Flag, ImportError, Instruction};
use super::generated::{self, Generated};
use super::packages;
use crate::spec::{PackageManager, Role};
use crate::emit::quote::is_continued_command;
use crate::template::{kdl_escape, kdl_string as q, shell_quote};

/// What `import` decided about one stage, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageReport {
    pub name: String,
    pub role: String,
    pub from: String,
    /// The Dockerfile line of its FROM.
    pub line: usize,
    pub why: String,
}

#[derive(Debug, Clone)]
pub struct Imported {
    pub kdl: String,
    pub stages: Vec<StageReport>,
    /// For each line of `kdl` (0-based), the Dockerfile line it came
    /// from (0: none), so a problem in the spec can name the Dockerfile's.
    pub origin: Vec<usize>,
}

impl Imported {
    /// The Dockerfile line behind a 1-based spec line.
    pub fn dockerfile_line(&self, spec_line: usize) -> Option<usize> {
        self.origin.get(spec_line.checked_sub(1)?).copied().filter(|l| *l > 0)
    }
}

/// Records that the lines `out` gained since the last call came from
/// Dockerfile line `line`.
fn came_from(origin: &mut Vec<usize>, out: &str, line: usize) {
    origin.resize(out.matches('\n').count(), line);
}

struct Stage<'a> {
    name: String,
    from: Instruction,
    body: Vec<&'a Instruction>,
}

/// A KDL string for `s`: a raw multi-line string when it spans lines and
/// reads back the same that way (no blank-looking line with spaces, no
/// character KDL would want escaped), else a quoted one.
fn string(s: &str) -> String {
    let plain = |c: char| matches!(c, '\t' | '\\' | '"') || kdl_escape(&c.to_string()).chars().count() == 1;
    let lines: Vec<&str> = s.split('\n').collect();
    if lines.len() < 2 || !s.chars().all(|c| c == '\n' || plain(c)) || lines.iter().any(|l| !l.is_empty() && l.trim().is_empty()) || s.ends_with('\n') {
        return q(s);
    }
    let mut hashes = "#".to_owned();
    while s.contains(&format!("\"\"\"{hashes}")) {
        hashes.push('#');
    }
    let body: Vec<String> = lines.iter().map(|l| if l.is_empty() { String::new() } else { format!("    {l}") }).collect();
    format!("{hashes}\"\"\"\n{}\n    \"\"\"{hashes}", body.join("\n"))
}

fn err(i: &Instruction, message: impl Into<String>, help: &str) -> ImportError {
    ImportError { message: message.into(), line: i.line, column: i.column, help: help.to_owned() }
}

/// Shell words of an argument string: quotes and backslashes as the
/// Dockerfile frontend reads `ENV`, `LABEL`, `ARG` and COPY sources.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut single, mut double, mut any) = (false, false, false);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if !double => {
                single = !single;
                any = true;
            }
            '"' if !single => {
                double = !double;
                any = true;
            }
            '\\' if !single => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() && !single && !double => {
                if !cur.is_empty() || any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() || any {
        out.push(cur);
    }
    out
}

/// `k=v k2="v 2"` pairs, or the legacy `k v w` form (one pair).
fn pairs(i: &Instruction) -> Result<Vec<(String, String)>, ImportError> {
    let Args::Shell(text) = &i.args else { return Err(err(i, format!("{} takes KEY=VALUE pairs", i.keyword), "write KEY=VALUE")) };
    let ws = words(text);
    if ws.is_empty() {
        return Err(err(i, format!("{} sets nothing", i.keyword), "write KEY=VALUE"));
    }
    if !ws[0].contains('=') {
        let (k, rest) = text.trim().split_once(char::is_whitespace).unwrap_or((text.trim(), ""));
        return Ok(vec![(k.to_owned(), rest.trim().to_owned())]);
    }
    ws.iter()
        .map(|w| w.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| err(i, format!("`{w}` is not KEY=VALUE"), "write KEY=VALUE")))
        .collect()
}

fn args_list(i: &Instruction) -> Vec<String> {
    match &i.args {
        Args::Json(items) => items.clone(),
        Args::Shell(text) => words(text),
    }
}

/// The command of CMD, ENTRYPOINT, HEALTHCHECK CMD: the exec form as it
/// is, the shell form as Docker runs it (`/bin/sh -c`).
fn command(args: &Args) -> Vec<String> {
    match args {
        Args::Json(items) => items.clone(),
        Args::Shell(text) => vec!["/bin/sh".to_owned(), "-c".to_owned(), text.clone()],
    }
}

fn list_node(name: &str, items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("{name} {}", items.join(" "))
}

fn check_flags(i: &Instruction, allowed: &[&str]) -> Result<(), ImportError> {
    for f in &i.flags {
        if !allowed.contains(&f.name.as_str()) {
            let help = if allowed.is_empty() { format!("{} takes no options", i.keyword) } else { format!("{} takes: --{}", i.keyword, allowed.join(", --")) };
            return Err(err(i, format!("unknown option `--{}` on {}", f.name, i.keyword), &help));
        }
    }
    Ok(())
}

fn flag<'a>(i: &'a Instruction, name: &str) -> Option<&'a Flag> {
    i.flags.iter().rev().find(|f| f.name == name)
}

pub fn import(df: &Dockerfile, generated: Option<&Generated>, dockerignore: Option<&str>, file_name: &str) -> Result<Imported, ImportError> {
    let mut globals: Vec<&Instruction> = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for ins in &df.instructions {
        if ins.keyword == "FROM" {
            check_flags(ins, &["platform"])?;
            let ws = args_list(ins);
            let name = match ws.as_slice() {
                [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
                    let name = name.to_ascii_lowercase();
                    let valid = name.starts_with(|c: char| c.is_ascii_lowercase()) && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
                    if !valid {
                        return Err(err(ins, format!("`{name}` is not a stage name"), "a stage name starts with a letter and has letters, digits, -, _ and ."));
                    }
                    if stages.iter().any(|s| s.name == name) {
                        return Err(err(ins, format!("a stage named `{name}` already exists"), "give each stage its own name"));
                    }
                    name
                }
                [_] => {
                    let mut name = format!("stage-{}", stages.len());
                    while stages.iter().any(|s| s.name == name) {
                        name.push('x');
                    }
                    name
                }
                _ => return Err(err(ins, "FROM takes an image and an optional `AS name`", "write FROM IMAGE [AS NAME]")),
            };
            stages.push(Stage { name, from: ins.clone(), body: Vec::new() });
        } else if let Some(stage) = stages.last_mut() {
            stage.body.push(ins);
        } else if ins.keyword == "ARG" {
            globals.push(ins);
        } else {
            return Err(err(ins, format!("{} before the first FROM", ins.keyword), "only ARG may come before FROM"));
        }
    }
    if stages.is_empty() {
        return Err(ImportError { message: "the Dockerfile has no FROM".to_owned(), line: 1, column: 1, help: "a Dockerfile starts with FROM IMAGE".to_owned() });
    }
    let gated = generated.map(|g| unwrap_gates(&mut stages, g));
    let names: Vec<String> = stages.iter().map(|s| s.name.clone()).collect();
    // A stage reference from stage `at`: an earlier stage's name, or (in
    // `--from=`) its number in file order. Anything else is an image. In a
    // Dockerfile buildspec generated, where the default target may have
    // moved, any stage's name.
    let named_before = |at: usize| if generated.is_some() { names.len() } else { at };
    let resolve = |r: &str, at: usize, numeric: bool| -> Option<usize> {
        let lower = r.to_ascii_lowercase();
        match r.parse::<usize>() {
            Ok(n) if numeric => (n < at).then_some(n),
            _ => names[..named_before(at)].iter().position(|x| *x == lower),
        }
    };
    // Who builds on or copies from each stage.
    let mut used = vec![false; stages.len()];
    for (at, s) in stages.iter().enumerate() {
        let base = args_list(&s.from).first().cloned().unwrap_or_default();
        let mut refs: Vec<Option<usize>> = vec![resolve(&base, at, false)];
        for ins in &s.body {
            refs.extend(ins.flags.iter().filter(|f| f.name == "from").map(|f| resolve(&f.value, at, true)));
            if ins.keyword == "RUN" {
                for m in ins.flags.iter().filter(|f| f.name == "mount") {
                    refs.extend(m.value.split(',').filter_map(|kv| kv.strip_prefix("from=")).map(|from| resolve(from, at, true)));
                }
            }
        }
        for n in refs.into_iter().flatten() {
            used[n] = true;
        }
    }
    let mut out = format!("// Imported by buildspec from {file_name}. Roles are inferred: check them.\nbuildspec 1\n");
    if let Some(ignore) = dockerignore {
        // Of buildspec's own .dockerignore, only the spec's excludes: the
        // compiler derives the rest again.
        let patterns = generated::spec_excludes(ignore).unwrap_or_else(|| ignore.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect());
        let patterns: Vec<String> = patterns.into_iter().map(q).collect();
        if !patterns.is_empty() {
            out.push_str(&format!("\n// From the .dockerignore beside {file_name}.\ncontext {{\n    exclude {}\n}}\n", patterns.join(" ")));
        }
    }
    let mut origin = Vec::new();
    if !globals.is_empty() {
        out.push('\n');
        came_from(&mut origin, &out, 0);
        for g in &globals {
            for line in arg_nodes(g)? {
                out.push_str(&line);
                out.push('\n');
            }
            came_from(&mut origin, &out, g.line);
        }
    }
    let mut report = Vec::new();
    let last = stages.len() - 1;
    for (n, s) in stages.iter().enumerate() {
        let base = args_list(&s.from).first().cloned().unwrap_or_default();
        let testish = ["test", "lint", "check"].iter().any(|w| s.name.contains(w))
            || s.body.iter().any(|i| i.keyword == "RUN" && matches!(&i.args, Args::Shell(t) if ["go test", "pytest", "npm test", "npm run test", "cargo test", "yarn test", "pnpm test"].iter().any(|c| t.contains(c))));
        let said = generated.and_then(|g| g.roles.get(&s.name));
        let (role, why) = if let Some(role) = said {
            (*role, "buildspec's comment above its FROM says so".to_owned())
        } else if n == last {
            (Role::Runtime, "the last stage: what `docker build` builds by default".to_owned())
        } else if testish && !used[n] {
            (Role::Test, "named or doing tests, and no stage builds on it or copies from it".to_owned())
        } else {
            (Role::Builder, if used[n] { "other stages build on it or copy from it".to_owned() } else { "an intermediate stage".to_owned() })
        };
        // An image whose name is also a stage's (this one or a later one)
        // is written out in full, so the spec does not read it as the stage.
        let image = |r: &str| if names.iter().any(|x| x == r) && !r.contains('/') { format!("docker.io/library/{r}") } else { r.to_owned() };
        let from = resolve(&base, n, false).map_or_else(|| image(&base), |b| names[b].clone());
        let stage_ref = |r: &str| resolve(r, n, true).map_or_else(|| image(r), |b| names[b].clone());
        let mut head = format!("{} {} from={}", role.as_str(), q(&s.name), q(&from));
        if let Some(p) = flag(&s.from, "platform") {
            head.push_str(&format!(" platform={}", q(&p.value)));
        }
        if role == Role::Test && gated.as_ref().is_some_and(|g| !g.contains(&s.name)) {
            head.push_str(" gate=#false");
        }
        out.push_str(&format!("\n// {file_name}:{}: {why}.\n", s.from.line));
        came_from(&mut origin, &out, 0);
        out.push_str(&format!("{head} {{\n"));
        came_from(&mut origin, &out, s.from.line);
        for ins in &s.body {
            for line in instruction(ins, &stage_ref)? {
                for physical in line.split('\n') {
                    if !physical.is_empty() {
                        out.push_str("    ");
                    }
                    out.push_str(physical);
                    out.push('\n');
                }
            }
            came_from(&mut origin, &out, ins.line);
        }
        out.push_str("}\n");
        came_from(&mut origin, &out, 0);
        report.push(StageReport { name: s.name.clone(), role: role.as_str().to_owned(), from, line: s.from.line, why });
    }
    Ok(Imported { kdl: out, stages: report, origin })
}

/// Takes buildspec's test gates out of a Dockerfile it generated: the
/// gate stages of their own, the `WORKDIR`s that make gate directories,
/// the copies that wait for them, and the trailing `FROM TARGET`. Returns
/// the tests some stage waited for: the ones the spec gates on.
fn unwrap_gates(stages: &mut Vec<Stage<'_>>, g: &Generated) -> BTreeSet<String> {
    let base = |s: &Stage| args_list(&s.from).first().map(|b| b.to_ascii_lowercase()).unwrap_or_default();
    let gate_stages: BTreeMap<String, String> = stages.iter().filter(|s| g.gate_stage_lines.contains(&s.from.line)).map(|s| (s.name.clone(), base(s))).collect();
    stages.retain(|s| !gate_stages.contains_key(&s.name));
    // The trailing `FROM TARGET` goes when TARGET is a runtime: written
    // last of the runtimes (moved there when a later stage builds on it),
    // it is the spec's default target. A spec does not care where a stage
    // it names is written, and compile defers the target as far as it can,
    // so the move changes no stage order.
    if let Some(trailing) = stages.last().filter(|s| Some(s.from.line) == g.default_target_line && s.body.is_empty()) {
        let target = base(trailing);
        let runtime = |s: &Stage| g.roles.get(&s.name) == Some(&Role::Runtime);
        if let Some(at) = stages.iter().rev().skip(1).position(|s| s.name == target && runtime(s)) {
            stages.pop();
            let at = stages.len() - 1 - at;
            let last_runtime = stages.iter().rposition(runtime).expect("the target is a runtime");
            let moved = stages.remove(at);
            stages.insert(last_runtime, moved);
        }
    }
    let mut gated = BTreeSet::new();
    for s in stages.iter_mut() {
        s.body.retain(|i| {
            if let Some(test) = generated::gate_copy(i) {
                gated.insert(gate_stages.get(test).cloned().unwrap_or_else(|| test.to_owned()));
                return false;
            }
            !generated::is_gate_workdir(i)
        });
    }
    gated
}

fn arg_nodes(i: &Instruction) -> Result<Vec<String>, ImportError> {
    check_flags(i, &[])?;
    let ws = args_list(i);
    if ws.is_empty() {
        return Err(err(i, "ARG names nothing", "write ARG NAME[=DEFAULT]"));
    }
    Ok(ws
        .iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => format!("arg {} default={}", q(k), q(v)),
            None => format!("arg {}", q(w)),
        })
        .collect())
}

/// The spec lines of one instruction inside a stage.
fn instruction(i: &Instruction, stage_ref: &dyn Fn(&str) -> String) -> Result<Vec<String>, ImportError> {
    let one = |s: String| Ok(vec![s]);
    match i.keyword.as_str() {
        "ARG" => arg_nodes(i),
        "ENV" | "LABEL" => {
            check_flags(i, &[])?;
            let ps: Vec<String> = pairs(i)?.iter().map(|(k, v)| format!("{}={}", q(k), q(v))).collect();
            one(format!("{} {}", i.keyword.to_ascii_lowercase(), ps.join(" ")))
        }
        "MAINTAINER" => one(format!("label \"maintainer\"={}", q(&args_text(i)))),
        "WORKDIR" | "USER" | "STOPSIGNAL" => {
            check_flags(i, &[])?;
            let value = args_text(i);
            one(format!("{} {}", i.keyword.to_ascii_lowercase(), q(&value)))
        }
        "EXPOSE" => one(list_node("expose", &args_list(i))),
        "VOLUME" => one(list_node("volume", &args_list(i))),
        "SHELL" => one(list_node("shell", &args_list(i))),
        "CMD" | "ENTRYPOINT" => {
            check_flags(i, &[])?;
            one(list_node(&i.keyword.to_ascii_lowercase(), &command(&i.args)))
        }
        "HEALTHCHECK" => healthcheck(i),
        "RUN" => run(i, stage_ref),
        "COPY" | "ADD" => copy(i, stage_ref),
        other => Err(err(i, format!("{other} has no spec equivalent"), "remove it or describe it another way")),
    }
}

fn args_text(i: &Instruction) -> String {
    match &i.args {
        Args::Shell(t) => t.trim().to_owned(),
        Args::Json(items) => items.join(" "),
    }
}

fn healthcheck(i: &Instruction) -> Result<Vec<String>, ImportError> {
    check_flags(i, &["interval", "timeout", "start-period", "retries", "start-interval"])?;
    let text = args_text(i);
    if text.eq_ignore_ascii_case("none") {
        return Ok(vec!["healthcheck none=#true".to_owned()]);
    }
    let rest = text.strip_prefix("CMD").or_else(|| text.strip_prefix("cmd")).ok_or_else(|| err(i, "HEALTHCHECK takes CMD … or NONE", "write HEALTHCHECK CMD curl -f http://localhost/"))?.trim();
    let args = if rest.starts_with('[') { serde_json::from_str::<Vec<String>>(rest).map(Args::Json).unwrap_or(Args::Shell(rest.to_owned())) } else { Args::Shell(rest.to_owned()) };
    let mut line = list_node("healthcheck", &command(&args));
    for f in &i.flags {
        match f.name.as_str() {
            "retries" => line.push_str(&format!(" retries={}", f.value.parse::<u32>().map_err(|_| err(i, "--retries takes a number", "e.g. --retries=3"))?)),
            "start-interval" => {}
            name => line.push_str(&format!(" {name}={}", q(&f.value))),
        }
    }
    Ok(vec![line])
}

/// The script of a RUN: its heredocs folded in (a lone `<<EOF` is the
/// script itself; `python3 <<EOF` keeps the heredoc for the shell).
fn script(i: &Instruction) -> String {
    let text = match (&i.args, &i.continued) {
        (Args::Json(items), _) => items.iter().map(|s| shell_quote(s)).collect::<Vec<_>>().join(" "),
        // Continued lines kept as written, where a shell reads them as the
        // Dockerfile joins them.
        (Args::Shell(_), Some(lines)) if i.heredocs.is_empty() && is_continued_command(lines) => lines.clone(),
        (Args::Shell(t), _) => t.clone(),
    };
    match i.heredocs.as_slice() {
        [] => text,
        // `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'` alone: the body is the script.
        [only] if text.trim().trim_start_matches("<<").trim_start_matches('-').trim_matches(['"', '\'']) == only.name => {
            only.body.trim_end_matches('\n').to_owned()
        }
        docs => {
            let mut s = text;
            for d in docs {
                s.push('\n');
                s.push_str(&d.body);
                s.push_str(&d.name);
            }
            s
        }
    }
}

fn run(i: &Instruction, stage_ref: &dyn Fn(&str) -> String) -> Result<Vec<String>, ImportError> {
    if let Some((manager, names)) = packages::recognize(i) {
        let manager = match manager {
            PackageManager::Apt => "apt",
            PackageManager::Apk => "apk",
        };
        return Ok(vec![format!("packages {} manager=\"{manager}\"", names.iter().map(|n| q(n)).collect::<Vec<_>>().join(" "))]);
    }
    check_flags(i, &["mount", "network", "security"])?;
    let mut head = format!("run {}", string(&script(i)));
    for name in ["network", "security"] {
        if let Some(f) = flag(i, name) {
            head.push_str(&format!(" {name}={}", q(&f.value)));
        }
    }
    let mut children = Vec::new();
    for m in i.flags.iter().filter(|f| f.name == "mount") {
        children.push(mount(i, &m.value, stage_ref)?);
    }
    if children.is_empty() {
        return Ok(vec![head]);
    }
    let mut lines = vec![format!("{head} {{")];
    lines.extend(children.into_iter().map(|c| format!("    {c}")));
    lines.push("}".to_owned());
    Ok(lines)
}

fn mount(i: &Instruction, spec: &str, stage_ref: &dyn Fn(&str) -> String) -> Result<String, ImportError> {
    let mut kind = "bind".to_owned();
    let mut opts: Vec<(String, String)> = Vec::new();
    for part in spec.split(',') {
        let (k, v) = part.split_once('=').unwrap_or((part, "true"));
        if k == "type" {
            kind = v.to_owned();
        } else {
            opts.push((k.to_owned(), v.to_owned()));
        }
    }
    let get = |names: &[&str]| opts.iter().find(|(k, _)| names.contains(&k.as_str())).map(|(_, v)| v.clone());
    let target = get(&["target", "dst", "destination"]);
    let known: &[&str] = match kind.as_str() {
        "cache" => &["target", "dst", "destination", "id", "sharing", "mode", "uid", "gid", "ro", "readonly"],
        "bind" => &["target", "dst", "destination", "source", "src", "from", "rw", "readwrite"],
        "secret" => &["id", "target", "dst", "destination", "env", "required", "mode", "uid", "gid"],
        "ssh" => &["id", "target", "dst", "destination", "required", "mode", "uid", "gid"],
        "tmpfs" => &["target", "dst", "destination", "size"],
        other => return Err(err(i, format!("unknown mount type `{other}`"), "mount types are cache, bind, secret, ssh and tmpfs")),
    };
    if let Some((k, _)) = opts.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        return Err(err(i, format!("`{k}` is not an option of a {kind} mount the spec can say"), &format!("{kind} mounts take: {}", known.join(", "))));
    }
    let need_target = || target.clone().ok_or_else(|| err(i, format!("a {kind} mount needs target="), "add target=PATH"));
    Ok(match kind.as_str() {
        "cache" => {
            let mut s = format!("cache {}", q(&need_target()?));
            if let Some(id) = get(&["id"]) {
                s.push_str(&format!(" id={}", q(&id)));
            }
            if let Some(sharing) = get(&["sharing"]) {
                s.push_str(&format!(" sharing={}", q(&sharing)));
            }
            s
        }
        "bind" => {
            let mut s = format!("bind {} target={}", q(&get(&["source", "src"]).unwrap_or_else(|| ".".to_owned())), q(&need_target()?));
            if let Some(from) = get(&["from"]) {
                s.push_str(&format!(" from={}", q(&stage_ref(&from))));
            }
            if get(&["rw", "readwrite"]).is_some_and(|v| v != "false") {
                s.push_str(" rw=#true");
            }
            s
        }
        "secret" => {
            let id = get(&["id"]).or_else(|| target.as_ref().and_then(|t| t.rsplit('/').next().map(str::to_owned))).ok_or_else(|| err(i, "a secret mount needs id=", "add id=NAME"))?;
            let mut s = format!("secret {}", q(&id));
            if let Some(t) = &target {
                s.push_str(&format!(" target={}", q(t)));
            }
            if let Some(e) = get(&["env"]) {
                s.push_str(&format!(" env={}", q(&e)));
            }
            if get(&["required"]).is_some_and(|v| v != "false") {
                s.push_str(" required=#true");
            }
            s
        }
        "ssh" => match get(&["id"]) {
            Some(id) => format!("ssh {}", q(&id)),
            None => "ssh".to_owned(),
        },
        _ => {
            let mut s = format!("tmpfs {}", q(&need_target()?));
            if let Some(size) = get(&["size"]) {
                s.push_str(&format!(" size={}", q(&size)));
            }
            s
        }
    })
}

fn copy(i: &Instruction, stage_ref: &dyn Fn(&str) -> String) -> Result<Vec<String>, ImportError> {
    let add = i.keyword == "ADD";
    check_flags(i, if add { &["chown", "chmod", "link", "checksum"] } else { &["from", "chown", "chmod", "link", "exclude"] })?;
    let ws = args_list(i);
    let Some((dest, sources)) = ws.split_last().filter(|(_, s)| !s.is_empty() || !i.heredocs.is_empty()) else {
        return Err(err(i, format!("{} needs a source and a destination", i.keyword), &format!("write {} SRC… DEST", i.keyword)));
    };
    if !i.heredocs.is_empty() {
        // A file written from the Dockerfile: the same file from a RUN.
        let mut lines = Vec::new();
        for d in &i.heredocs {
            let path = if dest.ends_with('/') { format!("{dest}{}", d.name) } else { dest.clone() };
            let dir = path.rsplit_once('/').map(|(d, _)| if d.is_empty() { "/" } else { d }).unwrap_or(".");
            let body = d.body.clone();
            lines.push(format!("// {} <<{}: the file written by a RUN.", i.keyword, d.name));
            lines.push(format!("run {}", q(&format!("mkdir -p {} && cat > {} <<'BUILDSPEC_EOF'\n{body}BUILDSPEC_EOF", shell_quote(dir), shell_quote(&path)))));
        }
        return Ok(lines);
    }
    let mut line = format!("{} {} to={}", if add { "add" } else { "copy" }, sources.iter().map(|s| q(s)).collect::<Vec<_>>().join(" "), q(dest));
    if let Some(f) = flag(i, "from") {
        line.push_str(&format!(" from={}", q(&stage_ref(&f.value))));
    }
    for name in ["chown", "chmod", "checksum", "exclude"] {
        if let Some(f) = flag(i, name) {
            line.push_str(&format!(" {name}={}", q(&f.value)));
        }
    }
    if flag(i, "link").is_some_and(|f| f.bare || f.value == "true") {
        line.push_str(" link=#true");
    }
    Ok(vec![line])
}
