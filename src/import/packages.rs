//! Recognizes the RUNs buildspec writes for a `packages` step, so that
//! importing its own output gives `packages` back (which the optimizer
//! again moves first and caches) rather than a plain `run`:
//!
//! ```text
//! RUN apk add --no-cache curl git   ⇒   packages "curl" "git" manager="apk"
//! ```
//!
//! A RUN counts only when its text is exactly what the emitter writes for
//! those names ([`crate::emit::packages_run`]), so the two cannot drift
//! apart and no hand-written install that does more is folded away.

use crate::import::dockerfile::{Args, Instruction};
use crate::source::{Span, Spanned};
use crate::spec::PackageManager;
use crate::syntax::validate;

/// The manager and package names of a RUN that is a `packages` step.
pub fn recognize(i: &Instruction) -> Option<(PackageManager, Vec<String>)> {
    if i.keyword != "RUN" || !i.heredocs.is_empty() {
        return None;
    }
    let Args::Shell(joined) = &i.args else { return None };
    let script = i.continued.as_deref().unwrap_or(joined);
    let flags: Vec<String> =
        i.flags.iter().map(|f| if f.bare { format!("--{}", f.name) } else { format!("--{}={}", f.name, f.value) }).collect();
    let text = if flags.is_empty() { script.to_owned() } else { format!("{} {script}", flags.join(" ")) };

    let (manager, names) = if let Some(rest) = script.strip_prefix("apk add --no-cache ") {
        (PackageManager::Apk, rest)
    } else {
        let (_, rest) = script.split_once("--no-install-recommends ")?;
        (PackageManager::Apt, rest.split(" \\\n").next().unwrap_or(rest))
    };
    let names: Vec<&str> = names.split(' ').collect();
    let valid = |n: &&str| validate::package_name(&Spanned::new((*n).to_owned(), Span::default())).is_ok();
    if !names.iter().all(valid) {
        return None;
    }
    let same = [false, true].iter().any(|&cached| crate::emit::packages_run(manager, cached, &names) == text);
    same.then(|| (manager, names.into_iter().map(str::to_owned).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::dockerfile::parse;

    fn first_run(text: &str) -> Option<(PackageManager, Vec<String>)> {
        let df = parse(text).expect("parses");
        recognize(df.instructions.iter().find(|i| i.keyword == "RUN").expect("a RUN"))
    }

    #[test]
    fn reads_back_what_the_emitter_writes() {
        for manager in [PackageManager::Apt, PackageManager::Apk] {
            for cached in [false, true] {
                let text = format!("FROM x\nRUN {}\n", crate::emit::packages_run(manager, cached, &["curl", "ca-certificates"]));
                assert_eq!(first_run(&text), Some((manager, vec!["curl".to_owned(), "ca-certificates".to_owned()])), "{text}");
            }
        }
    }

    #[test]
    fn anything_more_stays_a_run() {
        for text in [
            "FROM x\nRUN apk add --no-cache curl && rm -rf /tmp/x\n",
            "FROM x\nRUN apk add --no-cache $PKGS\n",
            "FROM x\nRUN apk add --no-cache  curl\n",
            "FROM x\nRUN apt-get update && apt-get install -y --no-install-recommends curl\n",
            "FROM x\nRUN --network=none apk add --no-cache curl\n",
            "FROM x\nRUN apt-get update \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl \\\n && rm -rf /var/lib/apt/lists/* /tmp\n",
        ] {
            assert_eq!(first_run(text), None, "{text}");
        }
    }
}
