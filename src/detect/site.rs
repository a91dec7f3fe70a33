//! Static sites: a directory with an `index.html` and no manifest of any
//! kind, outside every package found, and not inside another site.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use super::{join, parent, Found, Package, Tree};

pub(crate) fn detect(tree: &Tree, claimed: &BTreeSet<String>, found: &mut Vec<Found>) {
    let inside = |dir: &str, of: &str| of.is_empty() || dir == of || dir.starts_with(&format!("{of}/"));
    let package_dirs: Vec<String> = claimed.iter().cloned().chain(found.iter().map(|f| f.package.dir.clone())).collect();
    let mut sites: Vec<String> = Vec::new();
    for f in tree.files.iter().filter(|f| f.rsplit('/').next() == Some("index.html")) {
        let dir = parent(f).to_owned();
        if package_dirs.iter().any(|p| inside(&dir, p)) || sites.iter().any(|s| inside(&dir, s)) {
            continue;
        }
        sites.push(dir);
    }
    for dir in sites {
        let name = super::image_name(dir.rsplit('/').next().filter(|n| !n.is_empty()).unwrap_or("site"));
        let mut vars = BTreeMap::new();
        vars.insert("ports".into(), vec![8080u16].into());
        found.push(Found {
            package: Package::new(dir.clone(), name.clone(), "static-site", format!("static site `{name}` (HTML, no manifest)"), join(&dir, "index.html"), vars),
            direct_uses: Vec::new(),
            manifests: Vec::new(),
            tool_dir: dir,
            stubs: Vec::new(),
        });
    }
}
