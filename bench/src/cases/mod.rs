//! The cases of the benchmark issues. Each case measures the system and its limit in the
//! same run, `runs` times, alternating them, so a neighbour's build slows both. [`run`]
//! runs the wanted cases, each on a fresh private broker, and orders their sections.
//!
//! One file per case:
//! - [`drain`]: case 1, coolriel draining a filled topic, against the bare consumer,
//!   template rendering alone and whole-or-absent file writes alone.
//! - [`replay`]: case 2, `coolriel replay` against the bare consumer assigned the same
//!   partitions.
//! - [`writes`]: case 3, store-manager's `POST /users` at each concurrency, against its
//!   transaction called directly (per database backend).
//! - [`latency`]: case 4, commit → broker ack and 201 → email file at a fixed rate,
//!   against the broker's own acknowledgement latency (per database backend).
//! - [`memory`]: case 5, the services' peak RSS gathered by cases 1, 4 and 6.
//! - [`scaling`]: case 6, one and two coolriel instances on case 1's topic, in its runs.
//! - [`lab`]: case 7, coolriel against the lab's own Python consumer.
//!
//! What they share:
//! - [`settings`]: the run's settings and the database backends.
//! - [`databases`]: fresh databases, and dropping the MariaDB ones at the end.
//! - [`services`]: starting coolriel and store-manager, and the other processes whose CPU
//!   time a case accounts for.
//! - [`emails`]: waiting for coolriel's email files, and removing a case's output.

mod databases;
mod drain;
mod emails;
mod lab;
mod latency;
mod memory;
mod replay;
mod scaling;
mod services;
mod settings;
mod writes;

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use chrono::Utc;

use self::databases::Databases;
use self::lab::LabSettings;
use self::memory::Memory;
pub(crate) use self::settings::{Backend, Settings};
use crate::procs::Broker;
use crate::report::Section;

/// What to run, besides the settings.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Only these cases (empty: all).
    pub(crate) cases: Vec<u8>,
    /// The tansu binary each case's broker runs.
    pub(crate) tansu: PathBuf,
    /// `scripts/broker.sh`, for the header index every broker gets.
    pub(crate) broker_script: PathBuf,
    /// Case 7: a Python interpreter with confluent-kafka (case 7 is skipped without it).
    pub(crate) python: Option<PathBuf>,
    /// Case 7: `bench/lab_consumer.py`.
    pub(crate) lab_consumer: PathBuf,
    /// Case 7: the topic sizes (empty: the mode's).
    pub(crate) lab_sizes: Vec<i64>,
}

/// The report's sections in order, and the cases that failed.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) sections: Vec<Section>,
    pub(crate) failures: Vec<String>,
}

/// Progress on stderr, with the time.
fn log(message: &str) {
    eprintln!("[bench {}] {message}", Utc::now().format("%H:%M:%S"));
}

/// Run the wanted cases in order (1 with 6, 2, 3 and 4 per backend, 7), each on a fresh
/// private broker; a case that fails is reported and the others run. Sections: 1 to 4, 5
/// and 6 (which gather earlier cases), then 7.
pub(crate) fn run(settings: &Settings, plan: &Plan) -> Result<Outcome> {
    let mut run = Run {
        settings,
        plan,
        failures: Vec::new(),
    };
    let mut sections = Vec::new();
    let mut memory = Memory::default();
    let mut databases = Databases::default();
    let mut scaling = None;
    if run.wanted(1) || run.wanted(6) {
        let result = run.on_own_broker("drain", |settings| {
            drain::drain_and_scaling(settings, &mut memory)
        });
        let result = result.map(|(one, six)| {
            scaling = Some(six);
            one
        });
        sections.extend(run.section_or_failure("case 1 (drain)", result));
    }
    if run.wanted(2) {
        let result = run.on_own_broker("replay", replay::replay);
        sections.extend(run.section_or_failure("case 2 (replay)", result));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if run.wanted(3) {
        sections.extend(run.per_backend(3, "writes", |settings, backend| {
            runtime.block_on(writes::writes(settings, &mut databases, backend))
        }));
    }
    if run.wanted(4) {
        sections.extend(run.per_backend(4, "latency", |settings, backend| {
            runtime.block_on(latency::latency(
                settings,
                &mut databases,
                backend,
                &mut memory,
            ))
        }));
    }
    // Case 7 runs last and its section goes last, after 5 and 6 that gather earlier cases.
    let last = if run.wanted(7) { run.lab()? } else { None };
    if !memory.rows.is_empty() {
        sections.push(memory::memory_section(&memory));
    }
    sections.extend(scaling);
    sections.extend(last);
    if let Err(error) = runtime.block_on(databases.drop_all(settings)) {
        eprintln!("[bench] cannot drop the MariaDB databases: {error:#}");
    }
    Ok(Outcome {
        sections,
        failures: run.failures,
    })
}

/// The cases being run, and those that failed so far.
struct Run<'a> {
    settings: &'a Settings,
    plan: &'a Plan,
    failures: Vec<String>,
}

impl Run<'_> {
    fn wanted(&self, case: u8) -> bool {
        self.plan.cases.is_empty() || self.plan.cases.contains(&case)
    }

    /// `case` with a fresh private broker (directory `broker-<name>`), stopped after it.
    fn on_own_broker<T>(&self, name: &str, case: impl FnOnce(&Settings) -> Result<T>) -> Result<T> {
        let broker = Broker::start(
            &self.plan.tansu,
            &self.plan.broker_script,
            &self.settings.work.join(format!("broker-{name}")),
        )?;
        let settings = self.settings.with_broker(&broker)?;
        let result = case(&settings);
        broker.stop()?;
        result
    }

    /// The section of case `name`, or its failure recorded (and printed).
    fn section_or_failure(&mut self, name: &str, result: Result<Section>) -> Option<Section> {
        result
            .inspect_err(|error| {
                eprintln!("[bench] {name} failed: {error:#}");
                self.failures.push(format!("{name}: {error:#}"));
            })
            .ok()
    }

    /// Case `case` on each backend, each on its own broker (`<name>-<backend>`).
    fn per_backend(
        &mut self,
        case: u8,
        name: &str,
        mut measure: impl FnMut(&Settings, Backend) -> Result<Section>,
    ) -> Vec<Section> {
        let mut sections = Vec::new();
        for backend in self.settings.backends() {
            let broker = format!("{name}-{}", backend.label().to_lowercase());
            let result = self.on_own_broker(&broker, |settings| measure(settings, backend));
            let case = format!("case {case} ({})", backend.label());
            sections.extend(self.section_or_failure(&case, result));
        }
        sections
    }

    /// Case 7, when there is a Python to run the lab's consumer with.
    fn lab(&mut self) -> Result<Option<Section>> {
        let Some(python) = &self.plan.python else {
            eprintln!("[bench] case 7 skipped: no --python");
            return Ok(None);
        };
        let consumer = &self.plan.lab_consumer;
        let lab = LabSettings {
            python: python.clone(),
            consumer: consumer
                .canonicalize()
                .with_context(|| format!("cannot find {}", consumer.display()))?,
            sizes: if !self.plan.lab_sizes.is_empty() {
                self.plan.lab_sizes.clone()
            } else if self.settings.quick {
                vec![2_000, 10_000]
            } else {
                vec![20_000, 200_000]
            },
        };
        let result = self.on_own_broker("lab", |settings| lab::against_the_lab(settings, &lab));
        Ok(self.section_or_failure("case 7 (lab consumer)", result))
    }
}
