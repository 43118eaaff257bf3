//! Checks that a binary's list of settings, `(variable, default, help)` as its `--help`
//! shows them (an empty default has its meaning in the help), is what its configuration
//! parser reads and what `.env.example` documents.

use std::cell::RefCell;
use std::collections::BTreeSet;

/// `(variable, default, help)`.
pub type Setting = (&'static str, &'static str, &'static str);

/// The variables a configuration parser asks for: `parse` is given a lookup that records
/// every name and answers nothing (the defaults).
pub fn names_read(parse: impl FnOnce(&dyn Fn(&str) -> Option<String>)) -> BTreeSet<String> {
    let read = RefCell::new(BTreeSet::new());
    parse(&|name: &str| {
        read.borrow_mut().insert(name.to_owned());
        None
    });
    read.into_inner()
}

/// A lookup answering each listed default (none for an empty one).
pub fn listed_default(settings: &[Setting], name: &str) -> Option<String> {
    settings
        .iter()
        .find(|(listed, default, _)| *listed == name && !default.is_empty())
        .map(|(_, default, _)| (*default).to_owned())
}

/// The listed names, but for those read elsewhere (`except`: the logging set-up's), are
/// exactly the names read.
pub fn assert_lists_exactly(settings: &[Setting], read: &BTreeSet<String>, except: &[&str]) {
    let listed: BTreeSet<String> = settings
        .iter()
        .map(|(name, ..)| (*name).to_owned())
        .filter(|name| !except.contains(&name.as_str()))
        .collect();
    assert_eq!(
        &listed, read,
        "the settings listed for --help and those read"
    );
}

/// `.env.example` (at the repository's root) has a `NAME=default` line for each setting
/// (any value where the listed default is empty).
pub fn assert_env_example_documents(settings: &[Setting]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.env.example");
    let example = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    for (name, default, _) in settings {
        let documented = example.lines().any(|line| {
            line.split_once('=').is_some_and(|(key, value)| {
                key == *name && (default.is_empty() || value == *default)
            })
        });
        assert!(documented, "`{name}={default}` is not in .env.example");
    }
}
