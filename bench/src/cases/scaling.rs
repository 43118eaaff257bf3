//! Case 6: the same topic drained by one coolriel instance, then by two in one group, in
//! the runs of case 1 ([`super::drain`]): what a second instance adds.

use std::fmt::Write as _;

use super::drain::{Drain, Runs, drain};
use super::memory::Memory;
use super::{Settings, log};
use crate::report::{Section, table_row};
use crate::stats::Spread;

/// Case 6's figures, one per run (RSS: one per instance and run), and the first failure,
/// after which the 2-instance drains are skipped.
#[derive(Debug, Default)]
pub(super) struct Scaling {
    two: Vec<f64>,
    startup_two: Vec<f64>,
    rss_two: Vec<f64>,
    scale: Vec<f64>,
    failure: Option<String>,
}

impl Scaling {
    /// The run's 2-instance drain, right after its 1-instance drain `single`; a failure is
    /// kept for the report, not returned.
    pub(super) fn measure(
        &mut self,
        settings: &Settings,
        topic: &str,
        events: u64,
        run: usize,
        single: &Drain,
    ) {
        if self.failure.is_some() {
            return;
        }
        log(&format!("case 6 run {}: coolriel, 2 instances", run + 1));
        match drain(settings, topic, events, 2, run) {
            Ok(double) => {
                self.scale.push(double.rate / single.rate);
                self.two.push(double.rate);
                self.startup_two.push(double.startup.as_secs_f64());
                self.rss_two.extend(double.rss_mib.iter().copied());
            }
            Err(error) => {
                log(&format!("case 6: {error:#}"));
                self.failure = Some(format!("run {}: {error:#}", run + 1));
            }
        }
    }

    /// The peak RSS of each instance, for case 5.
    pub(super) fn memory_into(&mut self, memory: &mut Memory) {
        memory.rows.push((
            "coolriel".into(),
            "case 6: drain, 2 instances (each)".into(),
            std::mem::take(&mut self.rss_two),
        ));
    }

    /// Case 6's section of the report; `single` holds case 1's 1-instance drains.
    pub(super) fn section(&self, events: u64, single: &Runs) -> Section {
        let scale = Spread::of(&self.scale);
        let mut body = String::new();
        let _ = writeln!(
            body,
            "The same topic (3 partitions, {events} events) drained by a fresh group of 1, then of 2 \
             coolriel instances (same output directory), in the same runs as case 1.\n"
        );
        body.push_str("| instances | events/s | start → first file (s) |\n|---|---|---|\n");
        body += &table_row(&[
            "1".into(),
            Spread::of(&single.one).show(0),
            Spread::of(&single.startup_one).show(2),
        ]);
        body += &table_row(&[
            "2".into(),
            Spread::of(&self.two).show(0),
            Spread::of(&self.startup_two).show(2),
        ]);
        let _ = writeln!(
            body,
            "\nRate with 2 instances / rate with 1: **{}**.",
            scale.show(2)
        );
        body.push_str(
            "\nWhy a second instance does not add speed here: the drain is bound by the file \
             system, not by consuming (limit (c) is the slowest limit in case 1, well below the bare \
             consumer and the rendering). Both instances write to the same disk, and each \
             batch's `syncfs` flushes the whole file system, the other instance's files included, \
             so the durable writes per second stay what one disk gives; the two processes and the \
             broker also share the machine's 2 cores. On separate machines (or disks) the \
             partitions split between the instances would each get their own write path.\n",
        );
        if let Some(failure) = &self.failure {
            let _ = writeln!(
                body,
                "\n**The 2-instance drain did not finish** (later 2-instance runs skipped): \
                 {failure}. A stall here means email files are missing: some messages were never \
                 delivered to either instance. Until 2026-12-02 this happened on every run, with \
                 the benchmark's broker on tansu's memory:// storage, which answers a fetch from \
                 an offset inside a record batch with the next batch: the new owners resumed \
                 after the rebalance past the old owner's committed offsets. The broker now keeps \
                 its log in SQLite, which answers such fetches correctly; a stall now is a new \
                 defect (`coolriel/tests/coolriel/service/group.rs`, \
                 `a_second_instance_joining_during_a_backlog_loses_nothing`, covers the case)."
            );
        }
        Section {
            title: "6. Scaling: 1 and 2 coolriel instances".into(),
            body,
            targets: vec![],
        }
    }
}
